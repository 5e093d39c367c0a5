package graph_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/client"

	"catalogd/ent"
	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// countingDriver counts the SQL statements sent through it.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d countingDriver) Query(ctx context.Context, q string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, q, args, v)
}

func (d countingDriver) Exec(ctx context.Context, q string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, q, args, v)
}

// catalogOf writes n components, each owned by one of 10 groups, in one of 5 systems,
// depending on two other components and providing an API, and ingests them.
func catalogOf(t *testing.T, st *store.Store, n int) { catalogOfTB(t, st, n) }

func catalogOfTB(t testing.TB, st *store.Store, n int) {
	t.Helper()
	var docs []string
	for g := range 10 {
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-%d}\nspec: {type: team, children: []}\n", g))
	}
	for s := range 5 {
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: sys-%d}\nspec: {owner: team-%d}\n", s, s))
	}
	for i := range n {
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c-%03d}\nspec: {type: service, lifecycle: production, owner: team-%d, system: sys-%d, providesApis: [api-%03d], dependsOn: [component:c-%03d, component:c-%03d]}\n---\n"+
			"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: api-%03d}\nspec: {type: openapi, lifecycle: production, owner: team-%d, definition: x}\n",
			i, i%10, i%5, i, (i+1)%n, (i+7)%n, i, i%10))
	}
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := file.New(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testdb.Engine(t, st).Refresh(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

const listPage = `query($first: Int) { entities(first: $first, filter: {kind: ["component"]}) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { ref name title
    ... on Component { lifecycle owner { ref name ... on Group { profile { email } } } system { ref title } dependsOn { ref } providesApis { ref } }
    relations { type targetRef target { ref kind title } }
  } }
} }`

const entityPage = `query($ref: String!) { entity(ref: $ref) { ref
  ... on Component { owner { ref } system { ref } dependsOn { ref } dependencyOf { ref } }
  relations { type targetRef target { ref kind name relations(type: "ownedBy") { targetRef } } }
} }`

// A list page and an entity page cost a constant number of statements, whatever their size.
func TestPagesCostAConstantNumberOfStatements(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		catalogOf(t, st, 150)
		var n atomic.Int64
		counted := ent.NewClient(ent.Driver(countingDriver{st.Driver(), &n}))
		r := graph.NewResolver(counted, st, nil)
		// Relations come from the graph index once it has caught up (the database otherwise).
		if _, err := r.Index.Fresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := client.New(graph.NewHandler(r, graph.Options{}))

		statements := func(q string, opts ...client.Option) int64 {
			t.Helper()
			n.Store(0)
			var resp map[string]any
			if err := c.Post(q, &resp, opts...); err != nil {
				t.Fatalf("query: %v", err)
			}
			return n.Load()
		}
		small := statements(listPage, client.Var("first", 10))
		large := statements(listPage, client.Var("first", 100))
		// count, page, owners, systems, and the targets of the list fields and relations
		// (components, APIs): 5 statements; the relations come from the graph index.
		if small != large || large != 5 {
			t.Errorf("list page: %d statements for 10 entities, %d for 100; want 5 for both", small, large)
		}
		one := statements(entityPage, client.Var("ref", "component:c-001"))
		other := statements(entityPage, client.Var("ref", "component:c-100"))
		// the entity and all its targets (owner and system among them: a batch of one entity
		// with few targets loads them together): 2 statements; the relations, its own and its
		// targets', come from the graph index.
		if one != 2 || other != 2 {
			t.Errorf("entity page: %d and %d statements, want 2", one, other)
		}

		// While the graph index lags, relations are read with statements: still a constant
		// number of them, one per batch.
		graph.WithoutGraphRelations(r)
		c = client.New(graph.NewHandler(r, graph.Options{AnswerCacheBytes: -1}))
		small = statements(listPage, client.Var("first", 10))
		large = statements(listPage, client.Var("first", 100))
		one = statements(entityPage, client.Var("ref", "component:c-001"))
		other = statements(entityPage, client.Var("ref", "component:c-100"))
		// The list page's relations: one statement more (6). The entity page: the entity, its
		// relations, their targets, and the targets' ownedBy relations (4).
		if small != large || large != 6 {
			t.Errorf("list page, relations by statement: %d statements for 10 entities, %d for 100; want 6 for both", small, large)
		}
		if one != 4 || other != 4 {
			t.Errorf("entity page, relations by statement: %d and %d statements, want 4", one, other)
		}
	})
}

// An entity with more distinct targets than a batch loads together (maxTargetsAtOnce, 64)
// loads each type's targets when a field asks for them: its owner alone, then every target
// for its relations. Each field still gets the right entities.
func TestAPageWithManyTargetsLoadsThemByType(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		catalogOf(t, st, 700) // sys-0 has 140 components
		var n atomic.Int64
		counted := ent.NewClient(ent.Driver(countingDriver{st.Driver(), &n}))
		r := graph.NewResolver(counted, st, nil)
		if _, err := r.Index.Fresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := client.New(graph.NewHandler(r, graph.Options{AnswerCacheBytes: -1}))
		var resp struct {
			Entity struct {
				Ref        string
				Owner      struct{ Ref string }
				Components []struct{ Ref string }
				Relations  []struct {
					Type, TargetRef string
					Target          *struct{ Ref string }
				}
			}
		}
		n.Store(0)
		if err := c.Post(`{ entity(ref: "system:default/sys-0") { ref
			... on System { owner { ref } components { ref } }
			relations { type targetRef target { ref } } } }`, &resp); err != nil {
			t.Fatal(err)
		}
		e := resp.Entity
		if e.Owner.Ref != "group:default/team-0" || len(e.Components) != 140 || len(e.Relations) != 141 {
			t.Fatalf("owner %q, %d components, %d relations; want group:default/team-0, 140, 141", e.Owner.Ref, len(e.Components), len(e.Relations))
		}
		for _, rel := range e.Relations {
			if rel.Target == nil || rel.Target.Ref != rel.TargetRef {
				t.Fatalf("relation %s %s: target %v", rel.Type, rel.TargetRef, rel.Target)
			}
		}
		// The entity, its owner (ownedBy's targets), every target (components and relations).
		if got := n.Load(); got != 3 {
			t.Errorf("%d statements, want 3", got)
		}
	})
}
