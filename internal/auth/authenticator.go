package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	lru "github.com/hashicorp/golang-lru/v2"

	"catalogd/internal/catalog"
)

// Directory finds the User entity a person's claim names, and its groups. It is implemented
// over the catalog's database outside this package.
type Directory interface {
	// LookupUser returns the canonical ref of the User entity that match ("email", "name" or
	// "annotation:KEY") finds for value, and the canonical refs of the groups it is a member
	// of; ref is "" when no User matches.
	LookupUser(ctx context.Context, match, value string) (ref string, groups []string, err error)
}

// CredentialError is why credentials were refused: the transport answers 401 with a
// WWW-Authenticate header built from it. Err is for the log only.
type CredentialError struct {
	Code        string // "" (no credentials), "invalid_token" or "invalid_request" (RFC 6750)
	Description string // safe to show: says what is wrong, never repeats the token
	Err         error
}

func (e *CredentialError) Error() string {
	if e.Description == "" {
		return "authentication required"
	}
	return e.Description
}

// WWWAuthenticate is the header value for the 401 answer.
func (e *CredentialError) WWWAuthenticate() string {
	if e.Code == "" {
		return `Bearer realm="catalogd"`
	}
	return fmt.Sprintf(`Bearer realm="catalogd", error=%q, error_description=%q`, e.Code, e.Description)
}

// maxTokenBytes bounds what is parsed: real tokens are a few KiB.
const maxTokenBytes = 16 << 10

// asymmetricAlgs are the only signature algorithms accepted: never none, never HMAC (an HMAC
// token "signed" with the issuer's public key must not pass).
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// Authenticator turns a request's credentials into a Principal.
type Authenticator struct {
	cfg      Config
	policy   *Policy
	issuers  map[string]*issuer
	services map[string]ServicePrincipal
	dir      Directory
	log      *slog.Logger
	verified *lru.Cache[[sha256.Size]byte, verifiedToken] // nil: no cache
}

// verifiedToken is what a successful verification found, remembered until expires (the
// token's exp, at most tokenCacheTTL after verification).
type verifiedToken struct {
	iss, sub string
	claims   map[string]any
	expires  time.Time
	exp      time.Time // the token's own
}

// tokenCacheTTL bounds how long a verified token is trusted without checking its signature
// again, e.g. after its key left the issuer's JWKS.
const tokenCacheTTL = time.Minute

type issuer struct {
	verifier  *oidc.IDTokenVerifier
	audiences []string
}

// New validates cfg and, for each issuer, fetches its discovery document (the JWKS is fetched
// on first use and again, at a limited rate, when a token's key is not among the fetched
// ones, so keys rotate without a restart). httpClient is used for discovery and JWKS (nil: http.DefaultClient).
func New(ctx context.Context, cfg Config, dir Directory, httpClient *http.Client, log *slog.Logger) (*Authenticator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	roles := DefaultRoles()
	maps.Copy(roles, cfg.Roles)
	if err := cfg.validate(roles); err != nil {
		return nil, err
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "email"
	}
	if cfg.UserMatch == "" {
		cfg.UserMatch = "email"
	}
	a := &Authenticator{cfg: cfg, policy: NewPolicy(roles, cfg.AllowAnonymousRead), issuers: map[string]*issuer{},
		services: map[string]ServicePrincipal{}, dir: dir, log: log}
	if n := cfg.VerifiedTokenCache; n >= 0 {
		if n == 0 {
			n = 10_000
		}
		a.verified, _ = lru.New[[sha256.Size]byte, verifiedToken](n)
	}
	for _, sp := range cfg.ServicePrincipals {
		a.services[sp.ClientID] = sp
	}
	if httpClient != nil {
		ctx = oidc.ClientContext(ctx, httpClient)
	}
	for _, is := range cfg.Issuers {
		p, err := oidc.NewProvider(ctx, is.URL)
		if err != nil {
			return nil, fmt.Errorf("OIDC issuer %s: discovery: %w", is.URL, err)
		}
		var disc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&disc); err != nil || disc.JWKSURI == "" {
			return nil, fmt.Errorf("OIDC issuer %s: discovery document names no jwks_uri", is.URL)
		}
		ks := newKeySet(disc.JWKSURI, httpClient)
		a.issuers[is.URL] = &issuer{
			verifier:  oidc.NewVerifier(is.URL, ks, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: asymmetricAlgs}),
			audiences: is.Audiences,
		}
	}
	return a, nil
}

// Policy returns the policy built from the same configuration.
func (a *Authenticator) Policy() *Policy { return a.policy }

// Enabled reports whether authentication is configured; when it is not, every caller is Local.
func (a *Authenticator) Enabled() bool { return a.cfg.Enabled() }

// Authenticate returns the principal of the request: Local when no authentication is
// configured, Anonymous for a request without credentials when anonymous reading is allowed,
// and otherwise the principal its bearer token or API key names. Refused credentials give a
// *CredentialError.
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	return a.AuthenticateCredentials(r.Context(), r.Header.Get("Authorization"))
}

// AuthenticateCredentials is Authenticate for credentials that did not come in a request's
// header (a websocket's connection_init): authorization is what an Authorization header would
// hold ("Bearer <token>"), "" for none.
func (a *Authenticator) AuthenticateCredentials(ctx context.Context, authorization string) (*Principal, error) {
	if !a.Enabled() {
		return Local(), nil
	}
	h := authorization
	if h == "" {
		if a.cfg.AllowAnonymousRead {
			return Anonymous(), nil
		}
		return nil, &CredentialError{}
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &CredentialError{Code: "invalid_request", Description: "the Authorization header must be: Bearer <token>"}
	}
	if len(token) > maxTokenBytes {
		return nil, &CredentialError{Code: "invalid_token", Description: "malformed token: too long"}
	}
	if strings.Count(token, ".") != 2 && len(a.cfg.APIKeys) > 0 {
		return a.apiKey(token)
	}
	return a.verify(ctx, token)
}

func (a *Authenticator) apiKey(key string) (*Principal, error) {
	h := sha256.Sum256([]byte(key))
	var found *APIKey
	for i := range a.cfg.APIKeys { // no early exit: the time taken does not depend on which key matched
		if subtle.ConstantTimeCompare(h[:], a.cfg.APIKeys[i].Hash[:]) == 1 {
			found = &a.cfg.APIKeys[i]
		}
	}
	if found == nil {
		return nil, &CredentialError{Code: "invalid_token", Description: "unknown API key"}
	}
	return &Principal{Kind: KindService, Name: found.Name, Roles: slices.Clone(found.Roles)}, nil
}

func invalid(desc string, err error) *CredentialError {
	return &CredentialError{Code: "invalid_token", Description: desc, Err: err}
}

func (a *Authenticator) verify(ctx context.Context, token string) (*Principal, error) {
	// Choose the issuer from the unverified iss claim; the verifier then checks it again
	// with the signature.
	var key [sha256.Size]byte
	if a.verified != nil {
		key = sha256.Sum256([]byte(token))
		if v, ok := a.verified.Get(key); ok && time.Now().Before(v.expires) {
			return a.tokenPrincipal(ctx, v.iss, v.sub, v.claims, v.exp)
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("malformed token: not a JWT", nil)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, invalid("malformed token: payload", err)
	}
	var unverified struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &unverified); err != nil {
		return nil, invalid("malformed token: payload", err)
	}
	is := a.issuers[unverified.Iss]
	if is == nil {
		return nil, invalid("issuer not accepted", fmt.Errorf("iss %q", short(unverified.Iss)))
	}
	idt, err := is.verifier.Verify(ctx, token)
	if err != nil {
		var exp *oidc.TokenExpiredError
		switch {
		case errors.As(err, &exp):
			return nil, invalid("token expired", err)
		case strings.Contains(err.Error(), "unexpected signature algorithm"):
			return nil, invalid("signature algorithm not accepted", err)
		case strings.Contains(err.Error(), "malformed jwt"):
			return nil, invalid("malformed token", err)
		case strings.Contains(err.Error(), "nbf"):
			return nil, invalid("token not yet valid", err)
		case errors.Is(err, errNoKey), strings.Contains(err.Error(), "signature"):
			return nil, invalid("signature not verified (unknown or wrong key)", err)
		}
		return nil, invalid("token not accepted", err)
	}
	if !slices.ContainsFunc(idt.Audience, func(aud string) bool { return slices.Contains(is.audiences, aud) }) {
		return nil, invalid("audience not accepted", fmt.Errorf("aud %q", idt.Audience))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, invalid("malformed token: claims", err)
	}
	if a.verified != nil {
		expires := time.Now().Add(tokenCacheTTL)
		if idt.Expiry.Before(expires) {
			expires = idt.Expiry
		}
		a.verified.Add(key, verifiedToken{iss: idt.Issuer, sub: idt.Subject, claims: claims, expires: expires, exp: idt.Expiry})
	}
	return a.tokenPrincipal(ctx, idt.Issuer, idt.Subject, claims, idt.Expiry)
}

// tokenPrincipal is the principal of a verified token that expires at exp.
func (a *Authenticator) tokenPrincipal(ctx context.Context, iss, sub string, claims map[string]any, exp time.Time) (*Principal, error) {
	p, err := a.principal(ctx, iss, sub, claims)
	if p != nil {
		p.Expires = exp
	}
	return p, err
}

// principal maps verified claims to a principal: a User entity when the user claim names one;
// else a configured service principal when client_id, azp or sub names one; else a user
// principal without an entity.
func (a *Authenticator) principal(ctx context.Context, iss, sub string, claims map[string]any) (*Principal, error) {
	str := func(k string) string { s, _ := claims[k].(string); return s }
	userVal := str(a.cfg.UserClaim)
	var ref string
	var groups []string
	if userVal != "" && a.dir != nil {
		var err error
		ref, groups, err = a.dir.LookupUser(ctx, a.cfg.UserMatch, userVal)
		if err != nil {
			return nil, fmt.Errorf("look up user: %w", err)
		}
	}
	if ref == "" {
		for _, k := range []string{"client_id", "azp", "sub"} {
			if sp, ok := a.services[str(k)]; ok && str(k) != "" {
				return &Principal{Kind: KindService, Name: sp.Name, Roles: slices.Clone(sp.Roles), Issuer: iss, Subject: sub}, nil
			}
		}
	}
	if a.cfg.GroupsClaim != "" {
		if list, ok := claims[a.cfg.GroupsClaim].([]any); ok {
			for i, g := range list {
				if i >= 1000 {
					break // bound the work a token can ask for
				}
				s, _ := g.(string)
				if gr, err := catalog.CanonicalRef(s, catalog.RefDefaults{Kind: "group"}); err == nil && !slices.Contains(groups, gr) {
					groups = append(groups, gr)
				}
			}
		}
	}
	name := userVal
	if name == "" {
		name = sub
	}
	p := &Principal{Kind: KindUser, Name: name, Ref: ref, Groups: groups, Issuer: iss, Subject: sub}
	p.Roles = a.rolesOf(p)
	return p, nil
}

// rolesOf returns reader plus the roles bound to *, to the user's ref or to its groups.
func (a *Authenticator) rolesOf(p *Principal) []string {
	roles := []string{RoleReader}
	for _, b := range a.cfg.RoleBindings {
		if b.Subject == "*" || (p.Ref != "" && b.Subject == p.Ref) || slices.Contains(p.Groups, b.Subject) {
			if !slices.Contains(roles, b.Role) {
				roles = append(roles, b.Role)
			}
		}
	}
	return roles
}

// LogRefusal logs why credentials were refused: the reason, never the token.
// remote is the caller's address.
func (a *Authenticator) LogRefusal(ctx context.Context, remote string, err error) {
	var ce *CredentialError
	if errors.As(err, &ce) {
		if ce.Code == "" {
			return // no credentials: not worth a line
		}
		a.log.InfoContext(ctx, "credentials refused", "reason", ce.Description, "detail", errString(ce.Err), "remote", remote)
		return
	}
	a.log.ErrorContext(ctx, "authentication failed", "err", err, "remote", remote)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
