package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/internal/testdb"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write and the test to read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type testServer struct {
	t      *testing.T
	base   string
	stderr *syncBuffer // the server's log
	stop   func()      // stops the server (and waits for it); also done at cleanup
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs `catalogd serve` through run(), as main does, on a free loopback port, and
// waits until /readyz says ready. The server stops when the test ends.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	s, _ := startServerEnv(t, nil, args...)
	return s
}

// startServerEnv is startServer with an environment (getenv reads env), also returning the
// server's log. Without --database (or CATALOGD_DATABASE_URL) the server gets a new SQLite
// database in the test's temp dir, never the default catalogd.db in the package directory.
func startServerEnv(t *testing.T, env map[string]string, args ...string) (*testServer, *syncBuffer) {
	t.Helper()
	if !slices.Contains(args, "--database") && env["CATALOGD_DATABASE_URL"] == "" {
		args = append(args, "--database", testdb.SQLite(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, stdout, stderr)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s of cancellation")
		}
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(3 * time.Minute) // generous: -race on a loaded 2-core machine
	var base string
	for base == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; stderr:\n%s", stderr.String())
		}
	}
	s := &testServer{t: t, base: base, stderr: stderr, stop: stop}
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, stderr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (s *testServer) query(q string, vars map[string]any) gqlResponse {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(s.base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("status %d, body %s: %v", resp.StatusCode, raw, err)
	}
	return out
}

// data runs a query that must succeed and decodes its data into v.
func (s *testServer) data(q string, vars map[string]any, v any) {
	s.t.Helper()
	r := s.query(q, vars)
	if len(r.Errors) > 0 {
		s.t.Fatalf("query failed: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		s.t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const entityPage = `query($ref: String!) { entity(ref: $ref) {
  id ref kind namespace name title description tags
  labels { key value } annotation(key: "backstage.io/managed-by-location")
  ... on Component { type lifecycle ownerRef owner { ref kind name } system { ref } dependsOn { ref } providesApis { ref } }
  relations { type targetRef target { ref kind } }
} }`

func TestServeAnswersTheContractQueriesOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "catalog.yaml"), `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Checkout
  title: Checkout service
  description: Takes the money
  tags: [go, pci]
  labels: {tier: gold}
spec:
  type: service
  lifecycle: production
  owner: Team-Pay
  system: shop
  providesApis: [checkout-api]
  dependsOn: [resource:payments-db, component:missing-thing]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-pay}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: payments-db}
spec: {type: database, owner: team-pay}
---
apiVersion: acme.io/v1
kind: Pipeline
metadata: {name: deploy}
spec: {anything: [1, 2]}
`)
		s := startServer(t, "--database", dbURL, "--location", filepath.Join(dir, "catalog.yaml"))

		var page struct {
			Entity struct {
				ID, Ref, Kind, Namespace, Name, Title, Description, Type, Lifecycle, OwnerRef, Annotation string
				Tags                                                                                      []string
				Labels                                                                                    []struct{ Key, Value string }
				Owner                                                                                     *struct{ Ref, Kind, Name string }
				System                                                                                    *struct{ Ref string }
				DependsOn                                                                                 []struct{ Ref string }
				ProvidesApis                                                                              []struct{ Ref string }
				Relations                                                                                 []struct {
					Type, TargetRef string
					Target          *struct{ Ref, Kind string }
				}
			}
		}
		// Lookups are case-insensitive and the namespace defaults to "default".
		s.data(entityPage, map[string]any{"ref": "COMPONENT:checkout"}, &page)
		e := page.Entity
		if e.Ref != "component:default/checkout" || e.Kind != "Component" || e.Name != "Checkout" || e.Namespace != "default" ||
			e.Title != "Checkout service" || e.Type != "service" || e.Lifecycle != "production" || e.OwnerRef != "group:default/team-pay" {
			t.Errorf("entity = %+v", e)
		}
		if e.Owner == nil || e.Owner.Ref != "group:default/team-pay" || e.Owner.Kind != "Group" {
			t.Errorf("owner = %+v", e.Owner)
		}
		if e.System != nil {
			t.Errorf("system = %+v, want null (system:shop does not exist)", e.System)
		}
		if len(e.DependsOn) != 1 || e.DependsOn[0].Ref != "resource:default/payments-db" {
			t.Errorf("dependsOn = %+v, want only the existing target", e.DependsOn)
		}
		if !strings.HasPrefix(e.Annotation, "file:/") || len(e.Labels) != 1 || e.Labels[0].Key != "tier" {
			t.Errorf("annotation %q labels %+v", e.Annotation, e.Labels)
		}
		var rels []string
		for _, r := range e.Relations {
			target := "null"
			if r.Target != nil {
				target = r.Target.Ref
			}
			rels = append(rels, r.Type+" "+r.TargetRef+" -> "+target)
		}
		want := []string{
			"dependsOn component:default/missing-thing -> null",
			"dependsOn resource:default/payments-db -> resource:default/payments-db",
			"ownedBy group:default/team-pay -> group:default/team-pay",
			"partOf system:default/shop -> null",
			"providesApi api:default/checkout-api -> null",
		}
		if strings.Join(rels, "\n") != strings.Join(want, "\n") {
			t.Errorf("relations:\n%s\nwant:\n%s", strings.Join(rels, "\n"), strings.Join(want, "\n"))
		}

		// The reverse direction is on the other end.
		var grp struct {
			Entity struct {
				Relations []struct{ Type, TargetRef string }
			}
		}
		s.data(`{ entity(ref: "group:team-pay") { relations(type: "ownerOf") { type targetRef } } }`, nil, &grp)
		if len(grp.Entity.Relations) != 2 {
			t.Errorf("group relations = %+v, want ownerOf checkout and payments-db", grp.Entity.Relations)
		}

		var missing struct{ Entity *struct{ Ref string } }
		s.data(`{ entity(ref: "component:nope") { ref } }`, nil, &missing)
		if missing.Entity != nil {
			t.Errorf("absent entity = %+v, want null", missing.Entity)
		}
		var generic struct {
			Entity struct {
				Typename string `json:"__typename"`
				Kind     string
				Spec     map[string]any
			}
		}
		s.data(`{ entity(ref: "pipeline:deploy") { __typename kind spec } }`, nil, &generic)
		if generic.Entity.Typename != "GenericEntity" || generic.Entity.Kind != "Pipeline" || generic.Entity.Spec["anything"] == nil {
			t.Errorf("custom kind = %+v", generic.Entity)
		}
	})
}

func TestEntitiesFilterAndPaginate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		var docs []string
		for i := range 25 {
			owner := "team-a"
			if i%5 == 0 {
				owner = "team-b"
			}
			lifecycle := []string{"production", "experimental"}[i%2]
			docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc-%02d\n  description: %s\n  tags: [%s]\n  labels: {tier: %s}\n  annotations: {acme.io/oncall: rota-%d}\nspec: {type: service, lifecycle: %s, owner: %s, system: sys-%d}\n",
				i, []string{"Handles payments", "Sends mail"}[i%2], []string{"go", "java"}[i%2], []string{"gold", "silver"}[i%3%2], i%2, lifecycle, owner, i%3))
		}
		docs = append(docs, "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: api-1, namespace: payments}\nspec: {type: openapi, lifecycle: production, owner: team-a, definition: x}\n")
		writeFile(t, filepath.Join(dir, "c.yaml"), strings.Join(docs, "---\n"))
		s := startServer(t, "--database", dbURL, "--location", filepath.Join(dir, "c.yaml"))

		type conn struct {
			Entities struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct {
					Cursor string
					Node   struct{ Ref string }
				}
			}
		}
		count := func(filter string) int {
			var c conn
			s.data(`{ entities(filter: `+filter+`) { totalCount } }`, nil, &c)
			return c.Entities.TotalCount
		}
		for _, tc := range []struct {
			filter string
			want   int
		}{
			{`{}`, 26},
			{`{kind: ["Component"]}`, 25},
			{`{kind: ["api"], namespace: ["PAYMENTS"]}`, 1},
			{`{owner: "team-b"}`, 5},
			{`{owner: "group:default/team-a", kind: ["component"]}`, 20},
			{`{lifecycle: ["experimental"]}`, 12},
			{`{type: ["SERVICE"]}`, 25},
			{`{tag: ["go"]}`, 13},
			{`{tag: ["go", "java"]}`, 0},
			{`{label: [{key: "tier", value: "gold"}]}`, 17},
			{`{label: [{key: "tier"}]}`, 25},
			{`{annotation: [{key: "acme.io/oncall", value: "rota-1"}]}`, 12},
			{`{annotation: [{key: "x'; DROP TABLE entities; --"}]}`, 0},
			{`{system: "sys-1"}`, 8},
			{`{text: "PAYMENTS"}`, 13},
			{`{text: "svc-1"}`, 10},
			{`{text: "%"}`, 0},
			{`{ref: ["component:svc-01", "api:payments/api-1", "component:none"]}`, 2},
		} {
			if got := count(tc.filter); got != tc.want {
				t.Errorf("filter %s: totalCount %d, want %d", tc.filter, got, tc.want)
			}
		}

		// Walk every page: each entity once, in ref order.
		var seen []string
		var after *string
		for pages := 0; ; pages++ {
			var c conn
			s.data(`query($after: Cursor) { entities(first: 7, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ref } } } }`,
				map[string]any{"after": after}, &c)
			for _, e := range c.Entities.Edges {
				seen = append(seen, e.Node.Ref)
			}
			if !c.Entities.PageInfo.HasNextPage {
				break
			}
			after = c.Entities.PageInfo.EndCursor
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 26 || seen[0] != "api:payments/api-1" || seen[25] != "component:default/svc-24" {
			t.Errorf("walked %d entities: first %v last %v", len(seen), seen[0], seen[len(seen)-1])
		}

		var byName conn
		s.data(`{ entities(first: 2, orderBy: {field: NAME, direction: DESC}, filter: {kind: ["component"]}) { edges { node { ref } } } }`, nil, &byName)
		if got := byName.Entities.Edges; len(got) != 2 || got[0].Node.Ref != "component:default/svc-24" {
			t.Errorf("ordered by name desc: %+v", got)
		}

		for _, tc := range []struct{ query, code, msg string }{
			{`{ entities(first: 501) { totalCount } }`, "BAD_USER_INPUT", "first must be between 0 and 500"},
			{`{ entities(after: "bogus") { totalCount } }`, "BAD_USER_INPUT", "cursor"},
			{`{ entity(ref: "no-kind") { ref } }`, "BAD_USER_INPUT", "has no kind"},
			{`{ entities(filter: {owner: ":x"}) { totalCount } }`, "BAD_USER_INPUT", "filter.owner"},
			{`{ nonsense }`, "GRAPHQL_VALIDATION_FAILED", "Cannot query field"},
		} {
			r := s.query(tc.query, nil)
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code || !strings.Contains(r.Errors[0].Message, tc.msg) {
				t.Errorf("%s: errors %+v, want code %s mentioning %q", tc.query, r.Errors, tc.code, tc.msg)
			}
		}
	})
}

func TestADanglingRelationResolvesWhenItsTargetArrives(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		root := filepath.Join(dir, "root.yaml")
		writeFile(t, root, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec: {type: website, lifecycle: production, owner: team-late}\n")
		s := startServer(t, "--database", dbURL, "--location", root, "--refresh-interval", "50ms")
		var before struct {
			Entity struct {
				OwnerRef string
				Owner    *struct{ Ref string }
			}
		}
		s.data(`{ entity(ref: "component:web") { ... on Component { ownerRef owner { ref } } } }`, nil, &before)
		if before.Entity.Owner != nil || before.Entity.OwnerRef != "group:default/team-late" {
			t.Fatalf("before: %+v", before.Entity)
		}
		writeFile(t, root, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec: {type: website, lifecycle: production, owner: team-late}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-late}\nspec: {type: team, children: []}\n")
		deadline := time.Now().Add(30 * time.Second)
		for {
			var after struct {
				Entity struct{ Owner *struct{ Ref string } }
			}
			s.data(`{ entity(ref: "component:web") { ... on Component { owner { ref } } } }`, nil, &after)
			if after.Entity.Owner != nil {
				if after.Entity.Owner.Ref != "group:default/team-late" {
					t.Errorf("owner = %+v", after.Entity.Owner)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the owner never resolved after it was added")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestProcessingErrorsAndLocationsAreQueryable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "c.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Bad_Name!\nspec: {type: service, lifecycle: production, owner: x}\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: ok}\nspec: {type: team, children: []}\n")
		s := startServer(t, "--database", dbURL, "--location", filepath.Join(dir, "c.yaml"))
		var out struct {
			ProcessingErrors struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Location, Source, EntityRef, Path, Message string
						Document, Line                             int
					}
				}
			}
			Locations []struct {
				Key              string
				Entities, Errors int
				LastSuccessAt    *string
				LastError        string
			}
		}
		s.data(`{ processingErrors { totalCount edges { node { location source document line entityRef path message } } }
			locations { key entities errors lastSuccessAt lastError } }`, nil, &out)
		if out.ProcessingErrors.TotalCount != 1 {
			t.Fatalf("processing errors: %+v", out.ProcessingErrors)
		}
		n := out.ProcessingErrors.Edges[0].Node
		if n.Document != 1 || n.Line != 1 || n.EntityRef != "component:default/bad_name!" || n.Path != "/metadata/name" || !strings.Contains(n.Message, "does not match pattern") {
			t.Errorf("error = %+v", n)
		}
		if len(out.Locations) != 1 || out.Locations[0].Entities != 1 || out.Locations[0].Errors != 1 || out.Locations[0].LastSuccessAt == nil {
			t.Errorf("locations = %+v", out.Locations)
		}
	})
}

func TestHealthReadinessAndGraphiQL(t *testing.T) {
	s := startServer(t, "--database", testdb.SQLite(t))
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(s.base + path)
		if err != nil || resp.StatusCode != want {
			t.Errorf("GET %s: %v %v", path, resp.StatusCode, err)
		}
	}
	req, _ := http.NewRequest("GET", s.base+"/graphql", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "graphiql") {
		t.Errorf("GET /graphql as a browser: %d %.200s", resp.StatusCode, body)
	}
	resp, err = http.Get(s.base + `/graphql?query={entities{totalCount}}`)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"data":{"entities":{"totalCount":0}}}` {
		t.Errorf("GET query: %s", body)
	}
}

// The contract for impact: a real server, the demo catalog, the exact field names.
func TestImpactContractOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		s := startServer(t, "--database", dbURL, "--demo")
		var out struct {
			Impact struct {
				Root          struct{ Ref string }
				TotalAffected int
				Affected      []struct {
					Ref    string
					Entity *struct{ Ref string }
					Depth  int
					Path   []string
				}
				Owners []struct {
					Ref        string
					Owner      *struct{ Ref string }
					EntityRefs []string
				}
			}
			Dependencies struct {
				TotalAffected int
				Affected      []struct{ Ref string }
			}
		}
		s.data(`{ impact(ref: "resource:postgres-main") { root { ref } totalAffected affected { ref entity { ref } depth path } owners { ref owner { ref } entityRefs } }
			dependencies(ref: "component:checkout-web", maxDepth: 1) { totalAffected affected { ref } } }`, nil, &out)
		im := out.Impact
		if im.Root.Ref != "resource:default/postgres-main" || im.TotalAffected != len(im.Affected) || im.TotalAffected < 10 {
			t.Fatalf("impact = %+v", im)
		}
		prev := im.Affected[0]
		for _, a := range im.Affected {
			if a.Entity == nil || a.Entity.Ref != a.Ref || len(a.Path) != a.Depth+1 || a.Path[0] != im.Root.Ref {
				t.Errorf("affected %+v", a)
			}
			if a.Depth < prev.Depth || (a.Depth == prev.Depth && a.Ref < prev.Ref) {
				t.Errorf("affected not ordered by depth then ref: %s@%d after %s@%d", a.Ref, a.Depth, prev.Ref, prev.Depth)
			}
			prev = a
		}
		if len(im.Owners) == 0 || im.Owners[0].Owner == nil || len(im.Owners[0].EntityRefs) == 0 {
			t.Errorf("owners = %+v", im.Owners)
		}
		if out.Dependencies.TotalAffected == 0 || out.Dependencies.TotalAffected != len(out.Dependencies.Affected) {
			t.Errorf("dependencies = %+v", out.Dependencies)
		}
	})
}

// The demo catalog is what a newcomer sees first: every document of it is processed without
// an error (an empty `annotations:` once made two systems fail validation unnoticed).
func TestTheDemoIngestsWithoutProcessingErrors(t *testing.T) {
	s := startServer(t, "--demo")
	var out struct {
		ProcessingErrors struct {
			TotalCount int
			Edges      []struct {
				Node struct{ Source, EntityRef, Path, Message string }
			}
		}
		Entities struct{ TotalCount int }
	}
	s.data(`{ processingErrors(first: 20) { totalCount edges { node { source entityRef path message } } } entities(first: 1) { totalCount } }`, nil, &out)
	if out.ProcessingErrors.TotalCount != 0 {
		t.Errorf("the demo has %d processing errors: %+v", out.ProcessingErrors.TotalCount, out.ProcessingErrors.Edges)
	}
	if out.Entities.TotalCount < 70 {
		t.Errorf("the demo has only %d entities", out.Entities.TotalCount)
	}
}
