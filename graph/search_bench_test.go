package graph_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

const (
	benchSearchQuery = `query($q:String!){ search(query:$q, first:20){ totalCount edges{ cursor node{ entity{ ref kind name title } page{ path } snippet score } } } }`
	benchFacetsQuery = `query($kinds:[String!]){ facets(fields:["kind","spec.type","spec.lifecycle","owner","tags"], filter:{kind:$kinds}){ field values{ value count } } }`
)

// BenchmarkSearch runs search and facets over a synthetic catalog of CATALOGD_BENCH_N entities
// (default 10,000), every second component with a techdocs site (about one doc page per two
// entities), on SQLite, or on PostgreSQL when CATALOGD_TEST_POSTGRES is set, and reports the
// p50 and p99 of single requests.
func BenchmarkSearch(b *testing.B) {
	n := testdb.BenchSize(10_000)
	stats, err := synth.Write(b.TempDir(), synth.Config{N: n, Seed: 1, Docs: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// CATALOGD_BENCH_DB_URL names a database that holds this catalog already (e.g. one
	// scripts/bench -keep left), to measure again without ingesting again.
	dbURL, ingested := os.Getenv("CATALOGD_BENCH_DB_URL"), true
	if dbURL == "" {
		dbURL, ingested = testdb.SQLite(b), false
		if os.Getenv(testdb.EnvPostgres) != "" {
			dbURL = testdb.Postgres(b)
		}
	}
	st := testdb.Open(b, dbURL)
	if !ingested {
		p, err := file.New(stats.Root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := testdb.Engine(b, st).Refresh(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	if _, err := st.RebuildTextIndex(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: rebuilding the text and search indexes took %v", st.Dialect, time.Since(t0).Round(time.Millisecond))
	if st.Dialect == "postgres" {
		// As autovacuum leaves a table after a large insert: analysed, its visibility map set.
		if _, err := st.DB.Exec("VACUUM ANALYZE entities, doc_pages"); err != nil {
			b.Fatal(err)
		}
	}
	c := client.New(graph.NewHandler(graph.NewResolver(st.Client, st, nil), graph.Options{}))

	// Queries as a user types them: a component's whole name, its first word's prefix, and
	// two words of its title.
	var names, prefixes, prefixes2, titles []string
	for _, ref := range stats.SampleComponents {
		name := ref[strings.LastIndex(ref, "/")+1:]
		names = append(names, name)
		words := strings.Split(name, "-")
		prefixes = append(prefixes, words[0][:min(4, len(words[0]))])
		prefixes2 = append(prefixes2, words[0][:min(2, len(words[0]))])
		titles = append(titles, strings.Join(words[:min(2, len(words))], " "))
	}
	run := func(name, query string, vars func(i int) client.Option) {
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			i := 0
			for b.Loop() {
				var resp map[string]any
				t := time.Now()
				if err := c.Post(query, &resp, vars(i)); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t))
				i++
			}
			testdb.ReportLatencies(b, took)
		})
	}
	pick := func(list []string) func(int) client.Option {
		return func(i int) client.Option { return client.Var("q", list[i%len(list)]) }
	}
	run("search-name", benchSearchQuery, pick(names))
	run("search-prefix", benchSearchQuery, pick(prefixes))
	run("search-prefix2", benchSearchQuery, pick(prefixes2))
	run("search-title-words", benchSearchQuery, pick(titles))
	run("search-doc-words", benchSearchQuery, pick(stats.SampleDocWords))
	run("facets4", benchFacetsQuery, func(int) client.Option { return client.Var("kinds", nil) })
	run("facets4-components", benchFacetsQuery, func(int) client.Option { return client.Var("kinds", []string{"Component"}) })
}
