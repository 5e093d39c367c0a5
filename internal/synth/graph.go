package synth

// relations counts the declared relations, one direction each (see Stats).
func (c *catalog) relations() int {
	n := 0
	for _, d := range c.domains {
		n++ // owner
		if d.parent >= 0 {
			n++ // subdomainOf
		}
	}
	n += 2 * len(c.systems) // owner, domain
	for _, g := range c.groups {
		if g.parent >= 0 {
			n++ // parent (children is its inverse)
		}
	}
	for _, u := range c.users {
		n += len(u.memberOf)
	}
	for _, r := range c.resources {
		n += 2 + len(r.deps) // owner, system, dependsOn
	}
	n += 2 * len(c.apis) // owner, system
	for _, cp := range c.comps {
		n += 2 + len(cp.deps) + len(cp.provides) + len(cp.consumes) // owner, system, ...
		if cp.subOf >= 0 {
			n++
		}
		if cp.dangling != "" {
			n++
		}
	}
	return n
}

// upGraph is the catalog's dependency graph "upwards": node → the nodes that depend on it,
// along these edges:
//
//   - X dependsOn Y            → X depends on Y (components and resources)
//   - component C providesApis A → A depends on C
//   - component C consumesApis A → C depends on A
//
// Nodes are the resources, then the APIs, then the components.
type upGraph struct {
	nR, nA int
	up     [][]int32
}

func (u *upGraph) res(i int) int32  { return int32(i) }
func (u *upGraph) api(i int) int32  { return int32(u.nR + i) }
func (u *upGraph) comp(i int) int32 { return int32(u.nR + u.nA + i) }

func (c *catalog) upGraph() *upGraph {
	u := &upGraph{nR: len(c.resources), nA: len(c.apis)}
	u.up = make([][]int32, len(c.resources)+len(c.apis)+len(c.comps))
	link := func(from, to int32) { u.up[to] = append(u.up[to], from) }
	for i, res := range c.resources {
		for _, d := range res.deps {
			link(u.res(i), u.res(d))
		}
	}
	for i, cp := range c.comps {
		for _, d := range cp.deps {
			if d.resource {
				link(u.comp(i), u.res(d.idx))
			} else {
				link(u.comp(i), u.comp(d.idx))
			}
		}
		for _, a := range cp.provides {
			link(u.api(a), u.comp(i))
		}
		for _, a := range cp.consumes {
			link(u.comp(i), u.api(a))
		}
	}
	return u
}

// reacher accumulates the nodes that depend, transitively, on any of the nodes it is given
// (those included): count is their number.
type reacher struct {
	u     *upGraph
	seen  []bool
	count int
	added []int32 // of the last add
}

func (u *upGraph) reacher() *reacher { return &reacher{u: u, seen: make([]bool, len(u.up))} }

// add adds n and the nodes that depend on it, unless that would carry count past limit; it
// reports whether it did.
func (r *reacher) add(n int32, limit int) bool {
	if r.seen[n] {
		return true
	}
	r.seen[n] = true
	r.added = append(r.added[:0], n)
	for k := 0; k < len(r.added); k++ {
		for _, y := range r.u.up[r.added[k]] {
			if !r.seen[y] {
				r.seen[y] = true
				r.added = append(r.added, y)
			}
		}
	}
	if r.count+len(r.added) > limit {
		for _, x := range r.added {
			r.seen[x] = false
		}
		return false
	}
	r.count += len(r.added)
	return true
}

// dependents counts the transitive dependents of resource r with a breadth-first search over
// upGraph's edges. It returns the number of distinct entities reached (r itself excluded) and
// the largest BFS depth (in hops) at which one was reached.
func (c *catalog) dependents(r int) (count, depth int) {
	u := c.upGraph()
	seen := make([]bool, len(u.up))
	seen[u.res(r)] = true
	frontier := []int32{u.res(r)}
	for len(frontier) > 0 {
		var next []int32
		for _, x := range frontier {
			for _, y := range u.up[x] {
				if !seen[y] {
					seen[y] = true
					next = append(next, y)
				}
			}
		}
		if len(next) > 0 {
			depth++
			count += len(next)
		}
		frontier = next
	}
	return count, depth
}
