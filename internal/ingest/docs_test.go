package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"catalogd/ent"
	"catalogd/ent/docpage"
	"catalogd/internal/docs"
	"catalogd/internal/testdb"
)

const docsComponent = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc
  annotations:
    backstage.io/techdocs-ref: dir:.
spec:
  type: service
  lifecycle: production
  owner: team-a
`

// The file provider has no revision and the engine skips files whose bytes did not change;
// a change to the docs alone must still reach the store, and unchanged docs must cost no
// rendering (also after a restart, when the engine's memo is empty).
func TestADocsOnlyChangeIsReadThoughTheDescriptorIsUnchanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		var renders atomic.Int32
		e.eng.Docs = &docs.Reader{Renderer: docs.NewRenderer(), Limits: docs.DefaultLimits, Rendered: func() { renders.Add(1) }}
		e.write(map[string]string{
			"cat/catalog-info.yaml": docsComponent,
			"cat/mkdocs.yml":        "site_name: Svc\n",
			"cat/docs/index.md":     "# Svc\n\nFirst.\n",
			"cat/docs/more.md":      "# More\n",
		})
		html := func(p string) string {
			t.Helper()
			row, err := e.st.Client.DocPage.Query().Where(docpage.EntityRef("component:default/svc"), docpage.Path(p)).Only(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return row.HTML
		}
		e.refresh("cat")
		if renders.Load() != 2 || !strings.Contains(html("index.md"), "First.") {
			t.Fatalf("renders %d", renders.Load())
		}
		renders.Store(0)
		if res := e.refresh("cat"); res.Unchanged != 1 || renders.Load() != 0 {
			t.Errorf("unchanged read: %v, %d renders", res, renders.Load())
		}
		e.write(map[string]string{"cat/docs/index.md": "# Svc\n\nSecond.\n"})
		e.refresh("cat")
		if renders.Load() != 1 || !strings.Contains(html("index.md"), "Second.") {
			t.Errorf("after a docs-only change: renders %d, html %q", renders.Load(), html("index.md"))
		}
		// A nav that reorders the pages renders nothing and stores the new order.
		renders.Store(0)
		e.write(map[string]string{"cat/mkdocs.yml": "site_name: Svc\nnav:\n  - more.md\n  - index.md\n"})
		e.refresh("cat")
		order, err := e.st.Client.DocPage.Query().Order(ent.Asc(docpage.FieldPosition)).Select(docpage.FieldPath).Strings(context.Background())
		if err != nil || renders.Load() != 0 || strings.Join(order, ",") != "more.md,index.md" {
			t.Errorf("after reordering: renders %d, order %v %v", renders.Load(), order, err)
		}
		// A new engine on the same store (a restart) renders nothing that did not change.
		eng := testdb.Engine(t, e.st)
		renders.Store(0)
		eng.Docs = e.eng.Docs
		if _, err := eng.Refresh(context.Background(), e.provider("cat")); err != nil {
			t.Fatal(err)
		}
		if renders.Load() != 0 {
			t.Errorf("a restart rendered %d unchanged pages", renders.Load())
		}
	})
}

// A docs folder outside the location's directory is refused, though it exists and holds a
// site: the file provider reads through the location's root.
func TestADocsFolderOutsideTheLocationIsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{
			"cat/catalog-info.yaml":      strings.Replace(docsComponent, "dir:.", "dir:../secret", 1),
			"secret/mkdocs.yml":          "site_name: Secret\n",
			"secret/docs/index.md":       "# Secret\n",
			"cat/link/catalog-info.yaml": strings.NewReplacer("dir:.", "dir:./out", "name: svc", "name: linked").Replace(docsComponent),
			"cat/ok/catalog-info.yaml":   strings.Replace(docsComponent, "name: svc", "name: ok", 1),
			"cat/ok/mkdocs.yml":          "site_name: OK\n",
			"cat/ok/docs/index.md":       "# OK\n",
		})
		if err := os.Symlink(filepath.Join(e.dir, "secret/docs/index.md"), filepath.Join(e.dir, "cat/ok/docs/leak.md")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(e.dir, "secret"), filepath.Join(e.dir, "cat/link/out")); err != nil {
			t.Fatal(err)
		}
		e.refresh("cat")
		// The page that links out is not read; the site's own page is.
		if paths, _ := e.st.Client.DocPage.Query().Select(docpage.FieldPath).Strings(context.Background()); strings.Join(paths, ",") != "index.md" {
			t.Errorf("pages %v, want only ok's index.md", paths)
		}
		errs := strings.Join(e.errors(), "\n")
		if strings.Count(errs, "refused") != 2 || e.entity("component:default/svc") == nil || e.entity("component:default/linked") == nil {
			t.Errorf("errors:\n%s\nrefs %v", errs, e.refs())
		}
	})
}
