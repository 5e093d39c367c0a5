package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"catalogd/ent/migrate/migrations"
	"catalogd/internal/testdb"
)

func TestMigrateStatusAndUp(t *testing.T) {
	dir, err := migrations.Dir("sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	n := len(files)
	testdb.Each(t, func(t *testing.T, dbURL string) {
		out, err := runCLI(t, "migrate", "status", "--database", dbURL)
		var ec *exitCode
		if !errors.As(err, &ec) || ec.code != 3 || !strings.Contains(out, fmt.Sprintf("pending: %d\n", n)) || !strings.Contains(out, "_baseline.sql") {
			t.Fatalf("status of an empty database: %v\n%s", err, out)
		}
		t.Run("serve with --migrate off refuses to start while migrations are pending", func(t *testing.T) {
			out, err := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--database", dbURL, "--migrate", "off")
			if err == nil || !strings.Contains(err.Error(), "catalogd migrate up") {
				t.Errorf("serve --migrate off: %v\n%s", err, out)
			}
		})
		out, err = runCLI(t, "migrate", "up", "--database", dbURL)
		if err != nil || !strings.Contains(out, fmt.Sprintf("applied %d migration(s)", n)) {
			t.Fatalf("up: %v\n%s", err, out)
		}
		out, err = runCLI(t, "migrate", "up", "--database", dbURL)
		if err != nil || !strings.Contains(out, "no pending migrations") {
			t.Fatalf("second up: %v\n%s", err, out)
		}
		out, err = runCLI(t, "migrate", "status", "--database", dbURL)
		if err != nil || !strings.Contains(out, "pending: none") {
			t.Fatalf("status after up: %v\n%s", err, out)
		}
		t.Run("then ingest with --migrate off starts", func(t *testing.T) {
			out, err := runCLI(t, "ingest", "--database", dbURL, "--migrate", "off", "--location", demoLocation(t))
			if err != nil || !strings.Contains(out, "7 entities in the catalog") {
				t.Errorf("ingest --migrate off after migrate up: %v\n%s", err, out)
			}
		})
	})
}

func TestABadMigrateModeIsRefused(t *testing.T) {
	out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--migrate", "sometimes", "--location", demoLocation(t))
	if err == nil || !strings.Contains(err.Error(), `--migrate "sometimes"`) {
		t.Errorf("ingest --migrate sometimes: %v\n%s", err, out)
	}
}

func TestShutdownHooksRunLastFirstAndAllOfThem(t *testing.T) {
	var h shutdownHooks
	var ran []string
	h.Register("leases", func(context.Context) error { ran = append(ran, "leases"); return errors.New("gone") })
	h.Register("tasks", func(context.Context) error { ran = append(ran, "tasks"); return nil })
	err := h.Run(context.Background(), slog.New(slog.DiscardHandler))
	if !slices.Equal(ran, []string{"tasks", "leases"}) {
		t.Errorf("ran %v, want tasks then leases", ran)
	}
	if err == nil || !strings.Contains(err.Error(), "leases: gone") {
		t.Errorf("err = %v", err)
	}
}
