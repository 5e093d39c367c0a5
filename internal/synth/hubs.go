package synth

import "math/rand/v2"

// Hubs (Config.Hubs): two shared platform resources of the platform system (the hot resource's), which a
// large part of the catalog depends on transitively, as a catalog's shared network or
// identity provider is:
//
//   - IdentityHub (resource:default/shared-identity, an identity provider) is depended upon
//     directly by low-layer back-end services, until about identityShare of the entities
//     depend on it transitively;
//   - NetworkHub (resource:default/shared-network, the network the data stores run in) is
//     depended upon directly by resources (databases, caches, queues, the identity provider
//     first), until about networkShare of the entities depend on it transitively.
//
// Their direct dependents are drawn from a random stream of their own, after the rest of the
// catalog is generated, so the rest of the catalog is as it is without them: the hubs add two
// resources and their dependsOn (about 0.15 stored relations per entity in the default shape,
// 0.04 in the dense one).
const (
	identityName  = "shared-identity"
	networkName   = "shared-network"
	identityShare = 0.069
	networkShare  = 0.69
	// hubStream is the second word of the hubs' random stream (the first is the seed).
	hubStream = 0x6a09e667f3bcc908
)

// hubs adds the two hub resources and their direct dependents.
func (g *gen) hubs(seed int64) {
	c := g.c
	r := rand.New(rand.NewPCG(uint64(seed), hubStream))
	platform, owner := c.resources[hotResource].system, c.resources[hotResource].owner
	identity, network := len(c.resources), len(c.resources)+1
	c.identityHub, c.networkHub = identity, network
	for _, h := range []resource{
		{name: identityName, typ: "identity-provider", system: platform, owner: owner},
		{name: networkName, typ: "network", system: platform, owner: owner},
	} {
		c.resources = append(c.resources, h)
		c.systems[platform].resources = append(c.systems[platform].resources, len(c.resources)-1)
	}
	n := c.entities()
	u := c.upGraph()

	// The identity provider: low-layer services, in a random order.
	var svcs []int
	for l := 1; l <= 3; l++ {
		for _, i := range c.compLayers[l] {
			if c.comps[i].typ != "library" {
				svcs = append(svcs, i)
			}
		}
	}
	r.Shuffle(len(svcs), func(a, b int) { svcs[a], svcs[b] = svcs[b], svcs[a] })
	reach := u.reacher()
	lo, hi := around(n, identityShare)
	for _, i := range svcs {
		if reach.count >= lo {
			break
		}
		if reach.add(u.comp(i), hi) {
			c.comps[i].deps = append(c.comps[i].deps, dep{resource: true, idx: identity})
		}
	}

	// The network: the identity provider first, then the other resources in a random order.
	res := make([]int, 0, identity)
	for i := range identity {
		res = append(res, i)
	}
	r.Shuffle(len(res), func(a, b int) { res[a], res[b] = res[b], res[a] })
	res = append([]int{identity}, res...)
	u = c.upGraph() // with the identity provider's dependents
	reach = u.reacher()
	lo, hi = around(n, networkShare)
	for _, i := range res {
		if reach.count >= lo {
			break
		}
		if reach.add(u.res(i), hi) {
			c.resources[i].deps = append(c.resources[i].deps, network)
		}
	}
}

// around is the range of dependents a hub aims at: share of n, give or take 0.5 %. A direct
// dependent that would carry the hub past it is skipped.
func around(n int, share float64) (lo, hi int) {
	want := float64(n) * share
	return int(want * 0.995), int(want * 1.005)
}
