package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"catalogd/internal/auth"
	"catalogd/internal/auth/oidctest"
	"catalogd/internal/testdb"
)

type authAnswer struct {
	status int
	header http.Header
	body   gqlResponse
	raw    string
}

// post sends a GraphQL request with the given Authorization header value ("" for none).
func (s *testServer) postAs(authz, query string, extensions map[string]any) authAnswer {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "extensions": extensions})
	req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return s.sendAs(req)
}

func (s *testServer) sendAs(req *http.Request) authAnswer {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := authAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

type viewer struct {
	Kind, Name string
	Ref        *string
	Roles      []string
	Groups     []string
}

func (s *testServer) viewer(authz string) viewer {
	s.t.Helper()
	a := s.postAs(authz, `{ viewer { kind name ref roles groups } }`, nil)
	if a.status != http.StatusOK || len(a.body.Errors) > 0 {
		s.t.Fatalf("viewer: status %d: %s", a.status, a.raw)
	}
	var v struct{ Viewer viewer }
	if err := json.Unmarshal(a.body.Data, &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Viewer
}

func code(a authAnswer) string {
	if len(a.body.Errors) == 0 {
		return ""
	}
	c, _ := a.body.Errors[0].Extensions["code"].(string)
	return c
}

const authCatalog = `apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jane}
spec: {profile: {email: Jane@Example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout}
spec: {type: service, lifecycle: production, owner: team-a}
`

func TestServeWithoutAuthRefusesToListenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"serve", "--addr", addr, "--database", testdb.SQLite(t)}, func(string) string { return "" }, &out, &errOut)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "--insecure-no-auth") || !strings.Contains(err.Error(), "without authentication") {
			t.Errorf("serve --addr %s without auth: err = %v, want a refusal naming --insecure-no-auth", addr, err)
		}
		if strings.Contains(out.String(), "listening") {
			t.Errorf("serve --addr %s listened: %s", addr, out.String())
		}
	}
}

func TestServeOnLoopbackWithoutAuthMakesEveryCallerTheLocalAdmin(t *testing.T) {
	s, log := startServerEnv(t, nil)
	v := s.viewer("")
	if v.Kind != auth.KindLocal || v.Name != "local" || v.Ref != nil || !slices.Equal(v.Roles, []string{"admin"}) {
		t.Errorf("viewer = %+v, want the local admin", v)
	}
	if !strings.Contains(log.String(), "no authentication configured") {
		t.Errorf("no start-up line says auth is off:\n%s", log.String())
	}
}

func TestServeWithInsecureNoAuthListensAnywhere(t *testing.T) {
	// 127.0.0.1 stands for the address: the flag is accepted and says so; tests bind only loopback.
	s, log := startServerEnv(t, map[string]string{"CATALOGD_INSECURE_NO_AUTH": "true"})
	if v := s.viewer(""); v.Kind != auth.KindLocal {
		t.Errorf("viewer = %+v", v)
	}
	if !strings.Contains(log.String(), "--insecure-no-auth") {
		t.Errorf("no warning logged:\n%s", log.String())
	}
}

// hostileTokens are tokens that must all be refused, each built against the running issuer.
func hostileTokens(t *testing.T, iss *oidctest.Issuer) map[string][2]string {
	t.Helper()
	good := map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	b64 := func(v any) string {
		j, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(j)
	}
	now := time.Now()
	claims := with("iss", iss.URL)
	claims["exp"] = now.Add(time.Hour).Unix()

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	signWith := func(alg jose.SignatureAlgorithm, key any, kid string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&iss.PrivateKey().PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := iss.Sign(t, good)
	parts := strings.Split(valid, ".")
	tampered := with("email", "admin@example.com")
	tampered["iss"], tampered["exp"] = iss.URL, now.Add(time.Hour).Unix()
	// Each token with the reason it must be refused for.
	return map[string][2]string{
		"expired":                         {iss.Sign(t, with("exp", now.Add(-time.Minute).Unix())), "token expired"},
		"not yet valid":                   {iss.Sign(t, with("nbf", now.Add(time.Hour).Unix())), "token not yet valid"},
		"without expiry":                  {iss.Sign(t, with("exp", nil)), "token expired"},
		"from another issuer":             {iss.Sign(t, with("iss", "https://evil.example.com")), "issuer not accepted"},
		"for another audience":            {iss.Sign(t, with("aud", "another-app")), "audience not accepted"},
		"without audience":                {iss.Sign(t, with("aud", nil)), "audience not accepted"},
		"with alg none":                   {b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".", "signature algorithm not accepted"},
		"HMAC-signed with the public key": {signWith(jose.HS256, pubPEM, iss.KeyID()), "signature algorithm not accepted"},
		"signed by an unknown kid":        {signWith(jose.RS256, other, "no-such-key"), "signature not verified"},
		"signed by another key under the issuer's kid": {signWith(jose.RS256, other, iss.KeyID()), "signature not verified"},
		"with a tampered payload":                      {parts[0] + "." + b64(tampered) + "." + parts[2], "signature not verified"},
		"with a malformed header":                      {base64.RawURLEncoding.EncodeToString([]byte("{not json")) + "." + parts[1] + "." + parts[2], "malformed token"},
		"that is not a JWT":                            {"definitely-not-a-token", "malformed token"},
		"that is too long":                             {strings.Repeat("a", 20_000) + "." + parts[1] + "." + parts[2], "malformed token"},
	}
}

func TestServeWithOIDC(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		iss := oidctest.Start(t)
		iss.AddClient("ci-bot", "bot-secret", "catalogd")
		iss.AddClient("stranger", "stranger-secret", "catalogd")
		iss.AddClient("elsewhere", "elsewhere-secret", "another-app")
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "c.yaml"), authCatalog)
		s, log := startServerEnv(t, map[string]string{"CATALOGD_OIDC_ISSUER": iss.URL, "CATALOGD_OIDC_AUDIENCE": "catalogd"},
			"--database", dbURL, "--location", filepath.Join(dir, "c.yaml"),
			"--oidc-service-principal", "ci-bot=editor", "--role-binding", "editor=group:team-a",
			"--cors-origin", "https://ui.example.com")

		t.Run("a request without a token gets 401 and the probes stay open", func(t *testing.T) {
			a := s.postAs("", `{ viewer { kind } }`, nil)
			if a.status != http.StatusUnauthorized || code(a) != "UNAUTHENTICATED" || a.header.Get("WWW-Authenticate") != `Bearer realm="catalogd"` {
				t.Errorf("status %d, WWW-Authenticate %q, body %s", a.status, a.header.Get("WWW-Authenticate"), a.raw)
			}
			get := s.sendAs(mustRequest(t, http.MethodGet, s.base+"/graphql?query="+url.QueryEscape("{ viewer { kind } }")))
			if get.status != http.StatusUnauthorized {
				t.Errorf("GET without a token: status %d", get.status)
			}
			for _, p := range []string{"/healthz", "/readyz"} {
				if a := s.sendAs(mustRequest(t, http.MethodGet, s.base+p)); a.status != http.StatusOK {
					t.Errorf("%s: status %d", p, a.status)
				}
			}
		})

		t.Run("a browser opening /graphql without a token gets GraphiQL with 401, and 200 with one", func(t *testing.T) {
			page := func(authz string) authAnswer {
				req := mustRequest(t, http.MethodGet, s.base+"/graphql")
				req.Header.Set("Accept", "text/html,application/xhtml+xml")
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				return s.sendAs(req)
			}
			a := page("")
			if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != `Bearer realm="catalogd"` ||
				!strings.Contains(a.raw, `id="graphiql"`) || strings.Contains(a.raw, "https://") {
				t.Errorf("without a token: status %d, WWW-Authenticate %q, body %.200s", a.status, a.header.Get("WWW-Authenticate"), a.raw)
			}
			a = page("Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"}))
			if a.status != http.StatusOK || !strings.Contains(a.raw, `id="graphiql"`) {
				t.Errorf("with a token: status %d, body %.200s", a.status, a.raw)
			}
		})

		t.Run("a user token maps to the User entity by email, with its groups and bound roles", func(t *testing.T) {
			v := s.viewer("Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.COM", "aud": []string{"other", "catalogd"}}))
			if v.Kind != "user" || v.Name != "jane@example.COM" || v.Ref == nil || *v.Ref != "user:default/jane" ||
				!slices.Equal(v.Groups, []string{"group:default/team-a"}) || !slices.Equal(v.Roles, []string{"reader", "editor"}) {
				t.Errorf("viewer = %+v", v)
			}
			v = s.viewer("Bearer " + iss.Sign(t, map[string]any{"sub": "u2", "email": "nobody@example.com", "aud": "catalogd"}))
			if v.Kind != "user" || v.Ref != nil || !slices.Equal(v.Roles, []string{"reader"}) {
				t.Errorf("viewer of a user with no entity = %+v", v)
			}
		})

		t.Run("a bot gets a client-credentials token from the issuer and is a service principal", func(t *testing.T) {
			v := s.viewer("Bearer " + iss.ClientCredentialsToken(t, "ci-bot", "bot-secret"))
			if v.Kind != "service" || v.Name != "ci-bot" || v.Ref != nil || !slices.Equal(v.Roles, []string{"editor"}) {
				t.Errorf("viewer = %+v", v)
			}
			// A client that is not configured as a service principal is only a reader.
			v = s.viewer("Bearer " + iss.ClientCredentialsToken(t, "stranger", "stranger-secret"))
			if v.Kind != "user" || !slices.Equal(v.Roles, []string{"reader"}) {
				t.Errorf("viewer of an unlisted client = %+v", v)
			}
			// A token the issuer made for another audience is refused.
			if a := s.postAs("Bearer "+iss.ClientCredentialsToken(t, "elsewhere", "elsewhere-secret"), `{ viewer { kind } }`, nil); a.status != http.StatusUnauthorized {
				t.Errorf("token for another audience: status %d", a.status)
			}
		})

		t.Run("the issuer rotates its key and new tokens work without a restart", func(t *testing.T) {
			before := iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"})
			if v := s.viewer("Bearer " + before); v.Kind != "user" {
				t.Fatalf("viewer = %+v", v)
			}
			// Signed under the old key but not presented yet (presented tokens are remembered
			// as verified for up to a minute).
			unused := iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd", "jti": "unused"})
			oldKid := iss.KeyID()
			iss.Rotate()
			if iss.KeyID() == oldKid {
				t.Fatal("the key did not rotate")
			}
			if v := s.viewer("Bearer " + iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"})); v.Kind != "user" {
				t.Errorf("viewer with a token under the new key = %+v", v)
			}
			if v := s.viewer("Bearer " + iss.ClientCredentialsToken(t, "ci-bot", "bot-secret")); v.Kind != "service" {
				t.Errorf("viewer with a client-credentials token under the new key = %+v", v)
			}
			// The old key left the issuer's JWKS: tokens signed with it no longer pass.
			if a := s.postAs("Bearer "+unused, `{ viewer { kind } }`, nil); a.status != http.StatusUnauthorized {
				t.Errorf("token under the retired key: status %d", a.status)
			}
		})

		t.Run("hostile tokens get 401 with WWW-Authenticate invalid_token", func(t *testing.T) {
			tokens := hostileTokens(t, iss)
			for name, tc := range tokens {
				a := s.postAs("Bearer "+tc[0], `{ viewer { kind name roles } }`, nil)
				wa := a.header.Get("WWW-Authenticate")
				if a.status != http.StatusUnauthorized || code(a) != "UNAUTHENTICATED" ||
					!strings.HasPrefix(wa, `Bearer realm="catalogd", error="invalid_token", error_description="`+tc[1]) {
					t.Errorf("token %s: status %d, WWW-Authenticate %q, body %.200s", name, a.status, wa, a.raw)
				}
			}
			a := s.postAs("Basic amFuZTpzZWNyZXQ=", `{ viewer { kind } }`, nil)
			if a.status != http.StatusUnauthorized || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("Basic credentials: status %d, WWW-Authenticate %q", a.status, a.header.Get("WWW-Authenticate"))
			}
			logged := log.String()
			if !strings.Contains(logged, "credentials refused") || !strings.Contains(logged, "token expired") {
				t.Errorf("refusals are not logged with their reason:\n%.2000s", logged)
			}
			for name, tc := range tokens {
				tok := tc[0]
				if sig := tok[strings.LastIndexByte(tok, '.')+1:]; len(sig) > 20 && strings.Contains(logged, sig) {
					t.Errorf("the log holds the token %s", name)
				}
			}
		})

		t.Run("browsers on the configured origin may call, others get no CORS headers", func(t *testing.T) {
			pre := mustRequest(t, http.MethodOptions, s.base+"/graphql")
			pre.Header.Set("Origin", "https://ui.example.com")
			pre.Header.Set("Access-Control-Request-Method", "POST")
			pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			a := s.sendAs(pre)
			if a.status/100 != 2 || a.header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" ||
				!strings.Contains(strings.ToLower(a.header.Get("Access-Control-Allow-Headers")), "authorization") ||
				a.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight from the UI: status %d, headers %v", a.status, a.header)
			}
			pre.Header.Set("Origin", "https://evil.example.com")
			if a := s.sendAs(pre); a.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight from another origin allowed: %v", a.header)
			}
		})
	})
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServeWithAPIKeysAndOnlyPersistedQueries(t *testing.T) {
	dir := t.TempDir()
	key := "ck_5f0e7c1d2b3a49687766554433221100"
	keys := filepath.Join(dir, "keys")
	writeFile(t, keys, "# name:roles:sha256 of the key\nci:editor:"+auth.HashAPIKey(key)+"\n")
	registered := `{ viewer { kind name roles } }`
	sum := sha256.Sum256([]byte(registered))
	hash := hex.EncodeToString(sum[:])
	pq := filepath.Join(dir, "queries.json")
	j, _ := json.Marshal(map[string]string{hash: registered})
	writeFile(t, pq, string(j))
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_API_KEY_FILE": keys},
		"--persisted-queries", pq, "--only-persisted-queries", "--addr", "localhost:0")

	byHash := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	a := s.postAs("Bearer "+key, "", byHash)
	var v struct{ Viewer viewer }
	json.Unmarshal(a.body.Data, &v)
	if a.status != http.StatusOK || v.Viewer.Kind != "service" || v.Viewer.Name != "ci" || !slices.Equal(v.Viewer.Roles, []string{"editor"}) {
		t.Errorf("registered query by hash: status %d, %s", a.status, a.raw)
	}
	if a := s.postAs("Bearer "+key, registered, nil); a.status != http.StatusOK || len(a.body.Errors) > 0 {
		t.Errorf("registered query by text: status %d, %s", a.status, a.raw)
	}
	if a := s.postAs("Bearer "+key, `{ entities { totalCount } }`, nil); code(a) != "PERSISTED_QUERY_REQUIRED" || len(a.body.Data) > 0 && string(a.body.Data) != "null" {
		t.Errorf("unregistered query: %s", a.raw)
	}
	other := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
	if a := s.postAs("Bearer "+key, "", other); code(a) != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("unknown hash: %s", a.raw)
	}
	// A query sent with its hash cannot register itself (no automatic persisted queries).
	sneaky := `{ entities { totalCount } }`
	ss := sha256.Sum256([]byte(sneaky))
	if a := s.postAs("Bearer "+key, sneaky, map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(ss[:])}}); code(a) != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("self-registering query: %s", a.raw)
	}
	for _, h := range []string{"", "Bearer " + key + "0", "Bearer " + auth.HashAPIKey(key)} {
		if a := s.postAs(h, "", byHash); a.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d", h, a.status)
		}
	}
}

func TestServeWithAnonymousReading(t *testing.T) {
	iss := oidctest.Start(t)
	s, _ := startServerEnv(t, nil, "--oidc-issuer", iss.URL, "--oidc-audience", "catalogd", "--allow-anonymous-read")
	if v := s.viewer(""); v.Kind != auth.KindAnonymous || len(v.Roles) != 0 {
		t.Errorf("viewer without a token = %+v", v)
	}
	// A bad token is refused even though no token would be admitted.
	if a := s.postAs("Bearer "+iss.Sign(t, map[string]any{"sub": "x", "aud": "other"}), `{ viewer { kind } }`, nil); a.status != http.StatusUnauthorized {
		t.Errorf("bad token with anonymous reading on: status %d", a.status)
	}
}

// Users matched by an annotation: the directory serve builds indexes the annotation the
// user match names (and no other), so a token's claim finds its User and the User's groups.
func TestServeMatchesOIDCUsersByAnnotation(t *testing.T) {
	iss := oidctest.Start(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), strings.Replace(authCatalog, "metadata: {name: jane}",
		"metadata: {name: jane, annotations: {example.com/employee-id: \"E-1001\", example.com/desk: \"4F\"}}", 1))
	s, _ := startServerEnv(t, nil, "--location", filepath.Join(dir, "c.yaml"),
		"--oidc-issuer", iss.URL, "--oidc-audience", "catalogd",
		"--oidc-user-claim", "employee_id", "--oidc-user-match", "annotation:example.com/employee-id")
	token := func(id string) string {
		return "Bearer " + iss.Sign(t, map[string]any{"sub": "u-" + id, "employee_id": id, "aud": "catalogd"})
	}
	if v := s.viewer(token("E-1001")); v.Ref == nil || *v.Ref != "user:default/jane" || !slices.Contains(v.Groups, "group:default/team-a") {
		t.Errorf("viewer by employee id = %+v, want user:default/jane in group:default/team-a", v)
	}
	if v := s.viewer(token("E-9999")); v.Ref != nil {
		t.Errorf("an unknown employee id found %q", *v.Ref)
	}
}
