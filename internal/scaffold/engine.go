package scaffold

import (
	"context"

	"catalogd/internal/catalog"
)

// Engine runs templates; built once in cmd/ with its dependencies (no globals).
type Engine struct {
	opts Options
}

// New returns an Engine with the built-in actions registered.
func New(opts Options) (*Engine, error) {
	return &Engine{opts: opts}, nil
}

// Actions lists the registered actions, sorted by ID.
func (e *Engine) Actions() []ActionInfo { return nil }

// Run executes the task from the first step not COMPLETED (so a retry or a task picked up after a
// crash resumes). Workspace-only steps that completed earlier (fetch:*, catalog:write) are re-run
// into a fresh workspace; side-effecting completed steps (publish:*, catalog:register) are skipped
// and their recorded output is used. Returns the rendered output. A cancelled task returns
// ErrCancelled; a failing step returns an error naming the step.
func (e *Engine) Run(ctx context.Context, t TaskSpec, s Store) (map[string]any, error) {
	return nil, catalog.Errorf(catalog.EINTERNAL, "scaffold: not implemented yet")
}

// Rollback undoes COMPLETED steps that can be undone, newest first (publish:github deletes the
// repository it created; publish:git deletes the branch it created when it created it), marking
// them ROLLED_BACK and recording events.
func (e *Engine) Rollback(ctx context.Context, t TaskSpec, s Store) error {
	return catalog.Errorf(catalog.EINTERNAL, "scaffold: not implemented yet")
}

// DryRun renders everything without side effects: fetch and catalog:write steps run into a
// scratch workspace whose files are returned; publish and register steps are only resolved.
func (e *Engine) DryRun(ctx context.Context, t TaskSpec) (*DryRunResult, error) {
	return nil, catalog.Errorf(catalog.EINTERNAL, "scaffold: not implemented yet")
}
