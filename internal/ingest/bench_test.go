package ingest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
	"catalogd/schema"
)

// benchSizes are the catalog sizes benchmarked; CATALOGD_BENCH_N overrides (e.g. 100000).
func benchSizes() []int {
	if v := os.Getenv("CATALOGD_BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return []int{n}
		}
	}
	return []int{10_000}
}

func synthetic(b *testing.B, n int) *file.Provider {
	b.Helper()
	dir := b.TempDir()
	st, err := synth.Write(dir, synth.Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	p, err := file.New(st.Root)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkProcess measures reading, parsing, validating and deriving relations (no database).
func BenchmarkProcess(b *testing.B) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			p := synthetic(b, n)
			eng := &ingest.Engine{Validator: v}
			for b.Loop() {
				tree, release, err := p.Read(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				batch := eng.Process(context.Background(), p.Location(), tree)
				entities := ingest.Collect(batch)
				release()
				if len(entities) < n*9/10 || len(batch.Errors) > 0 {
					b.Fatalf("%d entities, %d errors", len(entities), len(batch.Errors))
				}
			}
			b.ReportMetric(float64(n), "entities/op")
		})
	}
}

// BenchmarkIngest measures a first ingestion into an empty database, end to end.
func BenchmarkIngest(b *testing.B) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes() {
		dbs := map[string]func(testing.TB) string{"sqlite": testdb.SQLite}
		if os.Getenv(testdb.EnvPostgres) != "" {
			dbs["postgres"] = testdb.Postgres
		}
		for name, newDB := range dbs {
			b.Run(fmt.Sprintf("N=%d/%s", n, name), func(b *testing.B) {
				p := synthetic(b, n)
				for b.Loop() {
					b.StopTimer()
					st := testdb.Open(b, newDB(b))
					eng := &ingest.Engine{Store: st, Validator: v}
					b.StartTimer()
					res, err := eng.Refresh(context.Background(), p)
					if err != nil || res.Added < n*9/10 {
						b.Fatalf("%+v %v", res, err)
					}
				}
			})
		}
	}
}
