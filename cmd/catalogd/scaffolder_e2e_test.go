package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// The secret every scaffolder test passes, searched for afterwards everywhere.
const scaffolderSecret = "tok-7f3a9c2e1b5d-SECRET"

// gqlAs sends a query with variables and an Authorization header ("" for none).
func (s *testServer) gqlAs(authz, query string, vars map[string]any) authAnswer {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return s.sendAs(req)
}

type taskView struct {
	ID     string
	Status string
	Error  *string
	Output json.RawMessage
	Steps  []struct{ ID, Name, Action, Status string }
	Events []struct{ Type, Message, StepID string }
}

const taskFields = `id status error output steps { id name action status } events { type message stepId }`

// runTemplate runs ref with values and secrets as authz; it returns the task or the answer's code.
func (s *testServer) runTemplate(authz, ref string, values, secrets map[string]any) (taskView, string, authAnswer) {
	s.t.Helper()
	a := s.gqlAs(authz, `mutation($ref: String!, $values: JSON!, $secrets: JSON) { runTemplate(ref: $ref, values: $values, secrets: $secrets) { `+taskFields+` } }`,
		map[string]any{"ref": ref, "values": values, "secrets": secrets})
	var d struct{ RunTemplate taskView }
	json.Unmarshal(a.body.Data, &d)
	return d.RunTemplate, code(a), a
}

// task reads a task as authz (nil: none it may see).
func (s *testServer) task(authz, id string) *taskView {
	s.t.Helper()
	a := s.gqlAs(authz, `query($id: ID!) { task(id: $id) { `+taskFields+` } }`, map[string]any{"id": id})
	if len(a.body.Errors) > 0 {
		s.t.Fatalf("task: %s", a.raw)
	}
	var d struct{ Task *taskView }
	json.Unmarshal(a.body.Data, &d)
	return d.Task
}

// waitTask waits until the task is in one of states.
func (s *testServer) waitTask(authz, id string, states ...string) taskView {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		t := s.task(authz, id)
		if t == nil {
			s.t.Fatalf("task %s not visible", id)
		}
		for _, st := range states {
			if t.Status == st {
				return *t
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("task is %s (error %v), want %v; steps %+v events %+v\nlog:\n%s", t.Status, t.Error, states, t.Steps, t.Events, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *testServer) taskMutation(authz, name, id string, secrets map[string]any) (taskView, string) {
	s.t.Helper()
	args := "id: $id"
	vars := map[string]any{"id": id}
	decl := "$id: ID!"
	if name != "cancelTask" {
		args += ", secrets: $secrets"
		decl += ", $secrets: JSON"
		vars["secrets"] = secrets
	}
	a := s.gqlAs(authz, fmt.Sprintf(`mutation(%s) { %s(%s) { %s } }`, decl, name, args, taskFields), vars)
	var d map[string]taskView
	json.Unmarshal(a.body.Data, &d)
	return d[name], code(a)
}

// bareRepo makes an empty bare repository at dir/name.
func bareRepo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	gitIn(t, "", "init", "-q", "--bare", "-b", "main", p)
	return p
}

// cloneFiles clones remote's branch and returns its files (path -> content).
func cloneFiles(t *testing.T, remote, branch string) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitIn(t, "", "clone", "-q", "-b", branch, remote, dir)
	out := map[string]string{}
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
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return out
}

// dumpTables returns every row of every table of the database as text.
func dumpTables(t *testing.T, dbURL string) string {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if st.Dialect == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	tables := queryStrings(t, st.DB, q)
	if len(tables) < 5 {
		t.Fatalf("only %d tables found: %v", len(tables), tables)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := st.DB.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s: %v\n", table, v)
			}
		}
		rows.Close()
	}
	return b.String()
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func TestScaffolderRunsTheDemoTemplateToALocalBareRepository(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		keys, bearer := apiKeys(t)
		root := t.TempDir()
		bare := bareRepo(t, root, "refund-service.git")

		// The demo catalog from disk, as the README's example runs it: the template's skeleton
		// is read relative to its file, under an allowed directory.
		demo, _ := filepath.Abs(filepath.Join("..", "..", "demo"))
		s, logs := startServerEnv(t, nil, "--database", dbURL, "--location", filepath.Join(demo, "catalog-info.yaml"), "--api-key-file", keys,
			"--read-allow-dir", root, "--read-allow-dir", demo, "--log-level", "debug")
		editor, reader, admin := bearer["editor"], bearer["reader"], bearer["admin"]
		values := map[string]any{"name": "refund-service", "owner": "team-payments", "description": "Refunds",
			"remoteUrl": "file://" + bare}

		t.Run("a reader may not run a template", func(t *testing.T) {
			if _, c, a := s.runTemplate(reader, "template:local-service", values, nil); c != "FORBIDDEN" {
				t.Errorf("code %q: %s", c, a.raw)
			}
		})
		t.Run("invalid values are refused before any task exists, naming the field", func(t *testing.T) {
			bad := map[string]any{"name": "Refund Service", "owner": "x", "remoteUrl": "file://" + bare}
			_, c, a := s.runTemplate(editor, "local-service", bad, nil)
			if c != "BAD_USER_INPUT" || !strings.Contains(a.raw, "/name") {
				t.Errorf("code %q: %s", c, a.raw)
			}
			var d struct{ Tasks struct{ TotalCount int } }
			json.Unmarshal(s.gqlAs(admin, `{ tasks { totalCount } }`, nil).body.Data, &d)
			if d.Tasks.TotalCount != 0 {
				t.Errorf("%d tasks exist after refused runs", d.Tasks.TotalCount)
			}
		})

		task, c, a := s.runTemplate(editor, "template:default/local-service", values, map[string]any{"token": scaffolderSecret})
		if c != "" {
			t.Fatalf("runTemplate: %s", a.raw)
		}
		done := s.waitTask(editor, task.ID, "COMPLETED", "FAILED")
		if done.Status != "COMPLETED" {
			t.Fatalf("task %s: %v; steps %+v; events %+v", done.Status, *done.Error, done.Steps, done.Events)
		}

		t.Run("the remote holds the rendered skeleton", func(t *testing.T) {
			files := cloneFiles(t, bare, "main")
			info := files["catalog-info.yaml"]
			if !strings.Contains(info, "name: refund-service") || !strings.Contains(info, "team-payments") {
				t.Errorf("catalog-info.yaml: %q (files %d)", info, len(files))
			}
			if _, ok := files["main.go"]; !ok {
				t.Errorf("no main.go among %d files", len(files))
			}
		})
		t.Run("the new component is in the catalog", func(t *testing.T) {
			var d struct{ Entity *struct{ Ref string } }
			json.Unmarshal(s.gqlAs(admin, `{ entity(ref: "component:refund-service") { ref } }`, nil).body.Data, &d)
			if d.Entity == nil {
				t.Error("component:refund-service not in the catalog")
			}
		})
		t.Run("steps and events are recorded", func(t *testing.T) {
			var got []string
			for _, st := range done.Steps {
				got = append(got, st.ID+"="+st.Status)
			}
			if strings.Join(got, " ") != "fetch=COMPLETED publish=COMPLETED register=COMPLETED" {
				t.Errorf("steps %v", got)
			}
			if len(done.Events) < 4 || !strings.Contains(string(done.Output), "refund-service") {
				t.Errorf("events %+v output %s", done.Events, done.Output)
			}
		})
		t.Run("the task is a node, visible to its creator and admins only", func(t *testing.T) {
			q := `query($id: ID!) { node(id: $id) { id ... on ScaffolderTask { status templateRef createdBy } } }`
			var d struct {
				Node *struct{ ID, Status, TemplateRef, CreatedBy string }
			}
			json.Unmarshal(s.gqlAs(admin, q, map[string]any{"id": task.ID}).body.Data, &d)
			if d.Node == nil || d.Node.ID != task.ID || d.Node.TemplateRef != "template:default/local-service" || d.Node.CreatedBy != "service:editor-bot" {
				t.Errorf("node as admin: %+v", d.Node)
			}
			if r := s.task(reader, task.ID); r != nil {
				t.Errorf("a reader sees another's task: %+v", r)
			}
			if _, c := s.taskMutation(reader, "cancelTask", task.ID, nil); c != "NOT_FOUND" {
				t.Errorf("a reader cancelling: %q", c)
			}
			if _, c := s.taskMutation(editor, "retryTask", task.ID, nil); c != "CONFLICT" {
				t.Errorf("retrying a completed task: %q", c)
			}
		})
		t.Run("the subscription streams the events and ends", func(t *testing.T) {
			w, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.init(map[string]any{"Authorization": editor}); err != nil {
				t.Fatal(err)
			}
			w.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": `subscription($id: ID!) { taskEvents(id: $id) { seq type message } }`, "variables": map[string]any{"id": task.ID}}})
			var n int
			for {
				m, err := w.read(10 * time.Second)
				if err != nil {
					t.Fatalf("after %d events: %v", n, err)
				}
				if m.Type == "ping" {
					w.send(map[string]any{"type": "pong"})
					continue
				}
				if m.Type == "complete" {
					break
				}
				if m.Type != "next" || strings.Contains(string(m.Payload), `"errors"`) {
					t.Fatalf("message %s %s", m.Type, m.Payload)
				}
				n++
			}
			if n != len(done.Events) {
				t.Errorf("streamed %d events, the task has %d", n, len(done.Events))
			}
			r, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.init(map[string]any{"Authorization": reader}); err != nil {
				t.Fatal(err)
			}
			r.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": `subscription($id: ID!) { taskEvents(id: $id) { seq } }`, "variables": map[string]any{"id": task.ID}}})
			m, err := r.read(10 * time.Second)
			if err != nil || !strings.Contains(string(m.Payload), "NOT_FOUND") || strings.Contains(string(m.Payload), `"seq"`) {
				t.Errorf("a reader subscribing to another's task: %s %s %v", m.Type, m.Payload, err)
			}
		})
		t.Run("rollback deletes the branch the task pushed", func(t *testing.T) {
			// HEAD moved to another branch: git refuses to delete a bare repository's current
			// branch (rollback then answers CONFLICT saying so).
			gitIn(t, bare, "symbolic-ref", "HEAD", "refs/heads/trunk")
			rb, c := s.taskMutation(editor, "rollbackTask", task.ID, nil)
			if c != "" {
				t.Fatalf("rollback: %q\n%s", c, logs.String())
			}
			var publish string
			for _, st := range rb.Steps {
				if st.ID == "publish" {
					publish = st.Status
				}
			}
			cmd := exec.Command("git", "--git-dir", bare, "branch", "--list", "main")
			out, _ := cmd.Output()
			if publish != "ROLLED_BACK" || strings.TrimSpace(string(out)) != "" {
				t.Errorf("publish %s, branches %q", publish, out)
			}
		})
		t.Run("a dry run renders without pushing", func(t *testing.T) {
			other := bareRepo(t, root, "dry.git")
			dv := map[string]any{"name": "dry-service", "owner": "team-payments", "remoteUrl": "file://" + other}
			a := s.gqlAs(editor, `mutation($v: JSON!) { dryRunTemplate(ref: "local-service", values: $v) { files { path content } steps { id action input skipped } } }`,
				map[string]any{"v": dv})
			var d struct {
				DryRunTemplate struct {
					Files []struct{ Path, Content string }
					Steps []struct{ ID, Action string }
				}
			}
			json.Unmarshal(a.body.Data, &d)
			var info string
			for _, f := range d.DryRunTemplate.Files {
				if f.Path == "catalog-info.yaml" {
					info = f.Content
				}
			}
			if !strings.Contains(info, "dry-service") || len(d.DryRunTemplate.Steps) != 3 {
				t.Errorf("dry run: %s", a.raw)
			}
			if out, _ := exec.Command("git", "--git-dir", other, "branch", "--list").Output(); len(out) != 0 {
				t.Errorf("a dry run pushed: %q", out)
			}
		})
		t.Run("actions are listed with their schemas", func(t *testing.T) {
			a := s.gqlAs(reader, `{ scaffolderActions { id inputSchema } }`, nil)
			if !strings.Contains(a.raw, `"publish:git"`) || !strings.Contains(a.raw, `"remoteUrl"`) {
				t.Errorf("actions: %.300s", a.raw)
			}
		})
		t.Run("tasks lists one's own, admins all, in pages", func(t *testing.T) {
			count := func(authz string) int {
				var d struct{ Tasks struct{ TotalCount int } }
				json.Unmarshal(s.gqlAs(authz, `{ tasks(filter: {status: [COMPLETED]}) { totalCount } }`, nil).body.Data, &d)
				return d.Tasks.TotalCount
			}
			if e, r, ad := count(editor), count(reader), count(admin); e != 1 || r != 0 || ad != 1 {
				t.Errorf("editor %d, reader %d, admin %d; want 1, 0, 1", e, r, ad)
			}
			a := s.gqlAs(admin, `{ tasks(first: 1) { edges { cursor node { id } } pageInfo { hasNextPage } } }`, nil)
			var d struct {
				Tasks struct {
					Edges []struct {
						Cursor string
						Node   struct{ ID string }
					}
				}
			}
			json.Unmarshal(a.body.Data, &d)
			if len(d.Tasks.Edges) != 1 || d.Tasks.Edges[0].Node.ID != task.ID {
				t.Fatalf("page: %s", a.raw)
			}
			a = s.gqlAs(admin, `query($c: String) { tasks(first: 1, after: $c) { edges { node { id } } } }`, map[string]any{"c": d.Tasks.Edges[0].Cursor})
			if strings.Contains(a.raw, task.ID) || len(a.body.Errors) > 0 {
				t.Errorf("the page after the last task: %s", a.raw)
			}
		})
		t.Run("hostile input is refused with BAD_USER_INPUT, never quoting a secret", func(t *testing.T) {
			for _, tc := range []struct {
				name, query string
				vars        map[string]any
			}{
				{"a secret that is not a string", `mutation($s: JSON) { runTemplate(ref: "local-service", values: {}, secrets: $s) { id } }`,
					map[string]any{"s": map[string]any{"token": 12345678}}},
				{"secrets that are not an object", `mutation($s: JSON) { runTemplate(ref: "local-service", values: {}, secrets: $s) { id } }`,
					map[string]any{"s": []string{scaffolderSecret}}},
				{"oversized secrets", `mutation($s: JSON) { runTemplate(ref: "local-service", values: {}, secrets: $s) { id } }`,
					map[string]any{"s": map[string]any{"token": strings.Repeat(scaffolderSecret, 1000)}}},
				{"values that are not an object", `mutation { runTemplate(ref: "local-service", values: [1, 2]) { id } }`, nil},
				{"oversized values", `mutation($v: JSON!) { runTemplate(ref: "local-service", values: $v) { id } }`,
					map[string]any{"v": map[string]any{"name": strings.Repeat("a", 70_000)}}},
				{"a malformed ref", `mutation { runTemplate(ref: "template:", values: {}) { id } }`, nil},
				{"a task id that is no node id", `{ task(id: "1") { id } }`, nil},
				{"an entity's id as a task's", `query($id: ID!) { task(id: $id) { id } }`, map[string]any{"id": "RW50aXR5OjE"}},
				{"a page too large", `{ tasks(first: 101) { totalCount } }`, nil},
				{"a bogus cursor", `{ tasks(after: "bogus") { totalCount } }`, nil},
				{"too many events", `query($id: ID!) { task(id: $id) { events(first: 501) { seq } } }`, map[string]any{"id": task.ID}},
			} {
				a := s.gqlAs(editor, tc.query, tc.vars)
				if code(a) != "BAD_USER_INPUT" || strings.Contains(a.raw, scaffolderSecret) {
					t.Errorf("%s: %.300s", tc.name, a.raw)
				}
			}
		})
		t.Run("the secret is nowhere: tables, log, events", func(t *testing.T) {
			dump := dumpTables(t, dbURL)
			if !strings.Contains(dump, "scaffolder_events: task created by service:editor-bot") {
				t.Fatal("the dump does not hold the task's events: the search below would prove nothing")
			}
			if strings.Contains(dump, scaffolderSecret) {
				t.Error("a table holds the secret")
			}
			if strings.Contains(logs.String(), scaffolderSecret) {
				t.Error("the log holds the secret")
			}
			if v := s.task(editor, task.ID); strings.Contains(fmt.Sprint(v), scaffolderSecret) {
				t.Error("the task's events hold the secret")
			}
		})
	})
}

// gatedGitServer serves bare repositories under root with git-http-backend on 127.0.0.1,
// requiring the token as basic auth; while gate is set, pushes wait for it to close.
type gatedGitServer struct {
	root string
	srv  *httptest.Server
	mu   sync.Mutex
	gate chan struct{}
}

func newGatedGitServer(t *testing.T, token string) *gatedGitServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedGitServer{root: t.TempDir()}
	backend := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"), Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=scaffolder"}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "x-access-token" || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "auth needed", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		gate := g.gate
		g.mu.Unlock()
		if gate != nil && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gatedGitServer) hostPort() string { u, _ := url.Parse(g.srv.URL); return u.Host }

// templateDir writes a template that renders a small skeleton, logs the secret (which must
// be redacted), and pushes with publish:git using the secret token.
func templateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "catalog-info.yaml"), `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: pushed}
spec:
  owner: team
  type: service
  parameters:
    required: [name, remoteUrl]
    properties:
      name: {type: string, pattern: "^[a-z-]+$"}
      remoteUrl: {type: string}
  steps:
    - id: fetch
      name: Render
      action: fetch:template
      input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}
    - id: log
      name: Log
      action: debug:log
      input: {message: "using token ${{ secrets.token }}"}
    - id: publish
      name: Push
      action: publish:git
      input: {remoteUrl: "${{ parameters.remoteUrl }}", commitMessage: "Create ${{ parameters.name }}"}
`)
	writeFile(t, filepath.Join(dir, "broken.yaml"), `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: broken}
spec:
  owner: team
  type: service
  steps:
    - id: log
      name: Log
      action: debug:log
      input: {message: "${{ steps['nope'].output.url }}"}
`)
	writeFile(t, filepath.Join(dir, "skeleton", "README.md"), "# ${{ values.name }}\n")
	return dir
}

func TestScaffolderOverHTTPRemote(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		git := newGatedGitServer(t, scaffolderSecret)
		tmpl := templateDir(t)
		gitIn(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(git.root, "ok.git"))
		s, logs := startServerEnv(t, map[string]string{"CATALOGD_SCAFFOLDER_SECRET_KEY": strings.Repeat("5a", 32)},
			"--database", dbURL, "--location", tmpl, "--read-allow-dir", tmpl, "--read-allow", git.hostPort(), "--log-level", "debug")

		t.Run("a task pushes over http with the secret token, which appears nowhere", func(t *testing.T) {
			task, c, a := s.runTemplate("", "pushed", map[string]any{"name": "svc-a", "remoteUrl": git.srv.URL + "/ok.git"},
				map[string]any{"token": scaffolderSecret})
			if c != "" {
				t.Fatalf("runTemplate: %s", a.raw)
			}
			done := s.waitTask("", task.ID, "COMPLETED", "FAILED")
			if done.Status != "COMPLETED" {
				t.Fatalf("%s: %v %+v", done.Status, done.Error, done.Events)
			}
			if got := cloneFiles(t, filepath.Join(git.root, "ok.git"), "main")["README.md"]; got != "# svc-a\n" {
				t.Errorf("README.md = %q", got)
			}
			var logged bool
			for _, e := range done.Events {
				logged = logged || strings.Contains(e.Message, "using token ***")
			}
			if !logged {
				t.Errorf("no redacted log event among %+v", done.Events)
			}
			if strings.Contains(dumpTables(t, dbURL), scaffolderSecret) || strings.Contains(logs.String(), scaffolderSecret) {
				t.Error("the secret is in a table or the log")
			}
		})
		t.Run("an expression error fails the task, naming the step and the text", func(t *testing.T) {
			task, c, a := s.runTemplate("", "broken", map[string]any{}, nil)
			if c != "" {
				t.Fatalf("runTemplate: %s", a.raw)
			}
			failed := s.waitTask("", task.ID, "FAILED", "COMPLETED")
			if failed.Status != "FAILED" || failed.Error == nil || !strings.Contains(*failed.Error, "log") || !strings.Contains(*failed.Error, "nope") {
				t.Errorf("%s: %v", failed.Status, failed.Error)
			}
		})
		t.Run("a failing step, then a retry resumes from it", func(t *testing.T) {
			task, c, a := s.runTemplate("", "pushed", map[string]any{"name": "svc-b", "remoteUrl": git.srv.URL + "/later.git"},
				map[string]any{"token": scaffolderSecret})
			if c != "" {
				t.Fatalf("runTemplate: %s", a.raw)
			}
			failed := s.waitTask("", task.ID, "FAILED", "COMPLETED")
			if failed.Status != "FAILED" || failed.Steps[2].Status != "FAILED" || failed.Steps[0].Status != "COMPLETED" {
				t.Fatalf("%s: steps %+v", failed.Status, failed.Steps)
			}
			gitIn(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(git.root, "later.git"))
			if _, c := s.taskMutation("", "retryTask", task.ID, map[string]any{"token": scaffolderSecret}); c != "" {
				t.Fatalf("retry: %s", c)
			}
			done := s.waitTask("", task.ID, "COMPLETED", "FAILED")
			if done.Status != "COMPLETED" {
				t.Fatalf("after retry: %s %v", done.Status, done.Error)
			}
			if got := cloneFiles(t, filepath.Join(git.root, "later.git"), "main")["README.md"]; got != "# svc-b\n" {
				t.Errorf("README.md = %q", got)
			}
		})
		t.Run("the subscription follows a running task to its end", func(t *testing.T) {
			gitIn(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(git.root, "live.git"))
			gate := make(chan struct{})
			git.mu.Lock()
			git.gate = gate
			git.mu.Unlock()
			task, c, a := s.runTemplate("", "pushed", map[string]any{"name": "svc-l", "remoteUrl": git.srv.URL + "/live.git"},
				map[string]any{"token": scaffolderSecret})
			if c != "" {
				t.Fatalf("runTemplate: %s", a.raw)
			}
			w, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.init(nil); err != nil {
				t.Fatal(err)
			}
			w.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": `subscription($id: ID!) { taskEvents(id: $id) { seq type stepId message } }`, "variables": map[string]any{"id": task.ID}}})
			var types []string
			released := false
			for {
				m, err := w.read(20 * time.Second)
				if err != nil {
					t.Fatalf("after %v: %v", types, err)
				}
				if m.Type == "ping" {
					w.send(map[string]any{"type": "pong"})
					continue
				}
				if m.Type == "complete" {
					break
				}
				var p struct {
					Data struct {
						TaskEvents struct {
							Seq                   int
							Type, StepID, Message string
						}
					}
				}
				json.Unmarshal(m.Payload, &p)
				ev := p.Data.TaskEvents
				if strings.Contains(ev.Message, scaffolderSecret) || ev.Seq != len(types)+1 {
					t.Errorf("event %+v after %d", ev, len(types))
				}
				types = append(types, ev.Type)
				// The push waits at the gate: everything before it arrived live; let it go.
				if !released && ev.Type == "step-start" && ev.StepID == "publish" {
					released = true
					close(gate)
					git.mu.Lock()
					git.gate = nil
					git.mu.Unlock()
				}
			}
			if !released || types[len(types)-1] != "completion" {
				t.Errorf("events %v: want the push released mid-stream and a completion last", types)
			}
		})
		t.Run("cancel stops a task at the next step boundary", func(t *testing.T) {
			gitIn(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(git.root, "gated.git"))
			gate := make(chan struct{})
			git.mu.Lock()
			git.gate = gate
			git.mu.Unlock()
			task, c, a := s.runTemplate("", "pushed", map[string]any{"name": "svc-c", "remoteUrl": git.srv.URL + "/gated.git"},
				map[string]any{"token": scaffolderSecret})
			if c != "" {
				t.Fatalf("runTemplate: %s", a.raw)
			}
			for {
				v := s.task("", task.ID)
				if v.Steps[2].Status == "PROCESSING" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, c := s.taskMutation("", "cancelTask", task.ID, nil); c != "" {
				t.Fatalf("cancel: %s", c)
			}
			close(gate)
			git.mu.Lock()
			git.gate = nil
			git.mu.Unlock()
			done := s.waitTask("", task.ID, "CANCELLED", "COMPLETED", "FAILED")
			if done.Status != "CANCELLED" && done.Status != "COMPLETED" {
				t.Errorf("after cancel: %s %v", done.Status, done.Error)
			}
		})
	})
}

// envRunArgs makes the test binary run catalogd itself (TestMain), so a test can start a
// real catalogd process and kill it.
const envRunArgs = "CATALOGD_TEST_RUN_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(envRunArgs); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := run(context.Background(), args, os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProcess runs `catalogd serve args…` as a child process in its own process group and
// returns its base URL and a function that kills the group (SIGKILL: nothing is released).
func startProcess(t *testing.T, env map[string]string, args ...string) (string, func()) {
	t.Helper()
	raw, _ := json.Marshal(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envRunArgs+"="+string(raw))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = processGroup()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := sync.OnceFunc(func() { killGroup(cmd); cmd.Wait() })
	t.Cleanup(kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			if resp, err := http.Get(m[1] + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return m[1], kill
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScaffolderTaskOfAKilledProcessIsCompletedByAnother(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		git := newGatedGitServer(t, scaffolderSecret)
		tmpl := templateDir(t)
		gitIn(t, "", "init", "-q", "--bare", "-b", "main", filepath.Join(git.root, "svc.git"))
		env := map[string]string{"CATALOGD_SCAFFOLDER_SECRET_KEY": strings.Repeat("7c", 32)}
		args := []string{"--database", dbURL, "--location", tmpl, "--read-allow-dir", tmpl, "--read-allow", git.hostPort(),
			"--scaffolder-lease", "2s"}
		gate := make(chan struct{})
		git.mu.Lock()
		git.gate = gate
		git.mu.Unlock()

		base, kill := startProcess(t, env, args...)
		first := &testServer{t: t, base: base, stderr: &syncBuffer{}}
		task, c, a := first.runTemplate("", "pushed", map[string]any{"name": "svc-k", "remoteUrl": git.srv.URL + "/svc.git"},
			map[string]any{"token": scaffolderSecret})
		if c != "" {
			t.Fatalf("runTemplate: %s", a.raw)
		}
		for {
			v := first.task("", task.ID)
			if v.Steps[2].Status == "PROCESSING" {
				break
			}
			if v.Status != "OPEN" && v.Status != "PROCESSING" {
				t.Fatalf("task %s before the push", v.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		kill() // mid-push, its lease held
		close(gate)
		git.mu.Lock()
		git.gate = nil
		git.mu.Unlock()

		second, logs := startServerEnv(t, env, args...)
		done := second.waitTask("", task.ID, "COMPLETED", "FAILED")
		if done.Status != "COMPLETED" {
			t.Fatalf("%s: %v %+v", done.Status, done.Error, done.Events)
		}
		var d struct{ Task struct{ Attempts int } }
		json.Unmarshal(second.gqlAs("", `query($id: ID!) { task(id: $id) { attempts } }`, map[string]any{"id": task.ID}).body.Data, &d)
		if d.Task.Attempts != 2 {
			t.Errorf("attempts %d, want 2 (taken over once)", d.Task.Attempts)
		}
		if got := cloneFiles(t, filepath.Join(git.root, "svc.git"), "main")["README.md"]; got != "# svc-k\n" {
			t.Errorf("README.md = %q", got)
		}
		if strings.Contains(dumpTables(t, dbURL), scaffolderSecret) || strings.Contains(logs.String(), scaffolderSecret) {
			t.Error("the secret is in a table or the log")
		}
	})
}

func TestScaffolderSettings(t *testing.T) {
	t.Run("config check names bad scaffolder keys", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, path, "scaffolder:\n  workers: -1\n  leaseDuration: soon\n  github: {apiURL: x}\n")
		var out syncBuffer
		err := run(t.Context(), []string{"config", "check", path}, func(string) string { return "" }, &out, &out)
		if err == nil {
			t.Fatal("config check passed a bad file")
		}
		for _, want := range []string{"scaffolder.workers: ", "scaffolder.leaseDuration: ", "scaffolder.github.apiURL: unknown key"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("a bad key or worker count stops serve", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			args []string
			want string
		}{
			{map[string]string{"CATALOGD_SCAFFOLDER_SECRET_KEY": "short"}, nil, "must be 32 bytes"},
			{nil, []string{"--scaffolder-workers", "65"}, "between 0 and 64"},
			{map[string]string{"CATALOGD_SCAFFOLDER_WORKERS": "many"}, nil, "is not a number"},
		} {
			var out syncBuffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t)}, tc.args...)
			err := run(t.Context(), args, func(k string) string { return tc.env[k] }, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v %v: %v, want %q", tc.env, tc.args, err, tc.want)
			}
		}
	})
	t.Run("with no workers a task stays OPEN and cancels at once", func(t *testing.T) {
		tmpl := templateDir(t)
		s := startServer(t, "--location", tmpl, "--read-allow-dir", tmpl, "--scaffolder-workers", "0")
		task, c, a := s.runTemplate("", "pushed", map[string]any{"name": "x", "remoteUrl": "file:///nowhere.git"}, map[string]any{"token": scaffolderSecret})
		if c != "" {
			t.Fatalf("runTemplate: %s", a.raw)
		}
		time.Sleep(300 * time.Millisecond)
		if v := s.task("", task.ID); v.Status != "OPEN" {
			t.Fatalf("status %s with no workers", v.Status)
		}
		got, c := s.taskMutation("", "cancelTask", task.ID, nil)
		if c != "" || got.Status != "CANCELLED" {
			t.Errorf("cancel: %q %+v", c, got)
		}
	})
}

// The README's newcomer path: `serve --demo` and a local bare repository under a
// --read-allow-dir; the demo template reads its skeleton from the embedded demo catalog.
func TestScaffolderRunsTheEmbeddedDemoTemplate(t *testing.T) {
	gitDir := t.TempDir()
	bare := bareRepo(t, gitDir, "refund-service.git")
	s := startServer(t, "--demo", "--read-allow-dir", gitDir)
	task, c, a := s.runTemplate("", "template:local-service",
		map[string]any{"name": "refund-service", "owner": "team-payments", "remoteUrl": "file://" + bare}, nil)
	if c != "" {
		t.Fatalf("runTemplate: %s", a.raw)
	}
	done := s.waitTask("", task.ID, "COMPLETED", "FAILED")
	if done.Status != "COMPLETED" {
		t.Fatalf("task %s: %v, events %+v", done.Status, done.Error, done.Events)
	}
	files := cloneFiles(t, "file://"+bare, "main")
	for _, f := range []string{"README.md", "catalog-info.yaml", "main.go", "go.mod", "mkdocs.yml", "docs/index.md", ".github/workflows/ci.yaml"} {
		if _, ok := files[f]; !ok {
			t.Errorf("the pushed tree lacks %s: %v", f, keysOf(files))
		}
	}
	if !strings.Contains(files["catalog-info.yaml"], "name: refund-service") {
		t.Errorf("catalog-info.yaml:\n%s", files["catalog-info.yaml"])
	}
	var out struct{ Entity *struct{ Ref string } }
	s.data(`{ entity(ref: "component:refund-service") { ref } }`, nil, &out)
	if out.Entity == nil {
		t.Error("the new component is not in the catalog")
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
