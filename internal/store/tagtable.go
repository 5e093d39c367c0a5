package store

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
)

// The tags facet counts the elements of each entity's tags, a JSON array. Reading and
// parsing that JSON in every row is most of a first-time facets answer, so both databases
// keep entity_tags beside the entities: one row per element that is a string (an entity
// holding a tag twice has two rows, as the JSON has), indexed by (tag, entity_id), so the
// facet is a grouping over an index. It is not an ent table: like the full-text indexes, the
// database keeps it in step with entities.
//
//   - SQLite: triggers on entities, like the FTS5 indexes' (ftsIndex): a large first ingest
//     drops them and marks it stale (tag_table_state), RebuildTextIndex fills it again, and
//     while it is stale the facet reads the JSON.
//   - PostgreSQL: statement-level triggers with transition tables, so a COPY of 100,000 rows
//     writes the tags in one INSERT … SELECT rather than row by row. A database from before
//     it gets it filled by the migration that creates it.
const tagTable = "entity_tags"

// sqliteTagValues selects the (entity id, tag) rows of entities rows X.
const sqliteTagValues = `SELECT X.id, t.value FROM json_each(CASE WHEN json_type(X.tags) = 'array' THEN X.tags ELSE '[]' END) AS t WHERE t.type = 'text'`

func sqliteTagInsert(x string) string {
	return `INSERT INTO entity_tags(entity_id, tag) ` + replaceX(sqliteTagValues, x)
}

func replaceX(s, x string) string { return strings.NewReplacer("X.", x+".").Replace(s) }

var tagIndex = &ftsIndex{
	name:   "tag table",
	table:  tagTable,
	source: "entities",
	state:  "tag_table_state",
	create: `CREATE TABLE IF NOT EXISTS entity_tags (entity_id INTEGER NOT NULL, tag TEXT NOT NULL)`,
	extra: []string{
		`CREATE INDEX IF NOT EXISTS entity_tags_tag ON entity_tags (tag, entity_id)`,
		`CREATE INDEX IF NOT EXISTS entity_tags_entity ON entity_tags (entity_id)`,
	},
	triggers: []string{
		`CREATE TRIGGER IF NOT EXISTS entity_tags_insert AFTER INSERT ON entities BEGIN
  ` + sqliteTagInsert("new") + `;
END`,
		`CREATE TRIGGER IF NOT EXISTS entity_tags_delete AFTER DELETE ON entities BEGIN
  DELETE FROM entity_tags WHERE entity_id = old.id;
END`,
		`CREATE TRIGGER IF NOT EXISTS entity_tags_update AFTER UPDATE OF tags ON entities BEGIN
  DELETE FROM entity_tags WHERE entity_id = old.id;
  ` + sqliteTagInsert("new") + `;
END`,
	},
	rebuild: []string{
		`DELETE FROM entity_tags`,
		`INSERT INTO entity_tags(entity_id, tag) SELECT e.id, t.value FROM entities AS e, json_each(CASE WHEN json_type(e.tags) = 'array' THEN e.tags ELSE '[]' END) AS t WHERE t.type = 'text'`,
	},
}

// pgTagRows selects the (entity id, tag) rows of the rows of relation r.
func pgTagRows(r string) string {
	return `SELECT r.id, t.value FROM ` + r + ` AS r CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.tags) = 'array' THEN r.tags ELSE '[]'::jsonb END) AS t(value)`
}

// pgTagTable creates entity_tags and its triggers' functions; pgTagTriggers are made, and the
// table filled, with the table.
var pgTagTable = []string{
	`CREATE TABLE IF NOT EXISTS entity_tags (entity_id bigint NOT NULL, tag text NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS entity_tags_tag ON entity_tags (tag, entity_id)`,
	`CREATE INDEX IF NOT EXISTS entity_tags_entity ON entity_tags (entity_id)`,
	`CREATE OR REPLACE FUNCTION catalogd_entity_tags_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO entity_tags(entity_id, tag) ` + pgTagRows("new_rows") + `;
  RETURN NULL;
END $$`,
	`CREATE OR REPLACE FUNCTION catalogd_entity_tags_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM entity_tags WHERE entity_id IN (SELECT id FROM old_rows);
  RETURN NULL;
END $$`,
	// Transition tables cannot go with a column list (UPDATE OF tags): the rows whose tags
	// changed are found by comparing the old and new rows.
	`CREATE OR REPLACE FUNCTION catalogd_entity_tags_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM entity_tags WHERE entity_id IN (SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.tags IS DISTINCT FROM n.tags);
  INSERT INTO entity_tags(entity_id, tag) ` + pgTagRows(`(SELECT n.id, n.tags FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.tags IS DISTINCT FROM n.tags)`) + `;
  RETURN NULL;
END $$`,
}

var pgTagTriggers = []string{
	`CREATE TRIGGER entity_tags_insert AFTER INSERT ON entities REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalogd_entity_tags_insert()`,
	`CREATE TRIGGER entity_tags_delete AFTER DELETE ON entities REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalogd_entity_tags_delete()`,
	`CREATE TRIGGER entity_tags_update AFTER UPDATE ON entities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalogd_entity_tags_update()`,
	`INSERT INTO entity_tags(entity_id, tag) ` + pgTagRows("entities"),
}

// migrateTagTable creates entity_tags when missing: on SQLite as an ftsIndex (stale, to be
// filled by RebuildTextIndex, when entities has rows); on PostgreSQL filled from the rows in
// the transaction that creates it.
func (s *Store) migrateTagTable(ctx context.Context) error {
	if s.Dialect != dialect.Postgres {
		return tagIndex.migrate(ctx, s.DB)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass('entity_tags') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("tag table: %w", err)
	}
	stmts := pgTagTable
	if !exists {
		stmts = append(stmts[:len(stmts):len(stmts)], pgTagTriggers...)
	}
	if err := execAll(ctx, tx, stmts); err != nil {
		return fmt.Errorf("tag table: %w", err)
	}
	return tx.Commit()
}

// tagTableReady reports whether the facet may count tags from entity_tags.
func (s *Store) tagTableReady(ctx context.Context) (bool, error) {
	if s.Dialect == dialect.Postgres {
		return true, nil
	}
	stale, err := tagIndex.stale(ctx, s.DB)
	return !stale, err
}
