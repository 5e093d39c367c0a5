// Package oidctest runs a real OpenID Provider (zitadel/oidc's op package) on 127.0.0.1 inside
// a test: discovery, JWKS, and a token endpoint that serves the client-credentials grant with
// JWT access tokens. Its signing key can be rotated mid-test. User tokens, which would need a
// browser login, are signed with the provider's current key by Sign.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2/clientcredentials"
)

// Issuer is a running OpenID Provider.
type Issuer struct {
	URL        string
	st         *store
	keyFetches atomic.Int64
}

// Start runs a provider on a free 127.0.0.1 port until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	st := &store{Storage: storage.NewStorage(storage.NewUserStore(url)), clients: map[string]*client{}}
	st.rotate()
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	provider, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, AuthMethodPost: true}, st, op.StaticIssuer(url), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{URL: url, st: st}
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			iss.keyFetches.Add(1)
		}
		provider.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: count, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return iss
}

// KeyFetches counts the requests for the provider's JWKS so far.
func (i *Issuer) KeyFetches() int64 { return i.keyFetches.Load() }

// Rotate replaces the signing key: the JWKS then publishes only the new key, and every token
// issued afterwards names it.
func (i *Issuer) Rotate() { i.st.rotate() }

// KeyID returns the ID of the current signing key.
func (i *Issuer) KeyID() string { k := i.st.current(); return k.id }

// PrivateKey returns the current signing key (for crafting hostile tokens beside good ones).
func (i *Issuer) PrivateKey() *rsa.PrivateKey { return i.st.current().key }

// AddClient registers a confidential client that may use the client-credentials grant; its
// access tokens are JWTs for audience.
func (i *Issuer) AddClient(id, secret, audience string) {
	i.st.mu.Lock()
	defer i.st.mu.Unlock()
	i.st.clients[id] = &client{id: id, secret: secret, audience: audience}
}

// ClientCredentialsToken asks the provider's token endpoint for an access token, as a bot would.
func (i *Issuer) ClientCredentialsToken(t testing.TB, id, secret string) string {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: i.URL + "/oauth/token"}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("client credentials token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// Sign returns a token signed with the provider's current key. iss, iat and exp (an hour)
// are filled in unless claims set them.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	k := i.st.current()
	c := map[string]any{"iss": i.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for key, v := range claims {
		if v == nil {
			delete(c, key)
			continue
		}
		c[key] = v
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.id))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// store is the example storage of zitadel/oidc with a rotatable signing key and
// client-credentials clients that receive JWT access tokens for a chosen audience.
type store struct {
	*storage.Storage
	mu      sync.Mutex
	key     *signingKey
	clients map[string]*client
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *store) rotate() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.key = &signingKey{id: uuid.NewString(), key: key}
	s.mu.Unlock()
}

func (s *store) current() *signingKey { s.mu.Lock(); defer s.mu.Unlock(); return s.key }

func (s *store) SigningKey(context.Context) (op.SigningKey, error) { return s.current(), nil }

func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *store) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.current()}}, nil
}

func (s *store) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || c.secret != secret {
		return nil, errors.New("wrong client id or secret")
	}
	return c, nil
}

func (s *store) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("unknown client")
	}
	return &oidc.JWTTokenRequest{Subject: c.id, Audience: []string{c.audience}, Scopes: scopes,
		IssuedAt: oidc.FromTime(time.Now()), ExpiresAt: oidc.FromTime(time.Now().Add(time.Hour))}, nil
}

// GetPrivateClaimsFromScopes adds nothing: the example's extra claims are not wanted here.
func (s *store) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

type client struct{ id, secret, audience string }

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return nil }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType  { return nil }
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c *client) LoginURL(string) string               { return "" }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return true }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
