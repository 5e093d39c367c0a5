package store

import (
	"context"
	stdsql "database/sql"
	"errors"
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
//   - PostgreSQL: an in-memory trigram index names the candidate rows, which the unchanged
//     ILIKE predicates verify (textmem.go); behind it, for searches it cannot narrow, a
//     pg_trgm GIN index per column, which the planner uses for the ILIKE (a BitmapOr of the
//     three).
//
// A search shorter than a trigram cannot use either index and falls back to the scan.
//
// Building the FTS5 index row by row, or all at once, costs a large first ingest into SQLite
// about as much time again as writing its rows, so that ingest drops the triggers and marks
// the index stale (text_index_state) instead. While it is stale the filter scans, so answers
// stay right; RebuildTextIndex (serve runs it in the background, at start and after its own
// writes) fills it and brings the triggers back in one transaction.
const (
	textTable     = "entity_text"
	minTrigramLen = 3
)

// textIndex is the text filter's FTS5 trigram table over name, title and description,
// external content (the text is not stored twice).
var textIndex = &ftsIndex{
	name:   "text index",
	table:  textTable,
	source: "entities",
	state:  "text_index_state",
	create: `CREATE VIRTUAL TABLE IF NOT EXISTS entity_text USING fts5(name, title, description, content='entities', content_rowid='id', tokenize='trigram')`,
	triggers: []string{
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
	},
	rebuild: []string{`INSERT INTO entity_text(entity_text) VALUES ('rebuild')`},
}

// migrateTextIndex creates the text index when it is missing (see ftsIndex.migrate).
func (s *Store) migrateTextIndex(ctx context.Context) error {
	if s.Dialect == dialect.Postgres {
		return s.migrateTrigramPostgres(ctx)
	}
	return textIndex.migrate(ctx, s.DB)
}

// RebuildTextIndex fills a stale text index, and a stale tag table (tagtable.go), from the
// rows and brings their triggers back, each in one transaction, on SQLite; on PostgreSQL it
// builds the text index's GIN indexes that are missing (buildPostgresIndexes), and builds
// the in-memory text index or brings it up to the catalog (textmem.go). It reports whether it
// built anything.
func (s *Store) RebuildTextIndex(ctx context.Context) (bool, error) {
	if s.Dialect == dialect.Postgres {
		built, err := s.buildPostgresIndexes(ctx)
		if err != nil {
			return built, err
		}
		builtMem, err := s.warmTextMem(ctx)
		return built || builtMem, err
	}
	built := false
	for _, x := range sqliteIndexes {
		rebuilt, err := x.rebuildIfStale(ctx, s.DB)
		built = built || rebuilt
		if err != nil {
			return built, err
		}
	}
	return built, nil
}

// migrateTrigramPostgres installs pg_trgm (into the public schema, where every schema's
// search path finds it, so one catalog per schema shares it). Without the right to create the
// extension the error says what to ask the database's owner for. The trigram indexes
// themselves are built by RebuildTextIndex, after the first ingest (see buildPostgresIndexes).
func (s *Store) migrateTrigramPostgres(ctx context.Context) error {
	var schema string
	err := s.DB.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&schema)
	if err == nil {
		return nil
	}
	if _, cerr := s.DB.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`); cerr != nil {
		return fmt.Errorf("text index: create extension pg_trgm (run CREATE EXTENSION pg_trgm as the database owner, or grant the right to): %w", cerr)
	}
	return nil
}

// postgresGinIndexes are the text filter's trigram indexes. Keeping GIN
// indexes up to date row by row doubled the time of a large first ingest into PostgreSQL, so
// they are not made by the migration but by buildPostgresIndexes, once the table has rows.
func postgresGinIndexes(trgmSchema string) map[string]string {
	out := map[string]string{}
	for _, col := range []string{"name", "title", "description"} {
		out["entities_"+col+"_trgm"] = fmt.Sprintf(`ON entities USING gin (%s %s.gin_trgm_ops)`, quoteIdent(col), quoteIdent(trgmSchema))
	}
	return out
}

// buildPostgresIndexes builds the GIN indexes that are missing (or left invalid by a build
// that failed) with CREATE INDEX CONCURRENTLY, so neither readers nor writers wait for them,
// once the entities table has rows. Until then the text filter scans, with the same answers.
func (s *Store) buildPostgresIndexes(ctx context.Context) (bool, error) {
	var rows int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM entities LIMIT 1) t").Scan(&rows); err != nil || rows == 0 {
		return false, err
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// The migration's lock: a replica migrating the schema at the same time would take locks
	// on entities that CREATE INDEX CONCURRENTLY waits behind, while it waits for the
	// migration's transaction, a cycle PostgreSQL does not detect. Replicas building at the
	// same time take turns: the second finds the indexes built.
	if err := pollAdvisoryLock(ctx, conn, migrateLockKey); err != nil {
		return false, err
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey)
	var trgmSchema string
	if err := conn.QueryRowContext(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&trgmSchema); err != nil {
		return false, fmt.Errorf("text index: pg_trgm is not installed: %w", err)
	}
	built := false
	for name, def := range postgresGinIndexes(trgmSchema) {
		var valid stdsql.NullBool
		err := conn.QueryRowContext(ctx, `SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = current_schema()`, name).Scan(&valid)
		switch {
		case err == nil && valid.Bool:
			continue
		case err == nil: // left invalid by a build that failed
			if _, err := conn.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+quoteIdent(name)); err != nil {
				return built, fmt.Errorf("drop invalid index %s: %w", name, err)
			}
		case !errors.Is(err, stdsql.ErrNoRows):
			return built, err
		}
		if _, err := conn.ExecContext(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+quoteIdent(name)+" "+def); err != nil {
			return built, fmt.Errorf("build index %s: %w", name, err)
		}
		built = true
	}
	return built, nil
}

// TextMatch returns the predicate of the text filter: rows of the entities table whose name,
// title or description contains text, ignoring case; from the trigram index where the text is
// long enough to use it and the index is not stale (on PostgreSQL, among the candidates of
// the in-memory index when it narrows the search, textmem.go).
func (s *Store) TextMatch(ctx context.Context, text string) (func(*sql.Selector), error) {
	if s.Dialect == dialect.Postgres {
		ids, ok, err := s.textCandidates(ctx, text)
		if err != nil {
			return nil, err
		}
		if ok {
			return textMatchAmong(text, ids), nil
		}
	}
	useIndex := s.Dialect == dialect.SQLite && utf8.RuneCountInString(text) >= minTrigramLen
	if useIndex {
		stale, err := textIndex.stale(ctx, s.DB)
		if err != nil {
			return nil, err
		}
		useIndex = !stale
	}
	return textMatch(text, useIndex), nil
}

func textMatch(text string, useIndex bool) func(*sql.Selector) {
	return func(s *sql.Selector) {
		if !useIndex {
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
