package migrations

import (
	"context"
	"database/sql"
	"fmt"

	"ariga.io/atlas/sql/migrate"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "catalogd/ent/migrate"
)

// Diff writes to dir a migration file named name holding the statements that take the schema
// its files make to the ent schema's, or none when they are the same. dev is an empty dev
// database of the dialect (an in-memory SQLite, a scratch PostgreSQL schema on the search
// path): the files are replayed on it and the result compared with the ent schema.
//
// The options are those of the auto-migration catalogd ran before versioned migrations: no
// foreign keys (Apply removes an entity's relations itself; checking the parent of each
// relation row doubled the cost of a large ingest), and no dropped columns or indexes.
func Diff(ctx context.Context, dialect string, dev *sql.DB, dir migrate.Dir, name string) error {
	drv := entsql.OpenDB(dialect, dev)
	err := entmigrate.NewSchema(drv).NamedDiff(ctx, name,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect),
		schema.WithFormatter(migrate.DefaultFormatter),
		entmigrate.WithForeignKeys(false),
	)
	if err != nil {
		return fmt.Errorf("diff %s migrations: %w", dialect, err)
	}
	return nil
}
