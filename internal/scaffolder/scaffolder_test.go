package scaffolder_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/ent"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest/file"
	"catalogd/internal/scaffold"
	"catalogd/internal/scaffolder"
	"catalogd/internal/store"
	"catalogd/internal/testdb"

	"entgo.io/ent/dialect"
)

// stepEngine stands in for the scaffolder engine where the worker mechanics are under test: it
// drives the Store exactly as the contract says Run does (resume from the first step not
// COMPLETED, cancel checked at each boundary). Actions: test:ok, test:fail (fails while
// fail[task] is set), test:block (waits until released or its context ends). Each step logs
// and outputs the secret "token", which the store must redact.
type stepEngine struct {
	mu      sync.Mutex
	fail    bool
	block   chan struct{} // closed to release test:block
	started chan string   // receives the step id of a test:block step when it starts
	runs    int
}

func (e *stepEngine) Run(ctx context.Context, t scaffold.TaskSpec, s scaffold.Store) (map[string]any, error) {
	e.mu.Lock()
	e.runs++
	e.mu.Unlock()
	steps, err := s.Steps(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for i, spec := range t.Template.Steps {
		if steps[i].Status == scaffold.StatusCompleted {
			continue
		}
		if c, err := s.Cancelled(ctx); err != nil || c {
			if err != nil {
				return nil, err
			}
			s.StepFinished(ctx, i, scaffold.StatusCancelled, nil, "")
			s.Event(ctx, scaffold.EventCancelled, spec.ID, "cancelled")
			return nil, scaffold.ErrCancelled
		}
		if err := s.StepStarted(ctx, i); err != nil {
			return nil, err
		}
		if err := s.Event(ctx, scaffold.EventStepStart, spec.ID, "start with token "+t.Secrets["token"]); err != nil {
			return nil, err
		}
		switch spec.Action {
		case "test:fail":
			e.mu.Lock()
			fail := e.fail
			e.mu.Unlock()
			if fail {
				msg := "step " + spec.ID + " failed using " + t.Secrets["token"]
				s.StepFinished(ctx, i, scaffold.StatusFailed, nil, msg)
				return nil, errors.New(msg)
			}
		case "test:block":
			e.started <- spec.ID
			select {
			case <-e.block:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		o := map[string]any{"seen": "token " + t.Secrets["token"], "name": t.Values["name"]}
		if err := s.StepFinished(ctx, i, scaffold.StatusCompleted, o, ""); err != nil {
			return nil, err
		}
		out[spec.ID] = o
	}
	s.Event(ctx, scaffold.EventCompletion, "", "done")
	return out, nil
}

func (e *stepEngine) Rollback(ctx context.Context, t scaffold.TaskSpec, s scaffold.Store) error {
	steps, err := s.Steps(ctx)
	if err != nil {
		return err
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Status == scaffold.StatusCompleted {
			s.StepFinished(ctx, i, scaffold.StatusRolledBack, steps[i].Output, "")
			s.Event(ctx, scaffold.EventRollback, t.Template.Steps[i].ID, "rolled back")
		}
	}
	return nil
}

func (e *stepEngine) DryRun(context.Context, scaffold.TaskSpec) (*scaffold.DryRunResult, error) {
	return &scaffold.DryRunResult{}, nil
}
func (e *stepEngine) Actions() []scaffold.ActionInfo { return nil }

const secret = "s3cr3t-t0ken-value"

func template(name string, actions ...string) string {
	var steps []string
	for i, a := range actions {
		steps = append(steps, fmt.Sprintf("    - {id: s%d, name: Step %d, action: %q}", i+1, i+1, a))
	}
	return fmt.Sprintf(`apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: %s}
spec:
  owner: team
  type: service
  parameters:
    required: [name]
    properties:
      name: {type: string, pattern: "^[a-z]+$"}
  steps:
%s
`, name, strings.Join(steps, "\n"))
}

type env struct {
	st  *store.Store
	svc *scaffolder.Service
	eng *stepEngine
	pg  bool
}

func newEnv(t *testing.T, dbURL string, keys *scaffolder.Keyring) *env {
	t.Helper()
	st := testdb.Open(t, dbURL)
	dir := t.TempDir()
	doc := template("ok", "test:ok", "test:ok") + "---\n" + template("flaky", "test:ok", "test:fail", "test:ok") +
		"---\n" + template("slow", "test:ok", "test:block", "test:ok")
	if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := file.New(filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := testdb.Engine(t, st).Refresh(context.Background(), p); err != nil || res.Errors > 0 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	eng := &stepEngine{block: make(chan struct{}), started: make(chan string, 4)}
	return &env{st: st, eng: eng, pg: st.Dialect == dialect.Postgres, svc: newService(t, st, eng, keys)}
}

func newService(t *testing.T, st *store.Store, eng scaffolder.Engine, keys *scaffolder.Keyring) *scaffolder.Service {
	t.Helper()
	svc, err := scaffolder.New(scaffolder.Options{Client: st.Client, Policy: auth.NewPolicy(nil, false), Engine: eng,
		Keys: keys, Lease: 600 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (e *env) pool(t *testing.T, svc *scaffolder.Service) (*scaffolder.Pool, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	p := scaffolder.NewPool(svc, scaffolder.PoolOptions{Workers: 2, Poll: 20 * time.Millisecond, Postgres: e.pg})
	p.Start(ctx)
	t.Cleanup(func() { p.Stop(context.Background()); cancel() })
	return p, cancel
}

func (e *env) wait(t *testing.T, id string, states ...string) *ent.ScaffolderTask {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		task, err := e.st.Client.ScaffolderTask.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if task.State == s {
				return task
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s (error %q), want %v", id, task.State, task.Error, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var maya = &auth.Principal{Kind: auth.KindUser, Name: "maya@example.com", Issuer: "https://id", Roles: []string{auth.RoleEditor}}
var bob = &auth.Principal{Kind: auth.KindUser, Name: "bob@example.com", Issuer: "https://id", Roles: []string{auth.RoleReader}}
var ben = &auth.Principal{Kind: auth.KindUser, Name: "ben@example.com", Issuer: "https://id", Roles: []string{auth.RoleEditor}}

// noSecretAnywhere dumps every scaffolder table and fails if the secret is in any of them.
func noSecretAnywhere(t *testing.T, st *store.Store) {
	t.Helper()
	for _, table := range []string{"scaffolder_tasks", "scaffolder_steps", "scaffolder_events"} {
		rows, err := st.DB.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
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
			if s := fmt.Sprint(vals...); strings.Contains(s, secret) {
				t.Errorf("table %s holds the secret: %.300s", table, s)
			}
		}
		rows.Close()
	}
}

func TestTasksRunToTheEnd(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		e.pool(t, e.svc)
		ctx := context.Background()
		task, err := e.svc.RunTemplate(ctx, maya, "template:ok", map[string]any{"name": "abc"}, map[string]string{"token": secret})
		if err != nil {
			t.Fatal(err)
		}
		if task.Secrets == nil || strings.Contains(string(*task.Secrets), secret) {
			t.Fatalf("secrets not sealed: %v", task.Secrets)
		}
		done := e.wait(t, task.ID, scaffolder.StateCompleted)
		if scaffolder.HasSecrets(done) || done.SecretsKey != "" || done.LeaseOwner != "" {
			t.Errorf("a completed task keeps secrets %v / key %q / lease %q", done.Secrets, done.SecretsKey, done.LeaseOwner)
		}
		if !strings.Contains(string(done.Output), `token ***`) || strings.Contains(string(done.Output), secret) {
			t.Errorf("output %s, want the secret redacted", done.Output)
		}
		steps, _ := e.svc.Steps(ctx, task.ID)
		if len(steps) != 2 || steps[0].Status != "COMPLETED" || steps[1].Status != "COMPLETED" {
			t.Errorf("steps %+v", steps)
		}
		evs, _ := e.svc.Events(ctx, task.ID, 0, 0)
		for i, ev := range evs {
			if ev.Seq != i+1 {
				t.Errorf("event %d has seq %d", i, ev.Seq)
			}
		}
		if len(evs) != 4 || evs[len(evs)-1].Type != "completion" {
			t.Errorf("events %d, last %+v", len(evs), evs[len(evs)-1])
		}
		noSecretAnywhere(t, e.st)
	})
}

func TestRunTemplateChecksBeforeStoring(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		ctx := context.Background()
		for _, tc := range []struct {
			name, ref string
			values    map[string]any
			p         *auth.Principal
			code      string
		}{
			{"invalid values name the field", "template:ok", map[string]any{"name": "ABC"}, maya, catalog.EINVALID},
			{"a missing required value", "template:ok", map[string]any{}, maya, catalog.EINVALID},
			{"oversized values", "template:ok", map[string]any{"name": strings.Repeat("a", scaffolder.MaxValuesBytes)}, maya, catalog.EINVALID},
			{"an unknown template", "template:nope", map[string]any{"name": "abc"}, maya, catalog.ENOTFOUND},
			{"a ref of another kind", "component:ok", map[string]any{"name": "abc"}, maya, catalog.EINVALID},
			{"a reader may not run templates", "ok", map[string]any{"name": "abc"}, bob, catalog.EFORBIDDEN},
			{"no principal", "ok", map[string]any{"name": "abc"}, nil, catalog.EUNAUTHENTICATED},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.RunTemplate(ctx, tc.p, tc.ref, tc.values, nil)
				if catalog.ErrorCode(err) != tc.code {
					t.Errorf("error %v (%s), want %s", err, catalog.ErrorCode(err), tc.code)
				}
			})
		}
		if n, _ := e.st.Client.ScaffolderTask.Query().Count(ctx); n != 0 {
			t.Errorf("%d tasks stored by refused runs", n)
		}
	})
}

func TestFailedTaskIsRetriedFromTheFailedStep(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		e.eng.fail = true
		e.pool(t, e.svc)
		ctx := context.Background()
		task, err := e.svc.RunTemplate(ctx, maya, "flaky", map[string]any{"name": "abc"}, map[string]string{"token": secret})
		if err != nil {
			t.Fatal(err)
		}
		failed := e.wait(t, task.ID, scaffolder.StateFailed)
		if !strings.Contains(failed.Error, "step s2 failed using ***") || scaffolder.HasSecrets(failed) {
			t.Errorf("failed task: error %q, secrets %v", failed.Error, failed.Secrets)
		}
		if _, err := e.svc.RetryTask(ctx, bob, task.ID, nil); catalog.ErrorCode(err) != catalog.ENOTFOUND {
			t.Errorf("another reader retrying: %v, want NOT_FOUND", err)
		}
		e.eng.mu.Lock()
		e.eng.fail = false
		e.eng.mu.Unlock()
		if _, err := e.svc.RetryTask(ctx, maya, task.ID, map[string]string{"token": secret}); err != nil {
			t.Fatal(err)
		}
		e.wait(t, task.ID, scaffolder.StateCompleted)
		steps, _ := e.svc.Steps(ctx, task.ID)
		var starts int
		evs, _ := e.svc.Events(ctx, task.ID, 0, 0)
		for _, ev := range evs {
			if ev.Type == "step-start" && ev.StepID == "s1" {
				starts++
			}
		}
		if starts != 1 || steps[1].Status != "COMPLETED" {
			t.Errorf("step s1 started %d times (want once: the retry resumes at s2), s2 %s", starts, steps[1].Status)
		}
		if _, err := e.svc.RetryTask(ctx, maya, task.ID, nil); catalog.ErrorCode(err) != catalog.ECONFLICT {
			t.Errorf("retrying a completed task: %v, want CONFLICT", err)
		}
		if _, err := e.svc.RollbackTask(ctx, maya, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		steps, _ = e.svc.Steps(ctx, task.ID)
		for _, s := range steps {
			if s.Status != scaffold.StatusRolledBack {
				t.Errorf("after rollback step %s is %s", s.StepID, s.Status)
			}
		}
		noSecretAnywhere(t, e.st)
	})
}

func TestCancel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		ctx := context.Background()
		t.Run("an open task is cancelled at once", func(t *testing.T) {
			task, err := e.svc.RunTemplate(ctx, maya, "ok", map[string]any{"name": "abc"}, map[string]string{"token": secret})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.CancelTask(ctx, ben, task.ID); catalog.ErrorCode(err) != catalog.ENOTFOUND {
				t.Errorf("another editor cancelling: %v, want NOT_FOUND (it may not see the task)", err)
			}
			got, err := e.svc.CancelTask(ctx, maya, task.ID)
			if err != nil || got.State != scaffolder.StateCancelled || scaffolder.HasSecrets(got) {
				t.Fatalf("cancel: %+v %v", got, err)
			}
		})
		t.Run("a running task stops at the next step boundary", func(t *testing.T) {
			e.pool(t, e.svc)
			task, err := e.svc.RunTemplate(ctx, maya, "slow", map[string]any{"name": "abc"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			<-e.eng.started
			if _, err := e.svc.CancelTask(ctx, auth.Local(), task.ID); err != nil {
				t.Fatal(err)
			}
			close(e.eng.block)
			e.wait(t, task.ID, scaffolder.StateCancelled)
			steps, _ := e.svc.Steps(ctx, task.ID)
			if steps[1].Status != "COMPLETED" || steps[2].Status != "CANCELLED" {
				t.Errorf("steps: %s %s %s", steps[0].Status, steps[1].Status, steps[2].Status)
			}
		})
	})
}

func TestDeadWorkersTaskIsTakenOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		key, _ := scaffolder.ParseKey(strings.Repeat("ab", 32))
		keys, _ := scaffolder.NewKeyring(key)
		e := newEnv(t, dbURL, keys)
		ctx := context.Background()
		_, kill := e.pool(t, e.svc)
		task, err := e.svc.RunTemplate(ctx, maya, "slow", map[string]any{"name": "abc"}, map[string]string{"token": secret})
		if err != nil {
			t.Fatal(err)
		}
		<-e.eng.started
		kill() // the process dies: nothing released
		time.Sleep(50 * time.Millisecond)
		held := e.wait(t, task.ID, scaffolder.StateProcessing)
		if held.LeaseOwner == "" {
			t.Fatal("the dead worker's lease was released")
		}
		// A second process with the same key takes the task over after the lease.
		eng2 := &stepEngine{block: make(chan struct{}), started: make(chan string, 4)}
		close(eng2.block)
		svc2 := newService(t, e.st, eng2, keys)
		e.pool(t, svc2)
		<-eng2.started
		done := e.wait(t, task.ID, scaffolder.StateCompleted)
		if done.Attempts != 2 {
			t.Errorf("attempts %d, want 2", done.Attempts)
		}
		steps, _ := e.svc.Steps(ctx, task.ID)
		evs, _ := e.svc.Events(ctx, task.ID, 0, 0)
		var s1 int
		for _, ev := range evs {
			if ev.Type == "step-start" && ev.StepID == "s1" {
				s1++
			}
		}
		if s1 != 1 || steps[2].Status != "COMPLETED" {
			t.Errorf("s1 started %d times, want once (resumed at s2); s3 %s", s1, steps[2].Status)
		}
		noSecretAnywhere(t, e.st)
	})
}

func TestSecretsOfAnotherProcessKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil) // a random key
		ctx := context.Background()
		task, err := e.svc.RunTemplate(ctx, maya, "ok", map[string]any{"name": "abc"}, map[string]string{"token": secret})
		if err != nil {
			t.Fatal(err)
		}
		other := newService(t, e.st, &stepEngine{}, nil) // another random key
		e.pool(t, other)
		time.Sleep(200 * time.Millisecond)
		if got := e.wait(t, task.ID, scaffolder.StateOpen); got.LeaseOwner != "" {
			t.Fatalf("a worker without the key took the task while its creator may still run it")
		}
		failed := e.wait(t, task.ID, scaffolder.StateFailed) // after a lease, the creator counts as gone
		if !strings.Contains(failed.Error, "secrets unavailable") || scaffolder.HasSecrets(failed) {
			t.Errorf("error %q, secrets %v", failed.Error, failed.Secrets)
		}
	})
}

func TestStopReleasesLeases(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		ctx := context.Background()
		p, _ := e.pool(t, e.svc)
		task, err := e.svc.RunTemplate(ctx, maya, "slow", map[string]any{"name": "abc"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-e.eng.started
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		got := e.wait(t, task.ID, scaffolder.StateProcessing)
		if got.LeaseOwner != "" || got.LeaseUntil != 0 {
			t.Errorf("after Stop the lease is %q until %d, want released", got.LeaseOwner, got.LeaseUntil)
		}
	})
}

func TestAWorkerThatLostItsLeaseWritesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, nil)
		ctx := context.Background()
		e.pool(t, e.svc)
		task, err := e.svc.RunTemplate(ctx, maya, "slow", map[string]any{"name": "abc"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-e.eng.started
		// Another worker took the task over (as after a lease that expired unnoticed).
		if err := e.st.Client.ScaffolderTask.UpdateOneID(task.ID).SetLeaseOwner("someone-else").SetLeaseUntil(time.Now().Add(time.Hour).UnixMilli()).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		before, _ := e.svc.Events(ctx, task.ID, 0, 0)
		close(e.eng.block)
		time.Sleep(300 * time.Millisecond)
		got := e.wait(t, task.ID, scaffolder.StateProcessing)
		after, _ := e.svc.Events(ctx, task.ID, 0, 0)
		steps, _ := e.svc.Steps(ctx, task.ID)
		if got.LeaseOwner != "someone-else" || len(after) != len(before) || steps[1].Status != "PROCESSING" {
			t.Errorf("the old worker wrote on: lease %q, events %d -> %d, step s2 %s", got.LeaseOwner, len(before), len(after), steps[1].Status)
		}
	})
}
