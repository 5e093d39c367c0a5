package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"catalogd/ent"
	"catalogd/ent/change"
	"catalogd/ent/entity"
	"catalogd/ent/locationstate"
	"catalogd/ent/predicate"
)

// Change types of the change log.
const (
	ChangeAdded        = "added"
	ChangeChanged      = "changed"
	ChangeRemoved      = "removed"
	ChangeOwnerChanged = "owner_changed"
	ChangeRefused      = "refused" // a read of a location the removal guard refused
)

// ChangeTypes lists every change type, in the order the feed's documentation gives them.
var ChangeTypes = []string{ChangeAdded, ChangeChanged, ChangeRemoved, ChangeOwnerChanged, ChangeRefused}

// Ordering. A reader of the feed resumes after the last id it saw, which is only safe if no
// row with a smaller id commits after it read: on PostgreSQL, ids come from a sequence when
// a row is inserted, and transactions may commit in another order than they drew ids. Every
// writer of the log therefore holds the apply lock (Apply's pg_advisory_xact_lock, held to
// commit; on SQLite the one write lock) from before its first insert until its commit: the
// next writer draws its ids only once the previous one is committed and visible (PostgreSQL
// makes a commit visible before it releases the transaction's locks). Ids of one transaction
// are contiguous, those of the next larger, so "id > cursor" never skips a late commit. The
// alternative, readers that stop below the oldest in-flight transaction's first id, needs a
// registry of in-flight transactions across replicas; the lock is already there for Apply.
// Gaps in the ids (a rolled-back transaction) are never filled, so readers may ignore them.

// MaxChangedPaths bounds the JSON paths one "changed" entry lists.
const MaxChangedPaths = 32

// changeLog collects the changes of one Apply, written in the same transaction.
type changeLog struct {
	loc, revision string
	entries       []changeEntry
}

type changeEntry struct {
	typ, ref, kind, owner, prevOwner, reason string
	fields                                   json.RawMessage // nil: none
}

func (l *changeLog) add(e changeEntry) {
	if e.kind == "" {
		e.kind = refKind(e.ref)
	}
	l.entries = append(l.entries, e)
}

// refKind is the kind of a canonical ref ("component:default/x" -> "component").
func refKind(ref string) string {
	k, _, ok := strings.Cut(ref, ":")
	if !ok {
		return ""
	}
	return k
}

var changeColumns = []string{change.FieldLocation, change.FieldRevision, change.FieldAt, change.FieldType, change.FieldRef,
	change.FieldKind, change.FieldOwner, change.FieldPreviousOwner, change.FieldReason, change.FieldFields}

// changeLogBatch is how many entries an Apply collects before it writes them, while the read
// goes on: a first read of 100,000 entities logs as many additions, and written at the end
// they lengthened the part of the Apply that nothing overlaps.
const changeLogBatch = 5000

// flush writes the entries collected so far once there are changeLogBatch of them.
func (l *changeLog) flush(ctx context.Context, w *bulkWriter) error {
	if len(l.entries) < changeLogBatch {
		return nil
	}
	return l.write(ctx, w)
}

// write writes the entries collected so far, stamped with the Apply's time, and forgets them.
// Written in the order they were added, in the one transaction, they take ids in that order.
func (l *changeLog) write(ctx context.Context, w *bulkWriter) error {
	err := l.writeEntries(ctx, w)
	l.entries = l.entries[:0]
	return err
}

func (l *changeLog) writeEntries(ctx context.Context, w *bulkWriter) error {
	now := w.now
	if w.s.Dialect == dialect.Postgres && len(l.entries) > 0 {
		// COPY, as for new entities: a first read of 100,000 entities logs as many additions.
		shared := appendCopyString(nil, l.loc)
		shared = appendCopyString(append(shared, '\t'), l.revision)
		at := pq.FormatTimestamp(now)
		err := w.copyIn(ctx, change.Table, changeColumns, len(l.entries), func(b []byte, i int) []byte {
			c := &l.entries[i]
			b = append(append(append(b, shared...), '\t'), at...)
			b = appendCopyString(append(b, '\t'), c.typ)
			b = appendCopyString(append(b, '\t'), c.ref)
			b = appendCopyString(append(b, '\t'), c.kind)
			b = appendCopyString(append(b, '\t'), c.owner)
			b = appendCopyString(append(b, '\t'), c.prevOwner)
			b = appendCopyString(append(b, '\t'), c.reason)
			if c.fields == nil {
				return append(b, "\t\\N"...)
			}
			return appendCopyString(append(b, '\t'), string(c.fields))
		})
		if err != nil {
			return fmt.Errorf("record changes: %w", err)
		}
		return nil
	}
	// SQLite: multi-row INSERTs through one prepared statement per chunk size (a first
	// read logs an addition per entity).
	const chunk = 500
	n := len(changeColumns)
	cols := "(" + strings.Join(changeColumns, ", ") + ")"
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + "), "
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, chunk*n)
	for _, part := range chunks(l.entries, chunk) {
		args = args[:0]
		for _, c := range part {
			var f any
			if c.fields != nil {
				f = string(c.fields)
			}
			args = append(args, l.loc, l.revision, now, c.typ, c.ref, c.kind, c.owner, c.prevOwner, c.reason, f)
		}
		q := "INSERT INTO " + quoteIdent(change.Table) + " " + cols + " VALUES " + strings.TrimSuffix(strings.Repeat(row, len(part)), ", ")
		var err error
		if len(part) == chunk {
			if full == nil {
				if full, err = w.tx.PrepareContext(ctx, q); err != nil {
					return fmt.Errorf("record changes: %w", err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = w.tx.ExecContext(ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("record changes: %w", err)
		}
	}
	return nil
}

// changedPaths lists the JSON paths (dot-separated, at most three levels deep:
// "spec.lifecycle", "metadata.annotations.pagerduty.com/service-id") whose values differ
// between two documents, sorted, at most MaxChangedPaths of them; truncated says more differ.
func changedPaths(before, after json.RawMessage) (paths []string, truncated bool) {
	var a, b any
	if json.Unmarshal(before, &a) != nil || json.Unmarshal(after, &b) != nil {
		return []string{""}, false // not comparable: the whole document
	}
	var walk func(prefix string, x, y any, depth int)
	walk = func(prefix string, x, y any, depth int) {
		xm, xok := x.(map[string]any)
		ym, yok := y.(map[string]any)
		if !xok || !yok || depth == 3 {
			if !reflect.DeepEqual(x, y) {
				paths = append(paths, prefix)
			}
			return
		}
		keys := make([]string, 0, len(xm)+len(ym))
		for k := range xm {
			keys = append(keys, k)
		}
		for k := range ym {
			if _, ok := xm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, xm[k], ym[k], depth+1)
		}
	}
	walk("", a, b, 0)
	if len(paths) > MaxChangedPaths {
		return paths[:MaxChangedPaths], true
	}
	return paths, false
}

func changedFields(before, after json.RawMessage) json.RawMessage {
	paths, truncated := changedPaths(before, after)
	v := map[string]any{"paths": paths}
	if truncated {
		v["truncated"] = true
	}
	b, _ := json.Marshal(v)
	return b
}

func ownerFields(from, to string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"from": from, "to": to})
	return b
}

// ChangeFilter selects changes of the feed; empty fields select everything.
type ChangeFilter struct {
	Kinds []string // lower case
	Owner string   // canonical ref: the owner after or before the change
	Ref   string   // canonical ref
	Types []string
}

func (f ChangeFilter) predicates() []predicate.Change {
	var ps []predicate.Change
	if len(f.Kinds) > 0 {
		ps = append(ps, change.KindIn(f.Kinds...))
	}
	if f.Owner != "" {
		ps = append(ps, change.Or(change.Owner(f.Owner), change.PreviousOwner(f.Owner)))
	}
	if f.Ref != "" {
		ps = append(ps, change.Ref(f.Ref))
	}
	if len(f.Types) > 0 {
		ps = append(ps, change.TypeIn(f.Types...))
	}
	return ps
}

// Matches reports whether the filter selects c (as predicates would).
func (f ChangeFilter) Matches(c *ent.Change) bool {
	return (len(f.Kinds) == 0 || slices.Contains(f.Kinds, c.Kind)) &&
		(f.Owner == "" || c.Owner == f.Owner || c.PreviousOwner == f.Owner) &&
		(f.Ref == "" || c.Ref == f.Ref) &&
		(len(f.Types) == 0 || slices.Contains(f.Types, c.Type))
}

// MaxChangesPage bounds one page of the feed.
const MaxChangesPage = 1000

// Changes returns up to first changes with ids above after that f selects, oldest first, and
// whether more follow. Only committed changes are seen, and (see Ordering) none commits later
// with an id at or below the last one returned.
func (s *Store) Changes(ctx context.Context, after int64, first int, f ChangeFilter) ([]*ent.Change, bool, error) {
	if first <= 0 || first > MaxChangesPage {
		first = MaxChangesPage
	}
	q := s.Client.Change.Query().Where(change.IDGT(after)).Where(f.predicates()...).
		Order(change.ByID()).Limit(first + 1)
	cs, err := q.All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read changes: %w", err)
	}
	if len(cs) > first {
		return cs[:first], true, nil
	}
	return cs, false, nil
}

// LastChangeID returns the id of the newest change (0: none), where a consumer that wants
// only what happens from now on starts.
func (s *Store) LastChangeID(ctx context.Context) (int64, error) {
	var v []struct {
		Max sql.NullInt64 `json:"max"`
	}
	if err := s.Client.Change.Query().Aggregate(ent.Max(change.FieldID)).Scan(ctx, &v); err != nil {
		return 0, fmt.Errorf("read the newest change: %w", err)
	}
	if len(v) == 0 || !v[0].Max.Valid {
		return 0, nil
	}
	return v[0].Max.Int64, nil
}

// PruneChanges removes changes recorded before cutoff, a bounded batch at a time, and returns
// how many it removed. The newest change always stays, so ids never start again.
func (s *Store) PruneChanges(ctx context.Context, cutoff time.Time) (int, error) {
	last, err := s.LastChangeID(ctx)
	if err != nil || last == 0 {
		return 0, err
	}
	total := 0
	for {
		// Oldest first by id, a batch at a time, so a large prune never holds SQLite's write
		// lock for long.
		ids, err := s.Client.Change.Query().Where(change.AtLT(cutoff), change.IDLT(last)).
			Order(change.ByID()).Limit(5000).IDs(ctx)
		if err != nil {
			return total, fmt.Errorf("prune changes: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := s.Client.Change.Delete().Where(change.IDGTE(ids[0]), change.IDLTE(ids[len(ids)-1])).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("prune changes: %w", err)
		}
		total += n
		if len(ids) < 5000 {
			return total, nil
		}
	}
}

// recordRefusal logs a read the guard refused, once per distinct refusal: a location read
// again and again with the same result does not fill the log. It runs in Apply's transaction,
// under the apply lock.
func recordRefusal(ctx context.Context, tx *ent.Client, loc string, g *GuardError, lastError string) error {
	if lastError == g.Error() {
		return nil
	}
	f, _ := json.Marshal(map[string]any{"location": loc, "existing": g.Existing, "remove": g.Remove, "left": g.Left,
		"maxRemovalShare": g.MaxRemovalShare})
	return tx.Change.Create().SetAt(time.Now().UTC()).SetType(ChangeRefused).SetRef("").SetLocation(loc).
		SetReason(g.Error()).SetFields(f).Exec(ctx)
}

// changedEntity is an entity whose document a read changed, before it is rewritten.
type changedEntity struct {
	id    int
	rec   *EntityRecord
	owner string // owner_ref before
}

// logChanged logs a "changed" entry, with the JSON paths that differ, for each entity, and an
// "owner_changed" entry for each whose owner is another one now.
func logChanged(ctx context.Context, tx *ent.Client, log *changeLog, changed []changedEntity) error {
	if len(changed) == 0 {
		return nil
	}
	docs := make(map[int]json.RawMessage, len(changed))
	ids := make([]int, len(changed))
	for i, c := range changed {
		ids[i] = c.id
	}
	for _, part := range chunks(ids, 1000) {
		var rows []struct {
			ID       int             `json:"id"`
			Document json.RawMessage `json:"document"`
		}
		if err := tx.Entity.Query().Where(entity.IDIn(part...)).Select(entity.FieldID, entity.FieldDocument).Scan(ctx, &rows); err != nil {
			return fmt.Errorf("read changed entities: %w", err)
		}
		for _, r := range rows {
			docs[r.ID] = r.Document
		}
	}
	for _, c := range changed {
		e := c.rec
		log.add(changeEntry{typ: ChangeChanged, ref: e.Ref, kind: e.Kind, owner: e.OwnerRef, prevOwner: c.owner,
			fields: changedFields(docs[c.id], e.Document)})
		if c.owner != e.OwnerRef {
			log.add(changeEntry{typ: ChangeOwnerChanged, ref: e.Ref, kind: e.Kind, owner: e.OwnerRef, prevOwner: c.owner,
				fields: ownerFields(c.owner, e.OwnerRef)})
		}
	}
	return nil
}

// logRefusal records a refused read (see recordRefusal) in Apply's transaction.
func (s *Store) logRefusal(ctx context.Context, tx *ent.Client, loc string, g *GuardError) error {
	last := ""
	if st, err := tx.LocationState.Query().Where(locationstate.Key(loc)).Only(ctx); err == nil {
		last = st.LastError
	} else if !ent.IsNotFound(err) {
		return err
	}
	if err := recordRefusal(ctx, tx, loc, g, last); err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	return nil
}
