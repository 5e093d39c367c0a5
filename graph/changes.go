package graph

import (
	"context"
	"slices"
	"strings"
	"time"

	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/store"
)

// DefaultFeedPoll is how often a catalogChanged subscription looks for new changes. It polls
// the database, not this process's writes, so it sees the changes of every replica.
const DefaultFeedPoll = time.Second

func (r *Resolver) feedPoll() time.Duration {
	if r.FeedPoll > 0 {
		return r.FeedPoll
	}
	return DefaultFeedPoll
}

// changeFilter checks a CatalogChangeFilter and turns it into the store's.
func changeFilter(f *model.CatalogChangeFilter) (store.ChangeFilter, error) {
	var out store.ChangeFilter
	if f == nil {
		return out, nil
	}
	if f.Kind != nil && strings.TrimSpace(*f.Kind) != "" {
		out.Kinds = []string{strings.ToLower(strings.TrimSpace(*f.Kind))}
	}
	if f.Owner != nil && strings.TrimSpace(*f.Owner) != "" {
		ref, err := parseRef(*f.Owner, "filter.owner", "group")
		if err != nil {
			return out, err
		}
		out.Owner = ref
	}
	if f.Ref != nil && strings.TrimSpace(*f.Ref) != "" {
		ref, err := parseRef(*f.Ref, "filter.ref", "component")
		if err != nil {
			return out, err
		}
		out.Ref = ref
	}
	for _, t := range f.Type {
		t = strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(store.ChangeTypes, t) {
			return out, catalog.Errorf(catalog.EINVALID, "filter.type: unknown change type %q (known: %s)",
				catalog.Excerpt(t, 40), strings.Join(store.ChangeTypes, ", "))
		}
		out.Types = append(out.Types, t)
	}
	return out, nil
}

// followChanges streams the changes after from that f selects, polling every interval, until
// ctx ends. A slow reader slows the polling: nothing is dropped.
func followChanges(ctx context.Context, st *store.Store, from int64, f store.ChangeFilter, interval time.Duration) <-chan *model.CatalogChange {
	ch := make(chan *model.CatalogChange, 16)
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			for {
				cs, more, err := st.Changes(ctx, from, 100, f)
				if err != nil {
					return // the context ended, or the database is gone: the client resubscribes after its last cursor
				}
				for _, c := range cs {
					select {
					case ch <- model.NewCatalogChange(c):
						from = c.ID
					case <-ctx.Done():
						return
					}
				}
				if !more {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}
