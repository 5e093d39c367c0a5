package mcpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"catalogd/internal/catalog"
)

// Bounds of tool answers: an assistant's context is small, so every list is capped and the
// answer says when it was.
const (
	maxSearch          = 50
	maxOwned           = 200
	maxDeps            = 500
	maxImpactOwners    = 50
	maxRefsPerOwner    = 10
	maxChanges         = 200
	defaultImpactDepth = 0 // unbounded
)

func newServer(o Options, write bool) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "catalogd", Version: o.Version}, &mcp.ServerOptions{
		Instructions: "catalogd is the software catalog: who owns what, what depends on what, and what changed. " +
			"Refs are kind:namespace/name (component:default/payments); a bare name is read as a component (or group for owners).",
	})
	h := o.GraphQL
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(s, &mcp.Tool{Name: "describe_catalog", Annotations: ro,
		Description: "What the catalog holds: entity kinds with counts, relation types, and the filters other tools take."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, DescribeOut, error) {
			var d struct{ Facets []facet }
			if err := gql(ctx, h, `{ facets(fields: ["kind", "spec.lifecycle"]) { field values { value count } } }`, nil, &d); err != nil {
				return nil, DescribeOut{}, err
			}
			out := DescribeOut{RelationTypes: o.RelationTypes,
				Filters:     []string{"kind", "owner", "type", "lifecycle", "tag", "system", "text"},
				ChangeTypes: []string{"added", "changed", "removed", "owner_changed", "refused"}}
			for _, f := range d.Facets {
				for _, v := range f.Values {
					if f.Field == "kind" {
						out.Kinds = append(out.Kinds, Count{v.Value, v.Count})
					} else {
						out.Lifecycles = append(out.Lifecycles, Count{v.Value, v.Count})
					}
				}
			}
			return nil, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "search_entities", Annotations: ro,
		Description: fmt.Sprintf("Full-text search over names, titles, descriptions, tags, owners; best first, at most %d hits.", maxSearch)},
		func(ctx context.Context, _ *mcp.CallToolRequest, in SearchIn) (*mcp.CallToolResult, SearchOut, error) {
			return Search(ctx, h, in)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "get_entity", Annotations: ro,
		Description: "One entity: its descriptor (metadata, spec), relations and owner."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in RefIn) (*mcp.CallToolResult, EntityOut, error) {
			ref, err := Resolve(ctx, h, in.Ref)
			if err != nil {
				return nil, EntityOut{}, err
			}
			in.Ref = ref
			var d struct{ Entity *EntityOut }
			if err := gql(ctx, h, `query($r: String!) { entity(ref: $r) { ref kind title description tags metadata spec
  relations { type targetRef } ownership { ownerRef resolved } } }`, map[string]any{"r": in.Ref}, &d); err != nil {
				return nil, EntityOut{}, err
			}
			if d.Entity == nil {
				return nil, EntityOut{}, notFound(in.Ref)
			}
			return nil, *d.Entity, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "who_owns", Annotations: ro,
		Description: "Who owns an entity: the owner, the escalation path through parent groups, contacts and on-call annotations."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in RefIn) (*mcp.CallToolResult, WhoOwnsOut, error) {
			ref, err := Resolve(ctx, h, in.Ref)
			if err != nil {
				return nil, WhoOwnsOut{}, err
			}
			return WhoOwns(ctx, h, ref)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "list_owned", Annotations: ro,
		Description: fmt.Sprintf("Entities a group or user owns (with transitive, also through child groups); at most %d.", maxOwned)},
		func(ctx context.Context, _ *mcp.CallToolRequest, in OwnedIn) (*mcp.CallToolResult, OwnedOut, error) {
			first := clamp(in.First, 100, maxOwned)
			var d struct {
				Entity *struct {
					Ref           string
					OwnedEntities []EntitySummary
				}
			}
			q := `query($r: String!, $n: Int, $t: Boolean) { entity(ref: $r) { ref
  ... on Group { ownedEntities(transitive: $t, first: $n) { ref kind title description } }
  ... on User { ownedEntities(first: $n) { ref kind title description } } } }`
			if err := gql(ctx, h, q, map[string]any{"r": ownerRef(in.Owner), "n": first + 1, "t": in.Transitive}, &d); err != nil {
				return nil, OwnedOut{}, err
			}
			if d.Entity == nil {
				return nil, OwnedOut{}, notFound(in.Owner)
			}
			out := OwnedOut{Owner: d.Entity.Ref, Entities: d.Entity.OwnedEntities}
			if out.Entities == nil {
				out.Entities = []EntitySummary{}
			}
			if len(out.Entities) > first {
				out.Entities, out.Truncated = out.Entities[:first], true
			}
			return nil, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "get_dependencies", Annotations: ro,
		Description: fmt.Sprintf("What an entity needs (direction downstream: what it depends on and consumes) or what needs it (upstream), transitively to depth; at most %d.", maxDeps)},
		func(ctx context.Context, _ *mcp.CallToolRequest, in DepsIn) (*mcp.CallToolResult, DepsOut, error) {
			return Dependencies(ctx, h, in)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "impact_analysis", Annotations: ro,
		Description: fmt.Sprintf("Everything affected if an entity fails, grouped by owner with contacts and escalation. The answer lists at most %d owners and %d refs per owner, and says the totals.", maxImpactOwners, maxRefsPerOwner)},
		func(ctx context.Context, _ *mcp.CallToolRequest, in ImpactIn) (*mcp.CallToolResult, ImpactOut, error) {
			return Impact(ctx, h, in)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "get_team", Annotations: ro,
		Description: "A group: its profile, parent, child groups, members and contacts."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in RefIn) (*mcp.CallToolResult, TeamOut, error) {
			var d struct{ Entity *TeamOut }
			q := `query($r: String!) { entity(ref: $r) { ref kind title description annotations { key value }
  ... on Group { type profile { displayName email } parent { ref } children { ref } members { ref profile { displayName email } } } } }`
			if err := gql(ctx, h, q, map[string]any{"r": ownerRef(in.Ref)}, &d); err != nil {
				return nil, TeamOut{}, err
			}
			if d.Entity == nil {
				return nil, TeamOut{}, notFound(in.Ref)
			}
			if !strings.EqualFold(d.Entity.Kind, "group") {
				return nil, TeamOut{}, fmt.Errorf("ref: %s is a %s, not a group", d.Entity.Ref, d.Entity.Kind)
			}
			return nil, *d.Entity, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "recent_changes", Annotations: ro,
		Description: fmt.Sprintf("The change feed: entities added, changed, removed, owners changed, reads refused; oldest first after a cursor (newest %d without one).", maxChanges)},
		func(ctx context.Context, _ *mcp.CallToolRequest, in ChangesIn) (*mcp.CallToolResult, ChangesOut, error) {
			return recentChanges(ctx, h, in)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Annotations: ro,
		Description: "Who the catalog takes the caller for: kind, name, user ref, roles and groups."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiOut, error) {
			var d struct{ Viewer WhoamiOut }
			err := gql(ctx, h, `{ viewer { kind name ref roles groups } }`, nil, &d)
			return nil, d.Viewer, err
		})
	if write {
		mcp.AddTool(s, &mcp.Tool{Name: "register_location", Annotations: &mcp.ToolAnnotations{},
			Description: "Register a location (file:/path, url:https://…, or a git URL); with dryRun, only read and process it."},
			func(ctx context.Context, _ *mcp.CallToolRequest, in RegisterIn) (*mcp.CallToolResult, RegisterOut, error) {
				var d struct{ RegisterLocation RegisterOut }
				err := gql(ctx, h, `mutation($t: String!, $d: Boolean) { registerLocation(target: $t, dryRun: $d) { target entityRefs } }`,
					map[string]any{"t": in.Target, "d": in.DryRun}, &d)
				return nil, d.RegisterLocation, err
			})
		mcp.AddTool(s, &mcp.Tool{Name: "refresh_entity", Annotations: &mcp.ToolAnnotations{},
			Description: "Read the location that holds an entity now (allowed to its owners and to roles with entity.refresh)."},
			func(ctx context.Context, _ *mcp.CallToolRequest, in RefIn) (*mcp.CallToolResult, RefreshOut, error) {
				var d struct{ RefreshEntity bool }
				err := gql(ctx, h, `mutation($r: String!) { refreshEntity(ref: $r) }`, map[string]any{"r": in.Ref}, &d)
				return nil, RefreshOut{Ref: in.Ref, Refreshed: d.RefreshEntity}, err
			})
	}
	return s
}

// WhoOwns answers who_owns for a ref.
func WhoOwns(ctx context.Context, h http.Handler, ref string) (*mcp.CallToolResult, WhoOwnsOut, error) {
	var d struct {
		Entity *struct {
			Ref       string
			Ownership struct {
				OwnerRef  *string
				Resolved  bool
				Ancestors []struct{ Ref string }
			}
		}
		Impact struct {
			RootContacts []Contact
			Owners       []struct {
				Ref        string
				Escalation []Escalation
				Contacts   []Contact
			}
		}
	}
	q := `query($r: String!) { entity(ref: $r) { ref ownership { ownerRef resolved ancestors { ref } } }
  impact(ref: $r, maxDepth: 0) { rootContacts { type value } owners(first: 5) { ref contacts { type value } escalation { ref contacts { type value } } } } }`
	if err := gql(ctx, h, q, map[string]any{"r": ref}, &d); err != nil {
		return nil, WhoOwnsOut{}, err
	}
	if d.Entity == nil {
		return nil, WhoOwnsOut{}, notFound(ref)
	}
	out := WhoOwnsOut{Ref: d.Entity.Ref, OwnerResolved: d.Entity.Ownership.Resolved, OnCall: nonNil(d.Impact.RootContacts),
		Escalation: []Escalation{}, Contacts: []Contact{}}
	if d.Entity.Ownership.OwnerRef != nil {
		out.Owner = *d.Entity.Ownership.OwnerRef
	}
	for _, o := range d.Impact.Owners {
		if o.Ref == out.Owner {
			out.Contacts = nonNil(o.Contacts)
			out.Escalation = o.Escalation
		}
	}
	if out.Escalation == nil {
		out.Escalation = []Escalation{}
	}
	return nil, out, nil
}

// Impact answers impact_analysis.
func Impact(ctx context.Context, h http.Handler, in ImpactIn) (*mcp.CallToolResult, ImpactOut, error) {
	ref, err := Resolve(ctx, h, in.Ref)
	if err != nil {
		return nil, ImpactOut{}, err
	}
	in.Ref = ref
	if in.MaxDepth != nil && (*in.MaxDepth < 0 || *in.MaxDepth > 100) {
		return nil, ImpactOut{}, fmt.Errorf("maxDepth: must be between 0 and 100 (absent: unbounded), got %d", *in.MaxDepth)
	}
	var d struct {
		Impact struct {
			Root          struct{ Ref string }
			RootContacts  []Contact
			TotalAffected int
			TotalOwners   int
			Owners        []ImpactOwner
		}
	}
	q := `query($r: String!, $d: Int, $o: Int, $n: Int) { impact(ref: $r, maxDepth: $d) { root { ref } rootContacts { type value }
  totalAffected totalOwners owners(first: $o) { ref entityCount entityRefs(first: $n) contacts { type value } escalation { ref contacts { type value } } } } }`
	if err := gql(ctx, h, q, map[string]any{"r": in.Ref, "d": in.MaxDepth, "o": maxImpactOwners, "n": maxRefsPerOwner}, &d); err != nil {
		return nil, ImpactOut{}, err
	}
	im := d.Impact
	out := ImpactOut{Ref: im.Root.Ref, RootContacts: nonNil(im.RootContacts), TotalAffected: im.TotalAffected,
		TotalOwners: im.TotalOwners, Owners: im.Owners,
		Bounds: fmt.Sprintf("at most %d owners and %d refs per owner are listed", maxImpactOwners, maxRefsPerOwner)}
	if out.Owners == nil {
		out.Owners = []ImpactOwner{}
	}
	listed := 0
	for _, o := range out.Owners {
		listed += len(o.EntityRefs)
		if len(o.EntityRefs) < o.EntityCount {
			out.Truncated = true
		}
	}
	out.ListedRefs = listed
	if len(out.Owners) < out.TotalOwners {
		out.Truncated = true
	}
	return nil, out, nil
}

func recentChanges(ctx context.Context, h http.Handler, in ChangesIn) (*mcp.CallToolResult, ChangesOut, error) {
	first := clamp(in.First, 50, maxChanges)
	filter := map[string]any{}
	for k, v := range map[string]string{"kind": in.Kind, "owner": in.Owner, "ref": in.Ref} {
		if v != "" {
			filter[k] = v
		}
	}
	if len(in.Types) > 0 {
		filter["type"] = in.Types
	}
	after := any(nil)
	if in.After != "" {
		after = in.After
	} else {
		// The newest first pages: start first changes before the head (ids are dense enough
		// for a hint; the answer says where it starts).
		var hd struct{ CatalogChangesHead *string }
		if err := gql(ctx, h, `{ catalogChangesHead }`, nil, &hd); err != nil {
			return nil, ChangesOut{}, err
		}
		if hd.CatalogChangesHead != nil {
			after = backCursor(*hd.CatalogChangesHead, first)
		}
	}
	var d struct {
		CatalogChanges struct {
			Edges []struct {
				Node Change
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	q := `query($a: Cursor, $n: Int, $f: CatalogChangeFilter) { catalogChanges(after: $a, first: $n, filter: $f) {
  edges { node { cursor type ref kind owner previousOwner location reason at fields } } pageInfo { hasNextPage endCursor } } }`
	if err := gql(ctx, h, q, map[string]any{"a": after, "n": first, "f": filter}, &d); err != nil {
		return nil, ChangesOut{}, err
	}
	out := ChangesOut{Changes: []Change{}, More: d.CatalogChanges.PageInfo.HasNextPage}
	for _, e := range d.CatalogChanges.Edges {
		out.Changes = append(out.Changes, e.Node)
	}
	if c := d.CatalogChanges.PageInfo.EndCursor; c != nil {
		out.Cursor = *c
	}
	return nil, out, nil
}

func clamp(n, def, limit int) int {
	if n <= 0 {
		return def
	}
	return min(n, limit)
}

func depth(d *int) any {
	if d == nil {
		return nil
	}
	return *d
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ownerRef reads a bare owner name as a group.
func ownerRef(s string) string {
	if s != "" && !strings.Contains(s, ":") {
		return "group:" + s
	}
	return s
}

func notFound(ref string) error {
	return fmt.Errorf("NOT_FOUND: no entity %q in the catalog (try search_entities)", excerpt(ref))
}

// excerpt cuts s for an answer, on a rune boundary.
func excerpt(s string) string { return catalog.Excerpt(s, 100) }

// Search answers search_entities.
func Search(ctx context.Context, h http.Handler, in SearchIn) (*mcp.CallToolResult, SearchOut, error) {
	if strings.TrimSpace(in.Query) == "" {
		return nil, SearchOut{}, fmt.Errorf("query: give at least one word")
	}
	first := clamp(in.First, 10, maxSearch)
	var d struct {
		Search struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					Snippet string
					Entity  *EntitySummary
				}
			}
		}
	}
	if err := gql(ctx, h, `query($q: String!, $k: [String!], $n: Int) { search(query: $q, kinds: $k, first: $n) {
  totalCount edges { node { snippet entity { ref kind title description } } } } }`, map[string]any{"q": in.Query, "k": in.Kinds, "n": first}, &d); err != nil {
		return nil, SearchOut{}, err
	}
	out := SearchOut{Total: d.Search.TotalCount, Hits: []SearchHit{}}
	for _, e := range d.Search.Edges {
		if e.Node.Entity != nil {
			out.Hits = append(out.Hits, SearchHit{EntitySummary: *e.Node.Entity, Snippet: e.Node.Snippet})
		}
	}
	out.Truncated = out.Total > len(out.Hits)
	return nil, out, nil
}

// Dependencies answers get_dependencies.
func Dependencies(ctx context.Context, h http.Handler, in DepsIn) (*mcp.CallToolResult, DepsOut, error) {
	field := "dependencies"
	switch in.Direction {
	case "", "downstream":
	case "upstream":
		field = "impact"
	default:
		return nil, DepsOut{}, fmt.Errorf("direction: %q is neither downstream nor upstream", excerpt(in.Direction))
	}
	ref, err := Resolve(ctx, h, in.Ref)
	if err != nil {
		return nil, DepsOut{}, err
	}
	in.Ref = ref
	var d map[string]struct {
		Root          struct{ Ref string }
		TotalAffected int
		Affected      []Dependency
	}
	q := fmt.Sprintf(`query($r: String!, $d: Int, $n: Int) { x: %s(ref: $r, maxDepth: $d) { root { ref } totalAffected
  affected(first: $n) { ref depth path entity { kind title } } } }`, field)
	if err := gql(ctx, h, q, map[string]any{"r": in.Ref, "d": depth(in.Depth), "n": maxDeps}, &d); err != nil {
		return nil, DepsOut{}, err
	}
	x := d["x"]
	out := DepsOut{Ref: x.Root.Ref, Direction: or(in.Direction, "downstream"), Total: x.TotalAffected, Entities: x.Affected}
	if out.Entities == nil {
		out.Entities = []Dependency{}
	}
	out.Truncated = out.Total > len(out.Entities)
	return nil, out, nil
}
