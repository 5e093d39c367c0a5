package store

import (
	"context"
	"fmt"
	"time"

	"catalogd/ent"
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

func (l *changeLog) write(ctx context.Context, tx *ent.Client) error {
	now := time.Now().UTC()
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
