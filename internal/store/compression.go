package store

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"
)

// lz4Columns are the wide columns PostgreSQL compresses when a row outgrows a page's quarter
// (TOAST): entities' documents, doc pages' text and HTML. Its default compression, pglz, took
// an eighth of the server's time writing a first ingest of 100,000 entities, most of it on
// values it then stored uncompressed; lz4 took half the time for the same rows, and reads
// back faster.
var lz4Columns = [][2]string{{"entities", "document"}, {"doc_pages", "text"}, {"doc_pages", "html"}}

// migrateCompression sets lz4 on lz4Columns where the server was built with it and a column
// has not got it yet. Values already stored keep their compression: both are read the same.
// PostgreSQL only; SQLite does not compress.
func (s *Store) migrateCompression(ctx context.Context) error {
	if s.Dialect != dialect.Postgres {
		return nil
	}
	var lz4 bool
	if err := s.DB.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))`).Scan(&lz4); err != nil {
		return fmt.Errorf("column compression: %w", err)
	}
	if !lz4 {
		return nil
	}
	for _, c := range lz4Columns {
		var method string
		err := s.DB.QueryRowContext(ctx, `SELECT attcompression::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
			quoteIdent(c[0]), c[1]).Scan(&method)
		if err != nil {
			return fmt.Errorf("column compression of %s.%s: %w", c[0], c[1], err)
		}
		if method == "l" {
			continue
		}
		// Catalog-only (no row is rewritten); the lock it takes is held for as long.
		if _, err := s.DB.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET COMPRESSION lz4", quoteIdent(c[0]), quoteIdent(c[1]))); err != nil {
			return fmt.Errorf("column compression of %s.%s: %w", c[0], c[1], err)
		}
	}
	return nil
}
