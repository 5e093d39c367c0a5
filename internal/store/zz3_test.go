package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"catalogd/internal/store"
)

func TestZZUpdate(t *testing.T) {
	u := os.Getenv("ZZ_DB")
	if u == "" {
		t.Skip()
	}
	ctx := context.Background()
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WarmSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := st.DB.Exec(`UPDATE entities SET hash = hash || 'x', description = description || ' zzyzx' WHERE id IN (SELECT id FROM entities ORDER BY id LIMIT 200)`); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB.Exec(`UPDATE catalog_state SET generation = generation + 1`); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		res, err := st.Search(ctx, store.SearchQuery{Text: "zzyzx", First: 5})
		t.Logf("search after a change of 200: %d hits in %v (%v)", res.Total, time.Since(t0), err)
	}
}
