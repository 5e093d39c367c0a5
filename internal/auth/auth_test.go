package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"catalogd/internal/auth"
	"catalogd/internal/auth/oidctest"
	"catalogd/internal/catalog"
)

func TestParseAPIKeys(t *testing.T) {
	h := auth.HashAPIKey("k")
	keys, err := auth.ParseAPIKeys(strings.NewReader("# comment\n\nci:editor,refresher:"+h+"\ndash:reader:"+strings.ToUpper(h)+"\n"), "keys")
	if err != nil || len(keys) != 2 || keys[0].Name != "ci" || !slices.Equal(keys[0].Roles, []string{"editor", "refresher"}) || keys[1].Hash != keys[0].Hash {
		t.Fatalf("keys = %+v, err %v", keys, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"ci:editor", "keys:1: write name:role[,role]:sha256hex"},
		{":editor:" + h, "keys:1: write name"},
		{"ci::" + h, "keys:1: write name"},
		{"ci:editor:" + h[:10], "keys:1: key \"ci\": the third field must be 64 hex digits"},
		{"ci:editor:thekeyitself-not-its-hash-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "must be 64 hex digits"},
		{"ci:editor:" + h + "\nci:reader:" + h, "keys:2: key name \"ci\" appears twice"},
	} {
		_, err := auth.ParseAPIKeys(strings.NewReader(tc.in), "keys")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAPIKeys(%q) = %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "thekeyitself") {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}

func TestParseRolesAndBindings(t *testing.T) {
	name, acts, err := auth.ParseRole("refresher=entity.refresh, location.refresh")
	if err != nil || name != "refresher" || !slices.Equal(acts, []auth.Action{auth.ActionEntityRefresh, auth.ActionLocationRefresh}) {
		t.Errorf("ParseRole = %q %v %v", name, acts, err)
	}
	if _, _, err := auth.ParseRole("x=entity.delete"); err == nil || !strings.Contains(err.Error(), `unknown action "entity.delete"`) {
		t.Errorf("unknown action: %v", err)
	}
	b, err := auth.ParseRoleBinding("editor=Platform")
	if err != nil || b.Role != "editor" || b.Subject != "group:default/platform" {
		t.Errorf("ParseRoleBinding = %+v %v", b, err)
	}
	b, err = auth.ParseRoleBinding("admin=user:ops/Jane")
	if err != nil || b.Subject != "user:ops/jane" {
		t.Errorf("ParseRoleBinding = %+v %v", b, err)
	}
	if _, err := auth.ParseRoleBinding("editor"); err == nil {
		t.Error("a binding without subject is accepted")
	}
}

func TestNewRefusesUnsafeOrWrongConfiguration(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  auth.Config
		want string
	}{
		{auth.Config{Issuers: []auth.Issuer{{URL: "https://idp.example.com"}}}, "needs at least one audience"},
		{auth.Config{Issuers: []auth.Issuer{{URL: "idp.example.com", Audiences: []string{"a"}}}}, "must be an http(s) URL"},
		{auth.Config{APIKeys: []auth.APIKey{{Name: "k", Roles: []string{"superuser"}}}}, `API key k: unknown role "superuser"`},
		{auth.Config{ServicePrincipals: []auth.ServicePrincipal{{ClientID: "bot", Roles: []string{"x"}}}}, `unknown role "x"`},
		{auth.Config{RoleBindings: []auth.RoleBinding{{Role: "owner", Subject: "*"}}}, `unknown role "owner"`},
		{auth.Config{UserMatch: "phone"}, "use email, name or annotation:KEY"},
	} {
		if _, err := auth.New(ctx, tc.cfg, nil, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func request(authz string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/graphql", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

func TestAPIKeys(t *testing.T) {
	key := "ck_0123456789abcdef0123456789abcdef"
	a, err := auth.New(context.Background(), auth.Config{APIKeys: []auth.APIKey{
		mustKey(t, "dash:reader:"+auth.HashAPIKey("other-key")),
		mustKey(t, "ci:editor:"+auth.HashAPIKey(key)),
	}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(request("Bearer " + key))
	if err != nil || p.Kind != auth.KindService || p.Name != "ci" || !slices.Equal(p.Roles, []string{"editor"}) {
		t.Errorf("principal = %+v, %v", p, err)
	}
	var ce *auth.CredentialError
	for _, h := range []string{"Bearer " + key + "x", "Bearer " + strings.ToUpper(key), "Bearer " + auth.HashAPIKey(key), ""} {
		_, err := a.Authenticate(request(h))
		if !errors.As(err, &ce) {
			t.Errorf("Authorization %q: err = %v, want a credential error", h, err)
		}
	}
}

func mustKey(t *testing.T, line string) auth.APIKey {
	t.Helper()
	k, err := auth.ParseAPIKeys(strings.NewReader(line), "test")
	if err != nil {
		t.Fatal(err)
	}
	return k[0]
}

func TestPolicyWithoutPrincipalOrRoles(t *testing.T) {
	pol := auth.NewPolicy(nil, false)
	if catalog.ErrorCode(pol.Authorize(nil, auth.ActionRead, auth.Resource{})) != catalog.EUNAUTHENTICATED {
		t.Error("no principal may read")
	}
	if catalog.ErrorCode(pol.Authorize(auth.Anonymous(), auth.ActionRead, auth.Resource{})) != catalog.EUNAUTHENTICATED {
		t.Error("anonymous may read though anonymous reading is off")
	}
	if err := pol.Authorize(&auth.Principal{Kind: auth.KindService, Name: "x"}, auth.ActionRead, auth.Resource{}); err != nil {
		t.Errorf("an authenticated principal without roles may not read: %v", err)
	}
	// An empty owner never matches a principal without a ref.
	p := &auth.Principal{Kind: auth.KindUser, Name: "x"}
	if catalog.ErrorCode(pol.Authorize(p, auth.ActionEntityRefresh, auth.Resource{Ref: "component:default/orphan", Owners: []string{""}})) != catalog.EFORBIDDEN {
		t.Error("a principal without ref owns an entity without owner")
	}
}

// BenchmarkVerifyToken is the cost of authenticating a request with a bearer token once the
// issuer's keys are cached (no user directory): signature and claims checked every time.
func BenchmarkVerifyToken(b *testing.B) { benchmarkVerify(b, -1) }

// BenchmarkVerifyTokenCached is the same for a client that reuses its token within a minute.
func BenchmarkVerifyTokenCached(b *testing.B) { benchmarkVerify(b, 0) }

func benchmarkVerify(b *testing.B, cache int) {
	iss := oidctest.Start(b)
	a, err := auth.New(context.Background(), auth.Config{VerifiedTokenCache: cache,
		Issuers: []auth.Issuer{{URL: iss.URL, Audiences: []string{"catalogd"}}}}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := request("Bearer " + iss.Sign(b, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"}))
	if p, err := a.Authenticate(r); err != nil || p.Kind != auth.KindUser {
		b.Fatalf("%+v %v", p, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAPIKey is the cost of authenticating a request with one of 100 API keys.
func BenchmarkVerifyAPIKey(b *testing.B) {
	var keys []auth.APIKey
	for i := range 100 {
		k, _ := auth.ParseAPIKeys(strings.NewReader("k"+string(rune('a'+i%26))+strings.Repeat("x", i)+":reader:"+auth.HashAPIKey(strings.Repeat("k", i+1))), "b")
		keys = append(keys, k[0])
	}
	a, err := auth.New(context.Background(), auth.Config{APIKeys: keys}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := request("Bearer " + strings.Repeat("k", 50))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestARememberedTokenIsNotTrustedPastItsExpiry(t *testing.T) {
	iss := oidctest.Start(t)
	a, err := auth.New(context.Background(), auth.Config{Issuers: []auth.Issuer{{URL: iss.URL, Audiences: []string{"catalogd"}}}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	r := request("Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "aud": "catalogd", "exp": exp.Unix()}))
	if p, err := a.Authenticate(r); err != nil || p.Name != "u1" {
		t.Fatalf("fresh token: %+v %v", p, err)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	var ce *auth.CredentialError
	if _, err := a.Authenticate(r); !errors.As(err, &ce) || ce.Description != "token expired" {
		t.Errorf("expired remembered token: err = %v, want token expired", err)
	}
}

// Each token whose key is not among the cached ones could make catalogd fetch the issuer's
// JWKS: hostile tokens must not turn catalogd into a load generator against its provider.
func TestHostileTokensCannotMakeItHammerTheIssuersKeys(t *testing.T) {
	iss := oidctest.Start(t)
	a, err := auth.New(context.Background(), auth.Config{VerifiedTokenCache: -1,
		Issuers: []auth.Issuer{{URL: iss.URL, Audiences: []string{"catalogd"}}}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Sign(t, map[string]any{"sub": "u1", "aud": "catalogd"})
	if _, err := a.Authenticate(request("Bearer " + good)); err != nil {
		t.Fatal(err)
	}
	before := iss.KeyFetches()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	parts := strings.Split(good, ".")
	for i := range 100 {
		var tok string
		if i%2 == 0 { // a key nobody published, under a fresh kid
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: other}, (&jose.SignerOptions{}).WithHeader("kid", fmt.Sprint("k", i)))
			tok, _ = jwt.Signed(s).Claims(map[string]any{"iss": iss.URL, "sub": "x", "aud": "catalogd", "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
		} else { // the issuer's kid, a forged signature
			tok = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint("forged", i)))
		}
		if _, err := a.Authenticate(request("Bearer " + tok)); err == nil {
			t.Fatalf("hostile token %d accepted", i)
		}
	}
	if n := iss.KeyFetches() - before; n > 5 {
		t.Errorf("100 hostile tokens made %d JWKS requests", n)
	}
	// The issuer rotates: a token under the new key is accepted once a refetch is allowed again.
	iss.Rotate()
	fresh := request("Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "aud": "catalogd"}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := a.Authenticate(fresh); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a token under the rotated key is still refused: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And the good token's key is gone.
	if _, err := a.Authenticate(request("Bearer " + good)); err == nil {
		t.Error("a token under the retired key is accepted")
	}
}
