// Package model holds the Go types behind catalogd's GraphQL schema. Every entity kind is a
// thin wrapper around one *ent.Entity row (one table serves every kind) and shares Base, which
// implements the fields common to all kinds.
//
// N+1 is avoided without timing windows: entities loaded together (a page, the targets of a
// page's relations) share a Batch, and the first entity of a batch that needs its relations
// (or their targets, or its processing errors) loads them for every entity of the batch in one
// statement. A page therefore costs a constant number of statements whatever its size.
package model

import (
	"context"
	"sort"
	"sync"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/processingerror"
	"catalogd/ent/relation"
	"catalogd/internal/store"
)

// Batch is a set of entities loaded together.
type Batch struct {
	client *ent.Client
	refs   []string

	relOnce sync.Once
	rels    map[string][]*Relation // by source ref
	relErr  error

	tgtOnce sync.Once
	tgts    map[string]Entity // by ref
	tgtErr  error

	errOnce sync.Once
	errs    map[string][]*ent.ProcessingError
	errErr  error
}

// Wrap returns the GraphQL objects for rows loaded together, sharing one batch.
func Wrap(client *ent.Client, rows []*ent.Entity) []Entity {
	b := &Batch{client: client, refs: make([]string, len(rows))}
	out := make([]Entity, len(rows))
	for i, r := range rows {
		b.refs[i] = r.Ref
		out[i] = newEntity(r, b)
	}
	return out
}

// WrapOne is Wrap for a single row.
func WrapOne(client *ent.Client, row *ent.Entity) Entity {
	if row == nil {
		return nil
	}
	return Wrap(client, []*ent.Entity{row})[0]
}

func newEntity(e *ent.Entity, b *Batch) Entity {
	base := &Base{E: e, batch: b}
	switch e.Kind {
	case "component":
		return &Component{base}
	case "api":
		return &API{base}
	case "resource":
		return &Resource{base}
	case "system":
		return &System{base}
	case "domain":
		return &Domain{base}
	case "group":
		return &Group{base}
	case "user":
		return &User{base}
	case "location":
		return &Location{base}
	case "template":
		return &Template{base}
	}
	return &GenericEntity{base}
}

func (b *Batch) relations(ctx context.Context, ref string) ([]*Relation, error) {
	b.relOnce.Do(func() {
		var rows []struct {
			SourceRef string `json:"source_ref"`
			Type      string `json:"type"`
			TargetRef string `json:"target_ref"`
		}
		b.relErr = b.client.Relation.Query().
			Where(store.RefIn(relation.FieldSourceRef, b.refs)).
			Unique(true).
			Order(relation.BySourceRef(), relation.ByType(), relation.ByTargetRef()).
			Select(relation.FieldSourceRef, relation.FieldType, relation.FieldTargetRef).
			Scan(ctx, &rows)
		b.rels = make(map[string][]*Relation, len(b.refs))
		for _, r := range rows {
			b.rels[r.SourceRef] = append(b.rels[r.SourceRef], &Relation{Type: r.Type, TargetRef: r.TargetRef, batch: b})
		}
	})
	return b.rels[ref], b.relErr
}

// target resolves a relation target. The first call loads the targets of every relation of
// the batch, so they too form one batch.
func (b *Batch) target(ctx context.Context, ref string) (Entity, error) {
	b.tgtOnce.Do(func() {
		seen := map[string]bool{}
		var refs []string
		for _, rs := range b.rels {
			for _, r := range rs {
				if !seen[r.TargetRef] {
					seen[r.TargetRef] = true
					refs = append(refs, r.TargetRef)
				}
			}
		}
		sort.Strings(refs)
		b.tgts = map[string]Entity{}
		if len(refs) == 0 {
			return
		}
		rows, err := b.client.Entity.Query().Where(store.RefIn(entity.FieldRef, refs)).Order(entity.ByRef()).All(ctx)
		if err != nil {
			b.tgtErr = err
			return
		}
		for _, e := range Wrap(b.client, rows) {
			b.tgts[e.base().E.Ref] = e
		}
	})
	return b.tgts[ref], b.tgtErr
}

func (b *Batch) processingErrors(ctx context.Context, ref string) ([]*ent.ProcessingError, error) {
	b.errOnce.Do(func() {
		rows, err := b.client.ProcessingError.Query().
			Where(store.RefIn(processingerror.FieldEntityRef, b.refs)).
			Order(processingerror.ByID()).All(ctx)
		b.errErr = err
		b.errs = map[string][]*ent.ProcessingError{}
		for _, r := range rows {
			b.errs[r.EntityRef] = append(b.errs[r.EntityRef], r)
		}
	})
	return b.errs[ref], b.errErr
}

// Relation is one relation from an entity.
type Relation struct {
	Type      string
	TargetRef string
	batch     *Batch
}

// Target is the entity the relation points to, or nil while it does not exist.
func (r *Relation) Target(ctx context.Context) (Entity, error) {
	return r.batch.target(ctx, r.TargetRef)
}
