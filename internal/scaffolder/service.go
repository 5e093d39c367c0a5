// Package scaffolder makes the scaffolder's runs durable and safe to expose: tasks, their steps
// and event logs in the database, workers that claim tasks with a lease and heartbeat (so
// several catalogd processes share the work and a dead worker's task is taken over), secrets
// sealed at rest and gone when a task ends, and every action asked of auth's policy first.
// The engine (internal/scaffold) runs the steps; this package hands it a Store per task.
package scaffolder

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/predicate"
	"catalogd/ent/scaffolderevent"
	"catalogd/ent/scaffolderstep"
	"catalogd/ent/scaffoldertask"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/scaffold"
)

// Task states.
const (
	StateOpen       = "OPEN"
	StateProcessing = "PROCESSING"
	StateCompleted  = "COMPLETED"
	StateFailed     = "FAILED"
	StateCancelled  = "CANCELLED"
)

// Final reports whether a task in state s will not run again by itself.
func Final(s string) bool { return s == StateCompleted || s == StateFailed || s == StateCancelled }

// Bounds of what a caller may hand in.
const (
	MaxValuesBytes  = 64 << 10
	MaxSecretsBytes = 16 << 10
	MaxSecrets      = 32
	MaxSteps        = 200
	DefaultTaskPage = 20
	MaxTaskPage     = 100
	MaxEventPage    = 500
)

// Engine is what the service needs of the scaffolder engine (*scaffold.Engine).
type Engine interface {
	Run(ctx context.Context, t scaffold.TaskSpec, s scaffold.Store) (map[string]any, error)
	Rollback(ctx context.Context, t scaffold.TaskSpec, s scaffold.Store) error
	DryRun(ctx context.Context, t scaffold.TaskSpec) (*scaffold.DryRunResult, error)
	Actions() []scaffold.ActionInfo
}

var _ Engine = (*scaffold.Engine)(nil)

// Options configure a Service.
type Options struct {
	Client *ent.Client
	Policy *auth.Policy
	Engine Engine
	// Keys seal secrets; nil makes a random key (only this process can resume its tasks).
	Keys *Keyring
	// Lease is how long a claimed task stays with its worker without a heartbeat (default 30s).
	Lease  time.Duration
	Logger *slog.Logger
}

// Service runs, shows and manages scaffolder tasks on a principal's behalf.
type Service struct {
	client *ent.Client
	policy *auth.Policy
	engine Engine
	keys   *Keyring
	lease  time.Duration
	log    *slog.Logger
	now    func() time.Time
	// owner names this process in lease_owner.
	owner string
	// wake tells an idle worker of this process that a task was queued here, so it need not
	// wait for its next poll (other processes find it by polling).
	wake chan struct{}
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// New returns the service.
func New(o Options) (*Service, error) {
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Keys == nil {
		k, err := NewKeyring(nil)
		if err != nil {
			return nil, err
		}
		o.Keys = k
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%s", catalog.Excerpt(host, 60), os.Getpid(), uuid.NewString()[:8])
	return &Service{client: o.Client, policy: o.Policy, engine: o.Engine, keys: o.Keys, lease: o.Lease,
		log: o.Logger, now: time.Now, owner: owner, wake: make(chan struct{}, 1)}, nil
}

// Actions lists the engine's actions.
func (s *Service) Actions(ctx context.Context, p *auth.Principal) ([]scaffold.ActionInfo, error) {
	if err := s.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return nil, err
	}
	return s.engine.Actions(), nil
}

// template finds the template entity ref names and checks that p may run it.
func (s *Service) template(ctx context.Context, p *auth.Principal, ref string) (*scaffold.Template, json.RawMessage, error) {
	if err := s.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return nil, nil, err
	}
	canon, err := catalog.CanonicalRef(ref, catalog.RefDefaults{Kind: "template"})
	if err != nil {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "ref: %v", err)
	}
	if !strings.HasPrefix(canon, "template:") {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "ref %q does not name a template", catalog.Excerpt(canon, 200))
	}
	e, err := s.client.Entity.Query().Where(entity.RefEQ(canon)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil, catalog.Errorf(catalog.ENOTFOUND, "no template %s", canon)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.policy.Authorize(p, auth.ActionTemplateRun, auth.Resource{Ref: e.Ref, Owners: []string{e.OwnerRef}}); err != nil {
		return nil, nil, err
	}
	t, err := scaffold.ParseTemplate(e.Document)
	if err != nil {
		return nil, nil, err
	}
	if len(t.Steps) > MaxSteps {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "%s has %d steps, more than the %d a task may run", canon, len(t.Steps), MaxSteps)
	}
	return t, e.Document, nil
}

// checkValues bounds and validates the values a caller gave.
func checkValues(t *scaffold.Template, values map[string]any) (map[string]any, []byte, error) {
	if values == nil {
		values = map[string]any{}
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "values: not JSON")
	}
	if len(raw) > MaxValuesBytes {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "values: %d bytes, at most %d", len(raw), MaxValuesBytes)
	}
	valid, err := t.ValidateValues(values)
	if err != nil {
		return nil, nil, err
	}
	raw, err = json.Marshal(valid)
	if err != nil {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "values: not JSON")
	}
	if len(raw) > MaxValuesBytes {
		return nil, nil, catalog.Errorf(catalog.EINVALID, "values: %d bytes with defaults, at most %d", len(raw), MaxValuesBytes)
	}
	return valid, raw, nil
}

// CheckSecrets turns the secrets argument (a JSON object of strings) into a map, bounded.
func CheckSecrets(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, catalog.Errorf(catalog.EINVALID, "secrets: an object of strings is needed")
	}
	if len(m) > MaxSecrets {
		return nil, catalog.Errorf(catalog.EINVALID, "secrets: at most %d, got %d", MaxSecrets, len(m))
	}
	out := make(map[string]string, len(m))
	size := 0
	for k, x := range m {
		str, ok := x.(string)
		if !ok {
			// Never quote the value: it is a secret.
			return nil, catalog.Errorf(catalog.EINVALID, "secrets: %q is not a string", catalog.Excerpt(k, 60))
		}
		size += len(k) + len(str)
		out[k] = str
	}
	if size > MaxSecretsBytes {
		return nil, catalog.Errorf(catalog.EINVALID, "secrets: %d bytes, at most %d", size, MaxSecretsBytes)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RunTemplate creates a task that runs the template ref with values; a worker picks it up.
// Nothing is stored unless p may run the template and the values are valid.
func (s *Service) RunTemplate(ctx context.Context, p *auth.Principal, ref string, values map[string]any, secrets map[string]string) (*ent.ScaffolderTask, error) {
	t, doc, err := s.template(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	_, raw, err := checkValues(t, values)
	if err != nil {
		return nil, err
	}
	principal, err := json.Marshal(storedPrincipal(p))
	if err != nil {
		return nil, err
	}
	id := uuid.NewString()
	now := s.now()
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	create := tx.ScaffolderTask.Create().SetID(id).SetTemplateRef(t.Ref).SetTemplate(doc).SetValues(raw).
		SetState(StateOpen).SetCreatedBy(principalName(p)).SetCreatedByIssuer(p.Issuer).SetCreatedByRef(p.Ref).
		SetPrincipal(principal).SetCreatedAt(now).SetUpdatedAt(now).SetQueuedMs(now.UnixMilli())
	if len(secrets) > 0 {
		sealed, err := s.keys.Seal(id, secrets)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		create.SetSecrets(sealed).SetSecretsKey(s.keys.ID)
	}
	task, err := create.Save(ctx)
	if err == nil {
		steps := make([]*ent.ScaffolderStepCreate, len(t.Steps))
		for i, st := range t.Steps {
			steps[i] = tx.ScaffolderStep.Create().SetTaskID(id).SetIndex(i).SetStepID(st.ID).
				SetName(catalog.Excerpt(st.Name, 200)).SetAction(st.Action).SetStatus(scaffold.StatusOpen)
		}
		if len(steps) > 0 {
			err = tx.ScaffolderStep.CreateBulk(steps...).Exec(ctx)
		}
	}
	if err == nil {
		err = tx.ScaffolderEvent.Create().SetTaskID(id).SetSeq(1).SetType(scaffold.EventLog).
			SetMessage("task created by " + principalName(p)).SetCreatedAt(now).Exec(ctx)
	}
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.log.Info("scaffolder task created", "task", id, "template", t.Ref, "by", principalName(p))
	s.kick()
	return task, nil
}

// DryRunTemplate renders the template with values without any side effect.
func (s *Service) DryRunTemplate(ctx context.Context, p *auth.Principal, ref string, values map[string]any) (*scaffold.DryRunResult, error) {
	t, _, err := s.template(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	valid, _, err := checkValues(t, values)
	if err != nil {
		return nil, err
	}
	user, err := s.userOf(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.engine.DryRun(ctx, scaffold.TaskSpec{ID: "dry-run-" + uuid.NewString(), Template: t, Values: valid,
		User: user, CreatedAt: s.now()})
}

// userOf is what templates see as user: the principal's User entity and its ref.
func (s *Service) userOf(ctx context.Context, p *auth.Principal) (map[string]any, error) {
	if p == nil || p.Ref == "" {
		return map[string]any{"entity": nil, "ref": ""}, nil
	}
	e, err := s.client.Entity.Query().Where(entity.RefEQ(p.Ref)).Select(entity.FieldDocument).Only(ctx)
	if ent.IsNotFound(err) {
		return map[string]any{"entity": nil, "ref": p.Ref}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(e.Document, &doc); err != nil {
		return nil, err
	}
	return map[string]any{"entity": doc, "ref": p.Ref}, nil
}

// storedPrincipal is the part of a principal a task keeps: who, and what they may do.
func storedPrincipal(p *auth.Principal) *auth.Principal {
	return &auth.Principal{Kind: p.Kind, Name: p.Name, Ref: p.Ref, Groups: p.Groups, Roles: p.Roles,
		Issuer: p.Issuer, Subject: p.Subject}
}

func principalName(p *auth.Principal) string {
	if p == nil {
		return ""
	}
	return p.Kind + ":" + p.Name
}

func (s *Service) isCreator(p *auth.Principal, t *ent.ScaffolderTask) bool {
	return p != nil && p.Kind != auth.KindAnonymous && t.CreatedBy == principalName(p) && t.CreatedByIssuer == p.Issuer
}

// visible reports whether p may see t: its creator, or a principal allowed task.read-all.
func (s *Service) visible(p *auth.Principal, t *ent.ScaffolderTask) bool {
	if s.policy.Authorize(p, auth.ActionRead, auth.Resource{}) != nil {
		return false
	}
	return s.isCreator(p, t) || s.policy.Authorize(p, auth.ActionTaskReadAll, auth.Resource{Ref: "task " + t.ID}) == nil
}

// Task returns the task id, or nil when there is none p may see.
func (s *Service) Task(ctx context.Context, p *auth.Principal, id string) (*ent.ScaffolderTask, error) {
	if err := s.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return nil, nil
	}
	t, err := s.client.ScaffolderTask.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.visible(p, t) {
		return nil, nil
	}
	return t, nil
}

// Tasks returns IDs' tasks that p may see, in the order asked (nil where none).
func (s *Service) TasksByID(ctx context.Context, p *auth.Principal, ids []string) ([]*ent.ScaffolderTask, error) {
	if err := s.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return nil, err
	}
	var valid []string
	for _, id := range ids {
		if _, err := uuid.Parse(id); err == nil && len(id) == 36 {
			valid = append(valid, id)
		}
	}
	out := make([]*ent.ScaffolderTask, len(ids))
	if len(valid) == 0 {
		return out, nil
	}
	rows, err := s.client.ScaffolderTask.Query().Where(scaffoldertask.IDIn(valid...)).All(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*ent.ScaffolderTask{}
	for _, r := range rows {
		if s.visible(p, r) {
			byID[r.ID] = r
		}
	}
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// TaskFilter narrows Tasks.
type TaskFilter struct {
	States      []string
	TemplateRef string
	// CreatedBy is kind:name; a principal without task.read-all sees only its own tasks anyway.
	CreatedBy string
}

// TaskPage is one page of tasks, newest first.
type TaskPage struct {
	Tasks      []*ent.ScaffolderTask
	Cursors    []string
	HasNext    bool
	TotalCount int
}

// Tasks lists the tasks p may see, newest first; after is the cursor of the last task received.
func (s *Service) Tasks(ctx context.Context, p *auth.Principal, first *int, after *string, f TaskFilter) (*TaskPage, error) {
	if err := s.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return nil, err
	}
	n := DefaultTaskPage
	if first != nil {
		if *first < 0 || *first > MaxTaskPage {
			return nil, catalog.Errorf(catalog.EINVALID, "first must be between 0 and %d, got %d", MaxTaskPage, *first)
		}
		n = *first
	}
	var where []predicate.ScaffolderTask
	if s.policy.Authorize(p, auth.ActionTaskReadAll, auth.Resource{Ref: "tasks"}) != nil {
		where = append(where, scaffoldertask.CreatedBy(principalName(p)), scaffoldertask.CreatedByIssuer(p.Issuer))
	}
	if f.CreatedBy != "" {
		where = append(where, scaffoldertask.CreatedBy(f.CreatedBy))
	}
	if len(f.States) > 0 {
		for _, st := range f.States {
			if st != StateOpen && st != StateProcessing && !Final(st) {
				return nil, catalog.Errorf(catalog.EINVALID, "state %q is not one of OPEN, PROCESSING, COMPLETED, FAILED, CANCELLED", catalog.Excerpt(st, 40))
			}
		}
		where = append(where, scaffoldertask.StateIn(f.States...))
	}
	if f.TemplateRef != "" {
		canon, err := catalog.CanonicalRef(f.TemplateRef, catalog.RefDefaults{Kind: "template"})
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "templateRef: %v", err)
		}
		where = append(where, scaffoldertask.TemplateRef(canon))
	}
	total, err := s.client.ScaffolderTask.Query().Where(where...).Count(ctx)
	if err != nil {
		return nil, err
	}
	q := s.client.ScaffolderTask.Query().Where(where...)
	if after != nil && *after != "" {
		at, id, ok := decodeTaskCursor(*after)
		if !ok {
			return nil, catalog.Errorf(catalog.EINVALID, "after %q is not a task cursor", catalog.Excerpt(*after, 40))
		}
		q = q.Where(scaffoldertask.Or(scaffoldertask.CreatedAtLT(at),
			scaffoldertask.And(scaffoldertask.CreatedAt(at), scaffoldertask.IDLT(id))))
	}
	rows, err := q.Order(ent.Desc(scaffoldertask.FieldCreatedAt), ent.Desc(scaffoldertask.FieldID)).Limit(n + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	page := &TaskPage{TotalCount: total}
	if len(rows) > n {
		rows, page.HasNext = rows[:n], true
	}
	page.Tasks = rows
	for _, r := range rows {
		page.Cursors = append(page.Cursors, taskCursor(r))
	}
	return page, nil
}

func taskCursor(t *ent.ScaffolderTask) string {
	return base64.RawURLEncoding.EncodeToString([]byte("task:" + strconv.FormatInt(t.CreatedAt.UnixNano(), 10) + ":" + t.ID))
}

func decodeTaskCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != "task" {
		return time.Time{}, "", false
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns), parts[2], true
}

// Steps returns a task's steps in order (the caller has seen the task).
func (s *Service) Steps(ctx context.Context, taskID string) ([]*ent.ScaffolderStep, error) {
	return s.client.ScaffolderStep.Query().Where(scaffolderstep.TaskID(taskID)).Order(ent.Asc(scaffolderstep.FieldIndex)).All(ctx)
}

// Events returns up to limit of a task's events after seq afterSeq, oldest first (the caller
// has seen the task).
func (s *Service) Events(ctx context.Context, taskID string, afterSeq, limit int) ([]*ent.ScaffolderEvent, error) {
	if limit <= 0 || limit > MaxEventPage {
		limit = MaxEventPage
	}
	return s.client.ScaffolderEvent.Query().Where(scaffolderevent.TaskID(taskID), scaffolderevent.SeqGT(afterSeq)).
		Order(ent.Asc(scaffolderevent.FieldSeq)).Limit(limit).All(ctx)
}

// manage finds a task p may cancel, retry or roll back: its creator, or a principal allowed
// task.write-all. A task p may not see is NOT_FOUND, one it may see but not manage FORBIDDEN.
func (s *Service) manage(ctx context.Context, p *auth.Principal, id string) (*ent.ScaffolderTask, error) {
	t, err := s.Task(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, catalog.Errorf(catalog.ENOTFOUND, "no task %q", catalog.Excerpt(id, 40))
	}
	if s.isCreator(p, t) {
		return t, nil
	}
	if err := s.policy.Authorize(p, auth.ActionTaskWriteAll, auth.Resource{Ref: "task " + t.ID}); err != nil {
		return nil, err
	}
	return t, nil
}

// CancelTask stops a task: an OPEN one at once, a PROCESSING one at its next step boundary.
func (s *Service) CancelTask(ctx context.Context, p *auth.Principal, id string) (*ent.ScaffolderTask, error) {
	t, err := s.manage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if Final(t.State) {
		return nil, catalog.Errorf(catalog.ECONFLICT, "task %s is %s already", t.ID, t.State)
	}
	now := s.now()
	// An OPEN task no worker holds is cancelled here; the conditional update loses to a claim.
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	n, err := tx.ScaffolderTask.Update().Where(scaffoldertask.ID(t.ID), scaffoldertask.State(StateOpen), scaffoldertask.LeaseOwner("")).
		SetState(StateCancelled).SetCancelRequested(true).SetFinishedAt(now).SetUpdatedAt(now).
		ClearSecrets().SetSecretsKey("").Save(ctx)
	if err == nil && n == 1 {
		var seq int
		seq, err = lastSeq(ctx, tx.Client(), t.ID)
		if err == nil {
			err = tx.ScaffolderEvent.Create().SetTaskID(t.ID).SetSeq(seq + 1).SetType(scaffold.EventCancelled).
				SetMessage("cancelled by " + principalName(p) + " before it started").SetCreatedAt(now).Exec(ctx)
		}
	}
	if err == nil && n == 0 {
		_, err = tx.ScaffolderTask.Update().Where(scaffoldertask.ID(t.ID), scaffoldertask.StateNotIn(StateCompleted, StateFailed, StateCancelled)).
			SetCancelRequested(true).SetUpdatedAt(now).Save(ctx)
	}
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.log.Info("scaffolder task cancel requested", "task", t.ID, "by", principalName(p))
	return s.client.ScaffolderTask.Get(ctx, t.ID)
}

func lastSeq(ctx context.Context, c *ent.Client, taskID string) (int, error) {
	last, err := c.ScaffolderEvent.Query().Where(scaffolderevent.TaskID(taskID)).Order(ent.Desc(scaffolderevent.FieldSeq)).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return last.Seq, nil
}

// RetryTask puts a FAILED task back to OPEN; it resumes from the step that failed. Secrets
// were cleared when it failed, so they are given again.
func (s *Service) RetryTask(ctx context.Context, p *auth.Principal, id string, secrets map[string]string) (*ent.ScaffolderTask, error) {
	t, err := s.manage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if t.State != StateFailed {
		return nil, catalog.Errorf(catalog.ECONFLICT, "task %s is %s: only a FAILED task can be retried", t.ID, t.State)
	}
	if err := s.authorizeRun(ctx, p, t.TemplateRef); err != nil {
		return nil, err
	}
	now := s.now()
	u := s.client.ScaffolderTask.Update().Where(scaffoldertask.ID(t.ID), scaffoldertask.State(StateFailed), scaffoldertask.LeaseOwner("")).
		SetState(StateOpen).SetError("").ClearFinishedAt().SetCancelRequested(false).SetQueuedMs(now.UnixMilli()).
		SetUpdatedAt(now).ClearOutput()
	if len(secrets) > 0 {
		sealed, err := s.keys.Seal(t.ID, secrets)
		if err != nil {
			return nil, err
		}
		u.SetSecrets(sealed).SetSecretsKey(s.keys.ID)
	} else {
		u.ClearSecrets().SetSecretsKey("")
	}
	n, err := u.Save(ctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, catalog.Errorf(catalog.ECONFLICT, "task %s changed meanwhile: it is no longer FAILED", t.ID)
	}
	s.log.Info("scaffolder task retried", "task", t.ID, "by", principalName(p))
	s.kick()
	return s.client.ScaffolderTask.Get(ctx, t.ID)
}

// RollbackTask undoes, newest first, the completed steps of a finished task that can be
// undone (see scaffold.Engine.Rollback). It runs in the call, holding the task's lease so
// no worker or other rollback touches it meanwhile; secrets (e.g. a token to delete a
// repository) are used for this call only.
func (s *Service) RollbackTask(ctx context.Context, p *auth.Principal, id string, secrets map[string]string) (*ent.ScaffolderTask, error) {
	t, err := s.manage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !Final(t.State) {
		return nil, catalog.Errorf(catalog.ECONFLICT, "task %s is %s: cancel it first, then roll it back", t.ID, t.State)
	}
	owner := s.owner + "/rollback/" + uuid.NewString()[:8]
	now := s.now()
	n, err := s.client.ScaffolderTask.Update().
		Where(scaffoldertask.ID(t.ID), scaffoldertask.StateIn(StateCompleted, StateFailed, StateCancelled),
			scaffoldertask.Or(scaffoldertask.LeaseOwner(""), scaffoldertask.LeaseUntilLT(now.UnixMilli()))).
		SetLeaseOwner(owner).SetLeaseUntil(now.Add(s.lease).UnixMilli()).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, catalog.Errorf(catalog.ECONFLICT, "task %s is being rolled back already", t.ID)
	}
	defer func() {
		// Released whatever happened, also when the caller went away.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.client.ScaffolderTask.Update().Where(scaffoldertask.ID(t.ID), scaffoldertask.LeaseOwner(owner)).
			SetLeaseOwner("").SetLeaseUntil(0).Exec(rctx)
	}()
	spec, red, err := s.spec(ctx, t, secrets)
	if err != nil {
		return nil, err
	}
	st, err := newTaskStore(ctx, s.client, t.ID, owner, red, s.now)
	if err != nil {
		return nil, err
	}
	st.Event(ctx, scaffold.EventRollback, "", "rollback requested by "+principalName(p))
	stop := s.heartbeat(ctx, t.ID, owner, nil)
	err = s.engine.Rollback(auth.WithPrincipal(ctx, spec.principal), spec.TaskSpec, st)
	stop()
	if err != nil {
		msg := catalog.Excerpt(red.String(err.Error()), MaxErrorMessage)
		st.Event(ctx, scaffold.EventError, "", "rollback failed: "+msg)
		s.log.Warn("scaffolder rollback failed", "task", t.ID, "err", msg)
		var ce *catalog.Error
		if !errors.As(err, &ce) {
			// A remote refusing (a branch it will not delete) is the task's state, not a fault.
			return nil, catalog.Errorf(catalog.ECONFLICT, "rollback failed: %s", msg)
		}
		return nil, redactedError(err, red)
	}
	s.log.Info("scaffolder task rolled back", "task", t.ID, "by", principalName(p))
	return s.client.ScaffolderTask.Get(ctx, t.ID)
}

// redactedError keeps err's code but not a secret in its message.
func redactedError(err error, red *redactor) error {
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return &catalog.Error{Code: ce.Code, Message: red.String(ce.Message)}
	}
	return errors.New(red.String(err.Error()))
}

// runSpec is what a worker (or a rollback) needs to hand a task to the engine.
type runSpec struct {
	scaffold.TaskSpec
	principal *auth.Principal
}

// spec rebuilds the engine's view of a stored task; secrets given replace stored ones.
func (s *Service) spec(ctx context.Context, t *ent.ScaffolderTask, secrets map[string]string) (*runSpec, *redactor, error) {
	tmpl, err := scaffold.ParseTemplate(t.Template)
	if err != nil {
		return nil, nil, err
	}
	var values map[string]any
	if err := json.Unmarshal(t.Values, &values); err != nil {
		return nil, nil, fmt.Errorf("task %s: values: %w", t.ID, err)
	}
	var p auth.Principal
	if err := json.Unmarshal(t.Principal, &p); err != nil {
		return nil, nil, fmt.Errorf("task %s: principal: %w", t.ID, err)
	}
	if secrets == nil && HasSecrets(t) {
		if t.SecretsKey != s.keys.ID {
			return nil, nil, errSecretsUnavailable
		}
		secrets, err = s.keys.Open(t.ID, *t.Secrets)
		if err != nil {
			return nil, nil, errSecretsUnavailable
		}
	}
	user, err := s.userOf(ctx, &p)
	if err != nil {
		return nil, nil, err
	}
	return &runSpec{TaskSpec: scaffold.TaskSpec{ID: t.ID, Template: tmpl, Values: values, Secrets: secrets,
		User: user, CreatedAt: t.CreatedAt}, principal: &p}, newRedactor(secrets), nil
}

// errSecretsUnavailable is why a task sealed under another process's key fails.
var errSecretsUnavailable = catalog.Errorf(catalog.ECONFLICT, "secrets unavailable: they were sealed with another catalogd process's key "+
	"(set CATALOGD_SCAFFOLDER_SECRET_KEY alike on every replica); retry the task with its secrets")

// authorizeRun checks that p may run the template ref (its owners as the catalog has them now).
func (s *Service) authorizeRun(ctx context.Context, p *auth.Principal, ref string) error {
	res := auth.Resource{Ref: ref}
	if e, err := s.client.Entity.Query().Where(entity.RefEQ(ref)).Select(entity.FieldRef, entity.FieldOwnerRef).Only(ctx); err == nil {
		res.Owners = []string{e.OwnerRef}
	} else if !ent.IsNotFound(err) {
		return err
	}
	return s.policy.Authorize(p, auth.ActionTemplateRun, res)
}

// HasSecrets reports whether t holds sealed secrets (ent reads a NULL column as an empty slice).
func HasSecrets(t *ent.ScaffolderTask) bool { return t.Secrets != nil && len(*t.Secrets) > 0 }

// CountByState counts the tasks in each state (for the catalogd_scaffolder_tasks gauge); every
// state is present, zero when no task is in it.
func (s *Service) CountByState(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		State string `json:"state"`
		Count int    `json:"count"`
	}
	if err := s.client.ScaffolderTask.Query().GroupBy(scaffoldertask.FieldState).Aggregate(ent.Count()).Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := map[string]int{StateOpen: 0, StateProcessing: 0, StateCompleted: 0, StateFailed: 0, StateCancelled: 0}
	for _, r := range rows {
		out[r.State] = r.Count
	}
	return out, nil
}
