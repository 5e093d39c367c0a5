// Package graph is catalogd's GraphQL API: the schema (*.graphqls, one file per domain), thin
// resolvers, and the one error presenter that maps domain errors to extensions.code.
package graph

import (
	"time"

	"catalogd/ent"
	"catalogd/graph/model"
	"catalogd/internal/depgraph"
	"catalogd/internal/scaffolder"
	"catalogd/internal/service"
	"catalogd/internal/store"
)

//go:generate go tool gqlgen generate
//go:generate go run ../scripts/sequentialize

// Resolver holds the dependencies of every resolver. It is built once and never mutated.
type Resolver struct {
	Client *ent.Client
	Store  *store.Store
	Index  *depgraph.Index
	// Catalog performs every write on the caller's behalf (nil: mutations answer UNAVAILABLE).
	Catalog *service.Catalog
	// Scaffolder runs and shows templates' tasks (nil: its fields answer CONFLICT).
	Scaffolder *scaffolder.Service
	// TaskEventPoll is how often taskEvents reads new events (0: DefaultTaskEventPoll).
	TaskEventPoll time.Duration
	// FeedPoll is how often catalogChanged subscriptions poll the change log (0: DefaultFeedPoll).
	FeedPoll time.Duration
	deps     *model.Deps
}

// DefaultContactAnnotations are the annotation keys reported as contacts when none are configured.
var DefaultContactAnnotations = []string{
	"pagerduty.com/service-id", "pagerduty.com/integration-key", "opsgenie.com/team", "slack.com/channel",
}

// NewResolver builds the resolver; contactAnnotations nil means DefaultContactAnnotations.
func NewResolver(client *ent.Client, st *store.Store, contactAnnotations []string) *Resolver {
	if contactAnnotations == nil {
		contactAnnotations = DefaultContactAnnotations
	}
	g := depgraph.New(st)
	return &Resolver{Client: client, Store: st, Index: g,
		deps: &model.Deps{Client: client, Graph: g, ContactAnnotations: contactAnnotations}}
}
