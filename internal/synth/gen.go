// Package synth generates deterministic synthetic Backstage catalogs for
// benchmarks and tests.
//
// The catalog imitates a large payments company: a group hierarchy
// (organisation → divisions → departments → teams → sub-teams), users who are
// members of 1–3 groups, domains (some of them subdomains), systems in domains,
// and components, APIs and resources owned by teams and placed in systems.
//
// Components sit on layers 1..topLayer. Dependencies (dependsOn) and API
// consumption (consumesApis) mostly point "down" to lower layers and mostly
// stay inside the component's own system or domain, so the graph is neither
// fully connected nor flat: transitive dependency chains are realistic in
// depth, and a small fraction of edges point sideways or up, producing some
// cycles. Top-layer components (front-ends) are never depended upon and
// provide no APIs.
//
// Two resources are special: HotResource (resource:default/shared-postgres)
// is depended upon directly by about 2% of the low-layer components, so
// thousands of entities depend on it transitively at N=100,000;
// ColdResource (resource:default/legacy-fax-archive) is used only by a
// handful of front-ends. With Config.Hubs, two more, shared-identity and shared-network
// (see hubs.go), are what about 6.9 % and 69 % of the entities depend on transitively.
//
// About 0.1% of the entities carry one deliberately dangling dependsOn ref
// (component:default/retired-...), which resolves to nothing.
package synth

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Config controls the generated catalog.
type Config struct {
	N     int   // total number of entities, approximately (±1%)
	Seed  int64 // same Config → byte-identical files
	Shape Shape // the mix of kinds and the density of relations
	// Docs gives every second component a small techdocs site (mkdocs.yml and one to three
	// Markdown pages of realistic words) named by backstage.io/techdocs-ref: about one page
	// per two entities.
	Docs bool
	// Hubs adds two shared platform resources that about 6.9 % and 69 % of the entities
	// depend on transitively (see hubs.go); without it, the files are as they were before
	// hubs existed.
	Hubs bool
}

// Shape selects the mix of kinds and how densely components are connected.
type Shape string

const (
	// ShapeDefault: 51 % components, 15 % each of APIs, resources and users, 2 % systems
	// and groups, 0.2 % domains; about 8 stored relations per entity.
	ShapeDefault Shape = ""
	// ShapeDense imitates a larger organisation's catalog measured against Backstage: 55 %
	// components, 20 % APIs, 9 % resources, 8 % users, 5 % systems, 2 % groups, 1 % domains,
	// and more dependencies and consumed APIs per component: about 9.4 stored relations per
	// entity (both directions counted, as the relations table holds them).
	ShapeDense Shape = "dense"
)

// shape holds a Shape's parameters: shares of the kinds (components take the rest), the
// number of consumed APIs drawn per component (0..consume-1) and dependencies added to the
// drawn count.
type shape struct {
	domains, systems, groups, users, resources, apis float64
	consume, extraDeps                               int
}

var shapes = map[Shape]shape{
	ShapeDefault: {0.002, 0.02, 0.02, 0.15, 0.15, 0.15, 5, 0},
	ShapeDense:   {0.01, 0.05, 0.02, 0.08, 0.09, 0.20, 10, 1},
}

// Stats describes a generated catalog.
type Stats struct {
	Entities          int            // entities written, including the root Location
	Files             int            // files written, including the root Location file
	DeclaredRelations int            // relations declared in one direction (see below)
	ByKind            map[string]int // entities by kind
	HotResource       string         // heavily used resource ref
	ColdResource      string         // rarely used resource ref
	Root              string         // path of the root Location file (dir/catalog-info.yaml)

	// DanglingRefs is the number of refs that deliberately resolve to nothing.
	DanglingRefs int
	// HotDependents and ColdDependents are the numbers of transitive
	// dependents of HotResource and ColdResource: entities reached by
	// following dependsOn backwards, from a component to the APIs it
	// provides, and from an API to the components that consume it. HotDepth
	// is the largest number of hops from HotResource to one of them.
	HotDependents, ColdDependents, HotDepth int
	// IdentityHub and NetworkHub are shared platform resources that about 6.9 % and 69 % of
	// the entities depend on transitively (Config.Hubs; empty without); IdentityDependents
	// and NetworkDependents count their transitive dependents as HotDependents does.
	IdentityHub, NetworkHub               string
	IdentityDependents, NetworkDependents int
	// DocSites and DocPages count the techdocs sites and pages written (Config.Docs).
	DocSites, DocPages int
	// SampleDocWords holds up to 200 words that occur in doc pages only, in a deterministic
	// order, for load generators.
	SampleDocWords []string
	// SampleComponents holds up to 1,000 component refs and SampleOwners up
	// to 200 refs of groups that own components, both in a deterministic
	// order, for load generators.
	SampleComponents, SampleOwners []string
}

// The declared relations counted in Stats.DeclaredRelations, one direction
// each: spec.owner (all kinds that have one), spec.system, spec.domain,
// spec.subdomainOf, spec.subcomponentOf, spec.dependsOn, spec.providesApis,
// spec.consumesApis, Group spec.parent (spec.children is its inverse and is
// not counted again) and User spec.memberOf.

const (
	topLayer    = 8    // front-ends; layers 1..topLayer-1 are back-ends
	entityFile  = 1000 // entities per file
	hotName     = "shared-postgres"
	coldName    = "legacy-fax-archive"
	hotResource = 0 // resource indices
	coldResrc   = 1
)

// Shape of the graph: the probability that a low-layer component uses the hot
// resource, the probability that a dependency or consumed API is a cycle
// candidate (same system, any layer), and the percentages of dependencies and
// consumed APIs taken from the component's own system and from its domain
// (the rest come from anywhere in the catalog).
var tune = struct {
	hotUse, cycle        float64
	depSystem, depDomain int
	apiSystem, apiDomain int
}{0.02, 0.002, 85, 13, 80, 18}

// Layer weights for components, in percent, for layers 1..topLayer.
var layerWeights = [topLayer]int{15, 15, 15, 14, 13, 10, 8, 10}

type domain struct {
	name    string
	owner   int // group index
	parent  int // domain index, -1 if none
	systems []int
}

type system struct {
	name      string
	domain    int
	owner     int // group index
	comps     []int
	apis      []int
	resources []int
}

type group struct {
	name     string
	typ      string // organization, division, department, team
	parent   int    // -1 for the root
	children []int
}

type user struct {
	name     string
	memberOf []int // group indices
}

type resource struct {
	name   string
	typ    string
	owner  int
	system int
	deps   []int // resource indices
}

type api struct {
	name     string
	typ      string // openapi, grpc, asyncapi, graphql
	provider int    // component index
	layer    int
}

// dep is a dependsOn target: a component or a resource.
type dep struct {
	resource bool
	idx      int
}

type component struct {
	name      string
	typ       string // service, website, library
	lifecycle string
	layer     int
	owner     int
	system    int
	subOf     int // component index, -1 if none
	deps      []dep
	provides  []int // api indices
	consumes  []int // api indices
	dangling  string
}

type catalog struct {
	domains    []domain
	systems    []system
	groups     []group
	teams      []int // indices of groups of type team (incl. sub-teams)
	users      []user
	resources  []resource
	apis       []api
	comps      []component
	compLayers [topLayer + 1][]int // component indices by layer
	apiLayers  [topLayer + 1][]int // api indices by provider layer

	identityHub, networkHub int // resource indices (see hubs)
}

func (c *catalog) entities() int {
	return len(c.domains) + len(c.systems) + len(c.groups) + len(c.users) +
		len(c.resources) + len(c.apis) + len(c.comps) + 1 // + root Location
}

type gen struct {
	r  *rand.Rand
	c  *catalog
	sh shape
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }
func (g *gen) pick(s []int) int      { return s[g.r.IntN(len(s))] }

func pct(n int, p float64, min int) int {
	v := int(float64(n)*p + 0.5)
	if v < min {
		return min
	}
	return v
}

// generate builds the in-memory catalog for cfg. It is deterministic.
func generate(cfg Config) (*catalog, error) {
	if cfg.N < 100 {
		return nil, errors.New("synth: N must be at least 100")
	}
	sh, ok := shapes[cfg.Shape]
	if !ok {
		return nil, fmt.Errorf("synth: unknown shape %q (want %q or %q)", cfg.Shape, ShapeDefault, ShapeDense)
	}
	g := &gen{
		r:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		c:  &catalog{},
		sh: sh,
	}
	n := cfg.N
	nDomains := pct(n, sh.domains, 1)
	nSystems := pct(n, sh.systems, nDomains)
	nGroups := pct(n, sh.groups, 4)
	nUsers := pct(n, sh.users, 1)
	nResources := pct(n, sh.resources, 2)
	nAPIs := pct(n, sh.apis, 1)
	nComps := n - 1 - nDomains - nSystems - nGroups - nUsers - nResources - nAPIs

	g.groups(nGroups)
	g.users(nUsers)
	g.domains(nDomains)
	g.systems(nSystems)
	g.resources(nResources)
	g.components(nComps)
	g.apis(nAPIs)
	g.consumers()
	g.coldUsers()
	g.c.identityHub, g.c.networkHub = -1, -1
	if cfg.Hubs {
		g.hubs(cfg.Seed)
	}
	return g.c, nil
}

func (g *gen) groups(n int) {
	c := g.c
	nDiv := max(1, n/60)
	nDept := max(1, n/12)
	nTeams := n - 1 - nDiv - nDept
	nSub := nTeams / 5 // sub-teams under teams: a fourth level
	nTop := nTeams - nSub

	add := func(name, typ string, parent int) {
		idx := len(c.groups)
		c.groups = append(c.groups, group{name: name, typ: typ, parent: parent})
		if parent >= 0 {
			c.groups[parent].children = append(c.groups[parent].children, idx)
		}
		if typ == "team" {
			c.teams = append(c.teams, idx)
		}
	}
	add("acme", "organization", -1)
	divNames := newNamer("-", areas, divisionWords)
	var divs, depts, teams []int
	for i := range nDiv {
		divs = append(divs, len(c.groups))
		add(divNames.name(i), "division", 0)
	}
	deptNames := newNamer("-", areas, deptWords)
	for i := range nDept {
		depts = append(depts, len(c.groups))
		add(deptNames.name(i), "department", g.pick(divs))
	}
	teamNames := newNamer("-", areas, teamWords)
	for i := range nTop {
		teams = append(teams, len(c.groups))
		add("team-"+teamNames.name(i), "team", g.pick(depts))
	}
	for i := range nSub {
		add("team-"+teamNames.name(nTop+i), "team", g.pick(teams))
	}
}

func (g *gen) users(n int) {
	c := g.c
	names := newNamer(".", firstNames, lastNames)
	for i := range n {
		u := user{name: names.name(i)}
		u.memberOf = append(u.memberOf, g.pick(c.teams))
		if g.chance(0.3) {
			if t := g.pick(c.teams); t != u.memberOf[0] {
				u.memberOf = append(u.memberOf, t)
			}
		}
		if g.chance(0.1) {
			// a department or division membership as well
			if p := c.groups[u.memberOf[0]].parent; p > 0 {
				u.memberOf = append(u.memberOf, p)
			}
		}
		c.users = append(c.users, u)
	}
}

// ownerAbove returns a group at or above team t that is not the root.
func (g *gen) ownerAbove(t int) int {
	for g.c.groups[t].parent > 0 && g.chance(0.5) {
		t = g.c.groups[t].parent
	}
	return t
}

func (g *gen) domains(n int) {
	c := g.c
	names := newNamer("-", areas, domainQualifiers)
	for i := range n {
		d := domain{name: names.name(i), parent: -1}
		d.owner = c.groups[g.pick(c.teams)].parent // a department or a team's parent
		if i > 0 && g.chance(0.1) {
			if p := g.r.IntN(i); c.domains[p].parent < 0 {
				d.parent = p
			}
		}
		c.domains = append(c.domains, d)
	}
}

func (g *gen) systems(n int) {
	c := g.c
	names := newNamer("-", areas, nouns, systemWords)
	for i := range n {
		s := system{name: names.name(i)}
		if i < len(c.domains) {
			s.domain = i // every domain has at least one system
		} else {
			s.domain = g.r.IntN(len(c.domains))
		}
		s.owner = g.pick(c.teams)
		if g.chance(0.2) {
			s.owner = g.ownerAbove(s.owner)
		}
		c.domains[s.domain].systems = append(c.domains[s.domain].systems, i)
		c.systems = append(c.systems, s)
	}
}

// ownerFor returns the owner of an entity in system s: mostly the system's
// owning team, otherwise another team.
func (g *gen) ownerFor(s int) int {
	o := g.c.systems[s].owner
	if g.c.groups[o].typ != "team" || g.chance(0.35) {
		o = g.pick(g.c.teams)
	}
	return o
}

func (g *gen) resources(n int) {
	c := g.c
	add := func(r resource) {
		idx := len(c.resources)
		c.resources = append(c.resources, r)
		c.systems[r.system].resources = append(c.systems[r.system].resources, idx)
	}
	// The hot and cold resources are never picked at random (see pickResource).
	platform := g.r.IntN(len(c.systems))
	add(resource{name: hotName, typ: "database", system: platform, owner: g.ownerFor(platform)})
	archive := g.r.IntN(len(c.systems))
	add(resource{name: coldName, typ: "s3-bucket", system: archive, owner: g.ownerFor(archive)})
	// One namer and counter per resource kind; names end in the kind's suffix.
	names := newNamer("-", nouns, areas)
	count := make([]int, len(resourceKinds))
	for i := 2; i < n; i++ {
		rk := g.r.IntN(len(resourceKinds))
		s := g.r.IntN(len(c.systems))
		r := resource{
			name:   names.name(count[rk]) + "-" + resourceKinds[rk].suffix,
			typ:    resourceKinds[rk].typ,
			system: s,
			owner:  g.ownerFor(s),
		}
		count[rk]++
		if i > 2 && g.chance(0.3) {
			// depend on an earlier resource (acyclic), preferably in the same system
			t := 2 + g.r.IntN(i-2)
			if sr := c.systems[s].resources; len(sr) > 0 && g.chance(0.7) {
				if x := g.pick(sr); x > coldResrc {
					t = x
				}
			}
			r.deps = append(r.deps, t)
		}
		add(r)
	}
}

func (g *gen) pickLayer() int {
	v := g.r.IntN(100)
	for l, w := range layerWeights {
		if v < w {
			return l + 1
		}
		v -= w
	}
	return topLayer
}

var depCounts = [...]int{10, 15, 20, 20, 15, 10, 10} // percent for 0..6 dependsOn

func (g *gen) nDeps() int {
	v := g.r.IntN(100)
	for k, w := range depCounts {
		if v < w {
			return k
		}
		v -= w
	}
	return 0
}

func (g *gen) components(n int) {
	c := g.c
	back := newNamer("-", areas, nouns, backRoles)
	libs := newNamer("-", areas, nouns, libRoles)
	tops := newNamer("-", areas, nouns, topRoles)
	var nBack, nLib, nTop int
	for i := range n {
		s := g.r.IntN(len(c.systems))
		cp := component{layer: g.pickLayer(), system: s, owner: g.ownerFor(s), subOf: -1}
		switch {
		case cp.layer == topLayer:
			cp.typ, cp.name = "website", tops.name(nTop)
			nTop++
		case cp.layer == 1 && g.chance(0.25):
			cp.typ, cp.name = "library", libs.name(nLib)
			nLib++
		default:
			cp.typ, cp.name = "service", back.name(nBack)
			nBack++
		}
		switch v := g.r.IntN(100); {
		case v < 80:
			cp.lifecycle = "production"
		case v < 93:
			cp.lifecycle = "experimental"
		default:
			cp.lifecycle = "deprecated"
		}
		c.comps = append(c.comps, cp)
		c.compLayers[cp.layer] = append(c.compLayers[cp.layer], i)
		c.systems[s].comps = append(c.systems[s].comps, i)
	}
	for i := range c.comps {
		g.componentDeps(i)
	}
}

func (g *gen) componentDeps(i int) {
	c := g.c
	cp := &c.comps[i]
	has := func(d dep) bool {
		for _, x := range cp.deps {
			if x == d {
				return true
			}
		}
		return false
	}
	k := g.nDeps() + g.sh.extraDeps
	if cp.typ == "library" {
		k = min(k, 2)
	}
	for range k {
		var d dep
		if cp.layer == 1 || g.chance(0.4) {
			d = dep{resource: true, idx: g.pickResource(cp.system)}
		} else {
			t, ok := g.pickLowerComponent(i)
			if !ok {
				continue
			}
			d = dep{idx: t}
		}
		if !has(d) {
			cp.deps = append(cp.deps, d)
		}
	}
	// The hot resource: a few percent of the low-layer components use it.
	if cp.layer <= 3 && cp.typ != "library" && g.chance(tune.hotUse) {
		if d := (dep{resource: true, idx: hotResource}); !has(d) {
			cp.deps = append(cp.deps, d)
		}
	}
	// A few subcomponents: part of an earlier back-end of the same system.
	if cp.layer < topLayer && g.chance(0.015) {
		for _, t := range c.systems[cp.system].comps {
			if t >= i {
				break
			}
			if c.comps[t].layer < topLayer && c.comps[t].subOf < 0 && c.comps[t].typ != "library" {
				cp.subOf = t
				break
			}
		}
	}
	if g.chance(0.002) {
		cp.dangling = "component:default/retired-" + cp.name
	}
}

func (g *gen) pickResource(s int) int {
	if sr := g.c.systems[s].resources; len(sr) > 0 && g.chance(0.7) {
		if t := g.pick(sr); t > coldResrc {
			return t
		}
	}
	return 2 + g.r.IntN(len(g.c.resources)-2)
}

// pickLowerComponent picks a dependency target for component i: usually a
// back-end one to three layers below it in the same system, sometimes in the
// same domain or anywhere, and rarely (a cycle candidate) a back-end on the
// same or a higher layer of the same system.
func (g *gen) pickLowerComponent(i int) (int, bool) {
	c := g.c
	cp := &c.comps[i]
	lo, hi := max(1, cp.layer-3), cp.layer-1
	ok := func(t int) bool {
		l := c.comps[t].layer
		return t != i && l >= lo && l <= hi
	}
	if g.chance(tune.cycle) {
		for range 8 {
			if t := g.pick(c.systems[cp.system].comps); t != i && c.comps[t].layer < topLayer {
				return t, true
			}
		}
	}
	var s int
	switch v := g.r.IntN(100); {
	case v < tune.depSystem:
		s = cp.system
	case v < tune.depSystem+tune.depDomain:
		s = g.pick(c.domains[c.systems[cp.system].domain].systems)
	default:
		s = -1
	}
	if s >= 0 {
		for range 8 {
			if t := g.pick(c.systems[s].comps); ok(t) {
				return t, true
			}
		}
		if s != cp.system {
			return 0, false // keep dependencies local rather than global
		}
	}
	l := lo + g.r.IntN(hi-lo+1)
	if len(c.compLayers[l]) == 0 {
		return 0, false
	}
	return g.pick(c.compLayers[l]), true
}

var apiTypes = []struct {
	typ    string
	weight int
}{{"openapi", 60}, {"grpc", 20}, {"asyncapi", 15}, {"graphql", 5}}

func (g *gen) apis(n int) {
	c := g.c
	var backs []int
	for l := 1; l < topLayer; l++ {
		backs = append(backs, c.compLayers[l]...)
	}
	for i := range n {
		p := -1
		for range 16 {
			t := g.pick(backs)
			if len(c.comps[t].provides) < 2 && c.comps[t].typ != "library" {
				p = t
				break
			}
		}
		if p < 0 {
			start := g.r.IntN(len(backs))
			for k := range backs {
				t := backs[(start+k)%len(backs)]
				if len(c.comps[t].provides) < 2 && c.comps[t].typ != "library" {
					p = t
					break
				}
			}
		}
		if p < 0 {
			p = g.pick(backs) // more APIs than slots: exceed the cap
		}
		v, typ := g.r.IntN(100), "openapi"
		for _, at := range apiTypes {
			if v < at.weight {
				typ = at.typ
				break
			}
			v -= at.weight
		}
		cp := &c.comps[p]
		cls := "api"
		if typ == "asyncapi" {
			cls = "events"
		}
		name := cp.name + "-" + cls
		if slot := len(cp.provides); slot > 0 {
			name = cp.name + "-v" + strconv.Itoa(slot+1) + "-" + cls
		}
		a := api{name: name, typ: typ, provider: p, layer: cp.layer}
		cp.provides = append(cp.provides, i)
		c.apis = append(c.apis, a)
		c.apiLayers[a.layer] = append(c.apiLayers[a.layer], i)
		c.systems[cp.system].apis = append(c.systems[cp.system].apis, i)
	}
}

// consumers gives every component 0–4 consumed APIs provided on lower layers,
// mostly from its own system or domain.
func (g *gen) consumers() {
	c := g.c
	for i := range c.comps {
		cp := &c.comps[i]
		if cp.typ == "library" {
			continue
		}
		k := g.r.IntN(g.sh.consume)
		for range k {
			a, ok := g.pickAPI(i)
			if !ok {
				continue
			}
			dup := c.apis[a].provider == i
			for _, x := range cp.consumes {
				dup = dup || x == a
			}
			if !dup {
				cp.consumes = append(cp.consumes, a)
			}
		}
	}
}

func (g *gen) pickAPI(i int) (int, bool) {
	c := g.c
	cp := &c.comps[i]
	if g.chance(tune.cycle) { // a cycle candidate: any API of the same system
		if sa := c.systems[cp.system].apis; len(sa) > 0 {
			return g.pick(sa), true
		}
	}
	if cp.layer == 1 {
		return 0, false
	}
	var s int
	switch v := g.r.IntN(100); {
	case v < tune.apiSystem:
		s = cp.system
	case v < tune.apiSystem+tune.apiDomain:
		s = g.pick(c.domains[c.systems[cp.system].domain].systems)
	default:
		s = -1
	}
	if s >= 0 {
		sa := c.systems[s].apis
		if len(sa) == 0 {
			return 0, false
		}
		for range 8 {
			if a := g.pick(sa); c.apis[a].layer < cp.layer {
				return a, true
			}
		}
		return 0, false
	}
	l := max(1, cp.layer-3) + g.r.IntN(min(3, cp.layer-1))
	if len(c.apiLayers[l]) == 0 {
		return 0, false
	}
	return g.pick(c.apiLayers[l]), true
}

// coldUsers makes a handful of front-ends (which nothing depends on and which
// provide no APIs) the only dependents of the cold resource.
func (g *gen) coldUsers() {
	c := g.c
	tops := c.compLayers[topLayer]
	if len(tops) == 0 {
		return
	}
	for range 4 {
		t := g.pick(tops)
		d := dep{resource: true, idx: coldResrc}
		dup := false
		for _, x := range c.comps[t].deps {
			dup = dup || x == d
		}
		if !dup {
			c.comps[t].deps = append(c.comps[t].deps, d)
		}
	}
}
