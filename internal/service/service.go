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
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
	store     *store.Store
	engine    *ingest.Engine
	registry  *ingest.Registry
	allowDirs []string
}

// NewCatalog returns the service over the engine's store. The given providers are added to
// the engine (which reads them on its schedule once started).
func NewCatalog(policy *auth.Policy, engine *ingest.Engine, providers []ingest.Provider) *Catalog {
	c := &Catalog{policy: policy, client: engine.Store.Client, store: engine.Store, engine: engine}
	for _, p := range providers {
		if _, _, ok := engine.Lookup(p.Location().Key); !ok {
			engine.Add(ingest.LocationConfig{Type: p.Location().Provider, Target: p.Location().Target}, p, nil)
		}
	}
	return c
}

// WithSources lets the service register locations at run time: reg builds their providers,
// and a file target must lie under one of allowDirs (the operator's --read-allow-dir).
func (c *Catalog) WithSources(reg *ingest.Registry, allowDirs []string) *Catalog {
	c.registry = reg
	c.allowDirs = allowDirs
	return c
}

// RefreshLocation re-reads the location key now.
func (c *Catalog) RefreshLocation(ctx context.Context, p *auth.Principal, key string) (store.ApplyResult, error) {
	if err := c.policy.Authorize(p, auth.ActionLocationRefresh, auth.Resource{Ref: "location " + key}); err != nil {
		return store.ApplyResult{}, err
	}
	prov, _, ok := c.engine.Lookup(key)
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
	prov, _, ok := c.engine.Lookup(e.Location)
	if !ok {
		return store.ApplyResult{}, catalog.Errorf(catalog.ECONFLICT, "%s comes from location %q, which is no longer configured", canon, short(e.Location))
	}
	return c.engine.Refresh(ctx, prov)
}

// Directory finds User entities and their groups. It answers from an in-memory index of the
// catalog's users, rebuilt when the catalog's generation moves (any replica's write moves
// it), so a lookup costs one single-row statement however many users there are: matching
// spec.profile.email in SQL reads every User's document.
type Directory struct {
	st   *store.Store
	mu   sync.Mutex // serialises rebuilds
	snap atomic.Pointer[userIndex]
	// annotations are the annotation keys indexed (nil: every one). A User has several
	// annotations with values of its own (its location, its source): indexing them all
	// kept 6 MiB for 8,000 Users, to answer the one or two keys anything looks up.
	annotations map[string]bool
}

// NewDirectory returns the directory over st. It indexes every annotation of every User,
// unless OnlyAnnotations narrows them.
func NewDirectory(st *store.Store) *Directory { return &Directory{st: st} }

// OnlyAnnotations makes the directory index only the annotations with these keys; a lookup
// by another key is an error. Call it before the first lookup.
func (d *Directory) OnlyAnnotations(keys ...string) *Directory {
	d.annotations = map[string]bool{}
	for _, k := range keys {
		d.annotations[k] = true
	}
	return d
}

var _ auth.Directory = (*Directory)(nil)

type userIndex struct {
	generation int64
	byEmail    map[string][]string // lower-case email -> user refs
	byName     map[string][]string // lower-case name -> user refs
	byAnn      map[string][]string // key "\x00" value -> user refs
	groups     map[string][]string // user ref -> group refs, sorted
}

// LookupUser implements auth.Directory. Matching is case-insensitive (annotation values
// exactly); a value that matches more than one User matches none (the catalog must say who
// is who unambiguously).
func (d *Directory) LookupUser(ctx context.Context, match, value string) (string, []string, error) {
	ix, err := d.current(ctx)
	if err != nil {
		return "", nil, err
	}
	var refs []string
	switch {
	case match == "email":
		refs = ix.byEmail[strings.ToLower(value)]
	case match == "name":
		refs = ix.byName[strings.ToLower(value)]
	case strings.HasPrefix(match, "annotation:"):
		key := strings.TrimPrefix(match, "annotation:")
		if d.annotations != nil && !d.annotations[key] {
			return "", nil, fmt.Errorf("user match %q: the directory does not index that annotation", match)
		}
		refs = ix.byAnn[key+"\x00"+value]
	default:
		return "", nil, fmt.Errorf("unknown user match %q", match)
	}
	if len(refs) != 1 {
		return "", nil, nil
	}
	return refs[0], slices.Clone(ix.groups[refs[0]]), nil
}

// Warm rebuilds the directory when the catalog's generation moved, so the next lookup does
// not (serve calls it in the background after every change it learns of).
func (d *Directory) Warm(ctx context.Context) error {
	_, err := d.current(ctx)
	return err
}

func (d *Directory) current(ctx context.Context) (*userIndex, error) {
	gen, err := d.st.Generation(ctx)
	if err != nil {
		return nil, fmt.Errorf("read catalog generation: %w", err)
	}
	if ix := d.snap.Load(); ix != nil && ix.generation == gen {
		return ix, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ix := d.snap.Load(); ix != nil && ix.generation == gen {
		return ix, nil
	}
	ix, err := buildUserIndex(ctx, d.st.Client, gen, d.annotations)
	if err != nil {
		return nil, err
	}
	d.snap.Store(ix)
	return ix, nil
}

func buildUserIndex(ctx context.Context, client *ent.Client, gen int64, annotations map[string]bool) (*userIndex, error) {
	ix := &userIndex{generation: gen, byEmail: map[string][]string{}, byName: map[string][]string{},
		byAnn: map[string][]string{}, groups: map[string][]string{}}
	users, err := client.Entity.Query().Where(entity.KindEQ("user")).
		Select(entity.FieldRef, entity.FieldName, entity.FieldAnnotations, entity.FieldDocument).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	for _, u := range users {
		var doc struct {
			Spec struct {
				Profile struct {
					Email string `json:"email"`
				} `json:"profile"`
			} `json:"spec"`
		}
		if json.Unmarshal(u.Document, &doc) == nil && doc.Spec.Profile.Email != "" {
			k := strings.ToLower(doc.Spec.Profile.Email)
			ix.byEmail[k] = append(ix.byEmail[k], u.Ref)
		}
		k := strings.ToLower(u.Name)
		ix.byName[k] = append(ix.byName[k], u.Ref)
		for ak, av := range u.Annotations {
			if annotations != nil && !annotations[ak] {
				continue
			}
			ix.byAnn[ak+"\x00"+av] = append(ix.byAnn[ak+"\x00"+av], u.Ref)
		}
	}
	rels, err := client.Relation.Query().Where(relation.TypeEQ(catalog.RelMemberOf)).
		Select(relation.FieldSourceRef, relation.FieldTargetRef).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	for _, r := range rels {
		ix.groups[r.SourceRef] = append(ix.groups[r.SourceRef], r.TargetRef)
	}
	for ref, gs := range ix.groups {
		slices.Sort(gs)
		ix.groups[ref] = slices.Compact(gs)
	}
	return ix, nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
