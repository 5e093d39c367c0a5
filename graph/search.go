package graph

import (
	"context"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"
	"golang.org/x/sync/errgroup"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/store"
)

// Page sizes of search, and the most values a facet lists.
const (
	defaultSearchPage = 20
	maxSearchPage     = 100
	maxFacetValues    = 100
	maxFacetFields    = 7
)

func (r *queryResolver) search(ctx context.Context, query string, kinds []string, first *int, after *string) (*model.SearchConnection, error) {
	n, err := model.CheckFirst(first, defaultSearchPage, maxSearchPage)
	if err != nil {
		return nil, err
	}
	q := store.SearchQuery{Text: query, Kinds: lowerAll(kinds), First: n}
	if after != nil {
		c, err := store.DecodeSearchCursor(*after)
		if err != nil {
			return nil, err
		}
		q.After = &c
	}
	res, err := r.Store.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	// Entities by ref: a page hit names its entity by ref.
	refs := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		refs = append(refs, h.Ref)
	}
	rows, err := r.Client.Entity.Query().Where(entity.RefIn(refs...)).All(ctx)
	if err != nil {
		return nil, err
	}
	byRef := make(map[string]*ent.Entity, len(rows))
	for _, e := range rows {
		byRef[e.Ref] = e
	}
	// Wrapped together, so their fields batch their loads.
	found := make([]*ent.Entity, 0, len(res.Hits))
	for _, h := range res.Hits {
		if e := byRef[h.Ref]; e != nil {
			found = append(found, e)
		}
	}
	wrapped := model.Wrap(ctx, r.deps, found)
	conn := &model.SearchConnection{TotalCount: res.Total, Edges: []*model.SearchEdge{}, PageInfo: &entgql.PageInfo[int]{HasNextPage: res.HasNext, HasPreviousPage: after != nil}}
	j := 0
	for _, h := range res.Hits {
		if byRef[h.Ref] == nil {
			continue // deleted between the two reads
		}
		hit := &model.SearchHit{Entity: wrapped[j], Snippet: h.Snippet, Score: h.Score}
		if h.Page() {
			hit.Page = &model.SearchDocPage{Path: h.Path, Title: h.Title}
		}
		conn.Edges = append(conn.Edges, &model.SearchEdge{
			Cursor: h.Cursor().Encode(),
			Node:   hit,
		})
		j++
	}
	return conn, nil
}

func (r *queryResolver) facets(ctx context.Context, fields []string, filter *model.EntityFilter) ([]*model.Facet, error) {
	if len(fields) > maxFacetFields {
		return nil, catalog.Errorf(catalog.EINVALID, "fields: at most %d are allowed, got %d", maxFacetFields, len(fields))
	}
	for _, f := range fields {
		if _, ok := store.FacetColumns[f]; !ok {
			return nil, catalog.Errorf(catalog.EINVALID, "fields: unknown facet field %q; allowed: kind, namespace, spec.type, spec.lifecycle, owner, system, tags", catalog.Excerpt(f, 40))
		}
	}
	if ff, ok, err := facetFilter(filter); err != nil {
		return nil, err
	} else if ok {
		counted, err := r.Store.Facets(ctx, fields, ff, maxFacetValues)
		if err != nil {
			return nil, err
		}
		out := make([]*model.Facet, len(fields))
		for i, f := range fields {
			out[i] = modelFacet(f, counted[i])
		}
		return out, nil
	}
	preds, err := entityPredicates(ctx, r.Store, filter)
	if err != nil {
		return nil, err
	}
	// Counts are kept per catalog generation (read once for all fields) unless the filter
	// reads the locations' read times, which change without one.
	gen := int64(-1)
	if filter == nil || filter.NotObservedSince == nil {
		if gen, err = r.Store.Generation(ctx); err != nil {
			return nil, err
		}
	}
	ps := make([]func(*sql.Selector), len(preds))
	for i, p := range preds {
		ps[i] = p
	}
	// One statement per field, run side by side: each counts the filtered rows once.
	out := make([]*model.Facet, len(fields))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, f := range fields {
		g.Go(func() error {
			values, err := r.Store.Facet(gctx, f, ps, maxFacetValues, gen)
			if err != nil {
				return err
			}
			out[i] = modelFacet(f, values)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// facetFilter returns filter as facets count it in memory (store.Facets), normalised as
// entityPredicates normalises it, when it holds only what that counts under: kinds,
// namespaces, types, lifecycles, tags, owner and system.
func facetFilter(f *model.EntityFilter) (store.FacetFilter, bool, error) {
	var ff store.FacetFilter
	if f == nil {
		return ff, true, nil
	}
	if len(f.Label) > 0 || len(f.Annotation) > 0 || len(f.Ref) > 0 || f.OwnerMissing != nil || f.NotObservedSince != nil || (f.Text != nil && strings.TrimSpace(*f.Text) != "") {
		return ff, false, nil
	}
	ff.Kinds, ff.Namespaces, ff.Types, ff.Lifecycles = lowerAll(f.Kind), lowerAll(f.Namespace), lowerAll(f.Type), lowerAll(f.Lifecycle)
	for _, t := range f.Tag {
		ff.Tags = append(ff.Tags, strings.ToLower(strings.TrimSpace(t)))
	}
	var err error
	if f.Owner != nil {
		if ff.Owner, err = parseRef(*f.Owner, "filter.owner", "Group"); err != nil {
			return ff, false, err
		}
	}
	if f.System != nil {
		if ff.System, err = parseRef(*f.System, "filter.system", "System"); err != nil {
			return ff, false, err
		}
	}
	return ff, ff.InMemory(), nil
}

// modelFacet is a field's counted values as the schema answers them.
func modelFacet(field string, values []store.FacetValue) *model.Facet {
	f := &model.Facet{Field: field, Values: make([]*model.FacetValue, len(values))}
	for i, v := range values {
		f.Values[i] = &model.FacetValue{Value: v.Value, Count: v.Count}
	}
	return f
}
