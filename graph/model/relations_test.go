package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/depgraph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/testdb"
)

// TestRelationsFromTheGraphAreTheDatabases: a batch's relations taken from the graph index are
// the ones the database's statement gives, in the same order, for every entity, after random
// catalogs and changes, on both databases: relations of many types, declared from both ends
// (duplicates), to entities that do not exist, and entities with none.
func TestRelationsFromTheGraphAreTheDatabases(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		path := filepath.Join(t.TempDir(), "catalog.yaml")
		p, err := file.New(path)
		if err != nil {
			t.Fatal(err)
		}
		eng := testdb.Engine(t, st)
		g := depgraph.New(st)
		fromGraph := &Deps{Client: st.Client, Graph: g}
		fromDB := &Deps{Client: st.Client}
		rng := rand.New(rand.NewPCG(3, 4))
		for round := range 4 {
			var docs []string
			n := 40 + rng.IntN(40)
			for i := range n {
				var deps []string
				for range rng.IntN(5) {
					// Names sort differently by byte and by some collations: "c-1" / "c1" / "C_1".
					deps = append(deps, fmt.Sprintf("component:c%s%d", []string{"-", "", "_", "."}[rng.IntN(4)], rng.IntN(n+10)))
				}
				docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c-%d}\nspec: {type: service, lifecycle: production, owner: team-%d, system: sys-%d, dependsOn: [%s], dependencyOf: [%s]}\n",
					i, rng.IntN(3), rng.IntN(4), strings.Join(deps, ", "), strings.Join(deps[:len(deps)/2], ", ")))
			}
			for i := range n / 2 {
				docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: \"c%s%d\"}\nspec: {type: service, lifecycle: production, owner: team-0}\n", []string{"", "_", "."}[i%3], i))
			}
			docs = append(docs, "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-0}\nspec: {type: team, children: [team-1]}\n")
			if err := os.WriteFile(path, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			if res, err := eng.Refresh(ctx, p); err != nil || res.Errors > 0 {
				t.Fatalf("round %d: ingest %+v %v", round, res, err)
			}
			if _, err := g.Fresh(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := st.Client.Entity.Query().All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a, b := Wrap(ctx, fromGraph, rows), Wrap(ctx, fromDB, rows)
			if !a[0].base().batch.relationsFromGraph(ctx) {
				t.Fatal("the graph index did not answer")
			}
			total := 0
			for i, e := range rows {
				got, err := a[i].base().batch.relations(ctx, e.Ref)
				if err != nil {
					t.Fatal(err)
				}
				want, err := b[i].base().batch.relations(ctx, e.Ref)
				if err != nil {
					t.Fatal(err)
				}
				total += len(want)
				if s1, s2 := relString(got), relString(want); s1 != s2 {
					t.Fatalf("round %d, %s: from the graph\n%s\nfrom the database\n%s", round, e.Ref, s1, s2)
				}
			}
			if total < n {
				t.Fatalf("round %d: only %d relations compared", round, total)
			}
		}
	})
}

func relString(rels []*Relation) string {
	var b strings.Builder
	for _, r := range rels {
		fmt.Fprintf(&b, "%s %s\n", r.Type, r.TargetRef)
	}
	return b.String()
}
