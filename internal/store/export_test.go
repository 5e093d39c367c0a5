package store

import (
	"context"

	"catalogd/ent/migrate"
)

// FacetQuery exposes Facet's statement to the tests of its plan.
var FacetQuery = (*Store).facetQuery

// MigrateDir applies the migrations of dir (as MigrateUp does with the embedded ones).
var MigrateDir = (*Store).migrateDir

// MigrationStatusOf reads the database's state against the migrations of dir.
var MigrationStatusOf = (*Store).migrationStatus

// LegacyAutoMigrate makes the schema as catalogd did before versioned migrations: ent's
// auto-migration, then the same index statements MigrateUp runs.
func (s *Store) LegacyAutoMigrate(ctx context.Context) error {
	if err := s.Client.Schema.Create(ctx, migrate.WithForeignKeys(false)); err != nil {
		return err
	}
	if err := s.migrateTextIndex(ctx); err != nil {
		return err
	}
	if err := s.migrateSearchIndex(ctx); err != nil {
		return err
	}
	return s.Client.CatalogState.Create().SetGeneration(0).Exec(ctx)
}
