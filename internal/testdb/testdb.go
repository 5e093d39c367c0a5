// Package testdb gives tests real databases: a fresh SQLite file always, and a fresh
// PostgreSQL schema when CATALOGD_TEST_POSTGRES names a server (the PostgreSQL suite).
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/store"
	"catalogd/schema"
)

// EnvPostgres names the variable that enables the PostgreSQL suite, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable
const EnvPostgres = "CATALOGD_TEST_POSTGRES"

// Each runs fn as one subtest per database: "sqlite", and "postgres" when enabled.
func Each(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	if os.Getenv(EnvPostgres) != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	}
}

// SQLite returns the URL of a new database file in the test's temp dir.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "catalog.db")
}

// Postgres returns the URL of a new, empty schema on the server named by EnvPostgres (the test
// is skipped when it is unset); the schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set", EnvPostgres)
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("t_%d_%08x", os.Getpid(), rand.Uint32())
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates the database at dbURL; it is closed when the test ends.
func Open(t testing.TB, dbURL string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// Engine returns an ingestion engine over st with the descriptor schemas compiled.
func Engine(t testing.TB, st *store.Store) *ingest.Engine {
	t.Helper()
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		t.Fatal(err)
	}
	return &ingest.Engine{Store: st, Validator: v}
}

// BenchSize returns the catalog size a benchmark generates: CATALOGD_BENCH_N, or def.
func BenchSize(def int) int {
	if v, err := strconv.Atoi(os.Getenv("CATALOGD_BENCH_N")); err == nil {
		return v
	}
	return def
}

// ReportLatencies reports the median and 99th percentile of took as b's p50-ms and p99-ms.
func ReportLatencies(b *testing.B, took []time.Duration) {
	b.Helper()
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
