package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"entgo.io/ent/dialect"

	"catalogd/ent/migrate/migrations"
)

// TestCommittedMigrationsMatchTheEntSchema is CI's check that nobody changed ent/schema
// without `go run ./ent/migrate/gen NAME`: diffing the committed files against the schema
// must write nothing. PostgreSQL's runs with the PostgreSQL suite (CATALOGD_TEST_POSTGRES).
func TestCommittedMigrationsMatchTheEntSchema(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		dev, err := migrations.DevSQLite()
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		assertNoDiff(t, dialect.SQLite, dev)
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("CATALOGD_TEST_POSTGRES")
		if base == "" {
			t.Skip("CATALOGD_TEST_POSTGRES is not set")
		}
		dev, cleanup, err := migrations.DevPostgres(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		assertNoDiff(t, dialect.Postgres, dev)
	})
}

func assertNoDiff(t *testing.T, dia string, dev *sql.DB) {
	t.Helper()
	dir, err := migrations.Dir(dia)
	if err != nil {
		t.Fatal(err)
	}
	before, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 {
		t.Fatal("no migrations are embedded")
	}
	if err := migrations.Diff(context.Background(), dia, dev, dir, "check", ""); err != nil {
		t.Fatal(err)
	}
	after, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the ent schema has changes no migration holds:\n%s\nrun: go run ./ent/migrate/gen NAME (see README, Migrations)", after[len(after)-1].Bytes())
	}
}
