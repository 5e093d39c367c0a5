package store

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"catalogd/ent"
	"catalogd/ent/change"
)

// Change types of the change log.
const (
	ChangeAdded   = "added"
	ChangeChanged = "changed"
	ChangeRemoved = "removed"
)

// changeLog collects the changes of one Apply, written in the same transaction.
type changeLog struct {
	loc, revision string
	entries       []changeEntry
}

type changeEntry struct{ typ, ref, reason string }

func (l *changeLog) add(typ, ref, reason string) {
	l.entries = append(l.entries, changeEntry{typ, ref, reason})
}

func (l *changeLog) write(ctx context.Context, tx *ent.Client, w *bulkWriter) error {
	now := time.Now().UTC()
	if w.s.Dialect == dialect.Postgres && len(l.entries) > 0 {
		// COPY, as for new entities: a first read of 100,000 entities logs as many additions.
		shared := appendCopyString(nil, l.loc)
		shared = appendCopyString(append(shared, '\t'), l.revision)
		at := pq.FormatTimestamp(now)
		err := w.copyIn(ctx, change.Table, []string{change.FieldLocation, change.FieldRevision, change.FieldAt, change.FieldType, change.FieldRef, change.FieldReason},
			len(l.entries), func(b []byte, i int) []byte {
				c := &l.entries[i]
				b = append(append(append(b, shared...), '\t'), at...)
				b = appendCopyString(append(b, '\t'), c.typ)
				b = appendCopyString(append(b, '\t'), c.ref)
				return appendCopyString(append(b, '\t'), c.reason)
			})
		if err != nil {
			return fmt.Errorf("record changes: %w", err)
		}
		return nil
	}
	for _, part := range chunks(l.entries, 1000) {
		builders := make([]*ent.ChangeCreate, len(part))
		for i, c := range part {
			builders[i] = tx.Change.Create().SetAt(now).SetType(c.typ).SetRef(c.ref).
				SetLocation(l.loc).SetRevision(l.revision).SetReason(c.reason)
		}
		if err := tx.Change.CreateBulk(builders...).Exec(ctx); err != nil {
			return fmt.Errorf("record changes: %w", err)
		}
	}
	return nil
}
