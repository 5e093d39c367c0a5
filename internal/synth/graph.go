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

// dependents counts the transitive dependents of resource r with a
// breadth-first search over these edges, each followed "upwards":
//
//   - X dependsOn Y            → X depends on Y (components and resources)
//   - component C providesApis A → A depends on C
//   - component C consumesApis A → C depends on A
//
// It returns the number of distinct entities reached (r itself excluded) and
// the largest BFS depth (in hops) at which one was reached.
func (c *catalog) dependents(r int) (count, depth int) {
	nR, nA := len(c.resources), len(c.apis)
	resID := func(i int) int { return i }
	apiID := func(i int) int { return nR + i }
	compID := func(i int) int { return nR + nA + i }
	total := nR + nA + len(c.comps)

	up := make([][]int32, total) // node → nodes that depend on it
	link := func(from, to int) { up[to] = append(up[to], int32(from)) }
	for i, res := range c.resources {
		for _, d := range res.deps {
			link(resID(i), resID(d))
		}
	}
	for i, cp := range c.comps {
		for _, d := range cp.deps {
			if d.resource {
				link(compID(i), resID(d.idx))
			} else {
				link(compID(i), compID(d.idx))
			}
		}
		for _, a := range cp.provides {
			link(apiID(a), compID(i))
		}
		for _, a := range cp.consumes {
			link(compID(i), apiID(a))
		}
	}

	seen := make([]bool, total)
	seen[resID(r)] = true
	frontier := []int32{int32(resID(r))}
	for len(frontier) > 0 {
		var next []int32
		for _, x := range frontier {
			for _, y := range up[x] {
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
