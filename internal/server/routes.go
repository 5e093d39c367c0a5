package server

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"catalogd/internal/obs"
)

// addRoutes is the one place where routes are declared.
func addRoutes(mux *http.ServeMux, d Deps) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := d.Readiness.Status(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + why + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	graphiql := newGraphiQL()
	mux.HandleFunc("GET /graphiql/{hash}/{name}", graphiql.serveAsset)
	gql := guardGraphQL(d.MaxBodyBytes, d.Log, d.GraphQL)
	mux.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A browser opening /graphql gets GraphiQL; GET with ?query= is a GraphQL request.
		if r.Method == http.MethodGet && r.URL.Query().Get("query") == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
			// The page holds no data, and a browser opening it cannot send a bearer token.
			// Without valid credentials it still gets the page (whose requests then carry the
			// token put in its headers pane), but with the refusal's status and challenge:
			// every /graphql request without a valid token answers 401.
			if _, ref := check(r.Context(), d.Auth, r.Header.Get("Authorization"), r.RemoteAddr); ref != nil {
				if ref.challenge != "" {
					w.Header().Set("WWW-Authenticate", ref.challenge)
				}
				w = &statusOverride{ResponseWriter: w, status: ref.status}
			}
			graphiql.servePage(w, r)
			return
		}
		gql.ServeHTTP(w, r)
	}))
	if d.Docs != nil {
		mux.Handle("GET /docs/{namespace}/{kind}/{name}/{path...}", authenticate(d.Auth, serveDocs(d.Docs)))
	}
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics.Handler(d.MetricsToken))
	}
	if d.Pprof && d.MetricsToken != "" {
		mux.Handle("GET /debug/pprof/", obs.RequireToken(d.MetricsToken, "metrics", http.HandlerFunc(pprof.Index)))
		for name, h := range map[string]http.HandlerFunc{"cmdline": pprof.Cmdline, "profile": pprof.Profile, "symbol": pprof.Symbol, "trace": pprof.Trace} {
			mux.Handle("GET /debug/pprof/"+name, obs.RequireToken(d.MetricsToken, "metrics", h))
		}
	}
	if d.GitHubWebhook != nil {
		mux.Handle("POST /webhooks/github", d.GitHubWebhook)
	}
	// MCP (issue 13): tools for LLM assistants, authenticated as GraphQL is.
	if d.MCP != nil {
		mux.Handle("/mcp", authenticateMCP(d.Auth, d.MCP))
		mux.Handle("GET "+protectedResourcePath, protectedResource(d.MCPIssuers))
		mux.Handle("GET "+protectedResourcePath+"/mcp", protectedResource(d.MCPIssuers))
	}
	// Slack slash command (issue 13): verified by its own signature, not by bearer tokens.
	if d.SlackCommands != nil {
		mux.Handle("POST /slack/commands", d.SlackCommands)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/graphql", http.StatusFound)
	})
}

// statusOverride answers status where the handler answers 200 (other statuses, such as 304,
// pass through).
type statusOverride struct {
	http.ResponseWriter
	status  int
	written bool
}

func (s *statusOverride) WriteHeader(code int) {
	if !s.written && code == http.StatusOK {
		code = s.status
	}
	s.written = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusOverride) Write(b []byte) (int, error) {
	if !s.written {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}
