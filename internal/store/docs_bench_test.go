package store_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// BenchmarkApplyManySites: a first read of 2,000 entities, each with a site of two pages (a
// catalog where every component has docs), on SQLite, and on PostgreSQL when
// CATALOGD_TEST_POSTGRES is set. Reports doc pages written per second.
func BenchmarkApplyManySites(b *testing.B) {
	const n = 2000
	dbs := map[string]func(testing.TB) string{"sqlite": testdb.SQLite}
	if os.Getenv(testdb.EnvPostgres) != "" {
		dbs["postgres"] = testdb.Postgres
	}
	for name, db := range dbs {
		b.Run(name, func(b *testing.B) {
			recs := records(n, "m")
			for i := range recs {
				recs[i].Docs = site(
					page("index.md", fmt.Sprintf("Service %d", i), "How to run the service, and what it owns."),
					page("runbook.md", "Runbook", "What to do when it pages.", "Alerts", "Restarts"),
				)
			}
			for range b.N {
				b.StopTimer()
				st := testdb.Open(b, db(b))
				b.StartTimer()
				if _, err := st.Apply(context.Background(), locSpec("m"), &store.Batch{Parts: parts(recs)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "pages/s")
		})
	}
}
