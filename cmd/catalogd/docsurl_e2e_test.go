package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/testdb"
)

// Docs named by a url: forge folder URL reach Entity.docs over the real server: the docs
// repository is served by git http-backend on 127.0.0.1 and admitted by a literal --read-allow
// entry; its folder holds the site and the docs' revision is the branch's commit.
func TestURLDocsReachEntityDocs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		repo := newGitRepo(t)
		repo.push(map[string]string{
			"docs-site/mkdocs.yml":    "site_name: Payments\n",
			"docs-site/docs/index.md": "# Payments\n\nFrom the docs repository.\n",
		})
		out, err := exec.Command("git", "--exec-path").Output()
		if err != nil {
			t.Fatal(err)
		}
		backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
		srv := httptest.NewServer(&cgi.Handler{Path: backend, Stderr: io.Discard,
			Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo.bare), "GIT_HTTP_EXPORT_ALL=1"}})
		defer srv.Close()
		desc := filepath.Join(t.TempDir(), "catalog-info.yaml")
		writeFile(t, desc, strings.Replace(fmt.Sprintf(docsEntity, "payments"), "dir:.",
			"url:"+srv.URL+"/catalog.git/tree/main/docs-site", 1))
		s := startServer(t, "--location", desc, "--read-allow", strings.TrimPrefix(srv.URL, "http://"), "--database", dbURL)

		r := s.query(`{ entity(ref: "component:payments") { docs { siteName revision pages { path html } } } }`, nil)
		var d struct {
			Entity struct {
				Docs *struct {
					SiteName string
					Revision string
					Pages    []struct{ Path, HTML string }
				}
			}
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		head := gitOut(t, repo.work, "rev-parse", "HEAD")
		if d.Entity.Docs == nil || d.Entity.Docs.SiteName != "Payments" || d.Entity.Docs.Revision != head ||
			len(d.Entity.Docs.Pages) != 1 || !strings.Contains(d.Entity.Docs.Pages[0].HTML, "From the docs repository.") {
			t.Fatalf("docs %s; log:\n%s", r.Data, s.stderr.String())
		}
	})
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
