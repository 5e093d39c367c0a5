package depgraph

import (
	"slices"
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

// Traversal is what a breadth-first walk reached: every node once, at its smallest depth, the
// root first at position 0, then by depth and ref; each with one shortest path from the root,
// kept as the position of its parent (paths are built only for the positions asked about).
type Traversal struct {
	s      *Snapshot
	nodes  []int32 // position -> node
	parent []int32 // position -> position of the parent (-1 for the root)
	depth  []int32 // position -> depth

	// In the snapshot's cache (see Walk); both under its lock.
	cache *walkCache
	memo  map[string][]byte
}

// Len is the number of nodes reached, the root included.
func (t *Traversal) Len() int { return len(t.nodes) }

// ID is the node at a position.
func (t *Traversal) ID(i int) int32 { return t.nodes[i] }

// Ref is the canonical ref of the node at a position.
func (t *Traversal) Ref(i int) string { return t.s.refs[t.nodes[i]] }

// Exists reports whether an entity has the ref at a position (false for a dangling ref).
func (t *Traversal) Exists(i int) bool { return t.s.exists[t.nodes[i]] }

// Depth is the number of steps from the root to the node at a position.
func (t *Traversal) Depth(i int) int { return int(t.depth[i]) }

// Parent is the position of the node before position i on its path (-1 for the root).
func (t *Traversal) Parent(i int) int { return int(t.parent[i]) }

// AppendQuotedRef appends the ref at a position as a JSON string (Snapshot.AppendQuotedRef).
func (t *Traversal) AppendQuotedRef(buf []byte, i int) []byte {
	return t.s.AppendQuotedRef(buf, t.nodes[i])
}

// Position returns the position of a node, or false when the walk did not reach it.
func (t *Traversal) Position(id int32) (int, bool) {
	for i, n := range t.nodes {
		if n == id {
			return i, true
		}
	}
	return 0, false
}

// Path returns the refs of the path from the root to the node at a position, both included.
func (t *Traversal) Path(i int) []string {
	path := make([]string, t.depth[i]+1)
	for k := len(path) - 1; k >= 0; k-- {
		path[k] = t.s.refs[t.nodes[i]]
		i = int(t.parent[i])
	}
	return path
}

// Traverse walks breadth-first from root along edge types, down to maxDepth (< 0: unbounded).
// Each level is visited in ref order and a node's parent is the first node of the previous
// level (in ref order) that reaches it, so the path chosen is deterministic. Cycles end where
// they close.
func (s *Snapshot) Traverse(root int32, edgeTypes []string, maxDepth int) *Traversal {
	t := &Traversal{s: s, nodes: []int32{root}, parent: []int32{-1}, depth: []int32{0}}
	seen := s.getSeen()
	defer func() { s.putSeen(seen, t.nodes) }()
	seen.add(root)
	types := make([]int, 0, len(edgeTypes))
	for _, et := range edgeTypes {
		if i, ok := s.types[et]; ok {
			types = append(types, i)
		}
	}
	// keys holds a level's nodes as (rank of ref, parent position) to sort them by ref.
	var keys []uint64
	for depth, start := 1, 0; start < len(t.nodes) && (maxDepth < 0 || depth <= maxDepth); depth++ {
		end := len(t.nodes)
		keys = keys[:0]
		for p := start; p < end; p++ {
			n := t.nodes[p]
			for _, ti := range types {
				for _, m := range s.adj[ti].of(n) {
					if seen.has(m) {
						continue
					}
					seen.add(m)
					keys = append(keys, uint64(s.rank[m])<<32|uint64(p))
				}
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			t.nodes = append(t.nodes, s.byRank[k>>32])
			t.parent = append(t.parent, int32(uint32(k)))
			t.depth = append(t.depth, int32(depth))
		}
		start = end
	}
	return t
}

// bitset is a set of nodes, one bit each.
type bitset []uint64

func (b bitset) has(n int32) bool { return b[n>>6]&(1<<(n&63)) != 0 }
func (b bitset) add(n int32)      { b[n>>6] |= 1 << (n & 63) }

// getSeen returns an empty set of the snapshot's nodes: one a traversal that ended gave back
// (a traversal of a few hundred nodes need not allocate and clear a set of the whole catalog),
// or a new one.
func (s *Snapshot) getSeen() bitset {
	if b, ok := s.seenSets.Get().(*bitset); ok {
		return *b
	}
	return make(bitset, (len(s.refs)+63)/64)
}

// putSeen empties the set (the bits of the nodes the traversal reached, all it set) and
// gives it back.
func (s *Snapshot) putSeen(b bitset, reached []int32) {
	for _, n := range reached {
		b[n>>6] = 0
	}
	s.seenSets.Put(&b)
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
func (s *Snapshot) Owners(t *Traversal) []Group {
	byOwner := map[int32]*Group{}
	for i := range t.Len() {
		ref := t.Ref(i)
		for _, o := range s.Out(t.ID(i), catalog.RelOwnedBy) {
			g := byOwner[o]
			if g == nil {
				g = &Group{Ref: s.refs[o], Exists: s.exists[o], Escalation: s.Ancestors(o)}
				byOwner[o] = g
			}
			g.EntityRefs = append(g.EntityRefs, ref)
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
func (s *Snapshot) Containers(t *Traversal) (systems, domains []Group) {
	sys, dom := map[int32]*Group{}, map[int32]*Group{}
	for i := range t.Len() {
		id, ref := t.ID(i), t.Ref(i)
		seen := map[int32]bool{id: true}
		stack := []int32{id}
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
				g.EntityRefs = append(g.EntityRefs, ref)
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
	t := s.Traverse(from, edgeTypes, maxDepth)
	if i, ok := t.Position(to); ok {
		return t.Path(i)
	}
	return nil
}
