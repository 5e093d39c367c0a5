package graph

import (
	"context"

	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/depgraph"
)

// The node limits of graph(maxNodes:).
const (
	defaultGraphNodes = 500
	maxGraphNodes     = 5000
)

// node parses a ref argument and finds it in the current graph snapshot; refs no entity has
// are NOT_FOUND (a dangling ref is reported where it is reached, not asked about).
func (r *queryResolver) node(ctx context.Context, ref, arg string) (*depgraph.Snapshot, int32, error) {
	canonical, err := parseRef(ref, arg, "")
	if err != nil {
		return nil, 0, err
	}
	snap, err := r.Index.Current(ctx)
	if err != nil {
		return nil, 0, err
	}
	id, ok := snap.ID(canonical)
	if !ok || !snap.Exists(id) {
		return nil, 0, catalog.Errorf(catalog.ENOTFOUND, "%s: no entity %s", arg, canonical)
	}
	return snap, id, nil
}

func (r *queryResolver) traverse(ctx context.Context, ref string, edges []string, maxDepth *int) (*model.Impact, error) {
	depth, err := depthArg(maxDepth, -1, -1)
	if err != nil {
		return nil, err
	}
	snap, id, err := r.node(ctx, ref, "ref")
	if err != nil {
		return nil, err
	}
	return model.NewImpact(ctx, r.deps, snap, snap.Walk(id, edges, depth)), nil
}

// depthArg validates a maxDepth argument; def applies when it is absent, limit < 0 means none.
func depthArg(v *int, def, limit int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 0 || (limit >= 0 && *v > limit) {
		if limit >= 0 {
			return 0, catalog.Errorf(catalog.EINVALID, "maxDepth must be between 0 and %d, got %d", limit, *v)
		}
		return 0, catalog.Errorf(catalog.EINVALID, "maxDepth must not be negative, got %d", *v)
	}
	return *v, nil
}
