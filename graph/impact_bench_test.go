package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// The impact query scripts/loadgen measures ("impact largest of 30") and the same shape for
// dependencies.
const (
	benchLargestQuery = `query($ref:String!){ impact(ref:$ref){ totalAffected affected{ ref depth path } } }`
	benchDepsQuery    = `query($ref:String!){ dependencies(ref:$ref){ totalAffected affected{ ref depth path } } }`
)

// BenchmarkImpact answers the impact of the resource with the most affected entities among
// the first 30 by ref (as scripts/loadgen picks it) and of the synthetic generator's hot
// resource and hubs, over HTTP-shaped requests to the handler (no network, no client-side decoding),
// on a synthetic catalog of CATALOGD_BENCH_N entities (default 10,000) of shape
// CATALOGD_BENCH_SHAPE (default or dense), on SQLite or, when CATALOGD_TEST_POSTGRES is set,
// PostgreSQL (or the database CATALOGD_BENCH_DB_URL names). It reports the p50 and p99 of single requests and the answer's size.
func BenchmarkImpact(b *testing.B) {
	n := testdb.BenchSize(10_000)
	stats, err := synth.Write(b.TempDir(), synth.Config{N: n, Seed: 1, Shape: synth.Shape(os.Getenv("CATALOGD_BENCH_SHAPE")), Hubs: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// CATALOGD_BENCH_DB_URL names a database that holds this catalog already (e.g. one
	// scripts/bench -keep left, or one an earlier run filled), to measure again without
	// ingesting again; an empty one is filled.
	dbURL, ingested := os.Getenv("CATALOGD_BENCH_DB_URL"), true
	if dbURL == "" {
		dbURL, ingested = testdb.SQLite(b), false
		if os.Getenv(testdb.EnvPostgres) != "" {
			dbURL = testdb.Postgres(b)
		}
	}
	st := testdb.Open(b, dbURL)
	var have int
	if err := st.DB.QueryRowContext(ctx, "SELECT count(*) FROM entities").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if !ingested || have == 0 {
		p, err := file.New(stats.Root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := testdb.Engine(b, st).Refresh(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	r := graph.NewResolver(st.Client, st, nil)
	if _, err := r.Index.Current(ctx); err != nil {
		b.Fatal(err)
	}
	h := graph.NewHandler(r, graph.Options{})
	post := func(b *testing.B, query string, vars map[string]any) []byte {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || bytes.Contains(w.Body.Bytes(), []byte(`"errors"`)) {
			b.Fatalf("status %d: %.300s", w.Code, w.Body.Bytes())
		}
		return w.Body.Bytes()
	}
	var list struct {
		Data struct {
			Entities struct {
				Edges []struct{ Node struct{ Ref string } }
			}
		}
	}
	if err := json.Unmarshal(post(b, `{ entities(filter:{kind:["Resource"]}, first:30, orderBy:{field: REF, direction: ASC}){ edges{ node { ref } } } }`, nil), &list); err != nil {
		b.Fatal(err)
	}
	largest, most := "", -1
	for _, e := range list.Data.Entities.Edges {
		var imp struct {
			Data struct{ Impact struct{ TotalAffected int } }
		}
		if err := json.Unmarshal(post(b, `query($ref:String!){ impact(ref:$ref){ totalAffected } }`, map[string]any{"ref": e.Node.Ref}), &imp); err != nil {
			b.Fatal(err)
		}
		if imp.Data.Impact.TotalAffected > most {
			largest, most = e.Node.Ref, imp.Data.Impact.TotalAffected
		}
	}
	b.Logf("%s, %d entities, shape %q: largest of the first 30 resources %s (%d affected); hot %s (%d dependents)",
		st.Dialect, n, os.Getenv("CATALOGD_BENCH_SHAPE"), largest, most, stats.HotResource, stats.HotDependents)
	run := func(name, query, ref string) {
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			size := 0
			for b.Loop() {
				t := time.Now()
				size = len(post(b, query, map[string]any{"ref": ref}))
				took = append(took, time.Since(t))
			}
			testdb.ReportLatencies(b, took)
			b.ReportMetric(float64(size), "bytes")
		})
	}
	// The dependencies of the deepest entity the largest impact reaches.
	var deepest struct {
		Data struct {
			Impact struct{ Affected []struct{ Ref string } }
		}
	}
	if err := json.Unmarshal(post(b, `query($ref:String!){ impact(ref:$ref){ affected{ ref } } }`, map[string]any{"ref": largest}), &deepest); err != nil {
		b.Fatal(err)
	}
	deep := deepest.Data.Impact.Affected[len(deepest.Data.Impact.Affected)-1].Ref
	run("largest", benchLargestQuery, largest)
	run("hot", benchLargestQuery, stats.HotResource)
	run("hub-7k", benchLargestQuery, stats.IdentityHub)
	run("hub-70k", benchLargestQuery, stats.NetworkHub)
	run("deps-deepest", benchDepsQuery, deep)
}
