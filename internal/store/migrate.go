package store

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	entmigrate "catalogd/ent/migrate"
	"catalogd/ent/migrate/migrations"
)

// The schema is made in two steps, in this order, every time Migrate runs:
//
//  1. The versioned migrations of ent/migrate/migrations (written from the ent schema by
//     `go run ./ent/migrate/gen NAME`), applied with atlas's executor; the applied versions
//     are recorded in catalogd_schema_revisions.
//  2. The indexes the ent schema cannot express (textindex.go, searchindex.go): SQLite's FTS5
//     tables, their triggers and state rows, the facet indexes, PostgreSQL's pg_trgm (and
//     dropping what search ranked from before its in-memory index). These stay idempotent statements run after the migrations, not
//     migration files, because their presence is state the store manages at run time: a
//     large first ingest drops the FTS triggers and marks the index stale and the rebuild
//     brings them back; a database from before an index, with rows, must get it stale rather
//     than filled inside a migration; PostgreSQL's GIN indexes are built CONCURRENTLY after
//     the first ingest, which no transaction may do; and a migration that rebuilds the
//     entities table on SQLite (how SQLite changes a column) drops triggers and indexes,
//     which step 2 brings back. Atlas would also take the FTS5 shadow tables for tables to
//     drop on the next diff.
//
// A database made by the auto-migration of catalogd before versioned migrations (tables, no
// revisions) is adopted: this build's auto-migration (additive) brings it to the ent schema,
// which the last migration makes, and that migration is recorded as its baseline.

// revisionsTable records the applied migrations.
const revisionsTable = "catalogd_schema_revisions"

// MigrationStatus is where a database stands against the migrations catalogd carries.
type MigrationStatus struct {
	Current string   // version of the last migration applied ("" for none)
	Pending []string // names of the files not applied yet, in order
	// Legacy is a database made by the auto-migration before versioned migrations: Migrate
	// records Baseline as applied (its schema is the baseline's) and applies the rest.
	Legacy   bool
	Baseline string
	// Partial is a migration a failed run left part-applied (its error), or "".
	Partial string
}

// MigrationStatus reads the database's migration state without changing anything.
func (s *Store) MigrationStatus(ctx context.Context) (*MigrationStatus, error) {
	dir, err := migrations.Dir(s.Dialect)
	if err != nil {
		return nil, err
	}
	return s.migrationStatus(ctx, dir)
}

func (s *Store) migrationStatus(ctx context.Context, dir migrate.Dir) (*MigrationStatus, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	st := &MigrationStatus{}
	if len(files) > 0 {
		// A legacy database is adopted by this build's auto-migration and recorded at the
		// last migration (migrateVersioned), so that is its baseline.
		st.Baseline = files[len(files)-1].Version()
	}
	rrw := &revisions{q: s.DB, dialect: s.Dialect}
	exists, err := rrw.exists(ctx)
	if err != nil {
		return nil, err
	}
	var revs []*migrate.Revision
	if exists {
		if revs, err = rrw.ReadRevisions(ctx); err != nil {
			return nil, err
		}
	}
	if len(revs) == 0 {
		if st.Legacy, err = s.hasTable(ctx, s.DB, "entities"); err != nil {
			return nil, err
		}
	}
	applied := map[string]bool{}
	baselineRev := "" // files up to a recorded baseline count as applied, as atlas's executor has it
	for _, r := range revs {
		if r.Type.Has(migrate.RevisionTypeBaseline) && r.Version > baselineRev {
			baselineRev = r.Version
		}
		if r.Applied == r.Total {
			applied[r.Version] = true
		} else {
			st.Partial = fmt.Sprintf("%s: %d of %d statements applied: %s", r.Version, r.Applied, r.Total, r.Error)
		}
		st.Current = r.Version
	}
	for _, f := range files {
		if applied[f.Version()] || st.Legacy || (baselineRev != "" && f.Version() <= baselineRev) {
			continue
		}
		st.Pending = append(st.Pending, f.Name())
	}
	return st, nil
}

// MigrateVersioned applies the pending migrations in one transaction (both databases change
// their schema transactionally, so a failed run leaves nothing half done). It returns the
// names of the files it applied.
func (s *Store) migrateVersioned(ctx context.Context) ([]string, error) {
	dir, err := migrations.Dir(s.Dialect)
	if err != nil {
		return nil, err
	}
	st, err := s.migrationStatus(ctx, dir)
	if err != nil {
		return nil, err
	}
	if st.Legacy {
		// The database may come from any catalogd before versioned migrations, each of which
		// auto-migrated its own ent schema on start: run that auto-migration with this build's
		// schema (additive: it adds what an older build lacked and drops nothing) so that the
		// schema is the one the migrations make (TestMigrationsMakeTheAutoMigrationsSchema),
		// then record every migration as applied. Run again after a failure, it does nothing
		// more.
		if err := s.Client.Schema.Create(ctx, entmigrate.WithForeignKeys(false)); err != nil {
			return nil, fmt.Errorf("migrate: bring the legacy schema up to date: %w", err)
		}
		return s.migrateDir(ctx, dir, true)
	}
	return s.migrateDir(ctx, dir)
}

// migrateDir applies dir's pending migrations. A legacy database is adopted with the first
// migration as its baseline, or with the last when autoMigrated (its schema was brought to
// this build's ent schema, which the last migration makes).
func (s *Store) migrateDir(ctx context.Context, dir migrate.Dir, autoMigrated ...bool) ([]string, error) {
	files, err := dir.Files()
	if err != nil || len(files) == 0 {
		return nil, err
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var drv migrate.Driver
	if s.Dialect == dialect.Postgres {
		drv, err = postgres.Open(tx)
	} else {
		drv, err = sqlite.Open(tx)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	rrw := &revisions{q: tx, dialect: s.Dialect}
	if err := rrw.create(ctx); err != nil {
		return nil, err
	}
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return nil, err
	}
	// The revisions table is checked, not the database's cleanliness (atlas's rule): in a
	// PostgreSQL schema beside others, or with the revisions table itself, it is never clean.
	opts := []migrate.ExecutorOption{migrate.WithOperatorVersion("catalogd")}
	legacy := false
	if len(revs) == 0 {
		if legacy, err = s.hasTable(ctx, tx, "entities"); err != nil {
			return nil, err
		}
	}
	if legacy {
		baseline := files[0].Version()
		if len(autoMigrated) > 0 && autoMigrated[0] {
			baseline = files[len(files)-1].Version()
		}
		opts = append(opts, migrate.WithBaselineVersion(baseline))
	} else {
		opts = append(opts, migrate.WithAllowDirty(true))
	}
	ex, err := migrate.NewExecutor(skipCleanCheck{drv}, dir, rrw, opts...)
	if err != nil {
		return nil, err
	}
	pending, err := ex.Pending(ctx)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		return nil, tx.Commit() // a baseline may have been recorded
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	for _, f := range pending {
		if err := ex.Execute(ctx, f); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", f.Name(), err)
		}
		names = append(names, f.Name())
	}
	return names, tx.Commit()
}

// skipCleanCheck leaves out atlas's check that a database without revisions is empty: it
// inspects every schema of the database (slow beside many, and failing when another schema is
// dropped meanwhile), and the decision is made above from the entities table.
type skipCleanCheck struct{ migrate.Driver }

func (skipCleanCheck) CheckClean(context.Context, *migrate.TableIdent) error { return nil }

func (s *Store) hasTable(ctx context.Context, q querier, name string) (bool, error) {
	query := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.Dialect == dialect.Postgres {
		query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	var n int
	if err := q.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, fmt.Errorf("migrate: look for table %s: %w", name, err)
	}
	return n > 0, nil
}

type execQuerier interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error)
}

// revisions is atlas's RevisionReadWriter over catalogd_schema_revisions, one row per applied
// (or part-applied) migration, with atlas's revision as JSON beside the columns one reads.
type revisions struct {
	q       execQuerier
	dialect string
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

func (r *revisions) Ident() *migrate.TableIdent { return &migrate.TableIdent{Name: revisionsTable} }

func (r *revisions) arg(i int) string {
	if r.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

func (r *revisions) create(ctx context.Context) error {
	_, err := r.q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+revisionsTable+` (
  version varchar(64) PRIMARY KEY,
  description varchar(255) NOT NULL,
  applied_at varchar(64) NOT NULL,
  revision text NOT NULL)`)
	if err != nil {
		return fmt.Errorf("migrate: create %s: %w", revisionsTable, err)
	}
	return nil
}

func (r *revisions) exists(ctx context.Context) (bool, error) {
	return (&Store{Dialect: r.dialect}).hasTable(ctx, r.q, revisionsTable)
}

// storedRevision is atlas's revision as catalogd stores it (atlas's own JSON leaves out the
// hashes and writes a type it cannot read back).
type storedRevision struct {
	Version         string        `json:"version"`
	Description     string        `json:"description"`
	Type            uint          `json:"type"`
	Applied         int           `json:"applied"`
	Total           int           `json:"total"`
	ExecutedAt      time.Time     `json:"executedAt"`
	ExecutionTime   time.Duration `json:"executionTime"`
	Error           string        `json:"error,omitempty"`
	ErrorStmt       string        `json:"errorStmt,omitempty"`
	Hash            string        `json:"hash"`
	PartialHashes   []string      `json:"partialHashes,omitempty"`
	OperatorVersion string        `json:"operatorVersion"`
}

func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT revision FROM "+revisionsTable+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", revisionsTable, err)
	}
	defer rows.Close()
	var out []*migrate.Revision
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		rev, err := decodeRevision(b)
		if err != nil {
			return nil, err
		}
		out = append(out, rev)
	}
	return out, rows.Err()
}

func decodeRevision(b string) (*migrate.Revision, error) {
	var sr storedRevision
	if err := json.Unmarshal([]byte(b), &sr); err != nil {
		return nil, fmt.Errorf("migrate: a revision row is not what catalogd writes: %w", err)
	}
	return &migrate.Revision{Version: sr.Version, Description: sr.Description, Type: migrate.RevisionType(sr.Type),
		Applied: sr.Applied, Total: sr.Total, ExecutedAt: sr.ExecutedAt, ExecutionTime: sr.ExecutionTime,
		Error: sr.Error, ErrorStmt: sr.ErrorStmt, Hash: sr.Hash, PartialHashes: sr.PartialHashes,
		OperatorVersion: sr.OperatorVersion}, nil
}

func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	var b string
	err := r.q.QueryRowContext(ctx, "SELECT revision FROM "+revisionsTable+" WHERE version = "+r.arg(1), version).Scan(&b)
	if errors.Is(err, stdsql.ErrNoRows) {
		return nil, migrate.ErrRevisionNotExist
	}
	if err != nil {
		return nil, err
	}
	return decodeRevision(b)
}

func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	b, err := json.Marshal(storedRevision{Version: rev.Version, Description: rev.Description, Type: uint(rev.Type),
		Applied: rev.Applied, Total: rev.Total, ExecutedAt: rev.ExecutedAt, ExecutionTime: rev.ExecutionTime,
		Error: rev.Error, ErrorStmt: rev.ErrorStmt, Hash: rev.Hash, PartialHashes: rev.PartialHashes,
		OperatorVersion: rev.OperatorVersion})
	if err != nil {
		return err
	}
	at := rev.ExecutedAt
	if at.IsZero() {
		at = time.Now()
	}
	q := "INSERT INTO " + revisionsTable + " (version, description, applied_at, revision) VALUES (" +
		strings.Join([]string{r.arg(1), r.arg(2), r.arg(3), r.arg(4)}, ", ") +
		") ON CONFLICT (version) DO UPDATE SET description = excluded.description, applied_at = excluded.applied_at, revision = excluded.revision"
	if _, err := r.q.ExecContext(ctx, q, rev.Version, rev.Description, at.UTC().Format(time.RFC3339), string(b)); err != nil {
		return fmt.Errorf("migrate: write revision %s: %w", rev.Version, err)
	}
	return nil
}

func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, "DELETE FROM "+revisionsTable+" WHERE version = "+r.arg(1), version)
	return err
}
