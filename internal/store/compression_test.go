package store_test

import (
	"context"
	"database/sql"
	"testing"

	"catalogd/internal/testdb"
)

// lz4 is set where the server has it (Debian's and the PGDG's builds do), and a second
// migration changes nothing.
func TestMigrationCompressesWideColumnsWithLZ4(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.Postgres(t))
	var lz4 bool
	if err := st.DB.QueryRow(`SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	if !lz4 {
		t.Skip("this PostgreSQL was built without lz4")
	}
	methods := func() string {
		var s sql.NullString
		if err := st.DB.QueryRow(`SELECT string_agg(attrelid::regclass::text || '.' || attname || '=' || attcompression::text, ' ' ORDER BY attrelid::regclass::text, attname)
			FROM pg_attribute WHERE attrelid IN ('entities'::regclass, 'doc_pages'::regclass) AND attname IN ('document', 'text', 'html')`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s.String
	}
	want := "doc_pages.html=l doc_pages.text=l entities.document=l"
	if got := methods(); got != want {
		t.Fatalf("compression %q, want %q", got, want)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := methods(); got != want {
		t.Fatalf("after a second migration: %q, want %q", got, want)
	}
}
