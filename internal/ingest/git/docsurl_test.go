package git_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"catalogd/ent/docpage"
	"catalogd/ent/docsite"
	"catalogd/internal/docs"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/ingest/git"
	"catalogd/internal/reading"
	"catalogd/internal/testdb"
)

// Docs named by url:<forge folder URL> are fetched from that repository over git's smart HTTP
// (git http-backend on 127.0.0.1, admitted by a literal --read-allow entry), once per read for
// every entity naming the same repository and ref; they carry the commit as their revision,
// a commit changing one page renders that page alone, a failed fetch keeps what is stored,
// and every refused case is a processing error that reads nothing.
func TestURLDocsAreReadFromTheRepositoryTheyName(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		eng := testdb.Engine(t, st)
		eng.DocsGitCache = t.TempDir()
		var renders atomic.Int32
		eng.Docs = &docs.Reader{Renderer: docs.NewRenderer(), Limits: docs.DefaultLimits, Rendered: func() { renders.Add(1) }}

		r := newRepo(t)
		r.commit(map[string]string{
			"docs-site/mkdocs.yml":    "site_name: Payments\nnav:\n  - Home: index.md\n  - Guide: guide.md\n",
			"docs-site/docs/index.md": "# Payments\n\nSee the [guide](guide.md).\n",
			"docs-site/docs/guide.md": "# Guide\n\n## Start\n",
			"other/mkdocs.yml":        "site_name: Other\n",
			"other/docs/index.md":     "# Other\n",
			"outside/mkdocs.yml":      "site_name: Outside\n",
			"outside/docs/index.md":   "# Secret\n",
			"catalog-info.yaml":       "a: 1\n",
		})
		if err := os.Symlink("../outside", filepath.Join(r.dir, "linked")); err != nil {
			t.Fatal(err)
		}
		rev := r.commit(nil)
		var refsGets, failing atomic.Int32
		srv := r.httpBackend(func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if failing.Load() != 0 {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				if strings.HasSuffix(req.URL.Path, "/info/refs") {
					refsGets.Add(1)
				}
				h.ServeHTTP(w, req)
			})
		})
		var elsewhere atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { elsewhere.Add(1) }))
		defer other.Close()
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, srv.URL+req.URL.RequestURI(), http.StatusFound)
		}))
		defer redirect.Close()
		list, err := reading.ParseAllowList([]string{strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(redirect.URL, "http://")})
		if err != nil {
			t.Fatal(err)
		}
		eng.URLs = reading.New(reading.Options{Allow: list})

		refs := map[string]string{
			"site":       "url:" + srv.URL + "/r.git/tree/main/docs-site",
			"blob":       "url:" + srv.URL + "/r.git/blob/main/other/mkdocs.yml",
			"notallowed": "url:" + other.URL + "/r.git/tree/main/docs-site",
			"dotdot":     "url:" + srv.URL + "/r.git/tree/main/docs-site/../outside",
			"symlink":    "url:" + srv.URL + "/r.git/tree/main/linked",
			"redirect":   "url:" + redirect.URL + "/r.git/tree/main/docs-site",
			"noforge":    "url:" + srv.URL + "/r.git",
			"garbage":    "url:%zz",
			"credential": "url:http://user:secret@" + strings.TrimPrefix(srv.URL, "http://") + "/r.git/tree/main/docs-site",
		}
		dir := t.TempDir()
		var all strings.Builder
		for name, ref := range refs {
			all.WriteString("---\n" + withDocs(name, ref))
		}
		if err := os.WriteFile(filepath.Join(dir, "catalog-info.yaml"), []byte(all.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := file.New(filepath.Join(dir, "catalog-info.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		refresh := func() {
			t.Helper()
			if _, err := eng.Refresh(ctx, p); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
		html := func(ref, page string) string {
			t.Helper()
			row, err := st.Client.DocPage.Query().Where(docpage.EntityRef(ref), docpage.Path(page)).Only(ctx)
			if err != nil {
				t.Fatalf("%s %s: %v", ref, page, err)
			}
			return row.HTML
		}
		errors := func() map[string]string {
			t.Helper()
			rows, err := st.Client.ProcessingError.Query().All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, e := range rows {
				if e.Path != "/metadata/annotations/backstage.io~1techdocs-ref" {
					t.Errorf("error at %q: %s", e.Path, e.Message)
				}
				out[strings.TrimPrefix(e.EntityRef, "component:default/")] += e.Message
			}
			return out
		}

		refresh()
		if n, _ := st.Client.Entity.Query().Count(ctx); n != len(refs) {
			t.Fatalf("%d entities, want %d (broken docs do not stop an entity)", n, len(refs))
		}
		if !strings.Contains(html("component:default/site", "index.md"), `href="/docs/default/component/site/guide/"`) ||
			!strings.Contains(html("component:default/blob", "index.md"), "Other") || renders.Load() != 3 {
			t.Errorf("renders %d", renders.Load())
		}
		if site, err := st.Client.DocSite.Query().Where(docsite.EntityRef("component:default/site")).Only(ctx); err != nil ||
			site.SiteName != "Payments" || site.Revision != rev {
			t.Errorf("site %+v %v, want revision %s", site, err, rev)
		}
		if n := refsGets.Load(); n != 1 {
			t.Errorf("%d ref advertisements for two entities of one repository and ref (and a redirect to it), want one fetch", n)
		}
		if n, _ := st.Client.DocSite.Query().Count(ctx); n != 2 {
			t.Errorf("%d doc sites, want 2", n)
		}
		if elsewhere.Load() != 0 {
			t.Errorf("a server no allow entry admits was reached %d times", elsewhere.Load())
		}
		msgs := errors()
		for name, want := range map[string]string{
			"notallowed": "no --read-allow entry admits",
			"dotdot":     "'..'",
			"symlink":    "symbolic link",
			"redirect":   "302",
			"noforge":    "not a forge folder URL",
			"garbage":    "not a URL",
			"credential": "user information",
		} {
			if !strings.Contains(msgs[name], want) {
				t.Errorf("%s: error %q, want it to say %q", name, msgs[name], want)
			}
		}
		if msgs["site"] != "" || msgs["blob"] != "" || strings.Contains(strings.Join(mapValues(msgs), ""), "secret") {
			t.Errorf("errors %q", msgs)
		}

		// A commit changing one page: that page alone is rendered again, at the new revision.
		renders.Store(0)
		rev2 := r.commit(map[string]string{"docs-site/docs/guide.md": "# Guide\n\n## Start again\n"})
		refresh()
		if renders.Load() != 1 || !strings.Contains(html("component:default/site", "guide.md"), `id="start-again"`) {
			t.Errorf("renders %d after one page changed", renders.Load())
		}
		if site, _ := st.Client.DocSite.Query().Where(docsite.EntityRef("component:default/site")).Only(ctx); site.Revision != rev2 {
			t.Errorf("revision %q, want %q", site.Revision, rev2)
		}

		// Nothing changed: nothing is rendered.
		renders.Store(0)
		refresh()
		if renders.Load() != 0 {
			t.Errorf("renders %d with nothing changed", renders.Load())
		}

		// The server fails: the stored docs stay, and the failure is an error on the entity.
		failing.Store(1)
		r.commit(map[string]string{"docs-site/docs/guide.md": "# Guide\n\nUnseen.\n"})
		refresh()
		if !strings.Contains(html("component:default/site", "guide.md"), `id="start-again"`) {
			t.Errorf("stored docs lost on a failed fetch")
		}
		if msgs := errors(); !strings.Contains(msgs["site"], "fetch") {
			t.Errorf("no error for a failed fetch: %q", msgs["site"])
		}
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// A file:// docs repository is read only under a --read-allow-dir directory; and docs from
// another repository follow it though the descriptor's own git location does not change
// (its unchanged revision does not skip the read).
func TestFileURLDocsNeedAnAllowedDirectoryAndFollowTheirRepository(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		eng := testdb.Engine(t, st)
		eng.DocsGitCache = t.TempDir()
		docsRepo := newRepo(t)
		docsRepo.commit(map[string]string{"site/mkdocs.yml": "site_name: S\n", "site/docs/index.md": "# One\n"})
		descRepo := newRepo(t)
		descRepo.commit(map[string]string{"catalog-info.yaml": withDocs("a", "url:"+docsRepo.fileURL()+"/tree/main/site")})
		p := newProvider(t, git.Config{Target: descRepo.fileURL()})
		refresh := func() {
			t.Helper()
			if _, err := eng.Refresh(ctx, p); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
		refresh()
		if n, _ := st.Client.DocPage.Query().Count(ctx); n != 0 {
			t.Fatalf("%d pages read from a directory no --read-allow-dir names", n)
		}
		if rows, _ := st.Client.ProcessingError.Query().All(ctx); len(rows) != 1 || !strings.Contains(rows[0].Message, "--read-allow-dir") {
			t.Fatalf("errors %v", rows)
		}
		eng.DocsAllowDirs = []string{filepath.Dir(docsRepo.root)}
		if _, err := eng.RefreshWith(ctx, p, ingest.RefreshOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		page := func() string {
			t.Helper()
			row, err := st.Client.DocPage.Query().Where(docpage.Path("index.md")).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return row.HTML
		}
		if !strings.Contains(page(), "One") {
			t.Fatalf("page %q", page())
		}
		docsRepo.commit(map[string]string{"site/docs/index.md": "# Two\n"})
		refresh()
		if !strings.Contains(page(), "Two") {
			t.Errorf("docs did not follow their repository: %q", page())
		}
	})
}
