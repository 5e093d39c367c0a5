package main

import (
	"testing"

	"catalogd/internal/testdb"
)

// The contract for search and facets: a real server, the demo catalog, the exact
// field names.
func TestSearchAndFacetsContractOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		s := startServer(t, "--database", dbURL, "--demo")
		var out struct {
			Search struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Entity  *struct{ Ref string }
						Page    *struct{ Path string }
						Snippet string
					}
				}
			}
			Typeahead struct {
				Edges []struct {
					Node struct{ Entity struct{ Ref string } }
				}
			}
		}
		s.data(`{ search(query: "payments-api") { totalCount edges { node { entity { ref } page { path } snippet } } }
			typeahead: search(query: "paym", kinds: ["API"], first: 5) { edges { node { entity { ref } } } } }`, nil, &out)
		if out.Search.TotalCount < 2 || len(out.Search.Edges) != out.Search.TotalCount || out.Search.Edges[0].Node.Entity.Ref != "api:default/payments-api" {
			t.Fatalf("search payments-api: %+v", out.Search)
		}
		for _, e := range out.Search.Edges {
			if e.Node.Page != nil || e.Node.Snippet == "" {
				t.Errorf("entity hit %s: page %v, snippet %q", e.Node.Entity.Ref, e.Node.Page, e.Node.Snippet)
			}
		}
		if len(out.Typeahead.Edges) == 0 || out.Typeahead.Edges[0].Node.Entity.Ref != "api:default/payments-api" {
			t.Errorf("type-ahead paym among APIs: %+v", out.Typeahead)
		}

		// Facets count what the entities list holds.
		var f struct {
			Facets []struct {
				Field  string
				Values []struct {
					Value string
					Count int
				}
			}
			Components struct{ TotalCount int }
			Production struct{ TotalCount int }
		}
		s.data(`{ facets(fields: ["kind", "spec.lifecycle", "owner", "tags"], filter: {kind: ["Component"]}) { field values { value count } }
			components: entities(filter: {kind: ["Component"]}) { totalCount }
			production: entities(filter: {kind: ["Component"], lifecycle: ["production"]}) { totalCount } }`, nil, &f)
		if len(f.Facets) != 4 || f.Facets[0].Field != "kind" || len(f.Facets[0].Values) != 1 || f.Facets[0].Values[0].Count != f.Components.TotalCount || f.Components.TotalCount == 0 {
			t.Fatalf("facets: %+v, %d components", f.Facets, f.Components.TotalCount)
		}
		found := false
		for _, v := range f.Facets[1].Values {
			if v.Value == "production" {
				found = v.Count == f.Production.TotalCount
			}
		}
		if !found {
			t.Errorf("lifecycle facet %+v, want production=%d", f.Facets[1].Values, f.Production.TotalCount)
		}
		if r := s.query(`{ facets(fields: ["colour"]) { field } }`, nil); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("unknown facet field: %+v", r.Errors)
		}
		if r := s.query(`{ search(query: "\"*") { totalCount } }`, nil); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("a query without words: %+v", r.Errors)
		}
		s.noErrorLogged()
	})
}
