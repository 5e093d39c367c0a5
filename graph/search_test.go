package graph_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"catalogd/internal/testdb"
)

func withVars(vars map[string]any) client.Option {
	return func(r *client.Request) { r.Variables = vars }
}

// searchCatalog is a small catalog for search and facets over GraphQL.
func searchCatalog() string {
	var b strings.Builder
	doc := func(kind, name, desc, spec string) {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: %s\nmetadata: {name: %s, description: %q, tags: [%s]}\nspec: {%s}\n", kind, name, desc, map[bool]string{true: "fast", false: ""}[kind == "Component"], spec)
	}
	doc("Group", "team-a", "", "type: team, children: []")
	doc("Component", "payments-api", "Takes <b>card</b> payments.", "type: service, lifecycle: production, owner: team-a")
	doc("Component", "ledger", "Books every payments-api call.", "type: service, lifecycle: experimental, owner: team-a")
	doc("API", "payments-rest", "REST API of payments.", "type: openapi, lifecycle: production, owner: team-a, definition: x")
	for i := range 25 {
		doc("Component", fmt.Sprintf("worker-%02d", i), "a queue worker", fmt.Sprintf("type: worker, lifecycle: production, owner: team-a, system: s%d", i%2))
	}
	return b.String()
}

type searchPage struct {
	Search struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   struct {
				Entity  *struct{ Ref string }
				Page    *struct{ Path string }
				Snippet string
				Score   float64
			}
		}
		PageInfo struct{ HasNextPage bool }
	}
}

func TestSearchOverGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(searchCatalog()), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		const q = `query($q: String!, $kinds: [String!], $first: Int, $after: String) { search(query: $q, kinds: $kinds, first: $first, after: $after) {
			totalCount edges { cursor node { entity { ref } page { path } snippet score } } pageInfo { hasNextPage } } }`
		run := func(query string, kinds []string, first int, after string) searchPage {
			t.Helper()
			var p searchPage
			opts := map[string]any{"q": query, "first": first}
			if kinds != nil {
				opts["kinds"] = kinds
			}
			if after != "" {
				opts["after"] = after
			}
			if err := g.c.Post(q, &p, withVars(opts)); err != nil {
				t.Fatalf("search %q: %v", query, err)
			}
			return p
		}
		p := run("paym", nil, 10, "")
		// Both named for payments come before the one that mentions it in its description.
		if p.Search.TotalCount != 3 || len(p.Search.Edges) != 3 || p.Search.Edges[2].Node.Entity.Ref != "component:default/ledger" {
			t.Fatalf("paym: %+v", p.Search)
		}
		for _, e := range p.Search.Edges {
			if e.Node.Page != nil || e.Node.Entity == nil {
				t.Errorf("an entity hit has page %v, entity %v", e.Node.Page, e.Node.Entity)
			}
		}
		if s := p.Search.Edges[0].Node.Snippet; strings.Contains(s, "<b>") || !strings.Contains(s, "<mark>") {
			t.Errorf("snippet %q", s)
		}
		if p := run("payments", []string{"API"}, 10, ""); len(p.Search.Edges) != 1 || p.Search.Edges[0].Node.Entity.Ref != "api:default/payments-rest" {
			t.Errorf("kinds [API]: %+v", p.Search)
		}
		// Paging by the edges' cursors walks every worker once.
		var got []string
		after := ""
		for range 10 {
			p := run("worker", nil, 4, after)
			if p.Search.TotalCount != 25 {
				t.Fatalf("totalCount %d", p.Search.TotalCount)
			}
			for _, e := range p.Search.Edges {
				got = append(got, e.Node.Entity.Ref)
				after = e.Cursor
			}
			if !p.Search.PageInfo.HasNextPage {
				break
			}
		}
		sort.Strings(got)
		if len(got) != 25 || len(slices.Compact(slices.Clone(got))) != 25 {
			t.Fatalf("paging walked %d hits (%d distinct), want 25", len(got), len(slices.Compact(slices.Clone(got))))
		}
		for _, tc := range []struct{ query, want string }{
			{`{ search(query: "   ") { totalCount } }`, "no words"},
			{`{ search(query: "*\"-") { totalCount } }`, "no words"},
			{`{ search(query: "a", first: 101) { totalCount } }`, "between 0 and 100"},
			{`{ search(query: "a", after: "bogus") { totalCount } }`, "not a search cursor"},
			{`{ search(query: "` + strings.Repeat("x", 201) + `") { totalCount } }`, "at most 200"},
			{`{ facets(fields: ["color"]) { field } }`, "allowed: kind, namespace, spec.type, spec.lifecycle, owner, system, tags"},
		} {
			if got := errText(t, g.c, tc.query); !strings.Contains(got, tc.want) || !strings.Contains(got, "BAD_USER_INPUT") {
				t.Errorf("%.40s: error %s, want BAD_USER_INPUT saying %q", tc.query, got, tc.want)
			}
		}
	})
}

func TestFacetsOverGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		if err := os.WriteFile(filepath.Join(g.dir, "catalog.yaml"), []byte(searchCatalog()), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		var r struct {
			Facets []struct {
				Field  string
				Values []struct {
					Value string
					Count int
				}
			}
		}
		if err := g.c.Post(`{ facets(fields: ["kind", "spec.type", "spec.lifecycle", "tags", "system"], filter: {kind: ["Component"]}) { field values { value count } } }`, &r); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range r.Facets {
			var parts []string
			for _, v := range f.Values {
				parts = append(parts, fmt.Sprintf("%s=%d", v.Value, v.Count))
			}
			got[f.Field] = strings.Join(parts, " ")
		}
		want := map[string]string{
			"kind":           "component=27",
			"spec.type":      "worker=25 service=2",
			"spec.lifecycle": "production=26 experimental=1",
			"tags":           "fast=27",
			"system":         "system:default/s0=13 system:default/s1=12",
		}
		for f, w := range want {
			if got[f] != w {
				t.Errorf("facet %s: %q, want %q", f, got[f], w)
			}
		}
	})
}

// TestSearchFindsDocPagesOverGraphQL: a word of a rendered page finds the page, with its
// entity, beside entity hits.
func TestSearchFindsDocPagesOverGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		g := newGraphEnv(t, dbURL)
		files := map[string]string{
			"catalog.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments-api\n  annotations:\n    backstage.io/techdocs-ref: dir:site\n" +
				"spec: {type: service, lifecycle: production, owner: team-a}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: quokka-web, description: a web app}\n" +
				"spec: {type: website, lifecycle: production, owner: team-a}\n",
			"site/mkdocs.yml":      "site_name: Payments\n",
			"site/docs/index.md":   "# Payments API\n\nTakes payments.\n",
			"site/docs/runbook.md": "# Runbook\n\n## Restarting\n\nFeed the **quokka** first, then `<script>` nothing.\n",
		}
		for name, body := range files {
			p := filepath.Join(g.dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if res, err := g.eng.Refresh(context.Background(), g.p); err != nil || res.Errors > 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
		var p struct {
			Search struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Entity  struct{ Ref string }
						Page    *struct{ Path, Title string }
						Snippet string
					}
				}
			}
		}
		const q = `query($q: String!) { search(query: $q) { totalCount edges { node { entity { ref } page { path title } snippet } } } }`
		if err := g.c.Post(q, &p, withVars(map[string]any{"q": "quokka"})); err != nil {
			t.Fatal(err)
		}
		if p.Search.TotalCount != 2 || len(p.Search.Edges) != 2 {
			t.Fatalf("quokka: %+v", p.Search)
		}
		// The entity named quokka first, then the page that mentions it.
		if e := p.Search.Edges[0].Node; e.Entity.Ref != "component:default/quokka-web" || e.Page != nil {
			t.Errorf("first hit %+v, want the entity quokka-web", e)
		}
		e := p.Search.Edges[1].Node
		if e.Entity.Ref != "component:default/payments-api" || e.Page == nil || e.Page.Path != "runbook.md" || e.Page.Title != "Runbook" {
			t.Fatalf("second hit %+v, want payments-api's runbook page", e)
		}
		if !strings.Contains(e.Snippet, "<mark>quokka</mark>") || strings.Contains(e.Snippet, "<script>") {
			t.Errorf("page snippet %q", e.Snippet)
		}
	})
}
