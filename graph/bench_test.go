package graph_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/99designs/gqlgen/client"

	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// The queries scripts/loadgen sends: an entity page and a filtered list page of 50.
const (
	benchEntityQuery = `query($ref:String!){ entity(ref:$ref){ id ref kind name title description tags ... on Component { type lifecycle owner { ref name title } system { ref name } } relations { type targetRef target { ref kind name title } } } }`
	benchListQuery   = `query($owner:String){ entities(filter:{kind:["Component"], owner:$owner}, first:50){ totalCount pageInfo{hasNextPage endCursor} edges{ cursor node { ref name title ... on Component { lifecycle owner { ref } } } } } }`
	benchImpactQuery = `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth } owners{ ref entityRefs } } }`
	// Whole entities, as Backstage's REST answer carries them (the query-path issue's set).
	benchWholeListQuery = `query($owner:String){ entities(filter:{kind:["Component"], owner:$owner}, first:50){ edges{ node { ref kind apiVersion metadata spec relations { type targetRef } } } } }`
)

// benchResolver ingests a synthetic catalog (CATALOGD_BENCH_N entities, default 10,000) and
// returns its resolver and the generator's stats.
func benchResolver(b *testing.B) (*graph.Resolver, synth.Stats) {
	b.Helper()
	n := testdb.BenchSize(10_000)
	stats, err := synth.Write(b.TempDir(), synth.Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	st := testdb.Open(b, testdb.SQLite(b))
	p, err := file.New(stats.Root)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := testdb.Engine(b, st).Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	r := graph.NewResolver(st.Client, st, nil)
	if _, err := r.Index.Current(context.Background()); err != nil {
		b.Fatal(err)
	}
	return r, stats
}

// BenchmarkQueries runs each query with the answer cache (cached/: after the first round,
// every answer comes from it) and without (computed/).
func BenchmarkQueries(b *testing.B) {
	r, stats := benchResolver(b)
	for _, mode := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"computed", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			benchQueries(b, client.New(graph.NewHandler(r, graph.Options{AnswerCacheBytes: mode.cache})), stats)
		})
	}
}

func benchQueries(b *testing.B, c *client.Client, stats synth.Stats) {
	run := func(name, query string, vars func(i int) client.Option) {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				var resp map[string]any
				if err := c.Post(query, &resp, vars(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	run("entity", benchEntityQuery, func(i int) client.Option {
		return client.Var("ref", stats.SampleComponents[i%len(stats.SampleComponents)])
	})
	run("list50", benchListQuery, func(i int) client.Option {
		return client.Var("owner", stats.SampleOwners[i%len(stats.SampleOwners)])
	})
	run("list50whole", benchWholeListQuery, func(i int) client.Option {
		return client.Var("owner", stats.SampleOwners[i%len(stats.SampleOwners)])
	})
	run(fmt.Sprintf("impact-hot-%d", stats.HotDependents), benchImpactQuery, func(int) client.Option { return client.Var("ref", stats.HotResource) })
	run("impact-cold", benchImpactQuery, func(int) client.Option { return client.Var("ref", stats.ColdResource) })
}
