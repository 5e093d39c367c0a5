// Package service is the seam between transports and storage for everything that acts on the
// catalog on someone's behalf. Every method takes the principal and asks auth's policy before
// it touches storage, so no resolver can skip the check: resolvers call a service, never the
// store, for anything that writes. It also implements auth.Directory over the database.
//
// Today the GraphQL schema has no mutations; the writes here (refreshing a location, or the
// location that holds an entity) are what the first mutations will call.
package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/relation"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/store"
)

// Catalog performs actions on the catalog for a principal, after the policy allowed them.
type Catalog struct {
	policy    *auth.Policy
	client    *ent.Client
	engine    *ingest.Engine
	providers map[string]ingest.Provider
}

// NewCatalog returns the service over the engine's store, refreshing the given providers.
func NewCatalog(policy *auth.Policy, engine *ingest.Engine, providers []ingest.Provider) *Catalog {
	c := &Catalog{policy: policy, client: engine.Store.Client, engine: engine, providers: map[string]ingest.Provider{}}
	for _, p := range providers {
		c.providers[p.Location().Key] = p
	}
	return c
}

// RefreshLocation re-reads the configured location key now.
func (c *Catalog) RefreshLocation(ctx context.Context, p *auth.Principal, key string) (store.ApplyResult, error) {
	if err := c.policy.Authorize(p, auth.ActionLocationRefresh, auth.Resource{Ref: "location " + key}); err != nil {
		return store.ApplyResult{}, err
	}
	prov, ok := c.providers[key]
	if !ok {
		return store.ApplyResult{}, catalog.Errorf(catalog.ENOTFOUND, "no configured location %q", short(key))
	}
	return c.engine.Refresh(ctx, prov)
}

// RefreshEntity re-reads the location that holds the entity ref. Its owners may do this
// without any role that allows it.
func (c *Catalog) RefreshEntity(ctx context.Context, p *auth.Principal, ref string) (store.ApplyResult, error) {
	// Only an authenticated principal learns whether an entity exists.
	if err := c.policy.Authorize(p, auth.ActionRead, auth.Resource{}); err != nil {
		return store.ApplyResult{}, err
	}
	canon, err := catalog.CanonicalRef(ref, catalog.RefDefaults{Kind: "component"})
	if err != nil {
		return store.ApplyResult{}, catalog.Errorf(catalog.EINVALID, "ref: %v", err)
	}
	e, err := c.client.Entity.Query().Where(entity.RefEQ(canon)).
		Select(entity.FieldRef, entity.FieldOwnerRef, entity.FieldLocation).Only(ctx)
	if ent.IsNotFound(err) {
		return store.ApplyResult{}, catalog.Errorf(catalog.ENOTFOUND, "no entity %s", canon)
	}
	if err != nil {
		return store.ApplyResult{}, err
	}
	if err := c.policy.Authorize(p, auth.ActionEntityRefresh, auth.Resource{Ref: e.Ref, Owners: []string{e.OwnerRef}}); err != nil {
		return store.ApplyResult{}, err
	}
	prov, ok := c.providers[e.Location]
	if !ok {
		return store.ApplyResult{}, catalog.Errorf(catalog.ECONFLICT, "%s comes from location %q, which is no longer configured", canon, short(e.Location))
	}
	return c.engine.Refresh(ctx, prov)
}

// Directory finds User entities and their groups in the catalog's database.
type Directory struct{ Client *ent.Client }

var _ auth.Directory = Directory{}

// LookupUser implements auth.Directory. Matching is case-insensitive; a value that matches
// more than one User matches none (the catalog must say who is who unambiguously).
func (d Directory) LookupUser(ctx context.Context, match, value string) (string, []string, error) {
	q := d.Client.Entity.Query().Where(entity.KindEQ("user"))
	switch {
	case match == "email":
		q = q.Where(func(s *sql.Selector) {
			col := s.C(entity.FieldDocument)
			s.Where(sql.P(func(b *sql.Builder) {
				if b.Dialect() == dialect.Postgres {
					b.WriteString("lower(" + col + " -> 'spec' -> 'profile' ->> 'email') = ").Arg(strings.ToLower(value))
					return
				}
				b.WriteString("lower(json_extract(" + col + ", '$.spec.profile.email')) = ").Arg(strings.ToLower(value))
			}))
		})
	case match == "name":
		q = q.Where(entity.NameEqualFold(value))
	case strings.HasPrefix(match, "annotation:"):
		q = q.Where(store.JSONObjectHas(entity.FieldAnnotations, strings.TrimPrefix(match, "annotation:"), &value))
	default:
		return "", nil, fmt.Errorf("unknown user match %q", match)
	}
	refs, err := q.Limit(2).Select(entity.FieldRef).Strings(ctx)
	if err != nil || len(refs) != 1 {
		return "", nil, err
	}
	groups, err := d.Client.Relation.Query().
		Where(relation.SourceRefEQ(refs[0]), relation.TypeEQ(catalog.RelMemberOf)).
		Limit(1000).Select(relation.FieldTargetRef).Strings(ctx)
	if err != nil {
		return "", nil, err
	}
	slices.Sort(groups)
	return refs[0], slices.Compact(groups), nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
