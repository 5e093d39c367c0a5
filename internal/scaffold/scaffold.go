// Package scaffold is catalogd's scaffolder engine: it parses Backstage software templates
// (kind Template, scaffolder.backstage.io/v1beta3), validates the values a user gives against
// their parameter schemas, evaluates `${{ … }}` expressions, and runs the template's steps
// through a registry of actions (fetch:template, fetch:plain, publish:git, publish:github,
// catalog:write, catalog:register, debug:log) over an abstract Store that the tasks layer
// implements on the database. It imports internal/catalog and internal/reading only.
package scaffold

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"catalogd/internal/reading"
)

// Step statuses, as the Store records them.
const (
	StatusOpen       = "OPEN"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusSkipped    = "SKIPPED"
	StatusCancelled  = "CANCELLED"
	StatusRolledBack = "ROLLED_BACK"
)

// Event types the engine records through Store.Event.
const (
	EventLog        = "log"
	EventStepStart  = "step-start"
	EventStepEnd    = "step-end"
	EventError      = "error"
	EventCompletion = "completion"
	EventCancelled  = "cancelled"
	EventRollback   = "rollback"
)

// ErrCancelled is returned by Run when the Store reports the task cancelled at a step boundary.
var ErrCancelled = errors.New("scaffold: task cancelled")

// Template is a parsed kind: Template entity (scaffolder.backstage.io/v1beta3).
type Template struct {
	Ref        string          // "template:default/go-service"
	Parameters []ParameterStep // one JSON Schema object, or a list of form steps
	Steps      []StepSpec      // id, name, action, input (raw), if, each
	Output     map[string]any  // raw, rendered at the end
	// BaseURL is where relative paths (./skeleton) resolve: "file:///abs/dir/" of the
	// template's descriptor, or a git/https URL of its folder; "" when unknown.
	BaseURL string
}

// ParameterStep is one form step of spec.parameters: a JSON Schema object (ui:* keys removed).
type ParameterStep struct {
	Title  string
	Schema map[string]any
}

// StepSpec is one entry of spec.steps, unrendered.
type StepSpec struct {
	ID     string
	Name   string
	Action string
	Input  map[string]any // raw; expressions are evaluated when the step runs
	If     any            // nil (always), a bool, or a string with an expression
	Each   any            // nil, a list, an object, or a string with an expression
}

// ActionInfo describes one registered action.
type ActionInfo struct {
	ID           string
	Description  string
	InputSchema  json.RawMessage // JSON Schema
	OutputSchema json.RawMessage // JSON Schema
}

// Options are the dependencies of an Engine, given by cmd/.
type Options struct {
	AllowDirs  []string        // --read-allow-dir: where file:// skeletons may be read and file:// remotes written
	Reader     *reading.Reader // --read-allow: URL reads
	GitHubAPI  string          // base URL of GitHub's REST API ("https://api.github.com"; tests: loopback)
	HTTPClient *http.Client    // for GitHub (wrapped in go-retryablehttp inside)
	WorkDir    string          // parent of per-task workspaces (default os.TempDir())
	// Register registers a location target (a URL) in the catalog and returns the refs of the
	// entities it yields; used by catalog:register.
	Register func(ctx context.Context, target string) (entityRefs []string, err error)
	Logger   *slog.Logger
	// Limits bound what one task may render; zero values take DefaultLimits.
	Limits Limits
}

// Limits bound the work of one task, since templates and skeletons come from outside.
type Limits struct {
	MaxFiles      int   // files one fetch:* step may write (default 5,000)
	MaxFileBytes  int64 // size of one skeleton file or rendered file (default 8 MiB)
	MaxTotalBytes int64 // bytes all fetch steps of a task may write together (default 256 MiB)
	MaxRender     int   // bytes one template render may produce and loop iterations it may run (default 16 MiB / 1,000,000)
	MaxEach       int   // items of one `each` (default 100)
}

// TaskSpec is the run state handed to the engine by the task layer.
type TaskSpec struct {
	ID        string
	Template  *Template
	Values    map[string]any    // validated
	Secrets   map[string]string // never logged, never stored by the engine
	User      map[string]any    // "entity": the runner's User entity JSON (or nil), "ref": its ref
	CreatedAt time.Time         // used for deterministic commits (idempotent re-runs)
}

// StepState is what the store remembers about one step.
type StepState struct {
	Status string         // one of the Status* constants
	Output map[string]any // recorded output of a completed step (no secrets in it)
}

// Store is how the engine records progress; the tasks layer implements it on the database.
type Store interface {
	Steps(ctx context.Context) ([]StepState, error) // current state, one per StepSpec
	StepStarted(ctx context.Context, i int) error
	StepFinished(ctx context.Context, i int, status string, output map[string]any, errMsg string) error
	Event(ctx context.Context, typ, stepID, message string) error // typ: one of the Event* constants
	Cancelled(ctx context.Context) (bool, error)                  // checked at every step boundary
}

// DryRunResult is what DryRun renders.
type DryRunResult struct {
	Files  []DryRunFile
	Steps  []DryRunStep
	Output map[string]any
	Log    []string
}

// DryRunFile is one file the workspace would hold at the end of the run.
type DryRunFile struct {
	Path       string // slash-separated, relative to the workspace
	Content    string // the text, or base64 when Base64 is set (binary files)
	Base64     bool
	Executable bool
}

// DryRunStep is one step as it would run.
type DryRunStep struct {
	ID      string
	Name    string
	Action  string
	Input   map[string]any // resolved, secrets redacted
	Skipped bool           // its `if` was falsy
}
