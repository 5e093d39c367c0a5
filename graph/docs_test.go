package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/client"

	"catalogd/ent"
	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/testdb"
)

const docsList = `query($first: Int) { entities(first: $first, filter: {kind: ["component"]}) { edges { node { ref
  docs { siteName revision updatedAt nav { title url children { title } }
    pages { path title html url headings { level text anchor } }
    page(path: "guide.md") { title html }
    other: page(path: "index.md") { title }
  }
} } } }`

// A list of entities with docs costs a constant number of statements, whatever its size.
func TestDocsOfAListCostAConstantNumberOfStatements(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		dir := t.TempDir()
		write := func(p, s string) {
			t.Helper()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 60 {
			c := fmt.Sprintf("c%02d", i)
			write(c+"/catalog-info.yaml", fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\n  annotations:\n    backstage.io/techdocs-ref: dir:.\nspec: {type: service, lifecycle: production, owner: team-a}\n", c))
			write(c+"/mkdocs.yml", "site_name: "+c+"\nnav:\n  - Home: index.md\n  - Guide: guide.md\n")
			write(c+"/docs/index.md", "# "+c+"\n\n## Part\n")
			write(c+"/docs/guide.md", "# Guide\n")
		}
		p, err := file.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testdb.Engine(t, st).Refresh(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		counted := ent.NewClient(ent.Driver(countingDriver{st.Driver(), &n}))
		c := client.New(graph.NewHandler(graph.NewResolver(counted, st, nil), graph.Options{}))
		statements := func(first int) int64 {
			t.Helper()
			n.Store(0)
			var resp struct {
				Entities struct {
					Edges []struct {
						Node struct {
							Docs *struct {
								Pages []struct{ Path string }
								Page  *struct{ Title string }
							}
						}
					}
				}
			}
			var raw map[string]any
			if err := c.Post(docsList, &raw, client.Var("first", first)); err != nil {
				t.Fatalf("query: %v", err)
			}
			b, _ := json.Marshal(raw)
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Entities.Edges) != first {
				t.Fatalf("%d entities", len(resp.Entities.Edges))
			}
			for _, e := range resp.Entities.Edges {
				if e.Node.Docs == nil || len(e.Node.Docs.Pages) != 2 || e.Node.Docs.Page == nil || e.Node.Docs.Page.Title != "Guide" {
					t.Fatalf("docs %+v", e.Node.Docs)
				}
			}
			return n.Load()
		}
		small, large := statements(5), statements(50)
		// the page of entities, their sites, their pages, page(guide.md), page(index.md): 5.
		if small != large || large != 5 {
			t.Errorf("%d statements for 5 entities, %d for 50; want 5 for both", small, large)
		}
	})
}
