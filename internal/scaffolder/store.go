package scaffolder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"catalogd/ent"
	"catalogd/ent/scaffolderevent"
	"catalogd/ent/scaffolderstep"
	"catalogd/ent/scaffoldertask"
	"catalogd/internal/catalog"
	"catalogd/internal/scaffold"
)

// Bounds of what one task records.
const (
	// MaxLogEvents is how many "log" events a task keeps; later ones are dropped (one event
	// says so). Other events are a few per step and always kept.
	MaxLogEvents = 1000
	// MaxEventMessage is the longest event message kept (longer ones are cut).
	MaxEventMessage = 4000
	// MaxErrorMessage is the longest step or task error kept.
	MaxErrorMessage = 4000
	// MaxOutputBytes bounds a step's and the task's recorded output (JSON).
	MaxOutputBytes = 256 << 10
)

// errLeaseLost says another worker holds the task now: this one must stop writing.
var errLeaseLost = errors.New("scaffolder: the task's lease was lost")

// taskStore is scaffold.Store over the database for one task held by one lease owner. Every
// write first confirms, in its transaction, that the owner still holds the lease (a fence): a
// worker that lost its lease cannot write a step or an event over the one that took the task.
type taskStore struct {
	client *ent.Client
	id     string
	owner  string
	red    *redactor
	now    func() time.Time

	mu      sync.Mutex
	seq     int // last event seq written
	logs    int // log events written
	dropped bool
}

var _ scaffold.Store = (*taskStore)(nil)

func newTaskStore(ctx context.Context, client *ent.Client, id, owner string, red *redactor, now func() time.Time) (*taskStore, error) {
	s := &taskStore{client: client, id: id, owner: owner, red: red, now: now}
	last, err := client.ScaffolderEvent.Query().Where(scaffolderevent.TaskID(id)).
		Order(ent.Desc(scaffolderevent.FieldSeq)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if last != nil {
		s.seq = last.Seq
	}
	s.logs, err = client.ScaffolderEvent.Query().Where(scaffolderevent.TaskID(id), scaffolderevent.Type(scaffold.EventLog)).Count(ctx)
	if err != nil {
		return nil, err
	}
	s.dropped = s.logs >= MaxLogEvents
	return s, nil
}

// write runs fn in a transaction after the fence.
func (s *taskStore) write(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return err
	}
	n, err := tx.ScaffolderTask.Update().
		Where(scaffoldertask.ID(s.id), scaffoldertask.LeaseOwner(s.owner)).
		SetUpdatedAt(s.now()).Save(ctx)
	if err == nil && n != 1 {
		err = errLeaseLost
	}
	if err == nil {
		err = fn(tx)
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *taskStore) Steps(ctx context.Context) ([]scaffold.StepState, error) {
	rows, err := s.client.ScaffolderStep.Query().Where(scaffolderstep.TaskID(s.id)).
		Order(ent.Asc(scaffolderstep.FieldIndex)).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]scaffold.StepState, len(rows))
	for i, r := range rows {
		out[i] = scaffold.StepState{Status: r.Status, Output: r.Output}
	}
	return out, nil
}

func (s *taskStore) StepStarted(ctx context.Context, i int) error {
	return s.write(ctx, func(tx *ent.Tx) error {
		return s.updateStep(ctx, tx, i, func(u *ent.ScaffolderStepUpdate) {
			u.SetStatus(scaffold.StatusProcessing).SetStartedAt(s.now()).ClearFinishedAt().SetError("")
		})
	})
}

func (s *taskStore) StepFinished(ctx context.Context, i int, status string, output map[string]any, errMsg string) error {
	out, err := boundedOutput(s.red, output)
	if err != nil {
		return err
	}
	msg := catalog.Excerpt(s.red.String(errMsg), MaxErrorMessage)
	return s.write(ctx, func(tx *ent.Tx) error {
		return s.updateStep(ctx, tx, i, func(u *ent.ScaffolderStepUpdate) {
			u.SetStatus(status).SetError(msg).SetFinishedAt(s.now())
			if out != nil {
				u.SetOutput(out)
			} else if status != scaffold.StatusRolledBack {
				u.ClearOutput()
			}
		})
	})
}

func (s *taskStore) updateStep(ctx context.Context, tx *ent.Tx, i int, set func(*ent.ScaffolderStepUpdate)) error {
	u := tx.ScaffolderStep.Update().Where(scaffolderstep.TaskID(s.id), scaffolderstep.Index(i))
	set(u)
	n, err := u.Save(ctx)
	if err == nil && n != 1 {
		err = fmt.Errorf("scaffolder: task %s has no step %d", s.id, i)
	}
	return err
}

func (s *taskStore) Event(ctx context.Context, typ, stepID, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ == scaffold.EventLog {
		if s.logs >= MaxLogEvents {
			if s.dropped {
				return nil
			}
			s.dropped = true
			typ, stepID, message = scaffold.EventLog, "", fmt.Sprintf("more than %d log events: later ones are not kept", MaxLogEvents)
		}
	}
	msg := catalog.Excerpt(s.red.String(message), MaxEventMessage)
	err := s.write(ctx, func(tx *ent.Tx) error {
		return tx.ScaffolderEvent.Create().SetTaskID(s.id).SetSeq(s.seq + 1).SetType(typ).
			SetStepID(catalog.Excerpt(stepID, 200)).SetMessage(msg).SetCreatedAt(s.now()).Exec(ctx)
	})
	if err != nil {
		return err
	}
	s.seq++
	if typ == scaffold.EventLog {
		s.logs++
	}
	return nil
}

func (s *taskStore) Cancelled(ctx context.Context) (bool, error) {
	t, err := s.client.ScaffolderTask.Query().Where(scaffoldertask.ID(s.id)).
		Select(scaffoldertask.FieldCancelRequested, scaffoldertask.FieldLeaseOwner).Only(ctx)
	if err != nil {
		return false, err
	}
	if t.LeaseOwner != s.owner {
		return false, errLeaseLost
	}
	return t.CancelRequested, nil
}

// boundedOutput redacts an output and checks its size; nil stays nil.
func boundedOutput(red *redactor, output map[string]any) (map[string]any, error) {
	if output == nil {
		return nil, nil
	}
	b, err := json.Marshal(output)
	if err != nil {
		return nil, fmt.Errorf("scaffolder: output is not JSON: %w", err)
	}
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, err
	}
	plain = red.Map(plain)
	if b, _ := json.Marshal(plain); len(b) > MaxOutputBytes {
		return nil, catalog.Errorf(catalog.EINVALID, "output is %d bytes, more than the %d a task keeps", len(b), MaxOutputBytes)
	}
	return plain, nil
}
