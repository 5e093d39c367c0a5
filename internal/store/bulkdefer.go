package store

import (
	"context"
	"fmt"
	"log/slog"

	"catalogd/ent/entity"
	"catalogd/ent/relation"
)

// PostgreSQL's share of maybeDeferIndexes: what the first large Apply into an empty catalog
// puts off until all its rows are written, as SQLite does with its indexes. Measured at
// 100,000 entities and 950,000 relation rows, where PostgreSQL's one server process writing
// the rows is what the ingest waits for:
//
//   - The two relation indexes: keeping them up to date cost 2.5 s of the rows' 4 s; building
//     them at the end, 1.1 s. DROP INDEX locks every reader of relations out until the commit,
//     which is why this is done only when the catalog is empty (a reader waits for the first
//     ingest instead of being told there is nothing); in a catalog with entities it would stop
//     the answers that are read from it.
//   - The tag table's insert trigger (tagtable.go), which keeps every inserted row (documents
//     and all) in a transition table for the statement's end: 0.7-1.4 s of 5. The table is
//     filled from the new rows at the end, in one statement. Disabling a trigger locks out
//     other writers of entities until the commit, not readers.
//   - Not the entity table's eleven indexes: building them at the end cost more than keeping
//     them up to date (1.7 s).
//
// Both are schema changes, which need the role to own the tables; a role that does not (one
// role migrates, another serves) gets a savepoint rolled back and writes the usual way.

// maybeDeferRelationIndexesPostgres is called before n relation rows are written.
func (w *bulkWriter) maybeDeferRelationIndexesPostgres(ctx context.Context, n int) error {
	if !w.pgFirstLargeApply(relation.Table, n, pgDeferRelationsAt) {
		return nil
	}
	// The definitions as the server prints them, to build them again exactly; not the ones
	// behind a constraint (the primary key), which DROP INDEX cannot drop.
	rows, err := w.tx.QueryContext(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY c.relname`, quoteIdent(relation.Table))
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", relation.Table, err)
	}
	var drops, builds []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return fmt.Errorf("list indexes of %s: %w", relation.Table, err)
		}
		drops, builds = append(drops, "DROP INDEX "+name), append(builds, def)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list indexes of %s: %w", relation.Table, err)
	}
	if ok, err := w.pgTry(ctx, drops...); !ok || err != nil {
		return err
	}
	w.deferred = append(w.deferred, builds...)
	return nil
}

// maybeDeferTagsPostgres is called before n new entities are written.
func (w *bulkWriter) maybeDeferTagsPostgres(ctx context.Context, n int) error {
	if !w.pgFirstLargeApply(entity.Table, n, pgDeferEntitiesAt) {
		return nil
	}
	if ok, err := w.pgTry(ctx, "ALTER TABLE entities DISABLE TRIGGER entity_tags_insert"); !ok || err != nil {
		return err
	}
	// entity_tags is empty with entities (the triggers keep it so); it is emptied all the
	// same, in case an update's trigger, which stays on, has written rows of new entities.
	w.deferred = append(w.deferred,
		"DELETE FROM entity_tags",
		"INSERT INTO entity_tags(entity_id, tag) "+pgTagRows("entities"),
		"ALTER TABLE entities ENABLE TRIGGER entity_tags_insert")
	return nil
}

// pgFirstLargeApply counts n more rows for table and tells whether they are the ones that
// make a first Apply into an empty catalog reach at rows in it.
func (w *bulkWriter) pgFirstLargeApply(table string, n, at int) bool {
	if !w.emptyEntities || !w.emptyRelations {
		return false
	}
	before := w.written[table]
	w.written[table] = before + n
	return before < at && before+n >= at
}

// pgTry runs stmts in the Apply's transaction under a savepoint. If one fails, the
// transaction goes back to the savepoint, as if none had run, and ok is false; err is for a
// failure of the savepoint itself.
func (w *bulkWriter) pgTry(ctx context.Context, stmts ...string) (ok bool, err error) {
	if len(stmts) == 0 {
		return false, nil
	}
	if _, err := w.tx.ExecContext(ctx, "SAVEPOINT catalogd_defer"); err != nil {
		return false, fmt.Errorf("savepoint: %w", err)
	}
	for _, q := range stmts {
		if _, err := w.tx.ExecContext(ctx, q); err != nil {
			slog.Info("writing the usual way", "statement", q, "reason", err.Error())
			if _, rerr := w.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT catalogd_defer"); rerr != nil {
				return false, fmt.Errorf("roll back to savepoint after %q failed (%v): %w", q, err, rerr)
			}
			return false, nil
		}
	}
	if _, err := w.tx.ExecContext(ctx, "RELEASE SAVEPOINT catalogd_defer"); err != nil {
		return false, fmt.Errorf("release savepoint: %w", err)
	}
	return true, nil
}
