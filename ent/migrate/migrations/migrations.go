// Package migrations holds catalogd's versioned schema migrations, one directory per dialect
// (sqlite, postgres), each with its atlas.sum. They are written by `go run ./ent/migrate/gen
// NAME` from the ent schema and never edited by hand; internal/store applies them.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"ariga.io/atlas/sql/migrate"
)

//go:embed sqlite postgres
var files embed.FS

// Dir returns the migration directory of a dialect ("sqlite3" or "postgres", as ent names
// them) as atlas reads it.
func Dir(dialect string) (*migrate.MemDir, error) {
	name, err := DirName(dialect)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(files, name)
	if err != nil {
		return nil, err
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		b, err := fs.ReadFile(files, name+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// DirName is the directory of a dialect's migrations, below this package's.
func DirName(dialect string) (string, error) {
	switch dialect {
	case "sqlite3", "sqlite":
		return "sqlite", nil
	case "postgres":
		return "postgres", nil
	}
	return "", fmt.Errorf("no migrations for dialect %q", dialect)
}
