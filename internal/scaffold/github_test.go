package scaffold

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"catalogd/internal/catalog"
)

// fakeGitHub answers the REST calls publish:github makes, in the shapes GitHub answers them
// (status codes, fields and error bodies as documented and as seen from api.github.com), and
// creates a real bare repository behind git-http-backend for each repository it creates.
type fakeGitHub struct {
	t     testing.TB
	git   *gitServer
	srv   *httptest.Server
	token string
	mu    sync.Mutex
	repos map[string]map[string]any // "owner/name" -> repo JSON
	calls []string
	teams []string
	topic map[string][]any
}

func newFakeGitHub(t testing.TB, g *gitServer, token string) *fakeGitHub {
	f := &fakeGitHub{t: t, git: g, token: token, repos: map[string]map[string]any{}, topic: map[string][]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, 401, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	switch {
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "users":
		typ := "User"
		if parts[1] == "acme" {
			typ = "Organization"
		}
		writeJSON(w, 200, map[string]any{"login": parts[1], "id": 1, "type": typ})
	case r.Method == "POST" && (len(parts) == 3 && parts[0] == "orgs" && parts[2] == "repos" || r.URL.Path == "/user/repos"):
		owner := "ann"
		if parts[0] == "orgs" {
			owner = parts[1]
		}
		name, _ := body["name"].(string)
		full := owner + "/" + name
		if f.repos[full] != nil {
			writeJSON(w, 422, map[string]any{"message": "Repository creation failed.", "errors": []any{map[string]any{
				"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}},
				"documentation_url": "https://docs.github.com/rest/repos/repos#create-an-organization-repository", "status": "422"})
			return
		}
		f.git.bare(f.t, full+".git")
		repo := map[string]any{
			"id": 1296269, "name": name, "full_name": full, "private": body["private"], "description": body["description"],
			"html_url": "https://github.com/" + full, "clone_url": f.git.srv.URL + "/" + full + ".git",
			"default_branch": "main", "created_at": "2026-12-01T12:00:05Z", "owner": map[string]any{"login": owner},
		}
		f.repos[full] = repo
		writeJSON(w, 201, repo)
	case len(parts) >= 3 && parts[0] == "repos":
		full := parts[1] + "/" + parts[2]
		repo := f.repos[full]
		if repo == nil {
			writeJSON(w, 404, map[string]any{"message": "Not Found", "status": "404"})
			return
		}
		switch {
		case r.Method == "GET" && len(parts) == 3:
			writeJSON(w, 200, repo)
		case r.Method == "PATCH" && len(parts) == 3:
			if b, ok := body["default_branch"].(string); ok {
				repo["default_branch"] = b
			}
			writeJSON(w, 200, repo)
		case r.Method == "DELETE" && len(parts) == 3:
			delete(f.repos, full)
			os.RemoveAll(filepath.Join(f.git.root, full+".git"))
			w.WriteHeader(204)
		case r.Method == "PUT" && len(parts) == 4 && parts[3] == "topics":
			f.topic[full], _ = body["names"].([]any)
			writeJSON(w, 200, map[string]any{"names": body["names"]})
		default:
			writeJSON(w, 404, map[string]any{"message": "Not Found"})
		}
	case r.Method == "PUT" && len(parts) == 7 && parts[0] == "orgs" && parts[2] == "teams" && parts[4] == "repos":
		f.teams = append(f.teams, parts[3]+":"+parts[5]+"/"+parts[6]+":"+fmt.Sprint(body["permission"]))
		w.WriteHeader(204)
	default:
		writeJSON(w, 404, map[string]any{"message": "Not Found"})
	}
}

const githubTemplate = `
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: gh
spec:
  parameters:
    required: [name, repoUrl]
    properties:
      name: {type: string}
      repoUrl: {type: string}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values: {name: '${{ parameters.name }}'}
    - id: publish
      action: publish:github
      input:
        repoUrl: ${{ parameters.repoUrl }}
        description: The ${{ parameters.name }} service
        repoVisibility: internal
        topics: [go, payments]
        access: acme/team-pay
        token: ${{ secrets.token }}
    - id: register
      action: catalog:register
      input:
        repoContentsUrl: ${{ steps.publish.output.repoContentsUrl }}
        catalogInfoPath: /catalog-info.yaml
  output:
    links:
      - url: ${{ steps.publish.output.remoteUrl }}
`

func TestPublishGitHub(t *testing.T) {
	ctx := context.Background()
	const token = "ghp_TESTtoken123456"
	e := newEnv(t, token, nil)
	gh := newFakeGitHub(t, e.git, token)
	e.opts.GitHubAPI = gh.srv.URL
	var err error
	e.eng, err = New(e.opts)
	must(t, err)
	tp := e.template("gh", githubTemplate, map[string]string{"skeleton/catalog-info.yaml": "metadata:\n  name: ${{ values.name }}\n"})
	task := e.task(tp, map[string]any{"name": "refunds", "repoUrl": "github.com?owner=acme&repo=refunds"}, map[string]string{"token": token})
	st := newStore(len(tp.Steps))
	out, err := e.eng.Run(ctx, task, st)
	if err != nil {
		t.Fatalf("%v\n%v", err, st.events)
	}
	pub := st.states[1].Output
	if pub["remoteUrl"] != e.git.srv.URL+"/acme/refunds.git" || pub["repoContentsUrl"] != "https://github.com/acme/refunds/blob/main" || pub["created"] != true {
		t.Errorf("publish output %v", pub)
	}
	if got := cloneTreeAuth(t, e.git, token, "acme/refunds.git"); got["catalog-info.yaml"] != "metadata:\n  name: refunds\n" {
		t.Errorf("pushed %v", got)
	}
	repo := gh.repos["acme/refunds"]
	if repo["description"] != "The refunds service" || repo["private"] != true ||
		!reflect.DeepEqual(gh.topic["acme/refunds"], []any{"go", "payments"}) || !reflect.DeepEqual(gh.teams, []string{"team-pay:acme/refunds:admin"}) {
		t.Errorf("repo %v topics %v teams %v", repo, gh.topic, gh.teams)
	}
	if !reflect.DeepEqual(e.targets, []string{"https://github.com/acme/refunds/blob/main/catalog-info.yaml"}) {
		t.Errorf("registered %v", e.targets)
	}
	if out["links"].([]any)[0].(map[string]any)["url"] != pub["remoteUrl"] {
		t.Errorf("output %v", out)
	}
	if strings.Contains(st.dump(), token) || strings.Contains(fmt.Sprint(out), token) || strings.Contains(e.log.String(), token) {
		t.Error("the token is in the store, the output or the log")
	}
	for _, a := range e.git.auths {
		if a != "" && !strings.HasPrefix(a, "Basic ") {
			t.Errorf("git sent %q", a)
		}
	}

	t.Run("a second run finds the repository it created", func(t *testing.T) {
		st2 := newStore(len(tp.Steps))
		if _, err := e.eng.Run(ctx, task, st2); err != nil {
			t.Fatal(err)
		}
		if st2.states[1].Output["created"] != true || st2.states[1].Output["commitHash"] != pub["commitHash"] {
			t.Errorf("second run %v", st2.states[1].Output)
		}
	})
	t.Run("rollback deletes the repository", func(t *testing.T) {
		if err := e.eng.Rollback(ctx, task, st); err != nil {
			t.Fatal(err)
		}
		if gh.repos["acme/refunds"] != nil || st.statuses()[1] != StatusRolledBack {
			t.Errorf("repo %v statuses %v", gh.repos["acme/refunds"], st.statuses())
		}
		if !strings.Contains(strings.Join(gh.calls, "\n"), "DELETE /repos/acme/refunds") {
			t.Errorf("calls %v", gh.calls)
		}
	})
	t.Run("a repository of the same name that is not the task's is never deleted", func(t *testing.T) {
		gh.mu.Lock()
		gh.git.bare(t, "acme/taken.git")
		gh.repos["acme/taken"] = map[string]any{"name": "taken", "description": "someone else's", "html_url": "https://github.com/acme/taken",
			"clone_url": e.git.srv.URL + "/acme/taken.git", "default_branch": "main", "created_at": "2020-01-01T00:00:00Z"}
		gh.mu.Unlock()
		task := e.task(tp, map[string]any{"name": "taken", "repoUrl": "github.com?owner=acme&repo=taken"}, map[string]string{"token": token})
		st := newStore(len(tp.Steps))
		if _, err := e.eng.Run(ctx, task, st); err != nil {
			t.Fatal(err)
		}
		must(t, e.eng.Rollback(ctx, task, st))
		if gh.repos["acme/taken"] == nil {
			t.Error("rollback deleted a repository this task did not create")
		}
	})
	t.Run("a bad token is refused and never shown", func(t *testing.T) {
		const bad = "ghp_WRONGtoken999"
		task := e.task(tp, map[string]any{"name": "x", "repoUrl": "github.com?owner=acme&repo=x"}, map[string]string{"token": bad})
		st := newStore(len(tp.Steps))
		_, err := e.eng.Run(ctx, task, st)
		if catalog.ErrorCode(err) != catalog.EFORBIDDEN || !strings.Contains(err.Error(), "401 Bad credentials") {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), bad) || strings.Contains(st.dump(), bad) || strings.Contains(e.log.String(), bad) {
			t.Error("the token leaked")
		}
	})
}

func cloneTreeAuth(t *testing.T, g *gitServer, token, path string) map[string]string {
	t.Helper()
	u := strings.Replace(g.srv.URL, "http://", "http://x-access-token:"+token+"@", 1) + "/" + path
	return cloneTree(t, u, "main")
}
