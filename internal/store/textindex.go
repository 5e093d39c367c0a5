package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// The text filter (entities(filter: {text})) matches a substring of name, title or
// description, case-insensitively. A LIKE '%…%' scan reads every row, so both databases keep
// a trigram index of the three columns and answer from it:
//
//   - SQLite: entity_text, an FTS5 table with the trigram tokenizer over the entities table's
//     columns (external content, so the text is not stored twice), kept in step by triggers.
//     A phrase query of three or more characters matches exactly the rows holding that
//     substring in one of the columns.
//   - PostgreSQL: a pg_trgm GIN index per column; the ILIKE predicates are unchanged and the
//     planner uses the indexes (a BitmapOr of the three).
//
// A search shorter than a trigram cannot use either index and falls back to the scan.
const (
	textTable     = "entity_text"
	minTrigramLen = 3
)

var sqliteTextIndex = []string{
	`CREATE VIRTUAL TABLE IF NOT EXISTS entity_text USING fts5(name, title, description, content='entities', content_rowid='id', tokenize='trigram')`,
	`CREATE TRIGGER IF NOT EXISTS entity_text_insert AFTER INSERT ON entities BEGIN
  INSERT INTO entity_text(rowid, name, title, description) VALUES (new.id, new.name, new.title, new.description);
END`,
	`CREATE TRIGGER IF NOT EXISTS entity_text_delete AFTER DELETE ON entities BEGIN
  INSERT INTO entity_text(entity_text, rowid, name, title, description) VALUES ('delete', old.id, old.name, old.title, old.description);
END`,
	`CREATE TRIGGER IF NOT EXISTS entity_text_update AFTER UPDATE OF name, title, description ON entities BEGIN
  INSERT INTO entity_text(entity_text, rowid, name, title, description) VALUES ('delete', old.id, old.name, old.title, old.description);
  INSERT INTO entity_text(rowid, name, title, description) VALUES (new.id, new.name, new.title, new.description);
END`,
}

// rebuildTextIndex fills entity_text from the entities table (SQLite).
const rebuildTextIndex = `INSERT INTO entity_text(entity_text) VALUES ('rebuild')`

// migrateTextIndex creates the text index when it is missing, filling it from the rows a
// database created before it already holds.
func (s *Store) migrateTextIndex(ctx context.Context) error {
	if s.Dialect == dialect.Postgres {
		return s.migrateTrigramPostgres(ctx)
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = ?", textTable).Scan(&n); err != nil {
		return fmt.Errorf("text index: %w", err)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range sqliteTextIndex {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, rebuildTextIndex); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	return tx.Commit()
}

// migrateTrigramPostgres installs pg_trgm (into the public schema, where every schema's
// search path finds it, so one catalog per schema shares it) and indexes the three columns.
// Without the right to create the extension catalogd still works, with the text filter
// scanning; the error says what to ask the database's owner for.
func (s *Store) migrateTrigramPostgres(ctx context.Context) error {
	var schema string
	err := s.DB.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&schema)
	if err != nil {
		if _, cerr := s.DB.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`); cerr != nil {
			return fmt.Errorf("text index: create extension pg_trgm (run CREATE EXTENSION pg_trgm as the database owner, or grant the right to): %w", cerr)
		}
		if err := s.DB.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&schema); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	for _, col := range []string{"name", "title", "description"} {
		stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS entities_%s_trgm ON entities USING gin (%s %s.gin_trgm_ops)`, col, quoteIdent(col), quoteIdent(schema))
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("text index on %s: %w", col, err)
		}
	}
	return nil
}

// TextMatch matches rows of the entities table whose name, title or description contains
// text, ignoring case, from the trigram index where the text is long enough to use it.
func TextMatch(text string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		if s.Dialect() != dialect.SQLite || utf8.RuneCountInString(text) < minTrigramLen {
			s.Where(sql.Or(sql.ContainsFold(s.C("name"), text), sql.ContainsFold(s.C("title"), text), sql.ContainsFold(s.C("description"), text)))
			return
		}
		// One FTS5 phrase: the trigrams of text, in sequence, in one column. Double quotes
		// are the phrase's only special character, escaped by doubling.
		phrase := `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C("id")).WriteString(" IN (SELECT rowid FROM entity_text WHERE entity_text MATCH ").Arg(phrase).WriteString(")")
		}))
	}
}
