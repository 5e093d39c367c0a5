package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Search ignores diacritics the same way on both databases: "Zürich", "zurich" and "ZURICH"
// are one word. SQLite's unicode61 tokenizer removes them from what it indexes and from the
// query's words; on PostgreSQL the texts go through unaccent (contrib) before to_tsvector; and
// the query's words are folded here, so PostgreSQL's query and the snippet's marks see the
// same words.

// foldWord lower-cases w and removes its combining marks (é → e, ñ → n).
func foldWord(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(w)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// pgUnaccentFunction is the immutable wrapper the generated tsvector columns call: unaccent
// is only stable (its dictionary could change), which a generated column does not accept.
// Without the unaccent extension it returns its argument, and accents stay significant on
// PostgreSQL.
func pgUnaccentFunction(available bool) string {
	body := `SELECT public.unaccent('public.unaccent'::regdictionary, t)`
	if !available {
		body = `SELECT t`
	}
	return `CREATE OR REPLACE FUNCTION catalogd_unaccent(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ ` + body + ` $$`
}

// migrateUnaccent installs unaccent (into the public schema, as pg_trgm) when it can and the
// wrapper the search vectors call.
func (s *Store) migrateUnaccent(ctx context.Context) error {
	has := func() bool {
		var n int
		err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent' AND n.nspname = 'public'`).Scan(&n)
		return err == nil && n > 0
	}
	available := has()
	if !available {
		_, err := s.DB.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public`)
		available = err == nil || has() // another schema's migration may have created it meanwhile
	}
	if _, err := s.DB.ExecContext(ctx, pgUnaccentFunction(available)); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}

// ensureGenerated adds table's generated column col as expr, replacing a column made by an
// older expression (one that does not call want): dropping it drops its GIN index too, which
// buildPostgresIndexes builds again.
func (s *Store) ensureGenerated(ctx context.Context, table, col, expr, want string) error {
	var old string
	err := s.DB.QueryRowContext(ctx, `SELECT coalesce(generation_expression, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, table, col).Scan(&old)
	if err == nil && !strings.Contains(old, want) {
		if _, err := s.DB.ExecContext(ctx, `ALTER TABLE `+quoteIdent(table)+` DROP COLUMN `+quoteIdent(col)); err != nil {
			return fmt.Errorf("search index: replace %s.%s: %w", table, col, err)
		}
	}
	if _, err := s.DB.ExecContext(ctx, `ALTER TABLE `+quoteIdent(table)+` ADD COLUMN IF NOT EXISTS `+quoteIdent(col)+` tsvector GENERATED ALWAYS AS (`+expr+`) STORED`); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}
