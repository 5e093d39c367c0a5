package graph_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"catalogd/internal/testdb"
)

// wideCatalog is one resource that 10,001 components depend on: more than the default page of
// affected. The components are owned by 7 groups, in 5 systems of 3 domains.
func wideCatalog() string {
	var b strings.Builder
	doc := func(kind, name, spec string) {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec: {%s}\n", kind, name, spec)
	}
	doc("Resource", "db", "type: database, owner: team-0, system: sys-0")
	for i := range 7 {
		doc("Group", fmt.Sprintf("team-%d", i), "type: team, children: []")
	}
	for i := range 3 {
		doc("Domain", fmt.Sprintf("dom-%d", i), "owner: team-0")
	}
	for i := range 5 {
		doc("System", fmt.Sprintf("sys-%d", i), fmt.Sprintf("owner: team-0, domain: dom-%d", i%3))
	}
	for i := range 10_001 {
		doc("Component", fmt.Sprintf("c-%05d", i), fmt.Sprintf("type: service, lifecycle: production, owner: team-%d, system: sys-%d, dependsOn: [resource:db]", i%7, i%5))
	}
	return b.String()
}

func newWideEnv(t *testing.T, dbURL string) *graphEnv {
	t.Helper()
	g := newGraphEnv(t, dbURL)
	if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(wideCatalog()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := g.eng.Refresh(context.Background(), g.p)
	if err != nil || res.Errors > 0 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	return g
}

// errText runs a query that must fail and returns its error text (which carries the code).
func errText(t *testing.T, c *client.Client, q string) string {
	t.Helper()
	var resp any
	err := c.Post(q, &resp)
	if err == nil {
		t.Fatalf("%.80s… succeeded, want an error", q)
	}
	return err.Error()
}

func TestImpactListsArePaged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newWideEnv(t, dbURL)
		type item struct {
			Ref, Cursor string
			Depth       int
			EntityCount int
		}
		var all struct {
			Impact struct {
				TotalAffected, TotalOwners, TotalSystems, TotalDomains int
				Affected                                               []item
			}
		}
		if err := g.c.Post(`{ impact(ref: "resource:db") { totalAffected totalOwners totalSystems totalDomains affected { ref depth cursor } } }`, &all); err != nil {
			t.Fatal(err)
		}
		im := all.Impact
		if im.TotalAffected != 10_001 || len(im.Affected) != 10_000 {
			t.Fatalf("affected without first: %d of %d, want the default page of 10000 of 10001", len(im.Affected), im.TotalAffected)
		}
		if im.TotalOwners != 7 || im.TotalSystems != 5 || im.TotalDomains != 3 {
			t.Errorf("totals: %+v", im)
		}

		// walk pages a list of the impact answer with first and after, and checks every page.
		walk := func(field, sub string, first int) []item {
			t.Helper()
			var out []item
			var after any
			for range 20_000 {
				var p map[string]map[string][]item
				q := fmt.Sprintf(`query($after: String) { impact(ref: "resource:db") { %s(first: %d, after: $after) { ref cursor %s } } }`, field, first, sub)
				if err := g.c.Post(q, &p, client.Var("after", after)); err != nil {
					t.Fatalf("%s after %v: %v", field, after, err)
				}
				page := p["impact"][field]
				if len(page) > first {
					t.Fatalf("%s: page of %d, first %d", field, len(page), first)
				}
				out = append(out, page...)
				if len(page) < first {
					return out
				}
				after = page[len(page)-1].Cursor
			}
			t.Fatalf("%s: pages do not end", field)
			return nil
		}
		walked := walk("affected", "depth", 3000)
		if len(walked) != 10_001 || fmt.Sprint(walked[:10_000]) != fmt.Sprint(im.Affected) || walked[10_000].Ref != "component:default/c-10000" {
			t.Errorf("walking affected in pages of 3000: %d entities, last %+v", len(walked), walked[len(walked)-1])
		}
		if owners := walk("owners", "entityCount", 2); len(owners) != 7 || owners[0].Ref != "group:default/team-0" || owners[0].EntityCount != 1430 {
			// team-0 owns the root and c-00000, c-00007, … (1,429 components).
			t.Errorf("owners in pages of 2: %+v", owners)
		}
		if systems := walk("systems", "entityCount", 2); len(systems) != 5 {
			t.Errorf("systems in pages of 2: %+v", systems)
		}
		if domains := walk("domains", "entityCount", 2); len(domains) != 3 {
			t.Errorf("domains in pages of 2: %+v", domains)
		}

		// entityRefs: 100 by default; the ref is the cursor.
		var refs []string
		var after any
		for {
			var p struct {
				Impact struct {
					Owners []struct {
						EntityCount int
						EntityRefs  []string
					}
				}
			}
			if err := g.c.Post(`query($after: String) { impact(ref: "resource:db") { owners(first: 1) { entityCount entityRefs(first: 500, after: $after) } } }`,
				&p, client.Var("after", after)); err != nil {
				t.Fatal(err)
			}
			page := p.Impact.Owners[0].EntityRefs
			refs = append(refs, page...)
			if len(page) < 500 {
				break
			}
			after = page[len(page)-1]
		}
		if len(refs) != 1430 || refs[0] != "resource:default/db" || len(slices.Compact(slices.Clone(refs))) != 1430 {
			t.Errorf("team-0's entityRefs walked in pages of 500: %d, first %v", len(refs), refs[:1])
		}
		var def struct {
			Impact struct {
				Owners []struct{ EntityRefs []string }
			}
		}
		if err := g.c.Post(`{ impact(ref: "resource:db") { owners(first: 1) { entityRefs } } }`, &def); err != nil || len(def.Impact.Owners[0].EntityRefs) != 100 {
			t.Errorf("entityRefs without first: %d refs, %v; want 100", len(def.Impact.Owners[0].EntityRefs), err)
		}

		for _, tc := range []struct{ name, query, want string }{
			{"affected above its maximum", `{ impact(ref: "resource:db") { affected(first: 10001) { ref } } }`, "first must be between 0 and 10000, got 10001"},
			{"owners above the maximum", `{ impact(ref: "resource:db") { owners(first: 501) { ref } } }`, "first must be between 0 and 500, got 501"},
			{"entityRefs above the maximum", `{ impact(ref: "resource:db") { systems { entityRefs(first: 1000000) } } }`, "first must be between 0 and 500, got 1000000"},
			{"a cursor from nowhere", `{ impact(ref: "resource:db") { domains(after: "bm9wZQ") { ref } } }`, "is not a cursor of this list"},
			{"a ref that is not in entityRefs", `{ impact(ref: "resource:db") { systems { entityRefs(after: "component:default/nope") } } }`, "names no item of this list"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := errText(t, g.c, tc.query); !strings.Contains(got, tc.want) || !strings.Contains(got, "BAD_USER_INPUT") {
					t.Errorf("error %s, want BAD_USER_INPUT saying %q", got, tc.want)
				}
			})
		}
	})
}

func TestOwnedEntitiesArePaged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newWideEnv(t, dbURL)
		var refs []string
		var after any
		for {
			var p struct {
				Entity struct{ OwnedEntities []struct{ Ref string } }
			}
			g.n.Store(0)
			if err := g.c.Post(`query($after: String) { entity(ref: "group:team-1") { ... on Group { ownedEntities(first: 500, after: $after) { ref } } } }`,
				&p, client.Var("after", after)); err != nil {
				t.Fatal(err)
			}
			if n := g.n.Load(); n > 4 {
				t.Errorf("a page of ownedEntities took %d statements", n)
			}
			for _, e := range p.Entity.OwnedEntities {
				refs = append(refs, e.Ref)
			}
			if len(p.Entity.OwnedEntities) < 500 {
				break
			}
			after = refs[len(refs)-1]
		}
		if len(refs) != 1429 || !slices.IsSorted(refs) || refs[0] != "component:default/c-00001" {
			t.Errorf("team-1 owns %d walked in pages of 500, first %v", len(refs), refs[:1])
		}
		var def struct {
			Groups struct {
				Edges []struct {
					Node struct{ OwnedEntities []struct{ Ref string } }
				}
			}
		}
		g.n.Store(0)
		if err := g.c.Post(`{ groups: entities(filter: {kind: ["Group"]}) { edges { node { ... on Group { ownedEntities { ref } } } } } }`, &def); err != nil {
			t.Fatal(err)
		}
		if n := g.n.Load(); n > 5 {
			t.Errorf("the first page of ownedEntities of 7 groups took %d statements", n)
		}
		for _, e := range def.Groups.Edges {
			if len(e.Node.OwnedEntities) != 100 {
				t.Errorf("ownedEntities without first: %d, want 100", len(e.Node.OwnedEntities))
			}
		}
		if got := errText(t, g.c, `{ entity(ref: "group:team-1") { ... on Group { ownedEntities(first: 501) { ref } } } }`); !strings.Contains(got, "first must be between 0 and 500") {
			t.Errorf("ownedEntities(first: 501): %s", got)
		}
	})
}

// The complexity of a list counts its page, so aliases of large answers are refused before
// any resolver runs, while a page above the maximum is answered by the resolver's own check.
func TestComplexityCountsPages(t *testing.T) {
	g := newGraphEnv(t, testdb.SQLite(t))
	g.load(spec{"resource:db": "", "component:a": "dependsOn: [resource:db]"})
	alias := func(n int, body string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, ` a%d: impact(ref: "resource:db") { %s }`, i, body)
		}
		return b.String() + " }"
	}
	for _, tc := range []struct {
		name, query string
		refused     bool
	}{
		{"10 aliases of the default affected page", alias(10, "affected { ref depth path }"), true},
		{"10 aliases of 500 owners with 500 refs each", alias(10, "owners(first: 500) { entityRefs(first: 500) }"), true},
		{"16 walks of the graph", alias(16, "totalAffected"), true},
		{"14 walks of the graph", alias(14, "totalAffected"), false},
		{"one default affected page with entities", alias(1, "affected { ref depth path entity { ref title } }"), false},
		{"ten small pages", alias(10, "affected(first: 100) { ref depth path }"), false},
		{"a graph of 5000 nodes", `{ graph(ref: "resource:db", maxNodes: 5000) { nodes { ref depth } edges { source type target } } }`, false},
		{"a graph of 5000 nodes with their entities' relations", `{ graph(ref: "resource:db", maxNodes: 5000) {
			nodes { ref entity { ref title description relations { type targetRef } } } edges { source type target } } }`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.n.Store(0)
			var resp any
			err := g.c.Post(tc.query, &resp)
			refused := err != nil && strings.Contains(err.Error(), "COMPLEXITY_LIMIT_EXCEEDED")
			if refused != tc.refused {
				t.Errorf("refused %v, want %v (%v)", refused, tc.refused, err)
			}
			if tc.refused && g.n.Load() != 0 {
				t.Errorf("%d statements ran before the refusal", g.n.Load())
			}
		})
	}
}

// The cost of a question is remembered, never its verdict for another: the same text with
// other variables is costed again, and a refused question stays refused.
func TestRememberedCostsFollowTheVariables(t *testing.T) {
	g := newGraphEnv(t, testdb.SQLite(t))
	g.load(spec{"resource:db": "", "component:a": "dependsOn: [resource:db]"})
	q := `query($n: Int) { a: impact(ref: "resource:db") { owners(first: $n) { entityRefs(first: 500) } }
	  b: impact(ref: "resource:db") { owners(first: $n) { entityRefs(first: 500) } } }`
	for i, tc := range []struct {
		n       int
		refused bool
	}{{10, false}, {500, true}, {10, false}, {500, true}, {11, false}} {
		var resp any
		err := g.c.Post(q, &resp, client.Var("n", tc.n))
		if refused := err != nil && strings.Contains(err.Error(), "COMPLEXITY_LIMIT_EXCEEDED"); refused != tc.refused {
			t.Errorf("request %d (first: %d): refused %v, want %v (%v)", i, tc.n, refused, tc.refused, err)
		}
	}
}

// introspectionQuery is what GraphiQL 4 sends (graphql-js getIntrospectionQuery with every
// option on): the largest legitimate query there is, and it must pass the field limit.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

func TestGraphiQLIntrospectionPassesTheLimits(t *testing.T) {
	g := newGraphEnv(t, testdb.SQLite(t))
	var resp map[string]map[string]any
	if err := g.c.Post(introspectionQuery, &resp); err != nil {
		t.Fatal(err)
	}
	if types, _ := resp["__schema"]["types"].([]any); len(types) < 20 {
		t.Errorf("introspection found %d types", len(types))
	}
}

// The query caches are bounded by count; long queries must not be kept, or a thousand
// distinct queries of nearly 1 MiB (one long string is one token) would pin a gigabyte.
func TestLongQueriesAreNotCached(t *testing.T) {
	g := newGraphEnv(t, testdb.SQLite(t))
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	long := strings.Repeat("a", 900<<10)
	for i := range 100 {
		var resp any
		if err := g.c.Post(fmt.Sprintf(`{ entity(ref: "component:%d%s") { ref } }`, i, long), &resp); err != nil {
			t.Fatal(err)
		}
	}
	grew := int64(heap()) - int64(before)
	runtime.KeepAlive(g.c) // the handler and its caches
	if grew > 30<<20 {
		t.Errorf("100 distinct queries of 900 KB left the heap %d MB larger", grew>>20)
	}
}
