package store

import (
	"context"
	"fmt"
	"strconv"

	"entgo.io/ent/dialect"
)

// search(query) finds doc pages beside entities (searchindex.go). A page is indexed by its
// title (weight A), its headings (B) and the first maxIndexedPageText characters of its plain
// text (C), and answers with its entity's ref and kind, so kinds filters pages by their
// entity's kind:
//
//   - SQLite: doc_search, an FTS5 table like entity_search, kept in step with doc_pages by
//     triggers, so a page written, re-rendered or removed (with its entity) is found, found
//     anew or no longer found in the same transaction.
//   - PostgreSQL: doc_pages.search_vector, a stored generated tsvector column, and a GIN index
//     on it (built with the entities' GIN indexes, see postgresGinIndexes).
//
// Doc pages are written row by row (writeDocs), never by the bulk writer, so their triggers
// stay in place during a large first ingest.
const (
	docSearchTable = "doc_search"

	// maxIndexedPageText bounds the text of a page that is indexed, in characters: a long page
	// is found by its beginning, its title and its headings.
	maxIndexedPageText = 20000

	// pageScoreFactor scales a page's rank against the entities': a page that says what an
	// entity's name says ranks after the entity.
	pageScoreFactor = 0.5
)

// docSearchValues are the texts of a doc_pages row X as doc_search holds them.
func docSearchValues(x string) string {
	return x + `.id, ` + x + `.title, (SELECT group_concat(json_extract(h.value, '$.text'), ' ') FROM json_each(CASE WHEN json_valid(CAST(` + x + `.headings AS TEXT)) THEN CAST(` + x + `.headings AS TEXT) ELSE '[]' END) AS h), ` +
		`substr(` + x + `.text, 1, ` + strconv.Itoa(maxIndexedPageText) + `), ` + x + `.entity_ref, ` + x + `.path, ` +
		`substr(` + x + `.entity_ref, 1, instr(` + x + `.entity_ref, ':') - 1)`
}

const docSearchColumns = `rowid, title, headings, body, ref, path, kind`

var docSearchIndex = &ftsIndex{
	name:   "doc search index",
	source: "doc_pages",
	table:  docSearchTable,
	state:  "doc_search_state",
	create: `CREATE VIRTUAL TABLE IF NOT EXISTS doc_search USING fts5(title, headings, body, ref UNINDEXED, path UNINDEXED, kind UNINDEXED, tokenize='unicode61', prefix='3')`,
	triggers: []string{
		`CREATE TRIGGER IF NOT EXISTS doc_search_insert AFTER INSERT ON doc_pages BEGIN
  INSERT INTO doc_search(` + docSearchColumns + `) VALUES (` + docSearchValues("new") + `);
END`,
		`CREATE TRIGGER IF NOT EXISTS doc_search_delete AFTER DELETE ON doc_pages BEGIN
  DELETE FROM doc_search WHERE rowid = old.id;
END`,
		`CREATE TRIGGER IF NOT EXISTS doc_search_update AFTER UPDATE OF title, headings, text, entity_ref, path ON doc_pages BEGIN
  DELETE FROM doc_search WHERE rowid = old.id;
  INSERT INTO doc_search(` + docSearchColumns + `) VALUES (` + docSearchValues("new") + `);
END`,
	},
	rebuild: []string{
		`DELETE FROM doc_search`,
		`INSERT INTO doc_search(` + docSearchColumns + `) SELECT ` + docSearchValues("doc_pages") + ` FROM doc_pages`,
	},
}

// Column weights of bm25 in doc_search's column order: title, headings, body (ref, path and
// kind are not indexed).
const docBM25Weights = "5.0, 3.0, 1.0, 0.0, 0.0, 0.0"

// pgHeadingsFunction returns the words of a page's headings (JSON in a bytea). Declared
// immutable for the generated column: the database's encoding does not change under it.
const pgHeadingsFunction = `CREATE OR REPLACE FUNCTION catalogd_doc_headings(h bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(string_agg(e->>'text', ' '), '')
  FROM jsonb_array_elements(CASE WHEN h IS NOT NULL AND jsonb_typeof(convert_from(h, 'UTF8')::jsonb) = 'array'
    THEN convert_from(h, 'UTF8')::jsonb ELSE '[]'::jsonb END) AS e
$$`

var pgDocSearchVector = `setweight(` + pgWords(`title`) + `, 'A') || ` +
	`setweight(` + pgWords(`catalogd_doc_headings(headings)`) + `, 'B') || ` +
	`setweight(` + pgWords(`left(text, `+strconv.Itoa(maxIndexedPageText)+`)`) + `, 'C')`

// migrateDocSearch creates the doc pages' search index when missing.
func (s *Store) migrateDocSearch(ctx context.Context) error {
	if s.Dialect != dialect.Postgres {
		return docSearchIndex.migrate(ctx, s.DB)
	}
	if _, err := s.DB.ExecContext(ctx, pgHeadingsFunction); err != nil {
		return fmt.Errorf("doc search index: %w", err)
	}
	return s.ensureGenerated(ctx, "doc_pages", "search_vector", pgDocSearchVector, "catalogd_unaccent")
}
