//go:build ignore

// entc generates the ent client and entgql's Go helpers (Relay pagination, ordering). The
// GraphQL schema itself is written by hand in graph/*.graphqls: one table serves many GraphQL
// types (one per kind), which entgql's schema generator cannot express.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ex, err := entgql.NewExtension()
	if err != nil {
		log.Fatalf("entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:   "./ent",
		Package:  "catalogd/ent",
		Features: []gen.Feature{gen.FeatureExecQuery, gen.FeatureModifier, gen.FeatureLock, gen.FeatureUpsert, gen.FeatureVersionedMigration},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
