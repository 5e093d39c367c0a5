package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"text/template"

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
//
// version names the file (a UTC time as 20060102150405), so the files of both dialects written
// by one run carry the same one; "" takes the current time.
func Diff(ctx context.Context, dialect string, dev *sql.DB, dir migrate.Dir, name, version string) error {
	drv := entsql.OpenDB(dialect, dev)
	format := migrate.DefaultFormatter
	if version != "" {
		n, err := template.New("").Parse(version + "{{ with .Name }}_{{ . }}{{ end }}.sql")
		if err != nil {
			return err
		}
		format = migrate.TemplateFormatter{{N: n, C: migrate.DefaultFormatter[0].C}}
	}
	err := entmigrate.NewSchema(drv).NamedDiff(ctx, name,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect),
		schema.WithFormatter(format),
		entmigrate.WithForeignKeys(false),
	)
	if err != nil {
		return fmt.Errorf("diff %s migrations: %w", dialect, err)
	}
	return nil
}
