// Package server is catalogd's HTTP surface: health and readiness probes, the GraphQL
// endpoint and GraphiQL. Every route is in routes.go.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"catalogd/internal/auth"
	"catalogd/internal/obs"
)

// Deps are what the server needs; they are built in cmd/.
type Deps struct {
	GraphQL   http.Handler
	Readiness *Readiness
	Log       *slog.Logger
	// MaxBodyBytes limits a GraphQL request body (0: 1 MiB).
	MaxBodyBytes int64
	// Auth authenticates GraphQL callers; nil makes every caller the local admin.
	Auth *auth.Authenticator
	// CORSOrigins may call /graphql from a browser (none: no CORS headers).
	CORSOrigins []string
	// GitHubWebhook, when set, serves POST /webhooks/github. It checks its own signatures;
	// the GraphQL authentication does not apply to it.
	GitHubWebhook http.Handler
	// Docs, when set, serves GET /docs/ (entities' rendered docs and their images), to callers
	// GraphQL would admit.
	Docs DocsLookup
	// Metrics, when set, are recorded for every request and served on GET /metrics (behind
	// MetricsToken when it is set).
	Metrics      *obs.Metrics
	MetricsToken string
	// Pprof serves Go's profiles on /debug/pprof/, behind MetricsToken (which must be set).
	Pprof bool
	// Tracing, when set, makes every request a span.
	Tracing *obs.Tracing
	// MCP, when set, serves /mcp (issue 13) to callers GraphQL would admit; MCPIssuers are the
	// OIDC issuers its protected-resource metadata names.
	MCP        http.Handler
	MCPIssuers []string
	// SlackCommands, when set, serves POST /slack/commands; it checks Slack's signatures itself.
	SlackCommands http.Handler
}

// NewServer returns the root handler.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Readiness == nil {
		d.Readiness = NewReadiness(0)
		d.Readiness.Migrated()
	}
	// Every GraphQL request is authenticated; browsers on the configured origins may make them.
	// Websocket handshakes are checked for origin and subprotocol, and authenticate later, in
	// their connection_init.
	c := newCORS(d.CORSOrigins)
	d.GraphQL = withCORS(c, guardWebsocket(c, d.Log, authenticateGraphQL(d.Auth, d.GraphQL)))
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return obs.HTTP{Log: d.Log, Metrics: d.Metrics, Tracing: d.Tracing}.Wrap(mux)
}

// Readiness tracks what must happen before the server is ready: the schema migration and the
// first read of every configured location.
type Readiness struct {
	mu       sync.Mutex
	migrated bool
	pending  int
	failing  map[string]string // configured location -> why its last read failed
}

// NewReadiness expects locations first reads.
func NewReadiness(locations int) *Readiness { return &Readiness{pending: locations} }

// Migrated records that the schema is up to date.
func (r *Readiness) Migrated() { r.mu.Lock(); r.migrated = true; r.mu.Unlock() }

// LocationDone records one location's first read.
func (r *Readiness) LocationDone() { r.mu.Lock(); r.pending--; r.mu.Unlock() }

// LocationRead records whether the last read of a configured location worked: while one
// fails (its target does not exist, say), the server is not ready and says which.
func (r *Readiness) LocationRead(key string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.failing, key)
		return
	}
	if r.failing == nil {
		r.failing = map[string]string{}
	}
	r.failing[key] = err.Error()
}

// Status returns "" when ready, or why not.
func (r *Readiness) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.migrated:
		return "database migration has not finished"
	case r.pending > 0:
		return "locations still being read for the first time"
	case len(r.failing) > 0:
		keys := make([]string, 0, len(r.failing))
		for k := range r.failing {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		msg := r.failing[keys[0]]
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return fmt.Sprintf("%d configured location(s) cannot be read: %s", len(keys), msg)
	}
	return ""
}

// FirstReadsDone reports whether every configured location was read once.
func (r *Readiness) FirstReadsDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending <= 0
}
