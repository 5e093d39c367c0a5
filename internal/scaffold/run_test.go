package scaffold

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"catalogd/internal/catalog"
)

const gitTemplate = `
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: local
spec:
  parameters:
    - title: Service
      required: [name, remoteUrl]
      properties:
        name: {type: string, pattern: '^[a-z-]+$'}
        owner: {type: string, default: team-pay}
        db: {type: boolean, default: false}
        remoteUrl: {type: string}
        tags: {type: array, items: {type: string}, default: [go]}
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        copyWithoutTemplating: ['static/**']
        values:
          name: ${{ parameters.name }}
          owner: ${{ parameters.owner }}
          db: ${{ parameters.db }}
          tags: ${{ parameters.tags }}
    - id: db
      name: Database migrations
      if: ${{ parameters.db }}
      action: fetch:plain
      input:
        url: ./migrations
        targetPath: migrations
    - id: docs
      name: One page per tag
      each: ${{ parameters.tags }}
      action: catalog:write
      input:
        filePath: tags/${{ each.value }}.yaml
        entity: {tag: '${{ each.value }}', index: '${{ each.key }}'}
    - id: log
      name: Log
      action: debug:log
      input:
        message: publishing ${{ parameters.name }} for ${{ user.ref }}
        listWorkspace: true
    - id: publish
      name: Publish
      action: publish:git
      input:
        remoteUrl: ${{ parameters.remoteUrl }}
        commitMessage: Create ${{ parameters.name }}
    - id: register
      name: Register
      action: catalog:register
      input:
        remoteUrl: ${{ steps.publish.output.remoteUrl }}
  output:
    links:
      - title: Repository
        url: ${{ steps['publish'].output.remoteUrl }}
      - title: Open in catalog
        entityRef: ${{ steps['register'].output.entityRef }}
    text:
      - title: Commit
        content: pushed ${{ steps.publish.output.commitHash }}
`

var gitSkeleton = map[string]string{
	"skeleton/catalog-info.yaml":              "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${{ values.name }}\nspec:\n  owner: ${{ values.owner }}\n  type: service\n  lifecycle: experimental\n",
	"skeleton/README.md":                      "# ${{ values.name | upper }}\n{% if values.db %}Has a database.\n{% endif %}{% for t in values.tags %}- ${{ t }}\n{% endfor %}",
	"skeleton/cmd/${{ values.name }}/main.go": "package main // ${{ values.name }}\n",
	"skeleton/static/ci.yaml":                 "run: ${{ github.sha }}\n",
	"skeleton/scripts/run.sh*":                "#!/bin/sh\necho ${{ values.name }}\n",
	"skeleton/logo.bin":                       "\x00\x01${{ values.name }}",
	"migrations/001.sql":                      "create table ${{ x }};\n",
}

func TestRunPublishesToAGitRemote(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.bare(t, "svc.git")
	task := e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote, "db": true, "tags": []any{"go", "pay"}}, nil)
	st := newStore(len(tp.Steps))
	out, err := e.eng.Run(ctx, task, st)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, strings.Join(st.events, "\n"))
	}
	if got := st.statuses(); !reflect.DeepEqual(got, []string{"COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"}) {
		t.Fatalf("statuses %v", got)
	}
	commit, _ := st.states[4].Output["commitHash"].(string)
	if len(commit) != 40 || st.states[4].Output["remoteUrl"] != remote || st.states[4].Output["branchCreated"] != true {
		t.Errorf("publish output %v", st.states[4].Output)
	}
	want := map[string]string{
		"catalog-info.yaml":   "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: refunds\nspec:\n  owner: team-pay\n  type: service\n  lifecycle: experimental\n",
		"README.md":           "# REFUNDS\nHas a database.\n- go\n- pay\n",
		"cmd/refunds/main.go": "package main // refunds\n",
		"static/ci.yaml":      "run: ${{ github.sha }}\n",
		"scripts/run.sh":      "#!/bin/sh\necho refunds\n",
		"logo.bin":            "\x00\x01${{ values.name }}",
		"migrations/001.sql":  "create table ${{ x }};\n",
		"tags/go.yaml":        "index: \"0\"\ntag: go\n",
		"tags/pay.yaml":       "index: \"1\"\ntag: pay\n",
	}
	got := cloneTree(t, remote, "main")
	if !reflect.DeepEqual(got, want) {
		for _, k := range keys(got) {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		t.Fatalf("tree %v, want %v", keys(got), keys(want))
	}
	dir := t.TempDir()
	git(t, "", "clone", "-q", remote, dir)
	if mode := git(t, dir, "ls-files", "-s", "scripts/run.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("run.sh is %s, want executable", mode)
	}
	if msg := git(t, dir, "log", "-1", "--format=%s|%an|%ad", "--date=unix"); msg != "Create refunds|Scaffolder|"+"1796126400" {
		t.Errorf("commit %q", msg)
	}
	if !reflect.DeepEqual(e.targets, []string{remote}) {
		t.Errorf("registered %v", e.targets)
	}
	wantOut := map[string]any{
		"links": []any{map[string]any{"title": "Repository", "url": remote}, map[string]any{"title": "Open in catalog", "entityRef": "component:default/refunds"}},
		"text":  []any{map[string]any{"title": "Commit", "content": "pushed " + commit}},
	}
	if !reflect.DeepEqual(out, wantOut) {
		t.Errorf("output %#v", out)
	}
	events := strings.Join(st.events, "\n")
	for _, w := range []string{"log log: publishing refunds for user:default/ann", "log log: workspace: cmd/refunds/main.go", "step-start publish:", "completion"} {
		if !strings.Contains(events, w) {
			t.Errorf("events lack %q:\n%s", w, events)
		}
	}
	e.workDirEmpty()

	t.Run("a second run of the same task pushes the same commit", func(t *testing.T) {
		st2 := newStore(len(tp.Steps))
		if _, err := e.eng.Run(ctx, task, st2); err != nil {
			t.Fatal(err)
		}
		if st2.states[4].Output["commitHash"] != commit || st2.states[4].Output["branchCreated"] != false {
			t.Errorf("second publish %v, first commit %s", st2.states[4].Output, commit)
		}
	})
	t.Run("another task does not overwrite the branch", func(t *testing.T) {
		other := task
		other.Values = map[string]any{"name": "other", "remoteUrl": remote, "owner": "x", "db": false, "tags": []any{}}
		_, err := e.eng.Run(ctx, other, newStore(len(tp.Steps)))
		if catalog.ErrorCode(err) != catalog.ECONFLICT || !strings.Contains(err.Error(), `step "publish"`) || !strings.Contains(err.Error(), "holds other commits") {
			t.Fatalf("err %v", err)
		}
		if got := cloneTree(t, remote, "main"); got["README.md"] != want["README.md"] {
			t.Error("the branch was overwritten")
		}
	})
}

func TestAFalseConditionSkipsTheStep(t *testing.T) {
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.bare(t, "svc.git")
	st := newStore(len(tp.Steps))
	if _, err := e.eng.Run(context.Background(), e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote}, nil), st); err != nil {
		t.Fatal(err)
	}
	if got := st.statuses(); got[1] != StatusSkipped {
		t.Errorf("statuses %v", got)
	}
	files := cloneTree(t, remote, "main")
	if _, ok := files["migrations/001.sql"]; ok || files["README.md"] != "# REFUNDS\n- go\n" || files["tags/go.yaml"] == "" {
		t.Errorf("files %v, README %q", keys(files), files["README.md"])
	}
}

func TestAFailedStepResumes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.srv.URL + "/later.git" // not there yet: the push fails
	task := e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote}, nil)
	st := newStore(len(tp.Steps))
	_, err := e.eng.Run(ctx, task, st)
	if err == nil || !strings.Contains(err.Error(), `step "publish"`) {
		t.Fatalf("err %v", err)
	}
	if got := st.statuses(); !reflect.DeepEqual(got, []string{"COMPLETED", "SKIPPED", "COMPLETED", "COMPLETED", "FAILED", "OPEN"}) {
		t.Fatalf("statuses %v", got)
	}
	if st.errs[4] == "" || !strings.Contains(strings.Join(st.events, "\n"), "error publish:") {
		t.Errorf("the failure is not recorded: %q %v", st.errs[4], st.events)
	}
	e.workDirEmpty()

	e.git.bare(t, "later.git")
	st.started = nil
	if _, err := e.eng.Run(ctx, task, st); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !reflect.DeepEqual(st.started, []int{4, 5}) {
		t.Errorf("the retry started steps %v, want only publish and register", st.started)
	}
	// The workspace was rebuilt by re-running the completed fetch steps.
	if files := cloneTree(t, remote, "main"); files["cmd/refunds/main.go"] == "" || files["tags/go.yaml"] == "" {
		t.Errorf("files %v", keys(files))
	}
	e.workDirEmpty()
}

func TestCancelStopsAtTheNextStep(t *testing.T) {
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.bare(t, "svc.git")
	st := newStore(len(tp.Steps))
	st.cancelAt = 2
	_, err := e.eng.Run(context.Background(), e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote}, nil), st)
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("err %v", err)
	}
	if got := st.statuses(); !reflect.DeepEqual(got, []string{"COMPLETED", "SKIPPED", "COMPLETED", "CANCELLED", "CANCELLED", "CANCELLED"}) {
		t.Errorf("statuses %v", got)
	}
	if !strings.Contains(strings.Join(st.events, "\n"), "cancelled log:") {
		t.Errorf("events %v", st.events)
	}
	if out := git(t, "", "ls-remote", remote); out != "" {
		t.Errorf("a cancelled task pushed: %s", out)
	}
	e.workDirEmpty()
}

func TestRollbackDeletesTheBranchItCreated(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.bare(t, "svc.git")
	// A bare repository refuses to delete the branch its HEAD names unless told otherwise
	// (forges refuse to delete a default branch too: a rollback reports that as an error).
	git(t, "", "--git-dir="+e.git.root+"/svc.git", "config", "receive.denyDeleteCurrent", "ignore")
	task := e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote}, nil)
	st := newStore(len(tp.Steps))
	if _, err := e.eng.Run(ctx, task, st); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.Rollback(ctx, task, st); err != nil {
		t.Fatal(err)
	}
	if out := git(t, "", "ls-remote", remote); out != "" {
		t.Errorf("the branch is still there: %s", out)
	}
	if got := st.statuses(); got[4] != StatusRolledBack || got[5] != StatusCompleted {
		t.Errorf("statuses %v", got)
	}
	if !strings.Contains(strings.Join(st.events, "\n"), "rollback publish:") {
		t.Errorf("events %v", st.events)
	}
}

func TestDryRunHasNoSideEffects(t *testing.T) {
	e := newEnv(t, "", nil)
	tp := e.template("local", gitTemplate, gitSkeleton)
	remote := e.git.bare(t, "svc.git")
	task := e.task(tp, map[string]any{"name": "refunds", "remoteUrl": remote + "?x=${{ secrets.token }}"}, map[string]string{"token": "tok-SECRET-1"})
	task.Template.Steps[3].Input["message"] = "token ${{ secrets.token }}"
	res, err := e.eng.DryRun(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]DryRunFile{}
	for _, f := range res.Files {
		files[f.Path] = f
	}
	if files["cmd/refunds/main.go"].Content != "package main // refunds\n" || !files["scripts/run.sh"].Executable || !files["logo.bin"].Base64 {
		t.Errorf("files %+v", res.Files)
	}
	if len(res.Steps) != 6 || !res.Steps[1].Skipped || res.Steps[4].Input["remoteUrl"] == nil {
		t.Errorf("steps %+v", res.Steps)
	}
	if out := git(t, "", "ls-remote", remote); out != "" || len(e.targets) > 0 {
		t.Errorf("a dry run pushed (%s) or registered (%v)", out, e.targets)
	}
	if !strings.Contains(strings.Join(res.Log, "\n"), "token ***") {
		t.Errorf("log %v", res.Log)
	}
	e.workDirEmpty()
}

func TestExpressionErrorsNameTheStepAndText(t *testing.T) {
	e := newEnv(t, "", nil)
	src := strings.Replace(gitTemplate, "message: publishing ${{ parameters.name }}", "message: publishing ${{ parameters.name | shout }}", 1)
	tp := e.template("local", src, gitSkeleton)
	st := newStore(len(tp.Steps))
	_, err := e.eng.Run(context.Background(), e.task(tp, map[string]any{"name": "refunds", "remoteUrl": e.git.bare(t, "svc.git")}, nil), st)
	if catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), `step "log"`) ||
		!strings.Contains(err.Error(), `unknown filter "shout"`) || !strings.Contains(err.Error(), "publishing ${{ parameters.name | shout }}") {
		t.Fatalf("err %v", err)
	}
	if st.statuses()[3] != StatusFailed {
		t.Errorf("statuses %v", st.statuses())
	}

	t.Run("an error in a skeleton file names the file", func(t *testing.T) {
		files := map[string]string{"skeleton/x.txt": "${{ values.name | nope }}"}
		tp := e.template("bad", gitTemplate, files)
		_, err := e.eng.Run(context.Background(), e.task(tp, map[string]any{"name": "refunds", "remoteUrl": "x"}, nil), newStore(len(tp.Steps)))
		if catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), `step "fetch"`) || !strings.Contains(err.Error(), "x.txt") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("input that breaks the action's schema is refused before running", func(t *testing.T) {
		src := strings.Replace(gitTemplate, "listWorkspace: true", "listWorkspace: 'yes please'", 1)
		tp := e.template("bad2", src, gitSkeleton)
		_, err := e.eng.Run(context.Background(), e.task(tp, map[string]any{"name": "refunds", "remoteUrl": "x"}, nil), newStore(len(tp.Steps)))
		if catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), "/listWorkspace") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestActionsAreListedWithSchemas(t *testing.T) {
	e := newEnv(t, "", nil)
	var ids []string
	for _, a := range e.eng.Actions() {
		ids = append(ids, a.ID)
		if !strings.Contains(string(a.InputSchema), `"type":"object"`) || len(a.OutputSchema) == 0 || a.Description == "" {
			t.Errorf("%s: %s %s", a.ID, a.InputSchema, a.OutputSchema)
		}
	}
	want := []string{"catalog:register", "catalog:write", "debug:log", "fetch:plain", "fetch:template", "publish:git", "publish:github"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("actions %v", ids)
	}
}
