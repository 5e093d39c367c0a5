package model

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"catalogd/internal/catalog"
	"catalogd/internal/depgraph"
)

// Impact is the answer of impact and dependencies. Its lists are paged. Owners, systems and
// domains are computed when first asked for; the entities of the pages the query asks for are
// loaded in one statement when the first one is needed.
type Impact struct {
	rootRef       string
	loader        *RefLoader
	TotalAffected int

	deps *Deps
	snap *depgraph.Snapshot
	walk *depgraph.Traversal
	// quiet: no list of affected the query asks for selects entities or contacts, so pages of
	// affected need not announce their refs to the loader.
	quiet bool

	ownersOnce       sync.Once
	owners           []depgraph.Group
	containersOnce   sync.Once
	systems, domains []depgraph.Group
}

func (i *Impact) ownerGroups() []depgraph.Group {
	i.ownersOnce.Do(func() { i.owners = i.snap.Owners(i.walk) })
	return i.owners
}

func (i *Impact) containerGroups() ([]depgraph.Group, []depgraph.Group) {
	i.containersOnce.Do(func() { i.systems, i.domains = i.snap.Containers(i.walk) })
	return i.systems, i.domains
}

func groupRef(g depgraph.Group) string { return g.Ref }

// Affected is a page of the reached entities (the traversal's positions after the root).
func (i *Impact) Affected(first *int, after *string) ([]*ImpactedEntity, error) {
	n, err := CheckFirst(first, DefaultAffectedPage, MaxAffectedPage)
	if err != nil {
		return nil, err
	}
	start := 1
	if after != nil {
		ref, ok := decodeCursor(*after)
		if !ok {
			return nil, catalog.Errorf(catalog.EINVALID, "after: %q is not a cursor of this list", catalog.Excerpt(*after, 60))
		}
		pos := 0
		if id, ok := i.snap.ID(ref); ok {
			pos, _ = i.walk.Position(id)
		}
		if pos == 0 { // not reached, or the root (which is not in the list)
			return nil, catalog.Errorf(catalog.EINVALID, "after: %q names no item of this list (has the catalog changed?)", catalog.Excerpt(ref, 60))
		}
		start = pos + 1
	}
	end := min(start+n, i.walk.Len())
	ents := make([]ImpactedEntity, end-start)
	out := make([]*ImpactedEntity, end-start)
	for k := range ents {
		pos := start + k
		ents[k] = ImpactedEntity{Ref: i.walk.Ref(pos), Depth: i.walk.Depth(pos), walk: i.walk, pos: pos, loader: i.loader, deps: i.deps}
		out[k] = &ents[k]
		if !i.quiet {
			i.loader.Want(ents[k].Ref)
		}
	}
	return out, nil
}

// Owners is a page of the owners of the root and the reached entities.
func (i *Impact) Owners(first *int, after *string) ([]*ImpactedOwner, error) {
	p, err := page(i.ownerGroups(), groupRef, first, after, DefaultListPage, MaxListPage, true)
	if err != nil {
		return nil, err
	}
	out := make([]*ImpactedOwner, len(p))
	for k, o := range p {
		i.loader.Want(o.Ref)
		i.loader.Want(o.Escalation...)
		out[k] = &ImpactedOwner{Ref: o.Ref, entityRefs: o.EntityRefs, escalation: o.Escalation, deps: i.deps, loader: i.loader}
	}
	return out, nil
}

// TotalOwners is the number of owners.
func (i *Impact) TotalOwners() int { return len(i.ownerGroups()) }

// Systems is a page of the systems that contain the root or reached entities.
func (i *Impact) Systems(first *int, after *string) ([]*ImpactedContainer, error) {
	systems, _ := i.containerGroups()
	return containers(systems, first, after, i.loader)
}

// TotalSystems is the number of systems.
func (i *Impact) TotalSystems() int { s, _ := i.containerGroups(); return len(s) }

// Domains is a page of the domains that contain them through their systems and parent domains.
func (i *Impact) Domains(first *int, after *string) ([]*ImpactedContainer, error) {
	_, domains := i.containerGroups()
	return containers(domains, first, after, i.loader)
}

// TotalDomains is the number of domains.
func (i *Impact) TotalDomains() int { _, d := i.containerGroups(); return len(d) }

// Root is the entity the question was about.
func (i *Impact) Root() (Entity, error) {
	return i.loader.Get(i.rootRef)
}

// RootContacts are the root's own contact annotations.
func (i *Impact) RootContacts() ([]*Contact, error) {
	e, err := i.loader.Get(i.rootRef)
	if err != nil {
		return nil, err
	}
	return annotationContacts(e, i.deps.ContactAnnotations), nil
}

// ImpactedEntity is one reached entity; its entity loads with all others of the answer.
type ImpactedEntity struct {
	Ref    string
	Depth  int
	walk   *depgraph.Traversal
	pos    int
	loader *RefLoader
	deps   *Deps
}

// Path is one shortest path of refs from the root to this entity, both ends included.
func (i *ImpactedEntity) Path() []string { return i.walk.Path(i.pos) }

func (i *ImpactedEntity) Entity() (Entity, error) {
	return i.loader.Get(i.Ref)
}

// Contacts are the entity's own contact annotations (none for a dangling ref).
func (i *ImpactedEntity) Contacts() ([]*Contact, error) {
	e, err := i.loader.Get(i.Ref)
	if err != nil {
		return nil, err
	}
	return annotationContacts(e, i.deps.ContactAnnotations), nil
}

// Cursor is the opaque cursor of this entity in affected.
func (i *ImpactedEntity) Cursor() string { return Cursor(i.Ref) }

// ImpactedOwner is the owner of reached entities.
type ImpactedOwner struct {
	Ref        string
	entityRefs []string
	escalation []string
	deps       *Deps
	loader     *RefLoader
}

// EntityRefs is a page of the refs the owner owns.
func (o *ImpactedOwner) EntityRefs(first *int, after *string) ([]string, error) {
	return page(o.entityRefs, identity, first, after, DefaultListPage, MaxListPage, false)
}

// EntityCount is the number of refs the owner owns.
func (o *ImpactedOwner) EntityCount() int { return len(o.entityRefs) }

// Cursor is the opaque cursor of this owner in owners.
func (o *ImpactedOwner) Cursor() string { return Cursor(o.Ref) }

func (o *ImpactedOwner) Owner() (Entity, error) {
	return o.loader.Get(o.Ref)
}

func (o *ImpactedOwner) Contacts() ([]*Contact, error) {
	e, err := o.loader.Get(o.Ref)
	if err != nil {
		return nil, err
	}
	return contacts(e, o.deps.ContactAnnotations), nil
}

func (o *ImpactedOwner) Escalation() []*EscalationStep {
	out := make([]*EscalationStep, len(o.escalation))
	for i, r := range o.escalation {
		out[i] = &EscalationStep{Ref: r, deps: o.deps, loader: o.loader}
	}
	return out
}

// EscalationStep is one parent group on an owner's escalation path.
type EscalationStep struct {
	Ref    string
	deps   *Deps
	loader *RefLoader
}

func (s *EscalationStep) Entity() (Entity, error) {
	return s.loader.Get(s.Ref)
}

func (s *EscalationStep) Contacts() ([]*Contact, error) {
	e, err := s.loader.Get(s.Ref)
	if err != nil {
		return nil, err
	}
	return contacts(e, s.deps.ContactAnnotations), nil
}

// ImpactedContainer is a system or domain that contains reached entities.
type ImpactedContainer struct {
	Ref        string
	entityRefs []string
	loader     *RefLoader
}

// EntityRefs is a page of the refs the container contains.
func (c *ImpactedContainer) EntityRefs(first *int, after *string) ([]string, error) {
	return page(c.entityRefs, identity, first, after, DefaultListPage, MaxListPage, false)
}

// EntityCount is the number of refs the container contains.
func (c *ImpactedContainer) EntityCount() int { return len(c.entityRefs) }

// Cursor is the opaque cursor of this container in systems or domains.
func (c *ImpactedContainer) Cursor() string { return Cursor(c.Ref) }

func (c *ImpactedContainer) Entity() (Entity, error) {
	return c.loader.Get(c.Ref)
}

// NewImpact builds the answer from a traversal (root first). The entities of the pages the
// query selects (found by field collection, as entgql does) load in one statement when the
// first is needed; a page the collection did not foresee loads with its own.
func NewImpact(ctx context.Context, deps *Deps, snap *depgraph.Snapshot, walk *depgraph.Traversal) *Impact {
	root := walk.Ref(0)
	out := &Impact{rootRef: root, TotalAffected: walk.Len() - 1, deps: deps, snap: snap, walk: walk,
		loader: NewRefLoader(ctx, deps, []string{root})}
	out.prefetch(ctx)
	return out
}

// prefetch announces to the loader the pages of the lists the query selects whose entities it
// asks for.
func (i *Impact) prefetch(ctx context.Context) {
	if graphql.GetFieldContext(ctx) == nil || !graphql.HasOperationContext(ctx) {
		return
	}
	op := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	i.quiet = true
	for _, f := range fields {
		if f.Name == "affected" && selects(op, f, []string{"entity", "contacts"}) {
			i.quiet = false
		}
	}
	for _, f := range fields {
		var want []string
		switch f.Name {
		case "affected":
			want = []string{"entity", "contacts"}
		case "owners":
			want = []string{"owner", "contacts", "escalation"}
		case "systems", "domains":
			want = []string{"entity"}
		default:
			continue
		}
		if !selects(op, f, want) {
			continue
		}
		args := f.ArgumentMap(op.Variables)
		first, ok1 := intArg(args["first"])
		after, ok2 := stringArg(args["after"])
		if !ok1 || !ok2 {
			continue
		}
		switch f.Name {
		case "affected":
			_, _ = i.Affected(first, after)
		case "owners":
			_, _ = i.Owners(first, after)
		case "systems":
			_, _ = i.Systems(first, after)
		case "domains":
			_, _ = i.Domains(first, after)
		}
	}
}

func selects(op *graphql.OperationContext, f graphql.CollectedField, names []string) bool {
	for _, c := range graphql.CollectFields(op, f.Selections, nil) {
		if slices.Contains(names, c.Name) {
			return true
		}
	}
	return false
}

func intArg(v any) (*int, bool) {
	var n int64
	switch v := v.(type) {
	case nil:
		return nil, true
	case int:
		n = int64(v)
	case int64:
		n = v
	case json.Number:
		var err error
		if n, err = v.Int64(); err != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	k := int(n)
	return &k, true
}

func stringArg(v any) (*string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return &v, true
	}
	return nil, false
}

func containers(gs []depgraph.Group, first *int, after *string, loader *RefLoader) ([]*ImpactedContainer, error) {
	p, err := page(gs, groupRef, first, after, DefaultListPage, MaxListPage, true)
	if err != nil {
		return nil, err
	}
	out := make([]*ImpactedContainer, len(p))
	for i, g := range p {
		loader.Want(g.Ref)
		out[i] = &ImpactedContainer{Ref: g.Ref, entityRefs: g.EntityRefs, loader: loader}
	}
	return out, nil
}

// DependencyPath is a path between two entities.
type DependencyPath struct {
	Refs   []string
	loader *RefLoader
}

// NewDependencyPath wraps a path of refs.
func NewDependencyPath(ctx context.Context, deps *Deps, refs []string) *DependencyPath {
	return &DependencyPath{Refs: refs, loader: NewRefLoader(ctx, deps, refs)}
}

func (p *DependencyPath) Entities() ([]Entity, error) {
	out := make([]Entity, len(p.Refs))
	for i, r := range p.Refs {
		e, err := p.loader.Get(r)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Graph is an exported subgraph.
type Graph struct {
	Nodes     []*GraphNode
	Edges     []*GraphEdge
	Truncated bool
	Dot       string
	Mermaid   string
}

// GraphNode is one node of a Graph.
type GraphNode struct {
	Ref    string
	Depth  int
	loader *RefLoader
}

func (n *GraphNode) Entity() (Entity, error) {
	return n.loader.Get(n.Ref)
}

// GraphEdge is one relation of a Graph, in forward form.
type GraphEdge struct {
	Source, Type, Target string
}

// NewGraph wraps a subgraph.
func NewGraph(ctx context.Context, deps *Deps, nodes []depgraph.Node, edges []depgraph.Edge, truncated bool) *Graph {
	refs := make([]string, len(nodes))
	for i, n := range nodes {
		refs[i] = n.Ref
	}
	loader := NewRefLoader(ctx, deps, refs)
	g := &Graph{Truncated: truncated, Dot: depgraph.DOT(nodes, edges), Mermaid: depgraph.Mermaid(nodes, edges),
		Nodes: make([]*GraphNode, len(nodes)), Edges: make([]*GraphEdge, len(edges))}
	for i, n := range nodes {
		g.Nodes[i] = &GraphNode{Ref: n.Ref, Depth: n.Depth, loader: loader}
	}
	for i, e := range edges {
		g.Edges[i] = &GraphEdge{Source: e.Source, Type: e.Type, Target: e.Target}
	}
	return g
}
