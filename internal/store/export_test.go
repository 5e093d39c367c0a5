package store

import (
	"context"

	"entgo.io/ent/dialect/sql"

	"catalogd/ent/migrate"
	"catalogd/ent/migrate/migrations"
)

// FacetQuery exposes Facet's statement to the tests of its plan.
var FacetQuery = (*Store).facetQuery

// MigrateDir applies the migrations of dir (as MigrateUp does with the embedded ones).
var MigrateDir = (*Store).migrateDir

// MigrationStatusOf reads the database's state against the migrations of dir.
var MigrationStatusOf = (*Store).migrationStatus

// AutoMigrate makes the schema the way catalogd did before versioned migrations, from the
// ent schema of today: ent's auto-migration, then the same index statements MigrateUp runs.
func (s *Store) AutoMigrate(ctx context.Context) error {
	if err := s.Client.Schema.Create(ctx, migrate.WithForeignKeys(false)); err != nil {
		return err
	}
	return s.legacyIndexes(ctx)
}

// MakeLegacySchema makes the schema a database created by catalogd before versioned
// migrations has: the baseline migration's statements run without recording anything, then
// the index statements. The baseline is what that auto-migration made (the test that
// compares the two proved it when the baseline was written); the ent schema of today may hold
// more, which later migrations add.
func (s *Store) MakeLegacySchema(ctx context.Context) error {
	dir, err := migrations.Dir(s.Dialect)
	if err != nil {
		return err
	}
	files, err := dir.Files()
	if err != nil {
		return err
	}
	stmts, err := files[0].Stmts()
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return s.legacyIndexes(ctx)
}

func (s *Store) legacyIndexes(ctx context.Context) error {
	if err := s.migrateTextIndex(ctx); err != nil {
		return err
	}
	if err := s.migrateSearchIndex(ctx); err != nil {
		return err
	}
	return s.Client.CatalogState.Create().SetGeneration(0).Exec(ctx)
}

// MaxCachedAnswerBytes is the answer cache's byte bound.
const MaxCachedAnswerBytes = maxCachedAnswerBytes

// CachedAnswerBytes is what the answer cache holds: the bytes of its answers' strings.
func (s *Store) CachedAnswerBytes() int {
	n := 0
	s.answers.cache().Each(func(k string, v any) {
		n += len(k)
		switch a := v.(type) {
		case SearchResult:
			for _, h := range a.Hits {
				n += len(h.Ref) + len(h.Path) + len(h.Title) + len(h.Snippet)
			}
		case []FacetValue:
			for _, f := range a {
				n += len(f.Value)
			}
		}
	})
	return n
}

// SearchIndexDelta returns the number of rows search's index holds in its delta (indexed
// since it was built), -1 before it is built.
func SearchIndexDelta(s *Store) int {
	if snap := s.fulltext.cur.Load(); snap != nil {
		return snap.ix.DeltaLen()
	}
	return -1
}

// WALReads is how many generation reads the WAL-index watch did not spare, and whether the
// store has a watch (walwatch.go).
func WALReads(s *Store) (int64, bool) {
	if s.wal.watch == nil {
		return 0, false
	}
	return s.wal.watch.reads.Load(), true
}

// TextCandidates exposes the text filter's candidates from the in-memory index (ok false when
// the filter is the ILIKE alone).
var TextCandidates = (*Store).textCandidates

// PlainTextMatch is the text filter as the ILIKE predicates alone.
func PlainTextMatch(text string) func(*sql.Selector) { return textMatch(text, false) }

// TextIndexBytes returns what the text filter's in-memory index holds, -1 before it is built.
func TextIndexBytes(s *Store) int {
	if snap := s.textMem.cur.Load(); snap != nil {
		return snap.ix.ix.Bytes()
	}
	return -1
}
