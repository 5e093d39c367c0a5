// Package auth decides who a caller is and what each caller may do. It turns a request's
// credentials (an OIDC bearer token or a static API key) into a Principal, and its Policy is
// the one place where an action on the catalog is allowed or denied. It imports only
// internal/catalog: the lookup of User entities is the Directory interface, implemented over
// the database elsewhere, and transports map its errors (catalog.EUNAUTHENTICATED,
// catalog.EFORBIDDEN) to their codes.
package auth

import (
	"context"
	"slices"
	"time"
)

// Kinds of principal.
const (
	KindUser      = "user"      // a person, signed in through the OIDC provider
	KindService   = "service"   // a bot or script: client-credentials token or API key
	KindLocal     = "local"     // any caller when no authentication is configured
	KindAnonymous = "anonymous" // no credentials, admitted only to read when allowed
)

// Principal is an authenticated caller (or the anonymous one).
type Principal struct {
	Kind string
	// Name is the user's claim value (e.g. an email), the service principal's or API key's
	// name, "local" or "anonymous".
	Name string
	// Ref is the canonical ref of the User entity the principal maps to; "" when none.
	Ref string
	// Groups are canonical refs of the groups the principal belongs to (memberOf relations of
	// its User entity, and the groups claim when configured).
	Groups []string
	// Roles name entries of the policy's role table.
	Roles []string
	// Issuer and Subject identify an OIDC principal's token; empty for API keys and local.
	Issuer, Subject string
	// Expires is when the token that proved the principal expires; zero for API keys and
	// local. A connection authenticated once (a websocket) ends then.
	Expires time.Time
}

// HasRole reports whether p has the role.
func (p *Principal) HasRole(r string) bool { return p != nil && slices.Contains(p.Roles, r) }

// Local is the principal of every caller when catalogd runs without authentication.
func Local() *Principal {
	return &Principal{Kind: KindLocal, Name: "local", Roles: []string{RoleAdmin}}
}

// Anonymous is the principal of a caller without credentials when anonymous reading is allowed.
func Anonymous() *Principal { return &Principal{Kind: KindAnonymous, Name: "anonymous"} }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p. Only the HTTP middleware (and tests) call it.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of the request, or nil when there is none.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
