package server

import (
	"net/http"
	"strings"
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
			graphiql.servePage(w, r)
			return
		}
		gql.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/graphql", http.StatusFound)
	})
}
