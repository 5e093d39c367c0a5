package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"catalogd/internal/testdb"
)

const apiYAML = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: %s}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team\n  definition: {$text: %q}\n"

type processingError struct {
	Source, EntityRef, Path, Message string
	Document                         int
}

// processingErrors returns the server's processing errors by entity ref.
func (s *testServer) processingErrors() map[string][]processingError {
	s.t.Helper()
	var out struct {
		ProcessingErrors struct {
			Edges []struct{ Node processingError }
		}
	}
	s.data(`{ processingErrors(first: 500) { edges { node { source document entityRef path message } } } }`, nil, &out)
	m := map[string][]processingError{}
	for _, e := range out.ProcessingErrors.Edges {
		m[e.Node.EntityRef] = append(m[e.Node.EntityRef], e.Node)
	}
	return m
}

// definition returns an API's definition as served, or "" with ok false when it is not served.
func (s *testServer) definition(name string) (string, bool) {
	s.t.Helper()
	var out struct {
		Entity *struct {
			Definition *string
		}
	}
	s.data(`query($ref: String!) { entity(ref: $ref) { ... on API { definition } } }`, map[string]any{"ref": "api:" + name}, &out)
	if out.Entity == nil || out.Entity.Definition == nil {
		return "", false
	}
	return *out.Entity.Definition, true
}

// The reproduction, over HTTP: a descriptor's placeholders read nothing outside its
// location, and a refusal is a processing error of that document at that field.
func TestServeDoesNotServeFilesOutsideTheLocation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "defs", "ok.txt"), "the definition")
		if err := os.Symlink("/etc/passwd", filepath.Join(dir, "defs", "passwd.txt")); err != nil {
			t.Fatal(err)
		}
		up := strings.Repeat("../", len(strings.Split(strings.Trim(filepath.ToSlash(dir), "/"), "/")))
		attacks := map[string]string{
			"hostname":    "/etc/hostname",
			"environ":     "/proc/self/environ",
			"climb":       up + "etc/hostname",
			"climb-env":   up + "proc/self/environ",
			"symlink-out": "./defs/passwd.txt",
		}
		docs := []string{fmt.Sprintf(apiYAML, "fine", "./defs/ok.txt")}
		for name, target := range attacks {
			docs = append(docs, fmt.Sprintf(apiYAML, name, target))
		}
		writeFile(t, filepath.Join(dir, "catalog.yaml"), strings.Join(docs, "---\n"))
		s := startServer(t, "--database", dbURL, "--location", filepath.Join(dir, "catalog.yaml"))

		if def, ok := s.definition("fine"); !ok || def != "the definition" {
			t.Errorf("the valid API: definition %q, %v", def, ok)
		}
		errs := s.processingErrors()
		for name, target := range attacks {
			if def, ok := s.definition(name); ok {
				t.Errorf("%s (%s) is served with definition %.80q", name, target, def)
			}
			e := errs["api:default/"+name]
			if len(e) != 1 || e[0].Path != "/spec/definition" || e[0].Document == 0 || !strings.Contains(e[0].Message, "refused") {
				t.Errorf("%s (%s): processing errors %+v, want one refusal at /spec/definition", name, target, e)
			}
		}
	})
}

func TestReadAllowDirWidensWhatAMonorepoLocationReads(t *testing.T) {
	top := t.TempDir()
	writeFile(t, filepath.Join(top, "api", "x.yaml"), "openapi: 3.0.0\n")
	writeFile(t, filepath.Join(top, "api", "api.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n")
	loc := filepath.Join(top, "catalog", "catalog-info.yaml")
	writeFile(t, loc, fmt.Sprintf(apiYAML, "x", "../api/x.yaml")+
		"---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: apis}\nspec: {target: ../api/api.yaml}\n")

	t.Run("without it the sibling directory is refused", func(t *testing.T) {
		s := startServer(t, "--database", testdb.SQLite(t), "--location", loc)
		if _, ok := s.definition("x"); ok {
			t.Error("api:x is served")
		}
		errs := s.processingErrors()
		if e := errs["api:default/x"]; len(e) != 1 || e[0].Path != "/spec/definition" || !strings.Contains(e[0].Message, "refused") {
			t.Errorf("api:x errors %+v", e)
		}
		if e := errs["location:default/apis"]; len(e) != 1 || e[0].Path != "/spec/target" || !strings.Contains(e[0].Message, "refused") {
			t.Errorf("location:apis errors %+v", e)
		}
	})
	t.Run("with the monorepo's top allowed it is read", func(t *testing.T) {
		s := startServer(t, "--database", testdb.SQLite(t), "--location", loc, "--read-allow-dir", top)
		if def, ok := s.definition("x"); !ok || def != "openapi: 3.0.0\n" {
			t.Errorf("api:x definition %q, %v", def, ok)
		}
		var g struct{ Entity *struct{ Ref string } }
		s.data(`{ entity(ref: "group:team") { ref } }`, nil, &g)
		if g.Entity == nil {
			t.Error("the Location target in the allowed directory was not followed")
		}
		if errs := s.processingErrors(); len(errs) != 0 {
			t.Errorf("processing errors: %+v", errs)
		}
	})
}

// recorder is a loopback HTTP server that records the paths it was asked for.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) calls(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.paths {
		if path == "" || p == path {
			n++
		}
	}
	return n
}

func (r *recorder) port() string { return r.URL[strings.LastIndex(r.URL, ":")+1:] }

func TestWithoutReadAllowNoURLIsFetched(t *testing.T) {
	target := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("internal")) })
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), fmt.Sprintf(apiYAML, "meta", target.URL+"/latest/meta-data/")+"---\n"+
		fmt.Sprintf(apiYAML, "health", target.URL+"/healthz"))
	s := startServer(t, "--database", testdb.SQLite(t), "--location", filepath.Join(dir, "c.yaml"))
	if n := target.calls(""); n != 0 {
		t.Errorf("the server was called %d times", n)
	}
	errs := s.processingErrors()
	for _, name := range []string{"meta", "health"} {
		if _, ok := s.definition(name); ok {
			t.Errorf("api:%s is served", name)
		}
		if e := errs["api:default/"+name]; len(e) != 1 || e[0].Path != "/spec/definition" || !strings.Contains(e[0].Message, "not allowed") {
			t.Errorf("api:%s errors %+v", name, e)
		}
	}
}

func TestPlaceholdersFetchOnlyAllowedURLsOnceEach(t *testing.T) {
	noEntry := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("no entry")) })
	byName := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("by name")) })
	redirected := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metadata")) })
	allowed := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, redirected.URL+"/latest/meta-data/", http.StatusFound)
			return
		}
		w.Write([]byte("allowed content"))
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "one.yaml"), strings.Join([]string{
		fmt.Sprintf(apiYAML, "fetched", allowed.URL+"/def.yaml"),
		fmt.Sprintf(apiYAML, "no-entry", noEntry.URL+"/x"),
		fmt.Sprintf(apiYAML, "by-name", "http://localhost:"+byName.port()+"/x"),
		fmt.Sprintf(apiYAML, "redirected", allowed.URL+"/redirect"),
	}, "---\n"))
	writeFile(t, filepath.Join(dir, "two.yaml"), fmt.Sprintf(apiYAML, "fetched-again", allowed.URL+"/def.yaml"))
	s := startServer(t, "--database", testdb.SQLite(t), "--location", dir,
		"--read-allow", strings.TrimPrefix(allowed.URL, "http://"), "--read-allow", "localhost:"+byName.port())

	for _, name := range []string{"fetched", "fetched-again"} {
		if def, ok := s.definition(name); !ok || def != "allowed content" {
			t.Errorf("api:%s definition %q, %v", name, def, ok)
		}
	}
	if n := allowed.calls("/def.yaml"); n != 1 {
		t.Errorf("the URL referenced twice in the location was fetched %d times, want once", n)
	}
	for name, srv := range map[string]*recorder{"no-entry": noEntry, "by-name": byName, "redirected": redirected} {
		if n := srv.calls(""); n != 0 {
			t.Errorf("%s: the server was called %d times", name, n)
		}
	}
	errs := s.processingErrors()
	for name, want := range map[string]string{
		"no-entry":   "no --read-allow entry admits 127.0.0.1:" + noEntry.port() + "/x",
		"by-name":    "127.0.0.1 is a private or special-purpose address",
		"redirected": "redirect to " + redirected.URL + "/latest/meta-data/: not allowed",
	} {
		if _, ok := s.definition(name); ok {
			t.Errorf("api:%s is served", name)
		}
		if e := errs["api:default/"+name]; len(e) != 1 || e[0].Path != "/spec/definition" || !strings.Contains(e[0].Message, want) {
			t.Errorf("api:%s errors %+v, want %q", name, e, want)
		}
	}
}

func TestBadReadAllowEntriesAreReportedClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "127.0.0.1:0", "--read-allow", "https://example.com"}, "give the host without a scheme"},
		{[]string{"ingest", "--database", "sqlite:" + filepath.Join(t.TempDir(), "db"), "--location", "x", "--read-allow", "example.com:99999"}, "bad port"},
		{[]string{"validate", "--read-allow", "a b", "x.yaml"}, "read allow entry"},
	} {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestValidateReadsWhatServeReads(t *testing.T) {
	top := t.TempDir()
	writeFile(t, filepath.Join(top, "api", "x.yaml"), "openapi: 3.0.0\n")
	f := filepath.Join(top, "catalog", "catalog-info.yaml")
	writeFile(t, f, fmt.Sprintf(apiYAML, "x", "../api/x.yaml")+"---\n"+fmt.Sprintf(apiYAML, "y", "/etc/hostname"))
	out, err := runCLI(t, "validate", f)
	if err == nil || !strings.Contains(out, f+":1: /spec/definition: placeholder $text ../api/x.yaml: refused") ||
		!strings.Contains(out, f+":2: /spec/definition: placeholder $text /etc/hostname: refused") {
		t.Errorf("without --read-allow-dir: %v\n%s", err, out)
	}
	out, err = runCLI(t, "validate", "--read-allow-dir", top, f)
	if err == nil || strings.Contains(out, ":1:") || !strings.Contains(out, f+":2: /spec/definition: placeholder $text /etc/hostname: refused") {
		t.Errorf("with --read-allow-dir: %v\n%s", err, out)
	}
}

// A url-type Location target is read through the allow-list, and what the descriptor it
// brings names is read from URLs relative to it, never from files.
func TestURLLocationsReadRelativeURLsOnly(t *testing.T) {
	other := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("other")) })
	var site *recorder
	site = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/catalog/root.yaml":
			fmt.Fprintf(w, "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: remote}\nspec:\n  targets: [./apis.yaml, ../teams/team.yaml, %s/x.yaml]\n---\n"+
				"apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: remote-files}\nspec: {type: file, target: ../../etc/passwd}\n", other.URL)
		case "/catalog/apis.yaml":
			w.Write([]byte(fmt.Sprintf(apiYAML, "remote", "./defs/openapi.yaml") + "---\n" + fmt.Sprintf(apiYAML, "remote-file", "file:///etc/hostname") +
				"---\n" + fmt.Sprintf(apiYAML, "remote-same", "defs/openapi.yaml")))
		case "/catalog/defs/openapi.yaml":
			w.Write([]byte("openapi: 3.1.0\n"))
		case "/teams/team.yaml":
			w.Write([]byte("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: remote-team}\nspec: {type: team, children: []}\n"))
		default:
			http.NotFound(w, r)
		}
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "catalog-info.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: local}\nspec:\n  type: url\n  targets:\n"+
		"    - "+site.URL+"/catalog/root.yaml\n    - "+other.URL+"/not-allowed.yaml\n    - ./local.yaml\n")
	s := startServer(t, "--database", testdb.SQLite(t), "--location", filepath.Join(dir, "catalog-info.yaml"),
		"--read-allow", strings.TrimPrefix(site.URL, "http://"))

	for _, name := range []string{"remote", "remote-same"} {
		if def, ok := s.definition(name); !ok || def != "openapi: 3.1.0\n" {
			t.Errorf("api:%s definition %q, %v", name, def, ok)
		}
	}
	if n := site.calls("/catalog/defs/openapi.yaml"); n != 1 {
		t.Errorf("the definition was fetched %d times, want once", n)
	}
	var g struct {
		Entity *struct{ Annotation string }
	}
	s.data(`{ entity(ref: "group:remote-team") { annotation(key: "backstage.io/managed-by-location") } }`, nil, &g)
	if g.Entity == nil || g.Entity.Annotation != "url:"+site.URL+"/teams/team.yaml" {
		t.Errorf("group:remote-team = %+v", g.Entity)
	}
	if n := other.calls(""); n != 0 {
		t.Errorf("the server without an allow entry was called %d times", n)
	}
	errs := s.processingErrors()
	for ref, want := range map[string]string{
		"location:default/local":        "/spec/targets/1: target " + other.URL + "/not-allowed.yaml: not allowed",
		"location:default/remote":       "/spec/targets/2: target " + other.URL + "/x.yaml: not allowed",
		"location:default/remote-files": "/spec/target: target ../../etc/passwd: refused: a descriptor read from a URL names no files",
		"api:default/remote-file":       "/spec/definition: placeholder $text file:///etc/hostname: refused: a descriptor read from a URL reads only http(s) URLs",
	} {
		e := errs[ref]
		found := false
		for _, x := range e {
			found = found || strings.Contains(x.Path+": "+x.Message, want)
		}
		if !found {
			t.Errorf("%s: errors %+v, want %q", ref, e, want)
		}
	}
	if e := errs["location:default/local"]; len(e) != 2 || !strings.Contains(e[1].Message, "target ./local.yaml: a target of type url must be an http(s) URL") {
		t.Errorf("location:local errors %+v", e)
	}
}
