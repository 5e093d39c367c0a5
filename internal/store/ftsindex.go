package store

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"strings"
)

// ftsIndex is an SQLite FTS5 index over a table (source), kept in step by triggers on it: the
// text filter's over entities (textindex.go), and the tag table, a plain table kept the same
// way (tagtable.go). A large first ingest drops its triggers
// and marks it stale in its one-row state table instead of indexing row by row; rebuild fills
// it again and brings the triggers back in one transaction. Its triggers exist exactly while
// it is not stale: while it is, the rebuild will read every row anyway, and an FTS5 'delete'
// of a row the index never held would damage the index until then.
type ftsIndex struct {
	name     string   // in messages
	source   string   // the table it indexes
	table    string   // the FTS5 table, also the prefix of its triggers' names
	state    string   // the state table
	create   string   // CREATE VIRTUAL TABLE ... IF NOT EXISTS
	extra    []string // run after create: indexes of a plain table
	triggers []string // CREATE TRIGGER ... IF NOT EXISTS
	rebuild  []string // fill the table from the entities table
}

// sqliteIndexes are the FTS5 indexes the store keeps on SQLite.
// (tagIndex is a plain table kept the same way, tagtable.go.)
var sqliteIndexes = []*ftsIndex{textIndex, tagIndex}

// markStale is run by an apply that leaves the index behind its rows.
func (x *ftsIndex) markStale() string { return "UPDATE " + x.state + " SET stale = 1" }

// ownsTrigger reports whether the trigger named name is one of x's.
func (x *ftsIndex) ownsTrigger(name string) bool { return strings.HasPrefix(name, x.table+"_") }

// migrate creates the index when it is missing. A database from before it, with rows, gets it
// marked stale, to be filled by rebuildIfStale.
func (x *ftsIndex) migrate(ctx context.Context, db *stdsql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var tables int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = ?", x.table).Scan(&tables); err != nil {
		return fmt.Errorf("%s: %w", x.name, err)
	}
	stmts := append(append([]string{x.create}, x.extra...),
		"CREATE TABLE IF NOT EXISTS "+x.state+" (id INTEGER PRIMARY KEY CHECK (id = 1), stale INTEGER NOT NULL)",
		"INSERT OR IGNORE INTO "+x.state+" (id, stale) VALUES (1, 0)")
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", x.name, err)
		}
	}
	stale, err := x.stale(ctx, tx)
	if err != nil {
		return err
	}
	if tables == 0 && !stale {
		var rows int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+quoteIdent(x.source)+" LIMIT 1)").Scan(&rows); err != nil {
			return fmt.Errorf("%s: %w", x.name, err)
		}
		if rows > 0 {
			if _, err := tx.ExecContext(ctx, x.markStale()); err != nil {
				return fmt.Errorf("%s: %w", x.name, err)
			}
			stale = true
		}
	}
	if !stale {
		if err := execAll(ctx, tx, x.triggers); err != nil {
			return fmt.Errorf("%s: %w", x.name, err)
		}
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *stdsql.Row
}

// stale reports whether the index is behind its rows.
func (x *ftsIndex) stale(ctx context.Context, q querier) (bool, error) {
	var stale bool
	if err := q.QueryRowContext(ctx, "SELECT stale FROM "+x.state+" WHERE id = 1").Scan(&stale); err != nil {
		return false, fmt.Errorf("%s state: %w", x.name, err)
	}
	return stale, nil
}

// rebuildIfStale fills a stale index from the rows and brings its triggers back, in one
// transaction, and reports whether it did.
func (x *ftsIndex) rebuildIfStale(ctx context.Context, db *stdsql.DB) (bool, error) {
	if stale, err := x.stale(ctx, db); err != nil || !stale {
		return false, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Checked again under the write lock: another process may have rebuilt it meanwhile.
	if stale, err := x.stale(ctx, tx); err != nil || !stale {
		return false, err
	}
	if err := execAll(ctx, tx, x.rebuild); err != nil {
		return false, fmt.Errorf("rebuild %s: %w", x.name, err)
	}
	if err := execAll(ctx, tx, x.triggers); err != nil {
		return false, fmt.Errorf("rebuild %s: %w", x.name, err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+x.state+" SET stale = 0"); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func execAll(ctx context.Context, tx *stdsql.Tx, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
