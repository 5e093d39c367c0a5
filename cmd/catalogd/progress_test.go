package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"catalogd/internal/testdb"
)

func TestIngestShowsProgress(t *testing.T) {
	dir := t.TempDir()
	var docs []string
	for i := range 3000 {
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c-%04d}\nspec: {type: service, lifecycle: production, owner: team}\n", i))
	}
	loc := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(loc, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("lines when stderr is not a terminal", func(t *testing.T) {
		out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--location", loc, "--progress-interval", "1ms")
		if err != nil {
			t.Fatalf("ingest: %v\n%s", err, out)
		}
		lines := regexp.MustCompile(`(?m)^file:\S+: (\d+) documents read, (\d+) entities applied$`).FindAllStringSubmatch(out, -1)
		if len(lines) == 0 {
			t.Fatalf("no progress line:\n%s", out)
		}
		if strings.Contains(out, "\r") || strings.Contains(out, "\x1b[") {
			t.Errorf("terminal control characters in non-terminal output")
		}
	})
	t.Run("nothing with --progress off", func(t *testing.T) {
		out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--location", loc, "--progress", "off", "--progress-interval", "1ms")
		if err != nil || strings.Contains(out, "documents read") {
			t.Errorf("ingest --progress off: %v\n%s", err, out)
		}
	})
	t.Run("the bar when asked for", func(t *testing.T) {
		out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--location", loc, "--progress", "bar")
		if err != nil || !strings.Contains(out, "3000 entities in the catalog") {
			t.Errorf("ingest --progress bar: %v\n%s", err, out)
		}
	})
}
