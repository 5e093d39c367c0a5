package graph

import (
	"context"
	"strings"

	"entgo.io/ent/dialect/sql"

	"catalogd/ent/entity"
	"catalogd/ent/locationstate"
	"catalogd/ent/predicate"
	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/store"
)

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// pageSize applies the default page size and rejects pages over the cap with a clear error
// (silently returning fewer rows than asked would look like the end of the list).
func pageSize(first, last *int) (*int, *int, error) {
	for name, v := range map[string]*int{"first": first, "last": last} {
		if v != nil && (*v < 0 || *v > maxPageSize) {
			return nil, nil, catalog.Errorf(catalog.EINVALID, "%s must be between 0 and %d, got %d", name, maxPageSize, *v)
		}
	}
	if first == nil && last == nil {
		n := defaultPageSize
		first = &n
	}
	return first, last, nil
}

// parseRef parses a ref given as an argument; defaultKind "" means the kind is required.
func parseRef(s, arg, defaultKind string) (string, error) {
	ref, err := catalog.CanonicalRef(strings.TrimSpace(s), catalog.RefDefaults{Kind: defaultKind})
	if err != nil {
		return "", catalog.Errorf(catalog.EINVALID, "%s: %v", arg, err)
	}
	return ref, nil
}

func lowerAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToLower(strings.TrimSpace(v))
	}
	return out
}

// entityPredicates turns an EntityFilter into ent predicates. Lists match any of their values,
// and every condition given must hold.
func entityPredicates(ctx context.Context, st *store.Store, f *model.EntityFilter) ([]predicate.Entity, error) {
	if f == nil {
		return nil, nil
	}
	var ps []predicate.Entity
	if len(f.Kind) > 0 {
		ps = append(ps, entity.KindIn(lowerAll(f.Kind)...))
	}
	if len(f.Namespace) > 0 {
		ps = append(ps, entity.NamespaceIn(lowerAll(f.Namespace)...))
	}
	if len(f.Type) > 0 {
		ps = append(ps, entity.TypeIn(lowerAll(f.Type)...))
	}
	if len(f.Lifecycle) > 0 {
		ps = append(ps, entity.LifecycleIn(lowerAll(f.Lifecycle)...))
	}
	if f.Owner != nil {
		ref, err := parseRef(*f.Owner, "filter.owner", "Group")
		if err != nil {
			return nil, err
		}
		ps = append(ps, entity.OwnerRef(ref))
	}
	if f.System != nil {
		ref, err := parseRef(*f.System, "filter.system", "System")
		if err != nil {
			return nil, err
		}
		ps = append(ps, entity.SystemRef(ref))
	}
	if len(f.Ref) > 0 {
		refs := make([]string, len(f.Ref))
		for i, s := range f.Ref {
			ref, err := parseRef(s, "filter.ref", "")
			if err != nil {
				return nil, err
			}
			refs[i] = ref
		}
		ps = append(ps, predicate.Entity(store.RefIn(entity.FieldRef, refs)))
	}
	for _, t := range f.Tag {
		ps = append(ps, predicate.Entity(store.JSONArrayContains(entity.FieldTags, strings.ToLower(strings.TrimSpace(t)))))
	}
	for _, l := range f.Label {
		ps = append(ps, predicate.Entity(store.JSONObjectHas(entity.FieldLabels, l.Key, l.Value)))
	}
	for _, a := range f.Annotation {
		ps = append(ps, predicate.Entity(store.JSONObjectHas(entity.FieldAnnotations, a.Key, a.Value)))
	}
	if f.OwnerMissing != nil {
		missing := predicate.Entity(func(s *sql.Selector) {
			t := sql.Table(entity.Table).As("owners")
			s.Where(sql.And(sql.NEQ(s.C(entity.FieldOwnerRef), ""),
				sql.NotExists(sql.Select(t.C(entity.FieldID)).From(t).Where(sql.ColumnsEQ(t.C(entity.FieldRef), s.C(entity.FieldOwnerRef))))))
		})
		if *f.OwnerMissing {
			ps = append(ps, missing)
		} else {
			ps = append(ps, entity.Not(missing))
		}
	}
	if f.NotObservedSince != nil {
		t := *f.NotObservedSince
		// An entity's last observation is its own observed_at when a read kept it without
		// confirming it, else its location's last_observed_at.
		ps = append(ps, entity.Or(
			entity.ObservedAtLT(t),
			entity.And(entity.ObservedAtIsNil(), func(s *sql.Selector) {
				l := sql.Table(locationstate.Table)
				s.Where(sql.In(s.C(entity.FieldLocation), sql.Select(l.C(locationstate.FieldKey)).From(l).
					Where(sql.Or(sql.IsNull(l.C(locationstate.FieldLastObservedAt)), sql.LT(l.C(locationstate.FieldLastObservedAt), t)))))
			}),
		))
	}
	if f.Text != nil && strings.TrimSpace(*f.Text) != "" {
		t := strings.TrimSpace(*f.Text)
		match, err := st.TextMatch(ctx, t)
		if err != nil {
			return nil, err
		}
		ps = append(ps, predicate.Entity(match))
	}
	return ps, nil
}
