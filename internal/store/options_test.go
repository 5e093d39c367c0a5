package store_test

import (
	"context"
	"strings"
	"testing"

	"catalogd/internal/catalog"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// pragmas reads the page cache (KiB, as SQLite reports a size given in KiB: negative) and the
// memory map size of every pooled connection at once, so each is a distinct connection.
func pragmas(t *testing.T, st *store.Store) (caches, mmaps []int64) {
	t.Helper()
	ctx := context.Background()
	for range store.SQLiteConns {
		conn, err := st.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var cache, mmap int64
		if err := conn.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&mmap); err != nil {
			t.Fatal(err)
		}
		caches, mmaps = append(caches, cache), append(mmaps, mmap)
	}
	return caches, mmaps
}

func TestSQLiteConnectionsHaveTheCacheAndMemoryMapTheOptionsSay(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		opts      store.Options
		cacheKiB  int64
		mmapBytes int64
	}{
		{"the defaults: a 4 MiB cache and no memory map", store.DefaultOptions(), 4 << 10, 0},
		{"an 8 MiB cache and a 64 MiB memory map", store.Options{SQLiteCacheSize: 8 << 20, SQLiteApplyCacheSize: 16 << 20, SQLiteMmapSize: 64 << 20}, 8 << 10, 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.OpenWith(ctx, testdb.SQLite(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// An Apply raises its connection's cache for its transaction and sets it back.
			loc := catalog.LocationSpec{Key: "file:/a", Provider: "file", Target: "/a"}
			if _, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(nil)}); err != nil {
				t.Fatal(err)
			}
			caches, mmaps := pragmas(t, st)
			for i := range caches {
				if caches[i] != -tc.cacheKiB || mmaps[i] != tc.mmapBytes {
					t.Errorf("connection %d: cache_size %d, mmap_size %d; want %d, %d", i, caches[i], mmaps[i], -tc.cacheKiB, tc.mmapBytes)
				}
			}
		})
	}
}

func TestOptionsOutOfBoundsAreRefusedBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		opts store.Options
		want string
	}{
		{store.Options{SQLiteCacheSize: 1000, SQLiteApplyCacheSize: 64 << 20}, "SQLite page cache size 1000: must be between"},
		{store.Options{SQLiteCacheSize: 16 << 20, SQLiteApplyCacheSize: 0}, "SQLite apply page cache size 0: must be between"},
		{store.Options{SQLiteCacheSize: 16 << 20, SQLiteApplyCacheSize: 64 << 20, SQLiteMmapSize: -1}, "SQLite mmap size -1: must be between"},
	} {
		_, err := store.OpenWith(context.Background(), "sqlite:/nonexistent-dir-catalogd/x/catalog.db", tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.opts, err, tc.want)
		}
	}
}
