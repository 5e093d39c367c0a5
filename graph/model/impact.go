package model

import (
	"context"
	"sync"

	"catalogd/internal/depgraph"
)

// Impact is the answer of impact and dependencies.
// Owners, systems and domains are computed when first asked for, and the entities of the
// answer loaded (in one statement) when the first one is asked for.
type Impact struct {
	rootRef       string
	loader        *RefLoader
	TotalAffected int
	Affected      []*ImpactedEntity

	deps    *Deps
	snap    *depgraph.Snapshot
	reached []depgraph.Reached

	ownersOnce       sync.Once
	owners           []depgraph.Group
	containersOnce   sync.Once
	systems, domains []depgraph.Group
}

func (i *Impact) ownerGroups() []depgraph.Group {
	i.ownersOnce.Do(func() { i.owners = i.snap.Owners(i.reached) })
	return i.owners
}

func (i *Impact) containerGroups() ([]depgraph.Group, []depgraph.Group) {
	i.containersOnce.Do(func() { i.systems, i.domains = i.snap.Containers(i.reached) })
	return i.systems, i.domains
}

// Owners are the owners of the root and the reached entities.
func (i *Impact) Owners() []*ImpactedOwner {
	owners := i.ownerGroups()
	out := make([]*ImpactedOwner, len(owners))
	for k, o := range owners {
		out[k] = &ImpactedOwner{Ref: o.Ref, EntityRefs: o.EntityRefs, escalation: o.Escalation, deps: i.deps, loader: i.loader}
	}
	return out
}

// Systems contain the root or reached entities.
func (i *Impact) Systems() []*ImpactedContainer {
	systems, _ := i.containerGroups()
	return containers(systems, i.loader)
}

// Domains contain them through their systems and parent domains.
func (i *Impact) Domains() []*ImpactedContainer {
	_, domains := i.containerGroups()
	return containers(domains, i.loader)
}

// Root is the entity the question was about.
func (i *Impact) Root() (Entity, error) {
	return i.loader.Get(i.rootRef)
}

// ImpactedEntity is one reached entity; its entity loads with all others of the answer.
type ImpactedEntity struct {
	Ref    string
	Depth  int
	Path   []string
	loader *RefLoader
}

func (i *ImpactedEntity) Entity() (Entity, error) {
	return i.loader.Get(i.Ref)
}

// ImpactedOwner is the owner of reached entities.
type ImpactedOwner struct {
	Ref        string
	EntityRefs []string
	escalation []string
	deps       *Deps
	loader     *RefLoader
}

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
	EntityRefs []string
	loader     *RefLoader
}

func (c *ImpactedContainer) Entity() (Entity, error) {
	return c.loader.Get(c.Ref)
}

// NewImpact builds the answer from a traversal (root first); every entity it names is loaded
// in one statement when first asked for.
func NewImpact(ctx context.Context, deps *Deps, snap *depgraph.Snapshot, reached []depgraph.Reached) *Impact {
	out := &Impact{rootRef: reached[0].Ref, TotalAffected: len(reached) - 1,
		Affected: make([]*ImpactedEntity, 0, len(reached)-1), deps: deps, snap: snap, reached: reached}
	out.loader = newLazyRefLoader(ctx, deps, func() []string {
		var refs []string
		for _, r := range reached {
			refs = append(refs, r.Ref)
		}
		for _, o := range out.ownerGroups() {
			refs = append(refs, o.Ref)
			refs = append(refs, o.Escalation...)
		}
		systems, domains := out.containerGroups()
		for _, g := range append(systems, domains...) {
			refs = append(refs, g.Ref)
		}
		return refs
	})
	for _, r := range reached[1:] {
		out.Affected = append(out.Affected, &ImpactedEntity{Ref: r.Ref, Depth: r.Depth, Path: r.Path, loader: out.loader})
	}
	return out
}

func containers(gs []depgraph.Group, loader *RefLoader) []*ImpactedContainer {
	out := make([]*ImpactedContainer, len(gs))
	for i, g := range gs {
		out[i] = &ImpactedContainer{Ref: g.Ref, EntityRefs: g.EntityRefs, loader: loader}
	}
	return out
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
