package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// BenchmarkChangeFeed100k applies a first read of 100,000 entities (each logged as an
// addition), then a read that changes every tenth, and reads the whole feed back a page of
// 1,000 at a time. With CATALOGD_TEST_POSTGRES set it runs on PostgreSQL.
func BenchmarkChangeFeed100k(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		dbURL := testdb.SQLite(b)
		if os.Getenv(testdb.EnvPostgres) != "" {
			dbURL = testdb.Postgres(b)
		}
		st := testdb.Open(b, dbURL)
		recs := records(100_000, "bench")
		b.StartTimer()
		t0 := time.Now()
		if _, err := st.Apply(ctx, locSpec("bench"), &store.Batch{Parts: parts(recs)}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(100_000/time.Since(t0).Seconds(), "added-events/s")
		for i := 0; i < len(recs); i += 10 {
			recs[i].Hash += "x"
			recs[i].Document = append(recs[i].Document[:len(recs[i].Document)-1:len(recs[i].Document)-1], `,"spec":{"x":1}}`...)
		}
		t0 = time.Now()
		if _, err := st.Apply(ctx, locSpec("bench"), &store.Batch{Parts: parts(recs)}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(10_000/time.Since(t0).Seconds(), "changed-events/s")
		t0 = time.Now()
		var after int64
		n := 0
		for {
			cs, more, err := st.Changes(ctx, after, 1000, store.ChangeFilter{})
			if err != nil {
				b.Fatal(err)
			}
			n += len(cs)
			if len(cs) > 0 {
				after = cs[len(cs)-1].ID
			}
			if !more {
				break
			}
		}
		if n != 110_000 {
			b.Fatalf("read back %d changes, want 110000", n)
		}
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "read-events/s")
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}
