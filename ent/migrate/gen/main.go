// Command gen writes a new versioned migration for each dialect from the ent schema:
//
//	go run ./ent/migrate/gen NAME
//
// run from the module root after changing ent/schema (and `go generate ./...`). SQLite's dev
// database is an in-memory one. PostgreSQL's is a scratch schema, created and dropped in the
// database named by CATALOGD_MIGRATE_DEV_POSTGRES (e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); without it only SQLite's
// migration is written and the command fails, so the two sets never drift apart silently.
// A dialect whose migrations already match the schema gets no file.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"catalogd/ent/migrate/migrations"
)

const envDevPostgres = "CATALOGD_MIGRATE_DEV_POSTGRES"

func main() {
	if len(os.Args) != 2 || !regexp.MustCompile(`^[a-z0-9_]{1,60}$`).MatchString(os.Args[1]) {
		fmt.Fprintln(os.Stderr, "usage: go run ./ent/migrate/gen NAME   (NAME: lower-case letters, digits and _)")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name string) error {
	base := filepath.Join("ent", "migrate", "migrations")
	if _, err := os.Stat(base); err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	version := time.Now().UTC().Format("20060102150405")
	dev, err := migrations.DevSQLite()
	if err != nil {
		return err
	}
	defer dev.Close()
	if err := diffInto(ctx, dialect.SQLite, dev, filepath.Join(base, "sqlite"), name, version); err != nil {
		return err
	}
	pgURL := os.Getenv(envDevPostgres)
	if pgURL == "" {
		return errors.New(envDevPostgres + " is not set: PostgreSQL's migration was not written")
	}
	pg, cleanup, err := migrations.DevPostgres(ctx, pgURL)
	if err != nil {
		return err
	}
	defer cleanup()
	return diffInto(ctx, dialect.Postgres, pg, filepath.Join(base, "postgres"), name, version)
}

func diffInto(ctx context.Context, dia string, dev *sql.DB, path, name, version string) error {
	dir, err := migrate.NewLocalDir(path)
	if err != nil {
		return err
	}
	before, err := dir.Files()
	if err != nil {
		return err
	}
	if err := migrations.Diff(ctx, dia, dev, dir, name, version); err != nil {
		return err
	}
	after, err := dir.Files()
	if err != nil {
		return err
	}
	if len(after) == len(before) {
		fmt.Printf("%s: no changes\n", path)
	} else {
		fmt.Printf("%s: wrote %s\n", path, after[len(after)-1].Name())
	}
	return nil
}
