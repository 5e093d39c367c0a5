package depgraph_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"catalogd/internal/depgraph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// BenchmarkQuestionDuringRebuild measures what a graph question waits for right after the
// catalog changed (the generation moved, as another replica's write moves it): Current
// answers from the previous snapshot while the rebuild runs in the background; Fresh waits
// for the rebuild, which is what every question paid when the rebuild ran on its path.
// CATALOGD_BENCH_N sets the catalog size (default 10,000), CATALOGD_BENCH_DB=postgres uses
// CATALOGD_TEST_POSTGRES.
func BenchmarkQuestionDuringRebuild(b *testing.B) {
	n := testdb.BenchSize(10000)
	dbURL := testdb.SQLite(b)
	if os.Getenv("CATALOGD_BENCH_DB") == "postgres" {
		dbURL = testdb.Postgres(b)
	}
	st := testdb.Open(b, dbURL)
	dir := b.TempDir()
	stats, err := synth.Write(dir, synth.Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	p, err := file.New(filepath.Join(dir, "catalog-info.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := testdb.Engine(b, st).Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	bump := func() {
		if _, err := st.DB.ExecContext(ctx, "UPDATE catalog_state SET generation = generation + 1"); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		ask  func(*depgraph.Index) error
	}{
		{"previous snapshot (Current)", func(x *depgraph.Index) error {
			s, err := x.Current(ctx)
			if err == nil {
				impact(s, stats.HotResource)
			}
			return err
		}},
		{"wait for the rebuild (Fresh)", func(x *depgraph.Index) error {
			s, err := x.Fresh(ctx)
			if err == nil {
				impact(s, stats.HotResource)
			}
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			x := depgraph.New(st)
			if _, err := x.Fresh(ctx); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for b.Loop() {
				b.StopTimer()
				bump()
				// Let the previous round's rebuild end, so each question meets a rebuild
				// that is just starting.
				if _, err := x.Fresh(ctx); err != nil {
					b.Fatal(err)
				}
				bump()
				b.StartTimer()
				t0 := time.Now()
				if err := c.ask(x); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			testdb.ReportLatencies(b, lat)
		})
	}
}

func impact(s *depgraph.Snapshot, ref string) *depgraph.Traversal {
	id, ok := s.ID(ref)
	if !ok {
		return nil
	}
	return s.Traverse(id, depgraph.ImpactEdges, -1)
}
