package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rs/cors"

	"catalogd/internal/auth"
)

// authenticate puts the caller's principal into the request's context. Missing or refused
// credentials are answered here with 401, a WWW-Authenticate header (RFC 6750) and a
// GraphQL-shaped body with extensions.code UNAUTHENTICATED; the reason is logged, the token
// never. A nil authenticator makes every caller the local admin.
func authenticate(a *auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Local())))
			return
		}
		p, err := a.Authenticate(r)
		if err == nil {
			err = a.Policy().Authorize(p, auth.ActionRead, auth.Resource{})
		}
		if err != nil {
			a.LogRefusal(r, err)
			var ce *auth.CredentialError
			switch {
			case errors.As(err, &ce):
				w.Header().Set("WWW-Authenticate", ce.WWWAuthenticate())
				writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", ce.Error())
			case p != nil && p.Kind == auth.KindAnonymous:
				w.Header().Set("WWW-Authenticate", (&auth.CredentialError{}).WWWAuthenticate())
				writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "authentication required")
			case p != nil:
				writeError(w, http.StatusForbidden, "FORBIDDEN", err.Error())
			default:
				writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error")
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]any{"code": code},
	}}})
}

// withCORS lets browsers on the configured origins call next: GET and POST with the
// Authorization and Content-Type headers, never with cookies (credentials are bearer tokens).
// Preflight requests are answered here, before authentication. No origins: no CORS headers.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type"},
		AllowCredentials: false,
		MaxAge:           600,
	}).Handler(next)
}
