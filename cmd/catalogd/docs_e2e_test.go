package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/server"
	"catalogd/internal/testdb"
)

const docsEntity = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  annotations:
    backstage.io/techdocs-ref: dir:.
spec:
  type: service
  lifecycle: production
  owner: team-a
`

// The docs contract over the real server, from a git location: Entity.docs with its pages and
// page(path), null for an entity without docs, and GET /docs/ for a page (standalone HTML under
// a strict CSP), an image (its content type) and paths that climb out or name nothing.
func TestDocsContractOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		repo := newGitRepo(t)
		repo.push(map[string]string{
			"pay/catalog-info.yaml":   fmt.Sprintf(docsEntity, "payments"),
			"pay/mkdocs.yml":          "site_name: Payments\nnav:\n  - Home: index.md\n  - Guides:\n      - Setup: guide/setup.md\n",
			"pay/docs/index.md":       "# Payments\n\n## Overview\n\nSee [setup](guide/setup.md#install).\n\n![diagram](img/flow.png)\n\n<script>alert(1)</script>\n",
			"pay/docs/guide/setup.md": "# Setup\n\n## Install\n\n```sh\nmake\n```\n",
			"pay/docs/img/flow.png":   "\x89PNG\r\n\x1a\nfake image",
			"other/catalog-info.yaml": strings.Replace(fmt.Sprintf(docsEntity, "plain"), "  annotations:\n    backstage.io/techdocs-ref: dir:.\n", "", 1),
		})
		cfg := filepath.Join(t.TempDir(), "catalogd.yaml")
		writeFile(t, cfg, fmt.Sprintf("locations:\n  - type: git\n    target: file://%s\n    ref: main\n    cacheDir: %s\n    interval: 1h\n",
			repo.bare, filepath.Join(t.TempDir(), "cache")))
		s := startServer(t, "--config", cfg, "--database", dbURL)

		var d struct {
			Entities struct {
				Edges []struct {
					Node struct {
						Ref  string
						Docs *struct {
							SiteName *string
							Revision string
							Nav      []struct {
								Title    string
								URL      *string
								Children []struct{ Title, URL string }
							}
							Pages []struct {
								Path, Title, HTML, URL string
								Headings               []struct {
									Level        int
									Text, Anchor string
								}
							}
							Page *struct{ Path, Title, HTML string }
							None *struct{ Path string }
						}
					}
				}
			}
		}
		s.data(`{ entities(first: 10, orderBy: {field: NAME}) { edges { node { ref docs {
			siteName revision nav { title url children { title url } }
			pages { path title html url headings { level text anchor } }
			page(path: "guide/setup.md") { path title html }
			none: page(path: "missing.md") { path }
		} } } } }`, nil, &d)
		var pay = d.Entities.Edges[0].Node
		for _, e := range d.Entities.Edges {
			if e.Node.Ref == "component:default/payments" {
				pay = e.Node
			} else if e.Node.Docs != nil {
				t.Errorf("%s has docs %+v, want null", e.Node.Ref, e.Node.Docs)
			}
		}
		dd := pay.Docs
		if dd == nil || dd.SiteName == nil || *dd.SiteName != "Payments" || len(dd.Pages) != 2 || dd.Revision == "" {
			t.Fatalf("docs of payments: %+v", dd)
		}
		if dd.Page == nil || dd.Page.Title != "Setup" || !strings.Contains(dd.Page.HTML, `<code class="language-sh">`) || dd.None != nil {
			t.Errorf("page(path): %+v, missing: %+v", dd.Page, dd.None)
		}
		home := dd.Pages[0]
		if home.Path != "index.md" || home.Title != "Home" || home.URL != "/docs/default/component/payments/" ||
			len(home.Headings) != 2 || home.Headings[1].Anchor != "overview" || strings.Contains(home.HTML, "<script") {
			t.Errorf("home page: %+v", home)
		}
		if len(dd.Nav) != 2 || dd.Nav[1].Title != "Guides" || len(dd.Nav[1].Children) != 1 || dd.Nav[1].Children[0].URL != "/docs/default/component/payments/guide/setup/" {
			t.Errorf("nav: %+v", dd.Nav)
		}

		get := func(p string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, s.base+p, nil)
			resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		resp, body := get("/docs/default/component/payments/guide/setup/")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			resp.Header.Get("Content-Security-Policy") != server.DocsCSP || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(body, `<h2 id="install">Install</h2>`) || !strings.Contains(body, "<title>Setup</title>") {
			t.Errorf("page: %d %v\n%s", resp.StatusCode, resp.Header, body)
		}
		if !strings.Contains(server.DocsCSP, "default-src 'none'") || strings.Contains(server.DocsCSP, "script-src") {
			t.Errorf("CSP %q", server.DocsCSP)
		}
		resp, body = get("/docs/default/component/payments/")
		if resp.StatusCode != 200 || !strings.Contains(body, `href="/docs/default/component/payments/guide/setup/#install"`) {
			t.Errorf("home: %d %s", resp.StatusCode, body)
		}
		resp, body = get("/docs/default/component/payments/img/flow.png")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasSuffix(body, "fake image") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("image: %d %v", resp.StatusCode, resp.Header)
		}
		if resp, _ := get("/docs/default/component/payments/guide/setup"); resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("page without its slash: %d, want a redirect", resp.StatusCode)
		}
		for _, p := range []string{
			"/docs/default/component/payments/%2e%2e/%2e%2e/catalog-info.yaml",
			"/docs/default/component/payments/..%2f..%2fmkdocs.yml",
			"/docs/default/component/payments/img/..%2f..%2f..%2fetc/passwd",
			"/docs/default/component/payments/mkdocs.yml",
			"/docs/default/component/payments/nothing/",
			"/docs/default/component/plain/",
		} {
			resp, body := get(p)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 404 or 400: %s", p, resp.StatusCode, body)
			}
		}
	})
}

// serve --demo shows docs: the payments service's site has its pages, with a table, an
// admonition, a code block, links between pages and an image, and the demo has no docs errors.
func TestTheDemoServesDocs(t *testing.T) {
	s := startServer(t, "--database", testdb.SQLite(t), "--demo")
	var d struct {
		Entity struct {
			Docs *struct {
				SiteName *string
				Pages    []struct{ Path, Title, HTML string }
			}
		}
		ProcessingErrors struct {
			Edges []struct {
				Node struct{ EntityRef, Message string }
			}
		}
	}
	s.data(`{ entity(ref: "component:payments-service") { docs { siteName pages { path title html } } }
		processingErrors(first: 100) { edges { node { entityRef message } } } }`, nil, &d)
	if d.Entity.Docs == nil || len(d.Entity.Docs.Pages) != 3 {
		t.Fatalf("payments-service docs: %+v", d.Entity.Docs)
	}
	home := d.Entity.Docs.Pages[0].HTML
	for _, want := range []string{"<table>", `<div class="admonition note">`, `class="language-go"`,
		`href="/docs/default/component/payments-service/operations/runbook/#first-five-minutes"`,
		`src="/docs/default/component/payments-service/img/flow.svg"`} {
		if !strings.Contains(home, want) {
			t.Errorf("home page lacks %s:\n%s", want, home)
		}
	}
	for _, e := range d.ProcessingErrors.Edges {
		if strings.Contains(e.Node.Message, "docs") {
			t.Errorf("demo processing error: %+v", e.Node)
		}
	}
	resp, err := http.Get(s.base + "/docs/default/component/payments-service/img/flow.svg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("demo image: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestDocsNeedCredentialsLikeGraphQL: with authentication configured, GET /docs/... without a
// valid credential is refused, also when it carries an Upgrade header (only /graphql lets a
// websocket handshake through to authenticate in connection_init).
func TestDocsNeedCredentialsLikeGraphQL(t *testing.T) {
	keys, bearer := apiKeys(t)
	s := startServer(t, "--demo", "--api-key-file", keys)
	const page = "/docs/default/component/payments-service/"
	get := func(authz string, upgrade bool) int {
		req, _ := http.NewRequest(http.MethodGet, s.base+page, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(bearer["reader"], false); got != http.StatusOK {
		t.Fatalf("with a reader's key: status %d, want 200", got)
	}
	for _, tc := range []struct {
		name    string
		authz   string
		upgrade bool
	}{
		{"no credentials", "", false},
		{"a forged key", "Bearer key-of-nobody-0123456789abcdef", false},
		{"no credentials and an Upgrade header", "", true},
		{"a forged key and an Upgrade header", "Bearer key-of-nobody-0123456789abcdef", true},
	} {
		if got := get(tc.authz, tc.upgrade); got != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, got)
		}
	}
}
