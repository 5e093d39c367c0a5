// Package graph is catalogd's GraphQL API: the schema (*.graphqls, one file per domain), thin
// resolvers, and the one error presenter that maps domain errors to extensions.code.
package graph

import (
	"catalogd/ent"
	"catalogd/internal/store"
)

//go:generate go tool gqlgen generate

// Resolver holds the dependencies of every resolver. It is built in cmd/ and never mutated.
type Resolver struct {
	Client *ent.Client
	Store  *store.Store
}
