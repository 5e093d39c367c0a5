package github_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"catalogd/internal/ingest/github"
)

func component(name string) string {
	return fmt.Sprintf(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: service
  lifecycle: production
  owner: payments
`, name)
}

// acme is an organisation of five repositories (one archived, one without a descriptor) and
// three teams: platform, with payments and web below it.
func acme(t *testing.T) *fakeGitHub {
	f := newFake(t)
	f.setRepo("billing", false, map[string]string{"catalog-info.yaml": component("billing")})
	f.setRepo("checkout", false, map[string]string{"catalog-info.yaml": component("checkout")})
	f.setRepo("docs", false, map[string]string{"README.md": "no descriptor here"})
	f.setRepo("legacy", true, map[string]string{"catalog-info.yaml": component("legacy")})
	f.setRepo("web", false, map[string]string{"catalog-info.yaml": component("web")})
	f.teams = []fakeTeam{
		{slug: "platform", name: "Platform", members: []string{"alice", "bob", "carol"}},
		{slug: "payments", name: "Payments", parent: "platform", members: []string{"bob"}},
		{slug: "web", name: "Web", parent: "platform", members: []string{"carol"}},
	}
	f.members = []string{"alice", "bob", "carol", "dave"}
	f.profiles["alice"] = [2]string{"Alice Liddell", "alice@example.com"}
	return f
}

func newProvider(t *testing.T, f *fakeGitHub, cfg github.Config) *github.Provider {
	t.Helper()
	if cfg.Target == "" {
		cfg.Target = "acme"
	}
	cfg.BaseURL = f.srv.URL
	if cfg.RetryWaitMin == 0 {
		cfg.RetryWaitMin = 10 * time.Millisecond
		cfg.RetryWaitMax = 50 * time.Millisecond
	}
	p, err := github.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// files reads the location and returns what the engine's walk of its root would find.
func files(t *testing.T, p *github.Provider) (map[string]string, string, func(string) string) {
	t.Helper()
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer release()
	out := map[string]string{}
	err = fs.WalkDir(tree.FS, tree.Root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, err := fs.ReadFile(tree.FS, p)
			if err != nil {
				return err
			}
			out[p] = string(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, tree.Revision, tree.URL
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestReadsAnOrganisationsDescriptorsTeamsAndMembers(t *testing.T) {
	f := acme(t)
	p := newProvider(t, f, github.Config{Teams: true, UserProfiles: true})
	got, rev, url := files(t, p)
	want := []string{"org/groups.yaml", "org/users.yaml", "repos/acme/billing/catalog-info.yaml",
		"repos/acme/checkout/catalog-info.yaml", "repos/acme/web/catalog-info.yaml"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("files %v, want %v", names(got), want)
	}
	if got["repos/acme/billing/catalog-info.yaml"] != component("billing") {
		t.Errorf("billing's descriptor: %q", got["repos/acme/billing/catalog-info.yaml"])
	}
	if u := url("repos/acme/web/catalog-info.yaml"); u != f.srv.URL+"/acme/web/blob/main/catalog-info.yaml" {
		t.Errorf("URL %s", u)
	}
	if rev == "" {
		t.Error("no revision")
	}
	for _, s := range []string{"name: payments", "parent: platform", "type: team", "children: []", "members:\n    - bob",
		"displayName: Payments"} {
		if !strings.Contains(got["org/groups.yaml"], s) {
			t.Errorf("groups.yaml lacks %q:\n%s", s, got["org/groups.yaml"])
		}
	}
	// GitHub lists bob and carol as platform's members too (through its child teams): they are
	// direct members of payments and web only.
	if strings.Contains(got["org/groups.yaml"], "name: platform\n") && strings.Contains(strings.SplitN(got["org/groups.yaml"][strings.Index(got["org/groups.yaml"], "name: platform"):], "---", 2)[0], "- bob") {
		t.Errorf("bob is listed as a direct member of platform:\n%s", got["org/groups.yaml"])
	}
	for _, s := range []string{"name: alice", "email: alice@example.com", "displayName: Alice Liddell", "memberOf:\n    - platform",
		"name: dave", "memberOf: []"} {
		if !strings.Contains(got["org/users.yaml"], s) {
			t.Errorf("users.yaml lacks %q:\n%s", s, got["org/users.yaml"])
		}
	}
}

func TestAnUnchangedOrganisationCostsOnlyConditionalRequests(t *testing.T) {
	f := acme(t)
	p := newProvider(t, f, github.Config{Teams: true})
	_, rev1, _ := files(t, p)
	first, _, contents1 := f.counts()
	if contents1 != 4 {
		t.Errorf("first read asked the contents API %d times, want 4 (one per unarchived repository)", contents1)
	}

	f.resetCounts()
	_, rev2, _ := files(t, p)
	requests, notModified, contents := f.counts()
	t.Logf("first read: %d requests; unchanged: %d requests, %d answered 304", first, requests, notModified)
	if rev2 != rev1 {
		t.Errorf("revision changed on an unchanged organisation")
	}
	if contents != 0 {
		t.Errorf("an unchanged organisation asked the contents API %d times", contents)
	}
	if notModified != requests || requests >= first {
		t.Errorf("%d requests, %d answered 304 (first read: %d): every request of an unchanged read must be conditional and cheaper", requests, notModified, first)
	}

	// One push to one repository: one contents request, a new revision.
	f.resetCounts()
	f.setRepo("checkout", false, map[string]string{"catalog-info.yaml": strings.Replace(component("checkout"), "production", "experimental", 1)})
	got, rev3, _ := files(t, p)
	if _, _, contents := f.counts(); contents != 1 {
		t.Errorf("after one push: %d contents requests, want 1", contents)
	}
	if rev3 == rev1 || !strings.Contains(got["repos/acme/checkout/catalog-info.yaml"], "experimental") {
		t.Errorf("the push was not read (revision changed: %v)", rev3 != rev1)
	}
}

func TestFaultsAreRetriedOrFailTheRead(t *testing.T) {
	type fault func(f *fakeGitHub) func(w http.ResponseWriter, r *http.Request) bool
	// first returns a fault that answers the first n requests to a path with h.
	first := func(n int, pathPart string, h func(w http.ResponseWriter)) fault {
		return func(f *fakeGitHub) func(w http.ResponseWriter, r *http.Request) bool {
			var seen atomic.Int32
			return func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, pathPart) && seen.Add(1) <= int32(n) {
					h(w)
					return true
				}
				return false
			}
		}
	}
	status := func(code int, headers ...string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for i := 0; i+1 < len(headers); i += 2 {
				w.Header().Set(headers[i], headers[i+1])
			}
			w.WriteHeader(code)
			w.Write([]byte(`{"message":"fault"}`))
		}
	}
	for _, tc := range []struct {
		name     string
		cfg      github.Config
		fault    fault
		wantErr  string // "" when the read must succeed
		minTook  time.Duration
		maxTook  time.Duration
		requests int // at least
	}{
		{name: "500s are retried", fault: first(2, "/repos", status(500)), requests: 3},
		{name: "502 on the contents API is retried", fault: first(1, "/contents/", status(502))},
		{name: "429 with Retry-After waits that long", fault: first(1, "/orgs/acme/repos", status(429, "Retry-After", "1")), minTook: time.Second},
		{name: "an exhausted rate limit waits for its reset", fault: func(f *fakeGitHub) func(w http.ResponseWriter, r *http.Request) bool {
			reset := time.Now().Add(time.Second).Unix() + 1
			return first(1, "/orgs/acme/repos", status(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)))(f)
		}, minTook: 900 * time.Millisecond},
		{name: "a rate limit resetting later than allowed fails at once", cfg: github.Config{MaxRateLimitWait: 2 * time.Second},
			fault: func(f *fakeGitHub) func(w http.ResponseWriter, r *http.Request) bool {
				reset := time.Now().Add(time.Hour).Unix()
				return first(100, "/orgs/acme/repos", status(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)))(f)
			}, wantErr: "rate limited", maxTook: 2 * time.Second},
		{name: "a request that times out is retried", cfg: github.Config{RequestTimeout: 300 * time.Millisecond},
			fault: first(1, "/teams", func(w http.ResponseWriter) { time.Sleep(time.Second) })},
		{name: "persistent 500s fail the read", cfg: github.Config{Retries: 2}, fault: first(1000, "/contents/", status(500)), wantErr: "500", requests: 3},
		{name: "truncated JSON fails the read", fault: first(1, "/orgs/acme/repos", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`[{"full_name":"acme/billing","default_branch":"ma`))
		}), wantErr: "not the JSON expected"},
		{name: "a body cut short fails the read", fault: first(1, "/members", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(`[{"login":"alice"}`))
		}), wantErr: "members"},
		{name: "a next page on another host is refused", fault: first(1, "/orgs/acme/teams", func(w http.ResponseWriter) {
			w.Header().Set("Link", `<https://evil.example.com/orgs/acme/teams?page=2>; rel="next"`)
			w.Write([]byte(`[]`))
		}), wantErr: "another host"},
		{name: "bad credentials fail the read", fault: first(1, "/orgs/acme/repos", status(401)), wantErr: "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := acme(t)
			tc.cfg.Teams = true
			p := newProvider(t, f, tc.cfg)
			f.fault = tc.fault(f)
			t0 := time.Now()
			tree, _, err := p.Read(context.Background())
			took := time.Since(t0)
			requests, _, _ := f.counts()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("read failed: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v (tree with revision %q), want one mentioning %q", err, tree.Revision, tc.wantErr)
			}
			if took < tc.minTook {
				t.Errorf("took %s, want at least %s (the wait was not honoured)", took, tc.minTook)
			}
			if tc.maxTook > 0 && took > tc.maxTook {
				t.Errorf("took %s, want at most %s", took, tc.maxTook)
			}
			if requests < tc.requests {
				t.Errorf("%d requests, want at least %d", requests, tc.requests)
			}
			if err == nil {
				if _, err := fs.Stat(tree.FS, "repos/acme/web/catalog-info.yaml"); err != nil {
					t.Errorf("after the retried fault: %v", err)
				}
			}
		})
	}
}

func TestAnExhaustedRateLimitPausesTheNextRequests(t *testing.T) {
	f := acme(t)
	p := newProvider(t, f, github.Config{})
	var times []time.Time
	reset := time.Now().Add(time.Second).Unix() + 1
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		times = append(times, time.Now())
		if len(times) == 1 {
			// The last request of the window: it succeeds, and says none are left.
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
			w.Header().Set("Link", `<`+f.srv.URL+`/orgs/acme/repos?page=2>; rel="next"`)
			w.Write([]byte(`[]`))
			return true
		}
		return false
	}
	if _, _, err := p.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(times) < 2 || times[1].Before(time.Unix(reset, 0)) {
		t.Errorf("the next request came before the reset")
	}
}

func TestRepositoriesListAndPlaceholders(t *testing.T) {
	f := acme(t)
	f.setRepo("checkout", false, map[string]string{
		"catalog-info.yaml": component("checkout") + "  definition:\n    $text: ./docs/api.yaml\n",
		"docs/api.yaml":     "openapi: 3.0.0\n",
	})
	p := newProvider(t, f, github.Config{Repos: []string{"checkout", "acme/web"}})
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var listed []string
	fs.WalkDir(tree.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			listed = append(listed, p)
		}
		return nil
	})
	if want := []string{"repos/acme/checkout/catalog-info.yaml", "repos/acme/web/catalog-info.yaml"}; !slices.Equal(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}
	b, err := fs.ReadFile(tree.FS, "repos/acme/checkout/docs/api.yaml")
	if err != nil || string(b) != "openapi: 3.0.0\n" {
		t.Errorf("a file beside the descriptor: %q %v", b, err)
	}
	if _, err := fs.ReadFile(tree.FS, "repos/acme/checkout/nope.yaml"); !errorsIsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}

	if _, err := github.New(github.Config{Target: "acme", Repos: []string{"../x"}}); err == nil {
		t.Error("a repository named ../x accepted")
	}
	p = newProvider(t, f, github.Config{Repos: []string{"gone"}})
	if _, _, err := p.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a configured repository that is missing: %v", err)
	}
}

func errorsIsNotExist(err error) bool {
	return err != nil && strings.Contains(err.Error(), fs.ErrNotExist.Error())
}

func TestGitHubAppAuthentication(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	f := acme(t)
	f.auth = "Bearer ghs_installation_token"
	var tokens atomic.Int32
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		checkJWT := func() bool {
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
			var c jwt.Claims
			if !ok || err != nil || tok.Claims(&key.PublicKey, &c) != nil || c.Issuer != "4242" ||
				c.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, 0) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"message":"A JSON web token could not be decoded"}`))
				return false
			}
			return true
		}
		switch r.URL.Path {
		case "/orgs/acme/installation":
			if checkJWT() {
				w.Write([]byte(`{"id":77,"app_id":4242,"account":{"login":"acme"}}`))
			}
			return true
		case "/app/installations/77/access_tokens":
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
			} else if checkJWT() {
				tokens.Add(1)
				w.WriteHeader(http.StatusCreated)
				json.NewEncoder(w).Encode(map[string]any{"token": "ghs_installation_token", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
			}
			return true
		}
		return false
	}
	p := newProvider(t, f, github.Config{AppID: 4242, PrivateKey: string(pemKey), Teams: true})
	got, _, _ := files(t, p)
	if len(got) != 5 {
		t.Fatalf("files %v", names(got))
	}
	files(t, p)
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d installation tokens made, want 1 (kept until it nears expiry)", n)
	}
}

func TestDecodeNamesTheKey(t *testing.T) {
	cfg, err := github.Decode(map[string]any{"type": "github", "target": "acme", "teams": true, "repos": []any{"a", "b"}, "maxPages": 5, "retries": 0})
	if err != nil || cfg.Target != "acme" || !cfg.Teams || len(cfg.Repos) != 2 || cfg.MaxPages != 5 || cfg.Retries != -1 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"teams": "yes"}, "teams: want true or false"},
		{map[string]any{"baseURL": "x"}, "baseURL: unknown key"},
		{map[string]any{"requestTimeout": 5}, "requestTimeout: want a duration"},
	} {
		if _, err := github.Decode(tc.opts); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.opts, err, tc.want)
		}
	}
	for _, cfg := range []github.Config{{Target: "a/b/c"}, {Target: ""}, {Target: "acme", Token: "x", AppID: 1, PrivateKey: "k"},
		{Target: "acme/repo", Teams: true}, {Target: "acme", BaseURL: "ftp://x"}, {Target: "acme", Path: "../x"}} {
		if _, err := github.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestMatchesPush(t *testing.T) {
	f := acme(t)
	org := newProvider(t, f, github.Config{})
	if !org.MatchesPush("Acme/web", "feature") {
		t.Error("before a read, any branch of the organisation's repositories matches")
	}
	files(t, org)
	for _, tc := range []struct {
		p            *github.Provider
		repo, branch string
		want         bool
	}{
		{org, "acme/web", "main", true},
		{org, "ACME/web", "main", true},
		{org, "acme/web", "feature", false},
		{org, "other/web", "main", false},
		{newProvider(t, f, github.Config{Repos: []string{"web"}, Branch: "release"}), "acme/web", "release", true},
		{newProvider(t, f, github.Config{Repos: []string{"web"}, Branch: "release"}), "acme/billing", "release", false},
		{newProvider(t, f, github.Config{Target: "acme/web", Branch: "main"}), "acme/web", "main", true},
		{newProvider(t, f, github.Config{Target: "acme/web", Branch: "main"}), "acme/webx", "main", false},
	} {
		if got := tc.p.MatchesPush(tc.repo, tc.branch); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.repo, tc.branch, got, tc.want)
		}
	}
}

// TestMatchingAPushDoesNotWaitForARead: a read may wait minutes on GitHub's rate limit; a
// webhook asking which locations a push concerns must not wait with it.
func TestMatchingAPushDoesNotWaitForARead(t *testing.T) {
	f := acme(t)
	p := newProvider(t, f, github.Config{})
	files(t, p) // a first read, so the provider knows its repositories' branches
	release := make(chan struct{})
	var once sync.Once
	stuck := make(chan struct{})
	f.mu.Lock()
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		once.Do(func() { close(stuck) })
		<-release
		return false
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { defer close(done); p.Read(context.Background()) }()
	defer func() { close(release); <-done }()
	<-stuck
	answered := make(chan bool, 1)
	go func() { answered <- p.MatchesPush("acme/web", "main") }()
	select {
	case got := <-answered:
		if !got {
			t.Error("the push to acme/web main does not match")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MatchesPush waited for the read in progress")
	}
}
