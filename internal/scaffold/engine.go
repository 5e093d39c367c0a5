package scaffold

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"catalogd/internal/catalog"
)

// EUNAVAILABLE is the error code of a remote that failed (GitHub's API, a git push): the
// caller may retry. It is not a catalog code; graph's presenter maps it with the others.
const EUNAVAILABLE = "unavailable"

// DefaultLimits bound one task when Options.Limits leaves a field zero.
var DefaultLimits = Limits{
	MaxFiles:      5000,
	MaxFileBytes:  8 << 20,
	MaxTotalBytes: 256 << 20,
	MaxRender:     16 << 20,
	MaxEach:       100,
}

// Engine runs templates; built once in cmd/ with its dependencies (no globals).
type Engine struct {
	opts      Options
	allowDirs []string // cleaned absolute directories
	actions   map[string]*action
	log       *slog.Logger
}

// New returns an Engine with the built-in actions registered.
func New(opts Options) (*Engine, error) {
	e := &Engine{opts: opts, log: opts.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.opts.WorkDir == "" {
		e.opts.WorkDir = os.TempDir()
	}
	if e.opts.GitHubAPI == "" {
		e.opts.GitHubAPI = "https://api.github.com"
	}
	e.opts.GitHubAPI = strings.TrimRight(e.opts.GitHubAPI, "/")
	l := &e.opts.Limits
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultLimits.MaxTotalBytes
	}
	if l.MaxRender <= 0 {
		l.MaxRender = DefaultLimits.MaxRender
	}
	if l.MaxEach <= 0 {
		l.MaxEach = DefaultLimits.MaxEach
	}
	for _, d := range opts.AllowDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("scaffold: allowed dir %q: %w", d, err)
		}
		e.allowDirs = append(e.allowDirs, filepath.Clean(abs))
		if real, err := filepath.EvalSymlinks(abs); err == nil && real != filepath.Clean(abs) {
			e.allowDirs = append(e.allowDirs, real) // the same dir, by its resolved name
		}
	}
	e.actions = map[string]*action{}
	for _, a := range builtinActions() {
		if err := a.compile(); err != nil {
			return nil, fmt.Errorf("scaffold: action %s: %w", a.id, err)
		}
		e.actions[a.id] = a
	}
	return e, nil
}

// Actions lists the registered actions, sorted by ID.
func (e *Engine) Actions() []ActionInfo {
	out := make([]ActionInfo, 0, len(e.actions))
	for _, id := range sortedKeys(e.actions) {
		a := e.actions[id]
		in, _ := json.Marshal(a.input)
		outS, _ := json.Marshal(a.output)
		out = append(out, ActionInfo{ID: a.id, Description: a.description, InputSchema: in, OutputSchema: outS})
	}
	return out
}

// action is one registered action.
type action struct {
	id, description string
	input, output   map[string]any // JSON Schemas
	inSchema        *jsonschema.Schema
	// workspaceOnly actions change nothing but the task's workspace: they run in a dry run and
	// run again on resume, since the workspace does not survive a Run.
	workspaceOnly bool
	run           func(ctx context.Context, ac *actionContext) (map[string]any, error)
	// undo reverses a completed run, given its input and recorded output; nil if it cannot.
	undo func(ctx context.Context, ac *actionContext, output map[string]any) error
}

func (a *action) compile() error {
	s, err := compileSchema(a.input)
	a.inSchema = s
	return err
}

// actionContext is what an action sees of its task.
type actionContext struct {
	e         *Engine
	task      *TaskSpec
	stepID    string
	input     map[string]any
	workspace string
	budget    *budget
	logf      func(format string, args ...any)
	red       *redactor
}

// budget is what the task's fetch steps may still write.
type budget struct {
	bytes int64
}

// runState is one Run, DryRun or Rollback in progress.
type runState struct {
	e         *Engine
	t         *TaskSpec
	s         Store
	red       *redactor
	workspace string
	outputs   map[string]any // step id -> {"output": {...}}
	budget    *budget
	dry       *DryRunResult
}

func (e *Engine) newRun(t *TaskSpec, s Store) (*runState, error) {
	if t.Template == nil {
		return nil, catalog.Errorf(catalog.EINVALID, "task %s has no template", t.ID)
	}
	if err := os.MkdirAll(e.opts.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("scaffold: work dir: %w", err)
	}
	ws, err := os.MkdirTemp(e.opts.WorkDir, "scaffold-")
	if err != nil {
		return nil, fmt.Errorf("scaffold: workspace: %w", err)
	}
	return &runState{e: e, t: t, s: s, red: newRedactor(t.Secrets), workspace: ws,
		outputs: map[string]any{}, budget: &budget{bytes: e.opts.Limits.MaxTotalBytes}}, nil
}

func (r *runState) close() { os.RemoveAll(r.workspace) }

// vars are the variables of expressions in steps and output.
func (r *runState) vars() map[string]any {
	secrets := map[string]any{}
	for k, v := range r.t.Secrets {
		secrets[k] = v
	}
	user := map[string]any{"entity": undefined, "ref": undefined}
	for k, v := range r.t.User {
		user[k] = v
	}
	values := r.t.Values
	if values == nil {
		values = map[string]any{}
	}
	return map[string]any{
		"parameters": values,
		"steps":      &strictMap{what: "step", m: r.outputs},
		"user":       user,
		"secrets":    secrets,
	}
}

// exprError is the error of an expression in a step (or the output) that cannot be evaluated.
func (r *runState) exprError(where, text string, err error) error {
	var le *langError
	if !errors.As(err, &le) {
		return err
	}
	return catalog.Errorf(catalog.EINVALID, "%s: %s in %q", where, r.red.redact(le.msg), excerpt(r.red.redact(text), 120))
}

// render renders every string of v (maps and lists recursively); keys whose value is
// undefined are dropped.
func (r *runState) render(where string, v any, vars map[string]any) (any, error) {
	switch v := v.(type) {
	case string:
		out, err := renderValue(v, vars, r.e.opts.Limits.MaxRender)
		if err != nil {
			return nil, r.exprError(where, v, err)
		}
		return plainValue(out), nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			x, err := r.render(where, v[k], vars)
			if err != nil {
				return nil, err
			}
			if x != nil || v[k] == nil {
				out[k] = x
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(v))
		for _, it := range v {
			x, err := r.render(where, it, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	return v, nil
}

// plainValue converts an evaluation result to JSON values (undefined becomes nil).
func plainValue(v any) any {
	if v == undefined {
		return nil
	}
	return plain(v)
}

// stepWhere names a step in messages.
func stepWhere(st StepSpec) string { return fmt.Sprintf("step %q", st.ID) }

// cond evaluates a step's `if`: nil is true; a string is an expression.
func (r *runState) cond(st StepSpec, vars map[string]any) (bool, error) {
	switch c := st.If.(type) {
	case nil:
		return true, nil
	case bool:
		return c, nil
	case string:
		v, err := renderValue(c, vars, r.e.opts.Limits.MaxRender)
		if err != nil {
			return false, r.exprError(stepWhere(st)+" if", c, err)
		}
		if s, ok := v.(string); ok && !strings.Contains(c, "${{") {
			return s != "" && s != "false", nil
		}
		return truthy(v), nil
	}
	return truthy(st.If), nil
}

// items evaluates a step's `each`: nil means run once.
func (r *runState) items(st StepSpec, vars map[string]any) ([]map[string]any, error) {
	if st.Each == nil {
		return nil, nil
	}
	v := st.Each
	if s, ok := v.(string); ok {
		var err error
		if v, err = renderValue(s, vars, r.e.opts.Limits.MaxRender); err != nil {
			return nil, r.exprError(stepWhere(st)+" each", s, err)
		}
	}
	var out []map[string]any
	switch v := v.(type) {
	case []any:
		for i, it := range v {
			out = append(out, map[string]any{"key": fmt.Sprint(i), "value": it})
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			out = append(out, map[string]any{"key": k, "value": v[k]})
		}
	default:
		return nil, catalog.Errorf(catalog.EINVALID, "%s each: needs a list or an object, not %s", stepWhere(st), display(v))
	}
	if len(out) > r.e.opts.Limits.MaxEach {
		return nil, catalog.Errorf(catalog.EINVALID, "%s each: %d items, over the limit of %d", stepWhere(st), len(out), r.e.opts.Limits.MaxEach)
	}
	return out, nil
}

// runStep runs one step (once, or once per `each` item) and returns its output.
func (r *runState) runStep(ctx context.Context, st StepSpec, a *action, vars map[string]any, dry bool) (map[string]any, error) {
	items, err := r.items(st, vars)
	if err != nil {
		return nil, err
	}
	if st.Each == nil {
		return r.runOnce(ctx, st, a, vars, dry)
	}
	collected := map[string]any{}
	for _, it := range items {
		iv := make(map[string]any, len(vars)+1)
		for k, v := range vars {
			iv[k] = v
		}
		iv["each"] = it
		out, err := r.runOnce(ctx, st, a, iv, dry)
		if err != nil {
			return nil, err
		}
		for k, v := range out { // an each step's output holds a list per key, one item per run
			l, _ := collected[k].([]any)
			collected[k] = append(l, v)
		}
	}
	return collected, nil
}

func (r *runState) runOnce(ctx context.Context, st StepSpec, a *action, vars map[string]any, dry bool) (map[string]any, error) {
	in, err := r.render(stepWhere(st), st.Input, vars)
	if err != nil {
		return nil, err
	}
	input, _ := in.(map[string]any)
	if input == nil {
		input = map[string]any{}
	}
	if err := validateInput(a, st, input, r.red); err != nil {
		return nil, err
	}
	if r.dry != nil {
		r.dry.Steps = append(r.dry.Steps, DryRunStep{ID: st.ID, Name: st.Name, Action: st.Action, Input: redactMap(r.red, input)})
	}
	if dry && !a.workspaceOnly {
		return dryOutput(a, st), nil
	}
	ac := r.actionContext(ctx, st, input)
	return a.run(ctx, ac)
}

func (r *runState) actionContext(ctx context.Context, st StepSpec, input map[string]any) *actionContext {
	return &actionContext{e: r.e, task: r.t, stepID: st.ID, input: input, workspace: r.workspace, budget: r.budget, red: r.red,
		logf: func(format string, args ...any) {
			msg := r.red.redact(fmt.Sprintf(format, args...))
			if r.dry != nil {
				r.dry.Log = append(r.dry.Log, msg)
			}
			if r.s != nil {
				if err := r.s.Event(ctx, EventLog, st.ID, msg); err != nil {
					r.e.log.Warn("scaffold: recording a log event", "task", r.t.ID, "err", err)
				}
			}
		}}
}

// validateInput checks a rendered input against the action's schema.
func validateInput(a *action, st StepSpec, input map[string]any, red *redactor) error {
	inst, err := roundTrip(input)
	if err != nil {
		return catalog.Errorf(catalog.EINVALID, "%s input: %s", stepWhere(st), red.redact(excerpt(err.Error(), 200)))
	}
	if err := a.inSchema.Validate(inst); err != nil {
		p := schemaProblems(err)
		sort.Strings(p)
		return catalog.Errorf(catalog.EINVALID, "%s: input of %s: %s", stepWhere(st), a.id, red.redact(strings.Join(dedupe(p), "; ")))
	}
	return nil
}

// dryOutput stands in for the output of an action a dry run does not run: each output property
// is a placeholder naming it.
func dryOutput(a *action, st StepSpec) map[string]any {
	out := map[string]any{}
	props, _ := a.output["properties"].(map[string]any)
	for k := range props {
		out[k] = fmt.Sprintf("dry-run:steps.%s.output.%s", st.ID, k)
	}
	return out
}

// Run executes the task from the first step not COMPLETED (so a retry or a task picked up after a
// crash resumes). Workspace-only steps that completed earlier (fetch:*, catalog:write) are re-run
// into a fresh workspace; side-effecting completed steps (publish:*, catalog:register) are skipped
// and their recorded output is used. Returns the rendered output. A cancelled task returns
// ErrCancelled; a failing step returns an error naming the step. Secrets never appear in what
// it records or returns.
func (e *Engine) Run(ctx context.Context, t TaskSpec, s Store) (map[string]any, error) {
	r, err := e.newRun(&t, s)
	if err != nil {
		return nil, err
	}
	defer r.close()
	steps := t.Template.Steps
	states, err := s.Steps(ctx)
	if err != nil {
		return nil, err
	}
	if len(states) != len(steps) {
		return nil, fmt.Errorf("scaffold: the store has %d step states for %d steps", len(states), len(steps))
	}
	for i, st := range steps {
		if _, ok := e.actions[st.Action]; !ok {
			return nil, r.fail(ctx, i, catalog.Errorf(catalog.EINVALID, "%s: unknown action %q", stepWhere(st), excerpt(st.Action, 60)))
		}
	}
	for i, st := range steps {
		a := e.actions[st.Action]
		vars := r.vars()
		switch states[i].Status {
		case StatusCompleted:
			if !a.workspaceOnly {
				r.outputs[st.ID] = map[string]any{"output": orEmpty(states[i].Output)}
				continue
			}
			// The workspace is new on every Run: build it again, without recording anything.
			out, err := r.runStep(ctx, st, a, vars, false)
			if err != nil {
				return nil, r.fail(ctx, i, err)
			}
			r.outputs[st.ID] = map[string]any{"output": redactMap(r.red, out)}
			continue
		case StatusSkipped:
			r.outputs[st.ID] = map[string]any{"output": map[string]any{}}
			continue
		}
		if cancelled, err := s.Cancelled(ctx); err != nil {
			return nil, err
		} else if cancelled {
			for j := i; j < len(steps); j++ {
				if err := s.StepFinished(ctx, j, StatusCancelled, nil, ""); err != nil {
					return nil, err
				}
			}
			if err := s.Event(ctx, EventCancelled, st.ID, "cancelled before step "+st.ID); err != nil {
				return nil, err
			}
			return nil, ErrCancelled
		}
		ok, err := r.cond(st, vars)
		if err != nil {
			return nil, r.fail(ctx, i, err)
		}
		if !ok {
			r.outputs[st.ID] = map[string]any{"output": map[string]any{}}
			if err := s.StepFinished(ctx, i, StatusSkipped, nil, ""); err != nil {
				return nil, err
			}
			if err := s.Event(ctx, EventStepEnd, st.ID, fmt.Sprintf("skipped %s: its condition is false", st.Name)); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.StepStarted(ctx, i); err != nil {
			return nil, err
		}
		if err := s.Event(ctx, EventStepStart, st.ID, fmt.Sprintf("beginning step %s (%s)", st.Name, st.Action)); err != nil {
			return nil, err
		}
		out, err := r.runStep(ctx, st, a, vars, false)
		if err != nil {
			return nil, r.fail(ctx, i, err)
		}
		out = redactMap(r.red, out)
		r.outputs[st.ID] = map[string]any{"output": out}
		if err := s.StepFinished(ctx, i, StatusCompleted, out, ""); err != nil {
			return nil, err
		}
		if err := s.Event(ctx, EventStepEnd, st.ID, fmt.Sprintf("finished step %s", st.Name)); err != nil {
			return nil, err
		}
	}
	out, err := r.output()
	if err != nil {
		if err := s.Event(ctx, EventError, "", err.Error()); err != nil {
			return nil, err
		}
		return nil, err
	}
	if err := s.Event(ctx, EventCompletion, "", "run completed"); err != nil {
		return nil, err
	}
	return out, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// fail records a step's failure and returns the error, redacted and naming the step.
func (r *runState) fail(ctx context.Context, i int, err error) error {
	st := r.t.Template.Steps[i]
	err = r.red.redactError(err)
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", st.ID)) {
		err = wrapStep(st, err)
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	if serr := r.s.StepFinished(ctx, i, StatusFailed, nil, err.Error()); serr != nil {
		return errors.Join(err, serr)
	}
	if serr := r.s.Event(ctx, EventError, st.ID, err.Error()); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// wrapStep prefixes an error with its step, keeping its code.
func wrapStep(st StepSpec, err error) error {
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return &catalog.Error{Code: ce.Code, Message: stepWhere(st) + ": " + ce.Message}
	}
	return fmt.Errorf("%s: %w", stepWhere(st), err)
}

// output renders spec.output.
func (r *runState) output() (map[string]any, error) {
	if r.t.Template.Output == nil {
		return map[string]any{}, nil
	}
	v, err := r.render("output", r.t.Template.Output, r.vars())
	if err != nil {
		return nil, r.red.redactError(err)
	}
	m, _ := v.(map[string]any)
	return redactMap(r.red, orEmpty(m)), nil
}

// Rollback undoes COMPLETED steps that can be undone, newest first (publish:github deletes the
// repository it created; publish:git deletes the branch it created when it created it), marking
// them ROLLED_BACK and recording events. Steps that cannot be undone are left as they are.
func (e *Engine) Rollback(ctx context.Context, t TaskSpec, s Store) error {
	r, err := e.newRun(&t, s)
	if err != nil {
		return err
	}
	defer r.close()
	steps := t.Template.Steps
	states, err := s.Steps(ctx)
	if err != nil {
		return err
	}
	if len(states) != len(steps) {
		return fmt.Errorf("scaffold: the store has %d step states for %d steps", len(states), len(steps))
	}
	for i, st := range steps {
		if states[i].Status == StatusCompleted {
			r.outputs[st.ID] = map[string]any{"output": orEmpty(states[i].Output)}
		} else {
			r.outputs[st.ID] = map[string]any{"output": map[string]any{}}
		}
	}
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		a := e.actions[st.Action]
		if states[i].Status != StatusCompleted || a == nil || a.undo == nil {
			continue
		}
		if err := r.undoStep(ctx, st, a, states[i].Output); err != nil {
			err = wrapStep(st, r.red.redactError(err))
			errs = append(errs, err)
			if serr := s.Event(ctx, EventError, st.ID, "rollback failed: "+err.Error()); serr != nil {
				return errors.Join(err, serr)
			}
			continue
		}
		if err := s.StepFinished(ctx, i, StatusRolledBack, states[i].Output, ""); err != nil {
			return err
		}
		if err := s.Event(ctx, EventRollback, st.ID, fmt.Sprintf("rolled back step %s", st.Name)); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func (r *runState) undoStep(ctx context.Context, st StepSpec, a *action, output map[string]any) error {
	vars := r.vars()
	if st.Each != nil {
		return catalog.Errorf(catalog.EINVALID, "%s: a step with each cannot be rolled back", stepWhere(st))
	}
	in, err := r.render(stepWhere(st), st.Input, vars)
	if err != nil {
		return err
	}
	input, _ := in.(map[string]any)
	return a.undo(ctx, r.actionContext(ctx, st, orEmpty(input)), orEmpty(output))
}

// DryRun renders everything without side effects: workspace-only steps (fetch:*, catalog:write,
// debug:log) run into a scratch workspace whose files are returned; publish and register steps
// are only resolved, and their outputs are placeholders.
func (e *Engine) DryRun(ctx context.Context, t TaskSpec) (*DryRunResult, error) {
	r, err := e.newRun(&t, nil)
	if err != nil {
		return nil, err
	}
	defer r.close()
	r.dry = &DryRunResult{}
	for _, st := range t.Template.Steps {
		a, ok := e.actions[st.Action]
		if !ok {
			return nil, catalog.Errorf(catalog.EINVALID, "%s: unknown action %q", stepWhere(st), excerpt(st.Action, 60))
		}
		vars := r.vars()
		ok, err := r.cond(st, vars)
		if err != nil {
			return nil, r.red.redactError(err)
		}
		if !ok {
			r.dry.Steps = append(r.dry.Steps, DryRunStep{ID: st.ID, Name: st.Name, Action: st.Action, Skipped: true})
			r.outputs[st.ID] = map[string]any{"output": map[string]any{}}
			continue
		}
		out, err := r.runStep(ctx, st, a, vars, true)
		if err != nil {
			return nil, wrapIfNeeded(st, r.red.redactError(err))
		}
		r.outputs[st.ID] = map[string]any{"output": redactMap(r.red, out)}
	}
	if r.dry.Output, err = r.output(); err != nil {
		return nil, err
	}
	files, err := e.listFiles(r.workspace)
	if err != nil {
		return nil, err
	}
	for i := range files { // a skeleton may put a secret into a file: the result is shown, so hide it
		if !files[i].Base64 {
			files[i].Content = r.red.redact(files[i].Content)
		}
	}
	r.dry.Files = files
	return r.dry, nil
}

func wrapIfNeeded(st StepSpec, err error) error {
	if strings.Contains(err.Error(), fmt.Sprintf("%q", st.ID)) {
		return err
	}
	return wrapStep(st, err)
}

// redactor replaces secret values with ***: as given, URL-escaped, and in any letter case (a
// template may pass a secret through lower or upper). A secret transformed otherwise (base64,
// cut in parts) is beyond it.
type redactor struct{ re *regexp.Regexp }

func newRedactor(secrets map[string]string) *redactor {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
	}
	if len(forms) == 0 {
		return &redactor{}
	}
	// The longest first, so a secret containing another is replaced whole.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for i, f := range forms {
		forms[i] = regexp.QuoteMeta(f)
	}
	return &redactor{re: regexp.MustCompile("(?i)(?:" + strings.Join(forms, "|") + ")")}
}

func (r *redactor) redact(s string) string {
	if r.re == nil {
		return s
	}
	return r.re.ReplaceAllLiteralString(s, "***")
}

// redactError returns err with secrets removed from its message, keeping its code.
func (r *redactor) redactError(err error) error {
	if err == nil || r.re == nil {
		return err
	}
	msg := err.Error()
	red := r.redact(msg)
	if errors.Is(err, ErrCancelled) {
		return err
	}
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return &catalog.Error{Code: ce.Code, Message: r.redact(ce.Message)}
	}
	if red == msg {
		return err
	}
	return errors.New(red)
}

func redactMap(r *redactor, m map[string]any) map[string]any {
	v, _ := redactValue(r, m).(map[string]any)
	return v
}

func redactValue(r *redactor, v any) any {
	switch v := v.(type) {
	case string:
		return r.redact(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = redactValue(r, x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(r, x)
		}
		return out
	}
	return v
}
