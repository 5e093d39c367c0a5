package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/rs/cors"

	"catalogd/internal/auth"
	"catalogd/internal/catalog"
)

// refusal is why a caller may not use the GraphQL endpoint, in the terms of every transport:
// HTTP answers status with code and message (and the challenge as WWW-Authenticate); a
// websocket is closed with 4401 (UNAUTHENTICATED) or 4403 (FORBIDDEN).
type refusal struct {
	status    int
	code      string // UNAUTHENTICATED, FORBIDDEN or INTERNAL
	message   string
	challenge string // WWW-Authenticate value, for 401 only
}

// check is the one authentication of every transport: it turns credentials (what an
// Authorization header holds, "" for none) into the caller's principal and applies the
// policy's read check. HTTP requests give their Authorization header, websocket connections
// the credentials of their connection_init. Refusals are logged with remote, the token never.
// A nil authenticator makes every caller the local admin.
func check(ctx context.Context, a *auth.Authenticator, authorization, remote string) (*auth.Principal, *refusal) {
	if a == nil {
		return auth.Local(), nil
	}
	p, err := a.AuthenticateCredentials(ctx, authorization)
	if err == nil {
		err = a.Policy().Authorize(p, auth.ActionRead, auth.Resource{})
	}
	if err == nil {
		return p, nil
	}
	a.LogRefusal(ctx, remote, err)
	var ce *auth.CredentialError
	switch {
	case errors.As(err, &ce):
		return nil, &refusal{http.StatusUnauthorized, "UNAUTHENTICATED", ce.Error(), ce.WWWAuthenticate()}
	case p != nil && p.Kind == auth.KindAnonymous:
		return nil, &refusal{http.StatusUnauthorized, "UNAUTHENTICATED", "authentication required", (&auth.CredentialError{}).WWWAuthenticate()}
	case p != nil:
		return nil, &refusal{status: http.StatusForbidden, code: "FORBIDDEN", message: err.Error()}
	}
	return nil, &refusal{status: http.StatusInternalServerError, code: "INTERNAL", message: "internal error"}
}

// authenticate puts the caller's principal into the request's context. Missing or refused
// credentials are answered here with 401, a WWW-Authenticate header (RFC 6750) and a
// GraphQL-shaped body with extensions.code UNAUTHENTICATED.
//
// A websocket upgrade passes without credentials (browsers cannot set headers on it): the
// connection authenticates in its connection_init message through WebsocketAuthenticator,
// and the GraphQL handler runs no operation before that. It reaches only the handler's
// websocket transport, which gqlgen chooses for every request with an Upgrade header.
func authenticate(a *auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := check(r.Context(), a, r.Header.Get("Authorization"), r.RemoteAddr)
		if ref != nil {
			if ref.challenge != "" {
				w.Header().Set("WWW-Authenticate", ref.challenge)
			}
			WriteError(w, ref.status, ref.code, ref.message)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// authenticateGraphQL is authenticate for /graphql, except that a websocket handshake goes
// through to the transport without credentials (a browser cannot set headers on it):
// guardWebsocket has checked the handshake, and the connection authenticates in its
// connection_init (WebsocketAuthenticator). No other route lets a handshake through.
func authenticateGraphQL(a *auth.Authenticator, next http.Handler) http.Handler {
	authed := authenticate(a, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), remoteKey{}, r.RemoteAddr)))
			return
		}
		authed.ServeHTTP(w, r)
	})
}

type remoteKey struct{}

// WebsocketAuthenticator checks a websocket connection's credentials (from its
// connection_init) as authenticate checks a request's, and returns the context its
// operations run in, carrying the principal. A refusal is a *catalog.Error: EUNAUTHENTICATED
// or EFORBIDDEN, which the GraphQL handler turns into the close codes 4401 and 4403.
func WebsocketAuthenticator(a *auth.Authenticator) func(ctx context.Context, authorization string) (context.Context, error) {
	return func(ctx context.Context, authorization string) (context.Context, error) {
		remote, _ := ctx.Value(remoteKey{}).(string)
		p, ref := check(ctx, a, authorization, remote)
		if ref != nil {
			code := map[string]string{"UNAUTHENTICATED": catalog.EUNAUTHENTICATED, "FORBIDDEN": catalog.EFORBIDDEN}[ref.code]
			if code == "" {
				code = catalog.EINTERNAL
			}
			return ctx, catalog.Errorf(code, "%s", ref.message)
		}
		return auth.WithPrincipal(ctx, p), nil
	}
}

// withCORS lets browsers on the configured origins call next: GET and POST with the
// Authorization and Content-Type headers, never with cookies (credentials are bearer tokens).
// Preflight requests are answered here, before authentication. No origins: no CORS headers.
func withCORS(c *cors.Cors, next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return c.Handler(next)
}

func newCORS(origins []string) *cors.Cors {
	if len(origins) == 0 {
		return nil
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type"},
		AllowCredentials: false,
		MaxAge:           600,
	})
}
