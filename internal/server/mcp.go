package server

import (
	"net/http"
	"strings"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"catalogd/internal/auth"
)

// protectedResourcePath serves the RFC 9728 metadata of /mcp.
const protectedResourcePath = "/.well-known/oauth-protected-resource"

// baseURL is the server's own URL as the request reached it (behind a proxy, the proxy's
// X-Forwarded-Proto says the scheme).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// authenticateMCP is authenticate for /mcp: the same credentials and policy as GraphQL, and a
// 401 whose challenge names the protected-resource metadata, so an MCP client can find the
// issuer to sign in with.
func authenticateMCP(a *auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := check(r.Context(), a, r.Header.Get("Authorization"), r.RemoteAddr)
		if ref != nil {
			if ref.status == http.StatusUnauthorized {
				challenge := `Bearer resource_metadata="` + baseURL(r) + protectedResourcePath + `"`
				if ref.challenge != "" {
					challenge = ref.challenge + `, resource_metadata="` + baseURL(r) + protectedResourcePath + `"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
			}
			WriteError(w, ref.status, ref.code, ref.message)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// protectedResource serves the metadata document of /mcp naming the configured issuers.
func protectedResource(issuers []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mcpauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:               baseURL(r) + "/mcp",
			AuthorizationServers:   issuers,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "catalogd",
		}).ServeHTTP(w, r)
	})
}
