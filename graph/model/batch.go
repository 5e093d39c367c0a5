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
	"slices"
	"sort"
	"strings"
	"sync"

	"catalogd/internal/catalog"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/locationstate"
	"catalogd/ent/processingerror"
	"catalogd/ent/relation"
	"catalogd/internal/depgraph"
	"catalogd/internal/store"
)

// Deps are what the model needs to load more: the database and the graph index.
type Deps struct {
	Client *ent.Client
	Graph  *depgraph.Index
	// ContactAnnotations are the annotation keys that count as contacts (on-call, chat).
	ContactAnnotations []string
}

// Batch is a set of entities loaded together. It lives for one request and carries its
// context, as a dataloader does, so the methods gqlgen binds need none: gqlgen runs methods that
// take a context in goroutines of their own, one per list element, which cost more than the
// work itself here (every load is already batched).
type Batch struct {
	ctx  context.Context
	deps *Deps
	refs []string

	relOnce sync.Once
	rels    map[string][]*Relation // by source ref
	relErr  error

	tgtMu sync.Mutex
	tgts  map[string]*targetSet // by relation type; "" for all types

	errOnce sync.Once
	errs    map[string][]*ent.ProcessingError
	errErr  error

	ancOnce sync.Once
	anc     map[string][]string // owner ref -> ancestor refs
	ancRefs *RefLoader
	ancErr  error

	ownedOnce  [2]sync.Once // [transitive]
	owned      [2]map[string][]string
	ownedRefs  [2]*RefLoader
	ownedErr   [2]error
	ownedMu    sync.Mutex
	ownedPages map[[2]int]bool // [transitive, first] pages wanted for the whole batch

	docsOnce sync.Once
	docs     *docsBatch

	locKeys map[string]bool
	locOnce sync.Once
	locs    map[string]*ent.LocationState
	locErr  error
}

// location returns the registry row of a location of the batch's entities, loading those of
// the whole batch in one statement.
func (b *Batch) location(key string) (*ent.LocationState, error) {
	b.locOnce.Do(func() {
		keys := make([]string, 0, len(b.locKeys))
		for k := range b.locKeys {
			keys = append(keys, k)
		}
		rows, err := b.deps.Client.LocationState.Query().Where(locationstate.KeyIn(keys...)).All(b.ctx)
		b.locs, b.locErr = map[string]*ent.LocationState{}, err
		for _, r := range rows {
			b.locs[r.Key] = r
		}
	})
	return b.locs[key], b.locErr
}

// Wrap returns the GraphQL objects for rows loaded together, sharing one batch.
func Wrap(ctx context.Context, deps *Deps, rows []*ent.Entity) []Entity {
	b := &Batch{ctx: ctx, deps: deps, refs: make([]string, len(rows)), locKeys: map[string]bool{}}
	out := make([]Entity, len(rows))
	for i, r := range rows {
		b.refs[i] = r.Ref
		b.locKeys[r.Location] = true
		out[i] = newEntity(r, b)
	}
	return out
}

// WrapOne is Wrap for a single row.
func WrapOne(ctx context.Context, deps *Deps, row *ent.Entity) Entity {
	if row == nil {
		return nil
	}
	return Wrap(ctx, deps, []*ent.Entity{row})[0]
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
		if b.relationsFromGraph(ctx) {
			return
		}
		var rows []struct {
			SourceRef string `json:"source_ref"`
			Type      string `json:"type"`
			TargetRef string `json:"target_ref"`
		}
		b.relErr = b.deps.Client.Relation.Query().
			Where(store.RefIn(relation.FieldSourceRef, b.refs)).
			Unique(true).
			Order(relation.BySourceRef(), relation.ByType(), relation.ByTargetRef()).
			Select(relation.FieldSourceRef, relation.FieldType, relation.FieldTargetRef).
			Scan(ctx, &rows)
		b.rels = make(map[string][]*Relation, len(b.refs))
		for _, r := range rows {
			b.rels[r.SourceRef] = append(b.rels[r.SourceRef], &Relation{Type: r.Type, TargetRef: r.TargetRef, batch: b})
		}
		// Bytewise, as the graph index gives them (relationsFromGraph): ORDER BY follows the
		// database's collation, which on PostgreSQL need not be bytewise.
		for _, rels := range b.rels {
			slices.SortStableFunc(rels, func(x, y *Relation) int {
				if c := strings.Compare(x.Type, y.Type); c != 0 {
					return c
				}
				return strings.Compare(x.TargetRef, y.TargetRef)
			})
		}
	})
	return b.rels[ref], b.relErr
}

// relationsFromGraph takes the batch's relations from the graph index when it has caught up
// with the catalog: the same relations in the same order as the statement (distinct, by type
// then target ref, bytewise), without the statement and the scan of its rows (a quarter of a
// list page of 50 whole entities). It reports false when the index lags or there is none.
func (b *Batch) relationsFromGraph(ctx context.Context) bool {
	if b.deps.Graph == nil {
		return false
	}
	s := b.deps.Graph.Caught(ctx)
	if s == nil {
		return false
	}
	b.rels = make(map[string][]*Relation, len(b.refs))
	for _, ref := range b.refs {
		id, ok := s.ID(ref)
		if !ok {
			continue
		}
		var rels []*Relation
		s.EachOut(id, func(relType string, targets []int32) {
			for _, t := range targets {
				rels = append(rels, &Relation{Type: relType, TargetRef: s.Ref(t), batch: b})
			}
		})
		b.rels[ref] = rels
	}
	return true
}

// targetSet is the loaded targets of the batch's relations of one type (or all types).
type targetSet struct {
	once sync.Once
	m    map[string]Entity
	err  error
}

// target resolves the target of a relation of type relType ("" when the caller may ask for
// any type). The first call for a type loads the targets of every relation of that type in
// the batch, in one statement: a page asking for owners loads owners, not every neighbour.
func (b *Batch) target(ctx context.Context, relType, ref string) (Entity, error) {
	b.tgtMu.Lock()
	if b.tgts == nil {
		b.tgts = map[string]*targetSet{}
	}
	all := b.tgts[""]
	if all == nil && relType != "" && b.fewTargets() {
		// One entity's page asks for its owner, its system and its relations' targets: one
		// statement for all of them rather than one per type, when they are few.
		all = &targetSet{}
		b.tgts[""] = all
	}
	set := b.tgts[relType]
	if set == nil {
		set = &targetSet{}
		b.tgts[relType] = set
	}
	b.tgtMu.Unlock()
	if all != nil && relType != "" {
		// Every target is (being) loaded already.
		all.once.Do(func() { all.m, all.err = b.loadTargets(ctx, "") })
		return all.m[ref], all.err
	}
	set.once.Do(func() { set.m, set.err = b.loadTargets(ctx, relType) })
	return set.m[ref], set.err
}

// maxTargetsAtOnce bounds the targets a batch of one entity loads together for a caller
// asking for one type (an owner with thousands of ownerOf relations loads its owner alone).
const maxTargetsAtOnce = 64

// fewTargets reports whether the batch is one entity whose relations have at most
// maxTargetsAtOnce distinct targets. The relations are loaded (target's callers load them
// first).
func (b *Batch) fewTargets() bool {
	if len(b.refs) != 1 {
		return false
	}
	rs := b.rels[b.refs[0]]
	if len(rs) <= maxTargetsAtOnce {
		return true
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.TargetRef] = true
	}
	return len(seen) <= maxTargetsAtOnce
}

func (b *Batch) loadTargets(ctx context.Context, relType string) (map[string]Entity, error) {
	seen := map[string]bool{}
	var refs []string
	for _, rs := range b.rels {
		for _, r := range rs {
			if (relType == "" || r.Type == relType) && !seen[r.TargetRef] {
				seen[r.TargetRef] = true
				refs = append(refs, r.TargetRef)
			}
		}
	}
	sort.Strings(refs)
	return loadRefs(ctx, b.deps, refs)
}

func (b *Batch) processingErrors(ctx context.Context, ref string) ([]*ent.ProcessingError, error) {
	b.errOnce.Do(func() {
		rows, err := b.deps.Client.ProcessingError.Query().
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
func (r *Relation) Target() (Entity, error) {
	return r.batch.target(r.batch.ctx, "", r.TargetRef)
}

// loadRefs loads the entities with the given refs in one statement, as one batch.
func loadRefs(ctx context.Context, deps *Deps, refs []string) (map[string]Entity, error) {
	out := map[string]Entity{}
	if len(refs) == 0 {
		return out, nil
	}
	rows, err := deps.Client.Entity.Query().Where(store.RefIn(entity.FieldRef, refs)).Order(entity.ByRef()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range Wrap(ctx, deps, rows) {
		out[e.base().E.Ref] = e
	}
	return out, nil
}

// RefLoader resolves refs to entities in batches: refs announced with Want are loaded
// together, in one statement, by the first Get that needs one of them.
type RefLoader struct {
	ctx     context.Context
	deps    *Deps
	mu      sync.Mutex
	pending []string
	m       map[string]Entity // loaded refs; nil where no entity has the ref
	err     error
}

// NewRefLoader returns a loader that loads refs (duplicates allowed) on first use.
func NewRefLoader(ctx context.Context, deps *Deps, refs []string) *RefLoader {
	l := &RefLoader{ctx: ctx, deps: deps, m: map[string]Entity{}}
	l.Want(refs...)
	return l
}

// Want announces refs the next load should include.
func (l *RefLoader) Want(refs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range refs {
		if _, ok := l.m[r]; !ok {
			l.pending = append(l.pending, r)
		}
	}
}

// Get returns the entity with ref, or nil when none has it.
func (l *RefLoader) Get(ref string) (Entity, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[ref]; ok {
		return e, nil
	}
	if l.err != nil {
		return nil, l.err
	}
	seen := map[string]bool{}
	var refs []string
	for _, r := range append(l.pending, ref) {
		if _, done := l.m[r]; !done && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	l.pending = nil
	sort.Strings(refs)
	got, err := loadRefs(l.ctx, l.deps, refs)
	if err != nil {
		l.err = err
		return nil, err
	}
	for _, r := range refs {
		l.m[r] = got[r]
	}
	return l.m[ref], nil
}

// All returns the entities of refs that exist, in the order of refs.
func (l *RefLoader) All(refs []string) ([]Entity, error) {
	out := []Entity{}
	for _, r := range refs {
		e, err := l.Get(r)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// ownerAncestors returns the ancestor groups of an owner ref, computing them for the owners of
// every entity of the batch at once.
func (b *Batch) ownerAncestors(ctx context.Context, owner string) ([]string, *RefLoader, error) {
	b.ancOnce.Do(func() {
		b.anc = map[string][]string{}
		snap, err := b.deps.Graph.Current(ctx)
		if err != nil {
			b.ancErr = err
			return
		}
		var all []string
		for _, ref := range b.refs {
			id, ok := snap.ID(ref)
			if !ok {
				continue
			}
			for _, o := range snap.Out(id, catalog.RelOwnedBy) {
				oref := snap.Ref(o)
				if _, done := b.anc[oref]; !done {
					b.anc[oref] = snap.Ancestors(o)
					all = append(all, b.anc[oref]...)
				}
			}
		}
		b.ancRefs = NewRefLoader(ctx, b.deps, all)
	})
	return b.anc[owner], b.ancRefs, b.ancErr
}

// ownedEntities returns a page of what an owner of the batch owns (see
// depgraph.Snapshot.OwnedBy), working out the lists for every entity of the batch at once and
// loading the same page of each in one statement.
func (b *Batch) ownedEntities(ctx context.Context, ref string, transitive bool, first *int, after *string) ([]Entity, error) {
	i := 0
	if transitive {
		i = 1
	}
	b.ownedOnce[i].Do(func() {
		b.owned[i] = map[string][]string{}
		snap, err := b.deps.Graph.Current(ctx)
		if err != nil {
			b.ownedErr[i] = err
			return
		}
		for _, r := range b.refs {
			if id, ok := snap.ID(r); ok {
				b.owned[i][r] = snap.OwnedBy(id, transitive)
			}
		}
		b.ownedRefs[i] = NewRefLoader(ctx, b.deps, nil)
	})
	if b.ownedErr[i] != nil {
		return nil, b.ownedErr[i]
	}
	refs, err := page(b.owned[i][ref], identity, first, after, DefaultListPage, MaxListPage, false)
	if err != nil {
		return nil, err
	}
	if after == nil {
		// The first page of every owner of the batch loads together.
		b.ownedMu.Lock()
		key := [2]int{i, intOr(first, -1)}
		if !b.ownedPages[key] {
			if b.ownedPages == nil {
				b.ownedPages = map[[2]int]bool{}
			}
			b.ownedPages[key] = true
			for _, r := range b.refs {
				if p, err := page(b.owned[i][r], identity, first, nil, DefaultListPage, MaxListPage, false); err == nil {
					b.ownedRefs[i].Want(p...)
				}
			}
		}
		b.ownedMu.Unlock()
	}
	b.ownedRefs[i].Want(refs...)
	return b.ownedRefs[i].All(refs)
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
