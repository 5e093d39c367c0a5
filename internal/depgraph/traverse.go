package depgraph

import (
	"sort"

	"catalogd/internal/catalog"
)

// The relation types followed from an affected (or needed) entity to the next one.
var (
	// ImpactEdges: Y is affected when Y depends on an affected entity, when Y is an API
	// provided by an affected entity, or when Y consumes an affected API.
	ImpactEdges = []string{catalog.RelDependencyOf, catalog.RelProvidesAPI, catalog.RelAPIConsumedBy}
	// DependencyEdges: what X needs: what it depends on, the APIs it consumes, and their providers.
	DependencyEdges = []string{catalog.RelDependsOn, catalog.RelConsumesAPI, catalog.RelAPIProvidedBy}
)

// Reached is one entity a traversal reached: at its smallest depth, with one shortest path of
// refs from the root (both ends included).
type Reached struct {
	ID     int32
	Ref    string
	Exists bool // false for a dangling ref (no entity has it)
	Depth  int
	Path   []string
}

// Traverse walks breadth-first from root along edge types, down to maxDepth (< 0: unbounded),
// and returns every node reached, the root first at depth 0, then by depth and ref. Each level
// is visited in ref order and a node's parent is the first node of the previous level (in ref
// order) that reaches it, so the path chosen is deterministic. Cycles end where they close.
func (s *Snapshot) Traverse(root int32, edgeTypes []string, maxDepth int) []Reached {
	type visit struct {
		parent int32
		depth  int
	}
	seen := map[int32]visit{root: {-1, 0}}
	order := []int32{root}
	level := []int32{root}
	types := make([]int, 0, len(edgeTypes))
	for _, t := range edgeTypes {
		if i, ok := s.types[t]; ok {
			types = append(types, i)
		}
	}
	for depth := 1; len(level) > 0 && (maxDepth < 0 || depth <= maxDepth); depth++ {
		var next []int32
		for _, n := range level {
			for _, t := range types {
				for _, m := range s.adj[t].of(n) {
					if _, ok := seen[m]; ok {
						continue
					}
					seen[m] = visit{n, depth}
					next = append(next, m)
				}
			}
		}
		sort.Slice(next, func(i, j int) bool { return s.refs[next[i]] < s.refs[next[j]] })
		order = append(order, next...)
		level = next
	}
	out := make([]Reached, len(order))
	for i, n := range order {
		v := seen[n]
		path := make([]string, v.depth+1)
		for k, cur := v.depth, n; k >= 0; k-- {
			path[k] = s.refs[cur]
			cur = seen[cur].parent
		}
		out[i] = Reached{ID: n, Ref: s.refs[n], Exists: s.exists[n], Depth: v.depth, Path: path}
	}
	return out
}

// Group is a set of entity refs attached to one ref: the entities an owner owns, or the
// entities a system or domain contains.
type Group struct {
	Ref        string
	Exists     bool
	EntityRefs []string
	// Escalation is an owner's chain of parent groups, nearest first (owners only).
	Escalation []string
}

// Owners groups the reached entities by owner (ownedBy), in owner ref order; each owner lists
// the reached refs it owns, in the order given, and its escalation path.
func (s *Snapshot) Owners(reached []Reached) []Group {
	byOwner := map[int32]*Group{}
	for _, r := range reached {
		for _, o := range s.Out(r.ID, catalog.RelOwnedBy) {
			g := byOwner[o]
			if g == nil {
				g = &Group{Ref: s.refs[o], Exists: s.exists[o], Escalation: s.Ancestors(o)}
				byOwner[o] = g
			}
			g.EntityRefs = append(g.EntityRefs, r.Ref)
		}
	}
	return sortedGroups(byOwner)
}

// Ancestors follows childOf from a group to the top of its hierarchy (first parent in ref
// order at each step; a cycle ends the chain).
func (s *Snapshot) Ancestors(id int32) []string {
	var out []string
	seen := map[int32]bool{id: true}
	for {
		parents := s.Out(id, catalog.RelChildOf)
		if len(parents) == 0 || seen[parents[0]] {
			return out
		}
		id = parents[0]
		seen[id] = true
		out = append(out, s.refs[id])
	}
}

// Containers returns the systems and domains that contain the reached entities, following
// partOf upwards (component → system → domain → parent domain, subcomponents included).
func (s *Snapshot) Containers(reached []Reached) (systems, domains []Group) {
	sys, dom := map[int32]*Group{}, map[int32]*Group{}
	for _, r := range reached {
		seen := map[int32]bool{r.ID: true}
		stack := []int32{r.ID}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, c := range s.Out(n, catalog.RelPartOf) {
				if seen[c] {
					continue
				}
				seen[c] = true
				stack = append(stack, c)
				var m map[int32]*Group
				switch kindOf(s.refs[c]) {
				case "system":
					m = sys
				case "domain":
					m = dom
				default:
					continue
				}
				g := m[c]
				if g == nil {
					g = &Group{Ref: s.refs[c], Exists: s.exists[c]}
					m[c] = g
				}
				g.EntityRefs = append(g.EntityRefs, r.Ref)
			}
		}
	}
	return sortedGroups(sys), sortedGroups(dom)
}

func sortedGroups(m map[int32]*Group) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}

// OwnedBy returns the refs a group or user owns, sorted. For a group with transitive set, the
// entities of its child groups (parentOf, all the way down) count too. For a user, the
// entities of the groups it is a member of count too.
func (s *Snapshot) OwnedBy(id int32, transitive bool) []string {
	owners := []int32{id}
	if kindOf(s.refs[id]) == "user" {
		owners = append(owners, s.Out(id, catalog.RelMemberOf)...)
	}
	if transitive {
		seen := map[int32]bool{}
		for _, o := range owners {
			seen[o] = true
		}
		for i := 0; i < len(owners); i++ {
			for _, c := range s.Out(owners[i], catalog.RelParentOf) {
				if !seen[c] {
					seen[c] = true
					owners = append(owners, c)
				}
			}
		}
	}
	set := map[int32]bool{}
	var out []string
	for _, o := range owners {
		for _, e := range s.Out(o, catalog.RelOwnerOf) {
			if !set[e] {
				set[e] = true
				out = append(out, s.refs[e])
			}
		}
	}
	sort.Strings(out)
	return out
}

// Path returns one shortest path from one node to another along edge types, or nil.
func (s *Snapshot) Path(from, to int32, edgeTypes []string, maxDepth int) []string {
	for _, r := range s.Traverse(from, edgeTypes, maxDepth) {
		if r.ID == to {
			return r.Path
		}
	}
	return nil
}
