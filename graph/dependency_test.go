package graph_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"catalogd/ent"
	"catalogd/graph"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// spec is a compact catalog: "kind:name" -> spec fields in YAML flow style ("" for none).
type spec map[string]string

func (s spec) yaml() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var docs []string
	for _, k := range keys {
		kind, name, _ := strings.Cut(k, ":")
		fields := s[k]
		var base string
		switch kind {
		case "component":
			base = "type: service, lifecycle: production, owner: team"
		case "api":
			base = "type: openapi, lifecycle: production, owner: team, definition: x"
		case "resource":
			base = "type: database, owner: team"
		case "group":
			base = "type: team, children: []"
		case "user":
			base = "memberOf: []"
		case "system":
			base = "owner: team"
		case "domain":
			base = "owner: team"
		}
		if fields != "" {
			// later keys win in YAML flow mappings? No: duplicate keys are an error, so
			// fields replace the defaults they name.
			for _, f := range strings.Split(fields, "; ") {
				key, _, _ := strings.Cut(f, ":")
				var kept []string
				for _, b := range strings.Split(base, ", ") {
					if !strings.HasPrefix(b, key+":") {
						kept = append(kept, b)
					}
				}
				base = strings.Join(append(kept, f), ", ")
			}
		}
		ckind, _ := catalog.BuiltinKind(kind)
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec: {%s}\n", ckind, name, base))
	}
	return strings.Join(docs, "---\n")
}

type graphEnv struct {
	t   *testing.T
	st  *store.Store
	eng *ingest.Engine
	p   *file.Provider
	c   *client.Client
	n   *atomic.Int64
	dir string
	r   *graph.Resolver
}

func newGraphEnv(t *testing.T, dbURL string) *graphEnv {
	t.Helper()
	st := testdb.Open(t, dbURL)
	dir := t.TempDir()
	p, err := file.New(filepath.Join(dir, "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	counted := ent.NewClient(ent.Driver(countingDriver{st.Driver(), &n}))
	r := graph.NewResolver(counted, st, []string{"pagerduty.com/service-id"})
	c := client.New(graph.NewHandler(r, graph.Options{}))
	return &graphEnv{t: t, st: st, eng: testdb.Engine(t, st), p: p, c: c, n: &n, dir: dir, r: r}
}

func (g *graphEnv) load(s spec) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(s.yaml()), 0o644); err != nil {
		g.t.Fatal(err)
	}
	res, err := g.eng.Refresh(context.Background(), g.p)
	if err != nil || res.Errors > 0 {
		g.t.Fatalf("ingest: %+v %v", res, err)
	}
	// Questions are answered from the snapshot at hand while the index is rebuilt in the
	// background; these tests ask about what they just wrote.
	if _, err := g.r.Index.Fresh(context.Background()); err != nil {
		g.t.Fatal(err)
	}
}

// loadNoWait is load without waiting for the index.
func (g *graphEnv) loadNoWait(s spec) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(s.yaml()), 0o644); err != nil {
		g.t.Fatal(err)
	}
	if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
		g.t.Fatalf("ingest: %+v %v", res, err)
	}
}

type impactResult struct {
	Root          struct{ Ref string }
	TotalAffected int
	Affected      []struct {
		Ref    string
		Depth  int
		Path   []string
		Entity *struct{ Kind string }
	}
	Owners []struct {
		Ref        string
		EntityRefs []string
		Owner      *struct{ Ref string }
		Escalation []struct {
			Ref      string
			Contacts []struct{ Type, Value string }
		}
		Contacts []struct{ Type, Value string }
	}
	Systems []struct {
		Ref        string
		EntityRefs []string
	}
	Domains []struct {
		Ref        string
		EntityRefs []string
	}
}

const impactFields = `root { ref } totalAffected affected { ref depth path entity { kind } }
  owners { ref entityRefs owner { ref } escalation { ref contacts { type value } } contacts { type value } }
  systems { ref entityRefs } domains { ref entityRefs }`

func (g *graphEnv) impact(field, ref string, maxDepth *int) impactResult {
	g.t.Helper()
	var resp map[string]impactResult
	opts := []client.Option{client.Var("ref", ref)}
	if maxDepth != nil {
		opts = append(opts, client.Var("d", *maxDepth))
	} else {
		opts = append(opts, client.Var("d", nil))
	}
	g.n.Store(0)
	if err := g.c.Post(`query($ref: String!, $d: Int) { r: `+field+`(ref: $ref, maxDepth: $d) { `+impactFields+` } }`, &resp, opts...); err != nil {
		g.t.Fatalf("%s(%s): %v", field, ref, err)
	}
	return resp["r"]
}

// reached renders affected entities as "ref@depth" in result order.
func reached(r impactResult) []string {
	var out []string
	for _, a := range r.Affected {
		s := fmt.Sprintf("%s@%d", strings.TrimPrefix(a.Ref, ""), a.Depth)
		if a.Entity == nil {
			s += "(dangling)"
		}
		out = append(out, s)
	}
	return out
}

func ptr(n int) *int { return &n }

func TestImpactAndDependenciesFollowTheRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		g.load(spec{
			"group:team": "",
			// chain: c -> b -> a
			"resource:a":  "",
			"component:b": "dependsOn: [resource:a]",
			"component:c": "dependsOn: [component:b]",
			// diamond: top -> left, right -> bottom
			"resource:bottom": "",
			"component:left":  "dependsOn: [resource:bottom]",
			"component:right": "dependsOn: [resource:bottom]",
			"component:top":   "dependsOn: [component:left, component:right]",
			// cycle: x <-> y, z -> x
			"component:x": "dependsOn: [component:y]",
			"component:y": "dependsOn: [component:x]",
			"component:z": "dependsOn: [component:x]",
			// API hop: db <- svc -provides-> api <-consumes- web; dependencyOf declared the other way
			"resource:db":         "dependencyOf: [component:svc]",
			"component:svc":       "providesApis: [api]",
			"api:api":             "",
			"component:web":       "consumesApis: [api]",
			"component:ghost-dep": "dependsOn: [component:nowhere]; providesApis: [missing-api]",
			// depth chain
			"resource:d0":  "",
			"component:d1": "dependsOn: [resource:d0]",
			"component:d2": "dependsOn: [component:d1]",
			"component:d3": "dependsOn: [component:d2]",
			"component:d4": "dependsOn: [component:d3]",
		})
		for _, tc := range []struct {
			name, field, ref string
			maxDepth         *int
			want             []string
		}{
			{"a chain is followed to its end", "impact", "resource:a", nil, []string{"component:default/b@1", "component:default/c@2"}},
			{"a diamond reaches its top once, at the smallest depth", "impact", "resource:bottom", nil,
				[]string{"component:default/left@1", "component:default/right@1", "component:default/top@2"}},
			{"a cycle terminates", "impact", "component:x", nil, []string{"component:default/y@1", "component:default/z@1"}},
			{"an API provided by an affected entity and its consumers are affected", "impact", "resource:db", nil,
				[]string{"component:default/svc@1", "api:default/api@2", "component:default/web@3"}},
			{"dangling refs are reported, not dropped", "impact", "component:ghost-dep", nil, []string{"api:default/missing-api@1(dangling)"}},
			{"maxDepth limits the walk", "impact", "resource:d0", ptr(2), []string{"component:default/d1@1", "component:default/d2@2"}},
			{"maxDepth 0 is the root alone", "impact", "resource:d0", ptr(0), nil},
			{"no maxDepth is unbounded", "impact", "resource:d0", nil,
				[]string{"component:default/d1@1", "component:default/d2@2", "component:default/d3@3", "component:default/d4@4"}},
			{"dependencies follow dependsOn", "dependencies", "component:c", nil, []string{"component:default/b@1", "resource:default/a@2"}},
			{"dependencies include consumed APIs and their providers", "dependencies", "component:web", nil,
				[]string{"api:default/api@1", "component:default/svc@2", "resource:default/db@3"}},
			{"dependencies report dangling targets", "dependencies", "component:ghost-dep", nil, []string{"component:default/nowhere@1(dangling)"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := g.impact(tc.field, tc.ref, tc.maxDepth)
				if got := reached(r); !slices.Equal(got, tc.want) {
					t.Errorf("reached %v, want %v", got, tc.want)
				}
				if r.TotalAffected != len(tc.want) {
					t.Errorf("totalAffected %d, want %d", r.TotalAffected, len(tc.want))
				}
				if n := g.n.Load(); n > 3 {
					t.Errorf("%d statements, want at most 3", n)
				}
			})
		}
		r := g.impact("impact", "resource:bottom", nil)
		if got := r.Affected[2].Path; !slices.Equal(got, []string{"resource:default/bottom", "component:default/left", "component:default/top"}) {
			t.Errorf("diamond path %v, want the one through left (first in ref order)", got)
		}
		var resp struct{ Impact *struct{ TotalAffected int } }
		err := g.c.Post(`{ impact(ref: "component:nowhere") { totalAffected } }`, &resp)
		if err == nil || !strings.Contains(err.Error(), "no entity component:default/nowhere") {
			t.Errorf("impact of a ref with no entity: %v", err)
		}
	})
}

func TestImpactNamesOwnersEscalationContactsSystemsAndDomains(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		g.load(spec{
			"group:org":      "type: organization; children: [dept]; profile: {email: org@x.io}",
			"group:dept":     "type: department; parent: org; children: [team]",
			"group:team":     "parent: dept; profile: {email: team@x.io}",
			"user:jo":        "memberOf: [team]",
			"domain:money":   "",
			"system:pay":     "domain: money",
			"resource:db":    "owner: user:jo; system: pay",
			"component:svc":  "dependsOn: [resource:db]; system: pay",
			"component:orph": "dependsOn: [resource:db]; owner: group:gone",
		})
		r := g.impact("impact", "resource:db", nil)
		type owner struct {
			ref, refs, escalation string
			resolved              bool
		}
		var got []owner
		for _, o := range r.Owners {
			var esc []string
			for _, e := range o.Escalation {
				esc = append(esc, e.Ref)
			}
			got = append(got, owner{o.Ref, strings.Join(o.EntityRefs, ","), strings.Join(esc, ","), o.Owner != nil})
		}
		want := []owner{
			{"group:default/gone", "component:default/orph", "", false},
			{"group:default/team", "component:default/svc", "group:default/dept,group:default/org", true},
			{"user:default/jo", "resource:default/db", "", true},
		}
		if !slices.Equal(got, want) {
			t.Errorf("owners:\n%+v\nwant:\n%+v", got, want)
		}
		if c := r.Owners[1].Contacts; len(c) != 1 || c[0].Value != "team@x.io" {
			t.Errorf("team contacts %+v", c)
		}
		if c := r.Owners[1].Escalation[1].Contacts; len(c) != 1 || c[0].Value != "org@x.io" {
			t.Errorf("org contacts %+v", c)
		}
		if len(r.Systems) != 1 || r.Systems[0].Ref != "system:default/pay" || strings.Join(r.Systems[0].EntityRefs, ",") != "resource:default/db,component:default/svc" {
			t.Errorf("systems %+v", r.Systems)
		}
		if len(r.Domains) != 1 || r.Domains[0].Ref != "domain:default/money" {
			t.Errorf("domains %+v", r.Domains)
		}
	})
}

func TestOwnershipPathAndGraphExport(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		g.load(spec{
			"group:org":      "children: [team, other]",
			"group:team":     "parent: org",
			"group:other":    "parent: org",
			"user:jo":        "memberOf: [team]",
			"component:a":    "owner: team; dependsOn: [component:b]",
			"component:b":    "owner: other; dependsOn: [resource:c]",
			"resource:c":     "owner: user:jo",
			"component:top":  "owner: org",
			"component:lost": "owner: nobody",
		})
		var resp struct {
			Org struct{ Direct, All []struct{ Ref string } }
			Jo  struct{ OwnedEntities []struct{ Ref string } }
			A   struct {
				Ownership struct {
					OwnerRef  string
					Resolved  bool
					Ancestors []struct{ Ref string }
				}
			}
			Lost struct {
				Ownership struct {
					OwnerRef string
					Resolved bool
					Owner    *struct{ Ref string }
				}
			}
			Findings struct {
				Edges []struct{ Node struct{ Ref string } }
			}
			Path   struct{ Refs []string }
			NoPath *struct{ Refs []string }
			Graph  struct {
				Nodes []struct {
					Ref   string
					Depth int
				}
				Edges   []struct{ Source, Type, Target string }
				Dot     string
				Mermaid string
			}
		}
		err := g.c.Post(`{
			org: entity(ref: "group:org") { ... on Group { direct: ownedEntities { ref } all: ownedEntities(transitive: true) { ref } } }
			jo: entity(ref: "user:jo") { ... on User { ownedEntities { ref } } }
			a: entity(ref: "component:a") { ownership { ownerRef resolved ancestors { ref } } }
			lost: entity(ref: "component:lost") { ownership { ownerRef resolved owner { ref } } }
			findings: entities(filter: {ownerMissing: true}) { edges { node { ref } } }
			path(from: "component:a", to: "resource:c") { refs }
			noPath: path(from: "resource:c", to: "component:a") { refs }
			graph(ref: "component:b", direction: BOTH, relationTypes: ["dependsOn", "dependencyOf"], maxDepth: 1) {
				nodes { ref depth } edges { source type target } dot mermaid }
		}`, &resp)
		if err != nil {
			t.Fatal(err)
		}
		refs := func(xs []struct{ Ref string }) string {
			var out []string
			for _, x := range xs {
				out = append(out, x.Ref)
			}
			return strings.Join(out, ",")
		}
		for _, c := range []struct{ name, got, want string }{
			{"org direct", refs(resp.Org.Direct), "component:default/top"},
			{"org transitive", refs(resp.Org.All), "component:default/a,component:default/b,component:default/top"},
			{"jo (own and through team)", refs(resp.Jo.OwnedEntities), "component:default/a,resource:default/c"},
			{"a's ancestors", refs(resp.A.Ownership.Ancestors), "group:default/org"},
			{"findings", fmt.Sprint(resp.Findings.Edges), "[{{component:default/lost}}]"},
			{"path", strings.Join(resp.Path.Refs, ","), "component:default/a,component:default/b,resource:default/c"},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
			}
		}
		if !resp.A.Ownership.Resolved || resp.Lost.Ownership.Resolved || resp.Lost.Ownership.OwnerRef != "group:default/nobody" || resp.Lost.Ownership.Owner != nil {
			t.Errorf("ownership: a %+v, lost %+v", resp.A.Ownership, resp.Lost.Ownership)
		}
		if resp.NoPath != nil {
			t.Errorf("path against the dependency direction: %+v, want null", resp.NoPath)
		}
		var edges []string
		for _, e := range resp.Graph.Edges {
			edges = append(edges, e.Source+" "+e.Type+" "+e.Target)
		}
		if want := []string{"component:default/a dependsOn component:default/b", "component:default/b dependsOn resource:default/c"}; !slices.Equal(edges, want) {
			t.Errorf("graph edges %v, want %v", edges, want)
		}
		if len(resp.Graph.Nodes) != 3 || resp.Graph.Nodes[0].Ref != "component:default/b" || resp.Graph.Nodes[0].Depth != 0 {
			t.Errorf("graph nodes %+v", resp.Graph.Nodes)
		}
		if !strings.Contains(resp.Graph.Dot, `"component:default/a" -> "component:default/b" [label="dependsOn"];`) {
			t.Errorf("dot:\n%s", resp.Graph.Dot)
		}
		if !strings.Contains(resp.Graph.Mermaid, "flowchart LR") || !strings.Contains(resp.Graph.Mermaid, "-->|dependsOn|") {
			t.Errorf("mermaid:\n%s", resp.Graph.Mermaid)
		}
	})
}

func TestTheGraphIndexFollowsCatalogChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		g.load(spec{"group:team": "", "resource:db": "", "component:a": "dependsOn: [resource:db]"})
		if got := reached(g.impact("impact", "resource:db", nil)); !slices.Equal(got, []string{"component:default/a@1"}) {
			t.Fatalf("before: %v", got)
		}
		g.loadNoWait(spec{"group:team": "", "resource:db": "", "component:a": "", "component:b": "dependsOn: [resource:db]"})
		// The first question after the change starts the rebuild and may get the previous
		// snapshot; the new graph answers soon after, without anything else happening.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := reached(g.impact("impact", "resource:db", nil))
			if slices.Equal(got, []string{"component:default/b@1"}) {
				break
			}
			if !slices.Equal(got, []string{"component:default/a@1"}) || time.Now().After(deadline) {
				t.Fatalf("after the change: %v", got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// On random graphs, impact and dependencies equal a breadth-first search done here, over the
// relations the descriptors declare, by Backstage's rules.
func TestImpactEqualsAnIndependentBreadthFirstSearch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		rounds := 12
		if strings.HasPrefix(dbURL, "postgres") {
			rounds = 4
		}
		g := newGraphEnv(t, dbURL)
		for seed := range uint64(rounds) {
			rng := rand.New(rand.NewPCG(seed, 42))
			s, impactAdj, depAdj := randomCatalog(rng)
			g.load(s) // replaces the previous round's catalog, so the index is rebuilt
			var refs []string
			for k := range s {
				kind, name, _ := strings.Cut(k, ":")
				if kind != "group" {
					refs = append(refs, kind+":default/"+name)
				}
			}
			sort.Strings(refs)
			for _, root := range refs[:8] {
				for _, q := range []struct {
					field string
					adj   map[string][]string
				}{{"impact", impactAdj}, {"dependencies", depAdj}} {
					depth := -1
					if rng.IntN(3) == 0 {
						depth = rng.IntN(4)
					}
					var md *int
					if depth >= 0 {
						md = &depth
					}
					want := bfs(q.adj, root, depth)
					r := g.impact(q.field, root, md)
					got := map[string]int{}
					for _, a := range r.Affected {
						got[a.Ref] = a.Depth
						if len(a.Path) != a.Depth+1 || a.Path[0] != root || a.Path[a.Depth] != a.Ref {
							t.Errorf("seed %d %s(%s): bad path %v for %s@%d", seed, q.field, root, a.Path, a.Ref, a.Depth)
						}
						for i := 1; i < len(a.Path); i++ {
							if !slices.Contains(q.adj[a.Path[i-1]], a.Path[i]) {
								t.Errorf("seed %d %s(%s): path step %s -> %s is not an edge", seed, q.field, root, a.Path[i-1], a.Path[i])
							}
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("seed %d %s(%s, %d):\n got %v\nwant %v", seed, q.field, root, depth, got, want)
					}
				}
			}
		}
	})
}

// randomCatalog returns a random catalog of components, APIs and resources, and the adjacency
// lists impact and dependencies should follow, derived here from what the specs declare.
func randomCatalog(rng *rand.Rand) (spec, map[string][]string, map[string][]string) {
	s := spec{"group:team": ""}
	impact, deps := map[string][]string{}, map[string][]string{}
	add := func(m map[string][]string, from, to string) {
		if !slices.Contains(m[from], to) {
			m[from] = append(m[from], to)
		}
	}
	nc, na, nr := 12+rng.IntN(10), 3+rng.IntN(5), 3+rng.IntN(5)
	name := func(kind string, i int) string { return fmt.Sprintf("%s:default/%s-%d", kind, kind[:1], i) }
	for i := range nr {
		var dependencyOf []string
		if rng.IntN(3) == 0 {
			c := name("component", rng.IntN(nc))
			dependencyOf = append(dependencyOf, c)
			add(impact, name("resource", i), c)
			add(deps, c, name("resource", i))
		}
		f := ""
		if len(dependencyOf) > 0 {
			f = "dependencyOf: [" + strings.Join(dependencyOf, ", ") + "]"
		}
		s[fmt.Sprintf("resource:r-%d", i)] = f
	}
	for i := range na {
		s[fmt.Sprintf("api:a-%d", i)] = ""
	}
	for i := range nc {
		me := name("component", i)
		var fields, dependsOn, provides, consumes []string
		for range rng.IntN(4) {
			var target string
			switch rng.IntN(5) {
			case 0:
				target = name("resource", rng.IntN(nr))
			case 1:
				target = "component:default/ghost-" + fmt.Sprint(rng.IntN(3)) // dangling
			default:
				target = name("component", rng.IntN(nc)) // cycles and self-loops too
			}
			if !slices.Contains(dependsOn, target) {
				dependsOn = append(dependsOn, target)
				add(impact, target, me)
				add(deps, me, target)
			}
		}
		for range rng.IntN(2) {
			a := name("api", rng.IntN(na))
			if !slices.Contains(provides, a) {
				provides = append(provides, a)
				add(impact, me, a)
				add(deps, a, me)
			}
		}
		for range rng.IntN(3) {
			a := name("api", rng.IntN(na))
			if !slices.Contains(consumes, a) {
				consumes = append(consumes, a)
				add(impact, a, me)
				add(deps, me, a)
			}
		}
		if len(dependsOn) > 0 {
			fields = append(fields, "dependsOn: ["+strings.Join(dependsOn, ", ")+"]")
		}
		if len(provides) > 0 {
			fields = append(fields, "providesApis: ["+strings.Join(provides, ", ")+"]")
		}
		if len(consumes) > 0 {
			fields = append(fields, "consumesApis: ["+strings.Join(consumes, ", ")+"]")
		}
		s[fmt.Sprintf("component:c-%d", i)] = strings.Join(fields, "; ")
	}
	return s, impact, deps
}

// bfs is the independent oracle: plain breadth-first search, smallest depth of each node.
func bfs(adj map[string][]string, root string, maxDepth int) map[string]int {
	depth := map[string]int{root: 0}
	queue := []string{root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if maxDepth >= 0 && depth[n] >= maxDepth {
			continue
		}
		for _, m := range adj[n] {
			if _, ok := depth[m]; !ok {
				depth[m] = depth[n] + 1
				queue = append(queue, m)
			}
		}
	}
	delete(depth, root)
	return depth
}

// TestImpactReportsTheAffectedEntitiesOwnContacts: the on-call annotation normally sits on the
// component itself, not on its owner; impact reports it with the entity (and the root's with
// the root), in the same constant number of statements.
func TestImpactReportsTheAffectedEntitiesOwnContacts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		yaml := `apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db, annotations: {pagerduty.com/service-id: PDB}}
spec: {type: database, owner: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc, annotations: {pagerduty.com/service-id: PSVC, slack.com/channel: "#svc"}}
spec: {type: service, lifecycle: production, owner: team, dependsOn: [resource:db]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: quiet}
spec: {type: service, lifecycle: production, owner: team, dependsOn: [component:svc, component:ghost]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team}
spec: {type: team, children: []}
`
		if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		var resp struct {
			Impact struct {
				RootContacts []struct{ Type, Value string }
				Affected     []struct {
					Ref      string
					Contacts []struct{ Type, Value string }
				}
			}
		}
		g.n.Store(0)
		if err := g.c.Post(`{ impact(ref: "resource:db") { rootContacts { type value } affected(first: 1000) { ref contacts { type value } } } }`, &resp); err != nil {
			t.Fatal(err)
		}
		if n := g.n.Load(); n > 3 {
			t.Errorf("%d statements, want at most 3", n)
		}
		got := map[string]string{}
		for _, a := range resp.Impact.Affected {
			var cs []string
			for _, c := range a.Contacts {
				cs = append(cs, c.Type+"="+c.Value)
			}
			got[a.Ref] = strings.Join(cs, ",")
		}
		// Only the configured contact annotations count (slack.com/channel is not configured here).
		want := map[string]string{"component:default/svc": "pagerduty.com/service-id=PSVC", "component:default/quiet": ""}
		if !maps.Equal(got, want) {
			t.Errorf("affected contacts %v, want %v", got, want)
		}
		if c := resp.Impact.RootContacts; len(c) != 1 || c[0].Value != "PDB" {
			t.Errorf("root contacts %+v, want the resource's own PagerDuty service", c)
		}
	})
}
