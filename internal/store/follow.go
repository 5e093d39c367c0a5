package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// follower keeps an in-memory index in step with the catalog's generation, which every
// write that changes entities or doc pages bumps in its transaction: a reader that finds the
// generation moved past the index's waits for one refresh, shared by every reader asking at
// the same time, that brings it up; a refresh that finds the index's delta grown large has it
// built anew in the background, readers using the current one meanwhile. Search's index
// (fulltext.go) and the text filter's (textmem.go) follow the catalog so.
type follower[T any] struct {
	cur        atomic.Pointer[snapshot[T]]
	flight     singleflight.Group
	rebuilding atomic.Bool
}

// snapshot is an index as of a generation.
type snapshot[T any] struct {
	gen int64
	ix  T
}

// refreshTimeout bounds one refresh or background build, which waiting readers share.
const refreshTimeout = 2 * time.Minute

// indexOps are how a follower reads the catalog's generation, builds its index from every
// row, brings one up to the catalog (reading the rows changed since), and tells that one's
// delta has grown large enough to build anew.
type indexOps[T any] struct {
	generation func(context.Context) (int64, error)
	build      func(context.Context) (T, error)
	update     func(context.Context, T) (T, error)
	stale      func(T) bool
}

// at returns the index as of generation gen or later. what names the index in errors.
func (f *follower[T]) at(ctx context.Context, gen int64, what string, ops indexOps[T]) (T, error) {
	if snap := f.cur.Load(); snap != nil && snap.gen >= gen {
		return snap.ix, nil
	}
	start := func() <-chan singleflight.Result {
		return f.flight.DoChan("refresh", func() (any, error) {
			// Shared by every waiting reader: not bound to the first one's context.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
			defer cancel()
			return f.refresh(rctx, ops)
		})
	}
	ch := start()
	for {
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case r := <-ch:
			if r.Err != nil {
				var zero T
				return zero, fmt.Errorf("%s: %w", what, r.Err)
			}
			snap := r.Val.(*snapshot[T])
			if snap.gen >= gen {
				return snap.ix, nil
			}
			// A refresh that started before gen was written: one more.
			ch = start()
		}
	}
}

// refresh brings the index up to the catalog's current generation.
func (f *follower[T]) refresh(ctx context.Context, ops indexOps[T]) (*snapshot[T], error) {
	// The generation is read before the rows: the rows read are at least that new.
	gen, err := ops.generation(ctx)
	if err != nil {
		return nil, err
	}
	prev := f.cur.Load()
	if prev != nil && prev.gen >= gen {
		return prev, nil
	}
	var ix T
	if prev == nil {
		if ix, err = ops.build(ctx); err != nil {
			return nil, err
		}
	} else {
		if ix, err = ops.update(ctx, prev.ix); err != nil {
			return nil, err
		}
		if ops.stale(ix) {
			f.rebuildInBackground(ops)
		}
	}
	return f.put(gen, ix), nil
}

// put makes ix, as of gen, the index readers use, unless a newer one is in place.
func (f *follower[T]) put(gen int64, ix T) *snapshot[T] {
	snap := &snapshot[T]{gen: gen, ix: ix}
	for {
		old := f.cur.Load()
		if old != nil && old.gen > gen {
			return old
		}
		if f.cur.CompareAndSwap(old, snap) {
			return snap
		}
	}
}

// rebuildInBackground builds the index anew, once at a time, while readers use the current
// one; then, as a refresh (so none runs meanwhile), brings the new one up to the catalog and
// puts it in place.
func (f *follower[T]) rebuildInBackground(ops indexOps[T]) {
	if !f.rebuilding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer f.rebuilding.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		defer cancel()
		ix, err := ops.build(ctx)
		if err != nil {
			return // the next refresh that finds the delta large tries again
		}
		// A refresh already in flight is waited for, and then this one runs.
		ran := false
		for !ran && ctx.Err() == nil {
			f.flight.Do("refresh", func() (any, error) {
				ran = true
				gen, err := ops.generation(ctx)
				if err != nil {
					return nil, err
				}
				if ix, err = ops.update(ctx, ix); err != nil {
					return nil, err
				}
				return f.put(gen, ix), nil
			})
		}
	}()
}
