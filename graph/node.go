package graph

import (
	"context"
	"strconv"

	"catalogd/ent/entity"
	"catalogd/graph/model"
	"catalogd/internal/auth"
)

// nodeKey is a decoded global node ID.
type nodeKey struct{ typ, key string }

// loadNodes resolves global node IDs (model.NodeID), one query per node type; an ID naming
// nothing, or nothing the caller may see, is null. A malformed ID is an error.
func (r *queryResolver) loadNodes(ctx context.Context, ids []string) ([]model.Node, error) {
	keys := make([]nodeKey, len(ids))
	var entityIDs []int
	var taskIDs []string
	for i, id := range ids {
		typ, key, err := model.DecodeNodeID(id)
		if err != nil {
			return nil, err
		}
		keys[i] = nodeKey{typ, key}
		if n, ok := model.EntityRowID(typ, key); ok {
			entityIDs = append(entityIDs, n)
			keys[i].key = strconv.Itoa(n)
		}
		if typ == model.NodeScaffolderTask && r.Scaffolder != nil {
			taskIDs = append(taskIDs, key)
		}
	}
	found := map[nodeKey]model.Node{}
	if len(entityIDs) > 0 {
		rows, err := r.Client.Entity.Query().Where(entity.IDIn(entityIDs...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for i, e := range model.Wrap(ctx, r.deps, rows) {
			found[nodeKey{model.NodeEntity, strconv.Itoa(rows[i].ID)}] = e
		}
	}
	if len(taskIDs) > 0 {
		tasks, err := r.Scaffolder.TasksByID(ctx, auth.FromContext(ctx), taskIDs)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			if t != nil {
				found[nodeKey{model.NodeScaffolderTask, t.ID}] = &model.ScaffolderTask{T: t}
			}
		}
	}
	out := make([]model.Node, len(ids))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}
