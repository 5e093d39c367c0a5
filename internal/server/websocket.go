package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"

	"catalogd/internal/catalog"
)

// WebsocketSubprotocol is the one websocket subprotocol served (graphql-ws's
// graphql-transport-ws; the legacy subscriptions-transport-ws protocol is refused).
const WebsocketSubprotocol = "graphql-transport-ws"

// isUpgrade is exactly gqlgen's transport.Websocket.Supports: the GraphQL handler gives every
// request with an Upgrade header to its websocket transport.
func isUpgrade(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// guardWebsocket lets through only websocket handshakes from the server's own origin, a
// configured CORS origin or no browser at all (no Origin header), that offer
// graphql-transport-ws. It answers the rest with a GraphQL-shaped error: 403 FORBIDDEN for
// another origin (a page elsewhere must not use a browser's network position), 400
// BAD_REQUEST for anything else. Other requests pass untouched.
func guardWebsocket(c *cors.Cors, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		reject := func(status int, code, msg string) {
			log.DebugContext(r.Context(), "websocket handshake rejected", "status", status, "reason", msg, "remote", r.RemoteAddr)
			WriteError(w, status, code, msg)
		}
		// A handshake the websocket library would refuse is refused here, with our error
		// shape (gqlgen would log each refusal through the standard logger).
		if r.Method != http.MethodGet || !hasToken(r.Header, "Upgrade", "websocket") || !hasToken(r.Header, "Connection", "upgrade") ||
			r.Header.Get("Sec-WebSocket-Version") != "13" || len(r.Header.Values("Sec-WebSocket-Key")) != 1 {
			reject(http.StatusBadRequest, codeBadRequest, "the only upgrade served is a websocket handshake (RFC 6455, version 13)")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(r, origin) && (c == nil || !c.OriginAllowed(r)) {
			reject(http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("origin %q may not open a websocket here (allow it with --cors-origin)", catalog.Excerpt(origin, 100)))
			return
		}
		if !hasToken(r.Header, "Sec-WebSocket-Protocol", WebsocketSubprotocol) {
			reject(http.StatusBadRequest, codeBadRequest, "offer the websocket subprotocol "+WebsocketSubprotocol+" (Sec-WebSocket-Protocol)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether origin names the host the request was sent to (the scheme is
// not compared: TLS may end in front of the server).
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// hasToken reports whether the comma-separated values of header name hold token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
