package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/internal/reading"
)

// memStore is the Store the tests run with: the states and events in memory.
type memStore struct {
	mu      sync.Mutex
	states  []StepState
	errs    []string
	events  []string // "type step: message"
	started []int
	// cancelAt makes Cancelled report true once this many steps have started (0: never).
	cancelAt int
}

func newStore(n int) *memStore {
	s := &memStore{states: make([]StepState, n), errs: make([]string, n)}
	for i := range s.states {
		s.states[i].Status = StatusOpen
	}
	return s
}

func (s *memStore) Steps(context.Context) ([]StepState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StepState(nil), s.states...), nil
}

func (s *memStore) StepStarted(_ context.Context, i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[i].Status = StatusProcessing
	s.started = append(s.started, i)
	return nil
}

func (s *memStore) StepFinished(_ context.Context, i int, status string, output map[string]any, errMsg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Store the output as the database would: through JSON.
	b, err := json.Marshal(output)
	if err != nil {
		return err
	}
	var out map[string]any
	json.Unmarshal(b, &out)
	s.states[i] = StepState{Status: status, Output: out}
	s.errs[i] = errMsg
	return nil
}

func (s *memStore) Event(_ context.Context, typ, stepID, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, typ+" "+stepID+": "+message)
	return nil
}

func (s *memStore) Cancelled(context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelAt > 0 && len(s.started) >= s.cancelAt, nil
}

func (s *memStore) statuses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.states))
	for i, st := range s.states {
		out[i] = st.Status
	}
	return out
}

// dump is everything the store holds, as text (to search for secrets).
func (s *memStore) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.states)
	return string(b) + strings.Join(s.errs, "\n") + strings.Join(s.events, "\n")
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t",
		"GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitServer serves the bare repositories under root with git http-backend on 127.0.0.1. When
// token is set, requests must carry it as basic auth (as GitHub takes a token over https).
type gitServer struct {
	root  string
	srv   *httptest.Server
	token string
	mu    sync.Mutex
	auths []string // Authorization headers seen
}

func newGitServer(t testing.TB, token string) *gitServer {
	t.Helper()
	g := &gitServer{root: t.TempDir(), token: token}
	exe := filepath.Join(git(t, "", "--exec-path"), "git-http-backend")
	backend := &cgi.Handler{Path: exe, Stderr: io.Discard, Env: []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=scaffolder"}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.auths = append(g.auths, r.Header.Get("Authorization"))
		g.mu.Unlock()
		if g.token != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != "x-access-token" || p != g.token {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "auth needed", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// bare creates an empty bare repository and returns its URL.
func (g *gitServer) bare(t testing.TB, name string) string {
	t.Helper()
	git(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(g.root, name))
	return g.srv.URL + "/" + name
}

func (g *gitServer) hostPort() string { u, _ := url.Parse(g.srv.URL); return u.Host }

// cloneTree clones url's branch and returns its files (path -> content), .git left out.
func cloneTree(t testing.TB, remote, branch string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	git(t, "", "clone", "-q", "--branch", branch, remote, dir)
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return files
}

// writeFiles writes files (path -> content; a path ending in "*" is executable) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, "*") {
			p, mode = strings.TrimSuffix(p, "*"), 0o755
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// env is one test's engine, allowed dir, git server and log.
type env struct {
	t       testing.TB
	dir     string // the allowed dir: templates and file remotes live here
	eng     *Engine
	git     *gitServer
	log     *bytes.Buffer
	regMu   sync.Mutex
	targets []string // what catalog:register registered
	opts    Options
}

func newEnv(t testing.TB, token string, tweak func(*Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), git: newGitServer(t, token), log: &bytes.Buffer{}}
	allow, err := reading.ParseAllowList([]string{e.git.hostPort()})
	if err != nil {
		t.Fatal(err)
	}
	e.opts = Options{
		AllowDirs: []string{e.dir},
		Reader:    reading.New(reading.Options{Allow: allow}),
		WorkDir:   t.TempDir(),
		Logger:    slog.New(slog.NewTextHandler(e.log, nil)),
		Register: func(_ context.Context, target string) ([]string, error) {
			e.regMu.Lock()
			defer e.regMu.Unlock()
			e.targets = append(e.targets, target)
			return []string{"component:default/refunds"}, nil
		},
	}
	if tweak != nil {
		tweak(&e.opts)
	}
	if e.eng, err = New(e.opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// template writes a template (YAML) with its files into the allowed dir and parses it.
func (e *env) template(name, yamlSrc string, files map[string]string) *Template {
	e.t.Helper()
	dir := filepath.Join(e.dir, "templates", name)
	writeFiles(e.t, dir, files)
	writeFiles(e.t, dir, map[string]string{"template.yaml": yamlSrc})
	tp, err := ParseTemplate(yamlToJSON(e.t, yamlSrc, "file:"+filepath.ToSlash(dir)+"/template.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	return tp
}

func (e *env) task(tp *Template, values map[string]any, secrets map[string]string) TaskSpec {
	e.t.Helper()
	v, err := tp.ValidateValues(values)
	if err != nil {
		e.t.Fatal(err)
	}
	return TaskSpec{ID: "task-1", Template: tp, Values: v, Secrets: secrets,
		User: map[string]any{"ref": "user:default/ann"}, CreatedAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
}

// workDirEmpty fails unless every workspace has been removed.
func (e *env) workDirEmpty() {
	e.t.Helper()
	ents, _ := os.ReadDir(e.opts.WorkDir)
	if len(ents) > 0 {
		names := []string{}
		for _, d := range ents {
			names = append(names, d.Name())
		}
		e.t.Errorf("workspaces left behind: %v", names)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprint
