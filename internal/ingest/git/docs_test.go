package git_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"catalogd/ent"
	"catalogd/ent/docasset"
	"catalogd/ent/docpage"
	"catalogd/ent/docsite"
	"catalogd/internal/docs"
	"catalogd/internal/ingest/git"
	"catalogd/internal/testdb"
)

func withDocs(name, ref string) string {
	return strings.Replace(component(name, "has docs"), "  description:", "  annotations:\n    backstage.io/techdocs-ref: "+ref+"\n  description:", 1)
}

// Docs come from the same git commit as their descriptor: pages are rendered on the first
// read, only a changed page is rendered again, a docs-only commit reaches the store, docs
// that cannot be read are errors on an entity that is still ingested, and a docs folder
// outside the repository is refused.
func TestDocsAreReadFromTheSameGitCommit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		eng := testdb.Engine(t, st)
		var renders atomic.Int32
		eng.Docs = &docs.Reader{Renderer: docs.NewRenderer(), Limits: docs.DefaultLimits, Rendered: func() { renders.Add(1) }}
		r := newRepo(t)
		r.commit(map[string]string{
			"svc/a/catalog-info.yaml": withDocs("a", "dir:."),
			"svc/a/mkdocs.yml":        "site_name: A service\nnav:\n  - Home: index.md\n  - Guide: guide.md\n",
			"svc/a/docs/index.md":     "# A\n\n| k | v |\n|---|---|\n| x | y |\n\nRead the [guide](guide.md#start).\n\n![logo](img/logo.png)\n",
			"svc/a/docs/guide.md":     "# Guide\n\n## Start\n\n!!! note\n    Indented.\n",
			"svc/a/docs/img/logo.png": "\x89PNG\r\n\x1a\nfake",
			"svc/b/catalog-info.yaml": withDocs("b", "dir:../../../etc"),
			"svc/c/catalog-info.yaml": withDocs("c", "dir:./nowhere"),
			"svc/d/catalog-info.yaml": withDocs("d", "url:https://example.com/docs"),
		})
		p := newProvider(t, git.Config{Target: r.fileURL()})
		refresh := func() {
			t.Helper()
			if _, err := eng.Refresh(ctx, p); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
		pages := func() map[string]*ent.DocPage {
			t.Helper()
			rows, err := st.Client.DocPage.Query().Where(docpage.EntityRef("component:default/a")).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]*ent.DocPage{}
			for _, row := range rows {
				out[row.Path] = row
			}
			return out
		}
		refresh()
		if n, _ := st.Client.Entity.Query().Count(ctx); n != 4 {
			t.Fatalf("%d entities, want all 4 (broken docs do not stop an entity)", n)
		}
		got := pages()
		if len(got) != 2 || renders.Load() != 2 {
			t.Fatalf("pages %v, renders %d", got, renders.Load())
		}
		idx := got["index.md"]
		if idx.Title != "Home" || !strings.Contains(idx.HTML, "<table>") ||
			!strings.Contains(idx.HTML, `href="/docs/default/component/a/guide/#start"`) ||
			!strings.Contains(idx.HTML, `src="/docs/default/component/a/img/logo.png"`) || !strings.Contains(idx.Text, "Read the guide") {
			t.Errorf("index page: %+v", idx)
		}
		site, err := st.Client.DocSite.Query().Where(docsite.EntityRef("component:default/a")).Only(ctx)
		if err != nil || site.SiteName != "A service" || site.Revision == "" {
			t.Fatalf("site %+v %v", site, err)
		}
		if a, err := st.Client.DocAsset.Query().Where(docasset.Path("img/logo.png")).Only(ctx); err != nil || a.ContentType != "image/png" {
			t.Errorf("asset %+v %v", a, err)
		}
		errs, _ := st.Client.ProcessingError.Query().All(ctx)
		msgs := map[string]string{}
		for _, e := range errs {
			msgs[e.EntityRef] += e.Message
		}
		if !strings.Contains(msgs["component:default/b"], "refused") || !strings.Contains(msgs["component:default/c"], "mkdocs.yml") ||
			!strings.Contains(msgs["component:default/d"], "not a forge folder URL") || msgs["component:default/a"] != "" {
			t.Errorf("processing errors: %q", msgs)
		}
		if n, _ := st.Client.DocSite.Query().Count(ctx); n != 1 {
			t.Errorf("%d doc sites, want 1", n)
		}

		// A commit that changes one page only: that page alone is rendered again.
		renders.Store(0)
		rev := r.commit(map[string]string{"svc/a/docs/guide.md": "# Guide\n\n## Start again\n"})
		refresh()
		got = pages()
		if renders.Load() != 1 || !strings.Contains(got["guide.md"].HTML, `id="start-again"`) || got["index.md"].HTML != idx.HTML {
			t.Errorf("renders %d, guide %q", renders.Load(), got["guide.md"].HTML)
		}
		if site, _ := st.Client.DocSite.Query().Where(docsite.EntityRef("component:default/a")).Only(ctx); site.Revision != rev {
			t.Errorf("revision %q, want %q", site.Revision, rev)
		}

		// A commit that leaves the docs alone renders nothing.
		renders.Store(0)
		r.commit(map[string]string{"svc/c/catalog-info.yaml": component("c", "no docs now")})
		refresh()
		if renders.Load() != 0 || len(pages()) != 2 {
			t.Errorf("renders %d after a commit without docs changes", renders.Load())
		}

		// Pages and docs that go away go from the store.
		r.commit(map[string]string{"svc/a/docs/guide.md": "", "svc/a/mkdocs.yml": "site_name: A service\n"})
		refresh()
		if got := pages(); len(got) != 1 || got["index.md"] == nil {
			t.Errorf("pages after removing one: %v", got)
		}
		r.commit(map[string]string{"svc/a/catalog-info.yaml": component("a", "no docs")})
		refresh()
		if n, _ := st.Client.DocPage.Query().Count(ctx); n != 0 {
			t.Errorf("%d pages left after the annotation went", n)
		}
		if n, _ := st.Client.DocSite.Query().Count(ctx); n != 0 {
			t.Errorf("%d sites left after the annotation went", n)
		}
	})
}
