package graph

import (
	"context"
	"time"

	"github.com/google/uuid"

	"catalogd/ent"
	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/scaffold"
	"catalogd/internal/scaffolder"
)

// DefaultTaskEventPoll is how often taskEvents looks for new events. It reads the event
// table, not an in-process notifier: any replica's worker may be running the task.
const DefaultTaskEventPoll = 250 * time.Millisecond

func (r *Resolver) scaffolder() (*scaffolder.Service, error) {
	if r.Scaffolder == nil {
		return nil, catalog.Errorf(catalog.ECONFLICT, "the scaffolder is not enabled on this server")
	}
	return r.Scaffolder, nil
}

// taskArg reads a task ID argument: the task's global node ID, or its bare UUID.
func (r *Resolver) taskArg(id string) (*scaffolder.Service, string, error) {
	sc, err := r.scaffolder()
	if err != nil {
		return nil, "", err
	}
	if _, err := uuid.Parse(id); err == nil && len(id) == 36 {
		return sc, id, nil
	}
	typ, key, err := model.DecodeNodeID(id)
	if err != nil {
		return nil, "", err
	}
	if typ != model.NodeScaffolderTask {
		return nil, "", catalog.Errorf(catalog.EINVALID, "id %q is not a task's ID", catalog.Excerpt(id, 60))
	}
	return sc, key, nil
}

// jsonObject reads a JSON argument that must be an object.
func jsonObject(name string, v any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, catalog.Errorf(catalog.EINVALID, "%s: a JSON object is needed", name)
	}
	return m, nil
}

func dryRunResult(res *scaffold.DryRunResult) *model.DryRunResult {
	out := &model.DryRunResult{Output: res.Output, Log: res.Log, Files: []*model.DryRunFile{}, Steps: []*model.DryRunStep{}}
	if out.Log == nil {
		out.Log = []string{}
	}
	for _, f := range res.Files {
		out.Files = append(out.Files, &model.DryRunFile{Path: f.Path, Content: f.Content, Base64: f.Base64, Executable: f.Executable})
	}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, &model.DryRunStep{ID: s.ID, Name: s.Name, Action: s.Action, Input: s.Input, Skipped: s.Skipped})
	}
	return out
}

func taskEvents(rows []*ent.ScaffolderEvent) []*model.TaskEvent {
	out := make([]*model.TaskEvent, len(rows))
	for i, e := range rows {
		out[i] = &model.TaskEvent{E: e}
	}
	return out
}

// followEvents streams the task's events from the first, polling the database, and closes
// the channel once the task is final and every event was sent (or ctx ends).
func (r *Resolver) followEvents(ctx context.Context, sc *scaffolder.Service, id string) <-chan *model.TaskEvent {
	poll := r.TaskEventPoll
	if poll <= 0 {
		poll = DefaultTaskEventPoll
	}
	ch := make(chan *model.TaskEvent, 16)
	go func() {
		defer close(ch)
		last := 0
		for {
			// The state is read before the events: events written before the task became
			// final are all visible to the read that follows.
			t, err := r.Client.ScaffolderTask.Get(ctx, id)
			if err != nil {
				return
			}
			rows, err := sc.Events(ctx, id, last, scaffolder.MaxEventPage)
			if err != nil {
				return
			}
			for _, e := range rows {
				select {
				case ch <- &model.TaskEvent{E: e}:
					last = e.Seq
				case <-ctx.Done():
					return
				}
			}
			if len(rows) == scaffolder.MaxEventPage {
				continue
			}
			if scaffolder.Final(t.State) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(poll):
			}
		}
	}()
	return ch
}
