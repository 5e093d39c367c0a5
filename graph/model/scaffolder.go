package model

import (
	"encoding/json"
	"time"

	"catalogd/ent"
)

// ScaffolderTask is a task row as a Relay node.
type ScaffolderTask struct{ T *ent.ScaffolderTask }

// IsNode marks tasks as Relay nodes.
func (*ScaffolderTask) IsNode() {}

func (t *ScaffolderTask) ID() string             { return NodeID(NodeScaffolderTask, t.T.ID) }
func (t *ScaffolderTask) Status() TaskStatus     { return TaskStatus(t.T.State) }
func (t *ScaffolderTask) TemplateRef() string    { return t.T.TemplateRef }
func (t *ScaffolderTask) CreatedBy() string      { return t.T.CreatedBy }
func (t *ScaffolderTask) CreatedByRef() *string  { return nonEmpty(t.T.CreatedByRef) }
func (t *ScaffolderTask) CreatedAt() time.Time   { return t.T.CreatedAt }
func (t *ScaffolderTask) StartedAt() *time.Time  { return t.T.StartedAt }
func (t *ScaffolderTask) FinishedAt() *time.Time { return t.T.FinishedAt }
func (t *ScaffolderTask) CancelRequested() bool  { return t.T.CancelRequested }
func (t *ScaffolderTask) Attempts() int          { return t.T.Attempts }
func (t *ScaffolderTask) Values() RawJSON        { return RawJSON(t.T.Values) }
func (t *ScaffolderTask) Output() RawJSON        { return RawJSON(t.T.Output) }
func (t *ScaffolderTask) Error() *string         { return nonEmpty(t.T.Error) }

// TaskStep is one step row of a task.
type TaskStep struct{ S *ent.ScaffolderStep }

func (s *TaskStep) ID() string             { return s.S.StepID }
func (s *TaskStep) Index() int             { return s.S.Index }
func (s *TaskStep) Name() string           { return s.S.Name }
func (s *TaskStep) Action() string         { return s.S.Action }
func (s *TaskStep) Status() string         { return s.S.Status }
func (s *TaskStep) Error() *string         { return nonEmpty(s.S.Error) }
func (s *TaskStep) StartedAt() *time.Time  { return s.S.StartedAt }
func (s *TaskStep) FinishedAt() *time.Time { return s.S.FinishedAt }
func (s *TaskStep) Output() RawJSON {
	if s.S.Output == nil {
		return nil
	}
	b, _ := json.Marshal(s.S.Output)
	return b
}

// TaskEvent is one event row of a task.
type TaskEvent struct{ E *ent.ScaffolderEvent }

func (e *TaskEvent) Seq() int             { return e.E.Seq }
func (e *TaskEvent) Type() string         { return e.E.Type }
func (e *TaskEvent) StepID() *string      { return nonEmpty(e.E.StepID) }
func (e *TaskEvent) Message() string      { return e.E.Message }
func (e *TaskEvent) CreatedAt() time.Time { return e.E.CreatedAt }
