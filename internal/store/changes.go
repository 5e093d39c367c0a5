package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

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

func (l *changeLog) write(ctx context.Context, w *bulkWriter) error {
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
	// SQLite: multi-row INSERTs through one prepared statement per chunk size (a first
	// read logs an addition per entity).
	const chunk = 500
	cols := "(" + strings.Join([]string{change.FieldLocation, change.FieldRevision, change.FieldAt, change.FieldType, change.FieldRef, change.FieldReason}, ", ") + ")"
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, chunk*6)
	for _, part := range chunks(l.entries, chunk) {
		args = args[:0]
		for _, c := range part {
			args = append(args, l.loc, l.revision, now, c.typ, c.ref, c.reason)
		}
		q := "INSERT INTO " + quoteIdent(change.Table) + " " + cols + " VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", len(part)), ", ")
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
