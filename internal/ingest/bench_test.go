package ingest_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
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
	// CATALOGD_BENCH_DOCS=1 gives every second component a small techdocs site.
	st, err := synth.Write(dir, synth.Config{N: n, Seed: 1, Docs: os.Getenv("CATALOGD_BENCH_DOCS") != ""})
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

// BenchmarkRefreshUnchanged measures re-reading a location none of whose files changed.
func BenchmarkRefreshUnchanged(b *testing.B) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes() {
		for name, newDB := range benchDBs() {
			b.Run(fmt.Sprintf("N=%d/%s", n, name), func(b *testing.B) {
				p := synthetic(b, n)
				st := testdb.Open(b, newDB(b))
				eng := &ingest.Engine{Store: st, Validator: v}
				if _, err := eng.Refresh(context.Background(), p); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					res, err := eng.Refresh(context.Background(), p)
					if err != nil || res.Changed() || res.Unchanged < n*9/10 {
						b.Fatalf("%+v %v", res, err)
					}
				}
			})
		}
	}
}

// BenchmarkRefreshChanged measures re-reading a location where a fifth of the entities
// changed (their description), the rest unchanged.
func BenchmarkRefreshChanged(b *testing.B) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes() {
		for name, newDB := range benchDBs() {
			b.Run(fmt.Sprintf("N=%d/%s", n, name), func(b *testing.B) {
				p := synthetic(b, n)
				dir := filepath.Dir(p.Location().Target)
				st := testdb.Open(b, newDB(b))
				eng := &ingest.Engine{Store: st, Validator: v}
				if _, err := eng.Refresh(context.Background(), p); err != nil {
					b.Fatal(err)
				}
				round := 0
				for b.Loop() {
					b.StopTimer()
					round++
					changed := changeDescriptions(b, dir, n/5, fmt.Sprintf("Changed %d. ", round))
					b.StartTimer()
					res, err := eng.Refresh(context.Background(), p)
					if err != nil || res.Updated != changed {
						b.Fatalf("%+v %v (changed %d)", res, err, changed)
					}
				}
			})
		}
	}
}

func benchDBs() map[string]func(testing.TB) string {
	dbs := map[string]func(testing.TB) string{"sqlite": testdb.SQLite}
	if os.Getenv(testdb.EnvPostgres) != "" {
		dbs["postgres"] = testdb.Postgres
	}
	if os.Getenv("CATALOGD_BENCH_DB") == "postgres" {
		delete(dbs, "sqlite")
	}
	return dbs
}

// changeDescriptions prefixes the description of about want entities (whole files, sorted
// by name) and returns how many it changed.
func changeDescriptions(b *testing.B, dir string, want int, prefix string) int {
	b.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && filepath.Base(p) != "catalog-info.yaml" {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	changed := 0
	re := regexp.MustCompile(`(?m)^  description: "(Changed \d+\. )?`)
	for _, f := range files {
		if changed >= want {
			break
		}
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		n := len(re.FindAllIndex(data, -1))
		if n == 0 {
			continue
		}
		data = re.ReplaceAll(data, []byte(`  description: "`+prefix))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			b.Fatal(err)
		}
		changed += n
	}
	return changed
}

// BenchmarkApplyChanged measures the store's part of a re-read where a fifth of the
// entities changed: processing is done once, outside the timer.
func BenchmarkApplyChanged(b *testing.B) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes() {
		for name, newDB := range benchDBs() {
			b.Run(fmt.Sprintf("N=%d/%s", n, name), func(b *testing.B) {
				ctx := context.Background()
				p := synthetic(b, n)
				st := testdb.Open(b, newDB(b))
				eng := &ingest.Engine{Store: st, Validator: v}
				tree, release, err := p.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				recs := ingest.Collect(eng.Process(ctx, p.Location(), tree))
				release()
				if _, err := st.Apply(ctx, p.Location(), &store.Batch{Parts: store.Entities(recs)}); err != nil {
					b.Fatal(err)
				}
				round := 0
				for b.Loop() {
					round++
					for i := 0; i < len(recs)/5; i++ {
						recs[i].Hash = fmt.Sprintf("%d-%d", round, i)
						recs[i].Description = fmt.Sprintf("changed %d", round)
					}
					res, err := st.Apply(ctx, p.Location(), &store.Batch{Parts: store.Entities(recs)})
					if err != nil || res.Updated != len(recs)/5 {
						b.Fatalf("%+v %v", res, err)
					}
				}
			})
		}
	}
}
