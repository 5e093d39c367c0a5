package github

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/go-retryablehttp"

	"catalogd/internal/catalog"
)

// client talks to one GitHub API: retries with backoff on network errors, 5xx and 429,
// honours Retry-After and the rate limit (it waits for the reset rather than hammering, as
// long as the wait fits the bounds), and remembers each URL's ETag and answer so a conditional
// request answered 304 (which costs no rate limit) gives the last answer.
type client struct {
	base     *url.URL
	http     *retryablehttp.Client
	cfg      *Config
	auth     func(ctx context.Context) (string, error)
	maxBytes int64

	mu          sync.Mutex
	cache       map[string]*cached // URL -> last answer
	used        map[string]bool    // URLs asked during the current read
	pausedUntil time.Time          // the rate limit is exhausted until then
}

type cached struct {
	etag string
	body []byte
	next string // the Link header's rel="next"
}

// httpError is an answer with an unexpected status.
type httpError struct {
	status int
	url    string
	msg    string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.status, e.msg)
}

func isNotFound(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == http.StatusNotFound
}

func newClient(cfg *Config) (*client, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("baseUrl %q: not an http(s) URL", catalog.Excerpt(cfg.BaseURL, 100))
	}
	c := &client{base: base, cfg: cfg, maxBytes: cfg.MaxResponseBytes, cache: map[string]*cached{}, used: map[string]bool{}}
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = cfg.Retries
	rc.RetryWaitMin = cfg.RetryWaitMin
	rc.RetryWaitMax = cfg.RetryWaitMax
	rc.CheckRetry = c.checkRetry
	rc.Backoff = c.backoff
	rc.ErrorHandler = func(resp *http.Response, err error, tries int) (*http.Response, error) {
		if err == nil && resp != nil {
			return resp, nil // retries ran out: the last answer says what went wrong
		}
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("%w (after %d attempts)", err, tries)
	}
	rc.HTTPClient = &http.Client{
		Timeout: cfg.RequestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if req.URL.Scheme != base.Scheme || req.URL.Host != base.Host {
				return fmt.Errorf("refused: a redirect to another host (%s)", catalog.Excerpt(req.URL.Host, 100))
			}
			return nil
		},
	}
	c.http = rc
	switch {
	case cfg.Token != "":
		c.auth = func(context.Context) (string, error) { return "Bearer " + cfg.Token, nil }
	case cfg.AppID != 0:
		app, err := newAppAuth(c, cfg)
		if err != nil {
			return nil, err
		}
		c.auth = app.header
	default:
		c.auth = func(context.Context) (string, error) { return "", nil }
	}
	return c, nil
}

// resolve makes an API URL from a path (with query) relative to the base URL.
func (c *client) resolve(p string) string {
	return c.base.String() + p
}

// rateWait is how long a rate-limited answer asks to wait (0: it is not rate limited).
func rateWait(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			return time.Duration(n)*time.Second + 1
		}
		if t, err := http.ParseTime(s); err == nil {
			return max(t.Sub(now), 1)
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) {
		if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(n, 0).Sub(now)+100*time.Millisecond, 1)
		}
	}
	return 0
}

// fits reports whether waiting d is within the bounds: the configured longest wait and the
// context's deadline.
func (c *client) fits(ctx context.Context, d time.Duration) bool {
	if d > c.cfg.MaxRateLimitWait {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
		return false
	}
	return true
}

func (c *client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if wait := rateWait(resp, time.Now()); wait > 0 && resp.StatusCode != http.StatusOK {
		if !c.fits(ctx, wait) {
			return false, fmt.Errorf("rate limited: GitHub asks to wait %s, longer than allowed (maxRateLimitWait %s, or the read's deadline)", wait.Round(time.Second), c.cfg.MaxRateLimitWait)
		}
		return true, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		return true, nil
	}
	return false, nil
}

func (c *client) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if wait := rateWait(resp, time.Now()); wait > 0 {
		return wait
	}
	return retryablehttp.DefaultBackoff(lo, hi, attempt, resp)
}

// waitForRateLimit waits while the last answers said the rate limit is exhausted.
func (c *client) waitForRateLimit(ctx context.Context) error {
	c.mu.Lock()
	until := c.pausedUntil
	c.mu.Unlock()
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	if !c.fits(ctx, d) {
		return fmt.Errorf("rate limit exhausted until %s, longer than allowed to wait", until.UTC().Format(time.RFC3339))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// get fetches an API URL (conditionally, when its last answer is known) and returns its body
// and the next page's URL.
func (c *client) get(ctx context.Context, u string) ([]byte, string, error) {
	return c.do(ctx, http.MethodGet, u, "", true)
}

func (c *client) do(ctx context.Context, method, u, authOverride string, conditional bool) ([]byte, string, error) {
	if err := c.waitForRateLimit(ctx); err != nil {
		return nil, "", err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, "", err
	}
	shown := c.shown(u)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "catalogd")
	auth := authOverride
	if auth == "" {
		if auth, err = c.auth(ctx); err != nil {
			return nil, "", err
		}
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c.mu.Lock()
	prev := c.cache[u]
	if conditional {
		c.used[u] = true
	}
	c.mu.Unlock()
	if conditional && prev != nil && prev.etag != "" {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %s", method, shown, c.redact(err.Error()))
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			c.mu.Lock()
			c.pausedUntil = time.Unix(n, 0).Add(100 * time.Millisecond)
			c.mu.Unlock()
		}
	}
	if resp.StatusCode == http.StatusNotModified && prev != nil {
		return prev.body, prev.next, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: reading the answer: %v", method, shown, err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, "", fmt.Errorf("%s %s: the answer is larger than %d bytes (maxResponseBytes)", method, shown, c.maxBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var msg struct {
			Message string `json:"message"`
		}
		json.Unmarshal(body, &msg)
		if msg.Message == "" {
			msg.Message = http.StatusText(resp.StatusCode)
		}
		return nil, "", &httpError{status: resp.StatusCode, url: shown, msg: catalog.Excerpt(msg.Message, 200)}
	}
	next, err := c.nextLink(resp.Header.Get("Link"))
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %v", method, shown, err)
	}
	if conditional {
		if etag := resp.Header.Get("ETag"); etag != "" {
			c.mu.Lock()
			c.cache[u] = &cached{etag: etag, body: body, next: next}
			c.mu.Unlock()
		}
	}
	return body, next, nil
}

// getJSON fetches u and decodes it into v; an answer that is not complete JSON is an error.
func (c *client) getJSON(ctx context.Context, u string, v any) (string, error) {
	body, next, err := c.get(ctx, u)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", fmt.Errorf("GET %s: not the JSON expected: %s", c.shown(u), catalog.Excerpt(err.Error(), 200))
	}
	return next, nil
}

// pages fetches every page of a list (following rel="next", at most MaxPages) and calls add
// with each page's items.
func pages[T any](ctx context.Context, c *client, u string, add func([]T) error) error {
	for n := 0; u != ""; n++ {
		if n >= c.cfg.MaxPages {
			return fmt.Errorf("GET %s: more than %d pages (maxPages)", c.shown(u), c.cfg.MaxPages)
		}
		var items []T
		next, err := c.getJSON(ctx, u, &items)
		if err != nil {
			return err
		}
		if err := add(items); err != nil {
			return err
		}
		u = next
	}
	return nil
}

// nextLink returns the rel="next" URL of a Link header; it must be on the API's host.
func (c *client) nextLink(h string) (string, error) {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		isNext := false
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "rel" && strings.Contains(" "+strings.Trim(v, `"`)+" ", " next ") {
				isNext = true
			}
		}
		if !isNext {
			continue
		}
		u, err := c.base.Parse(target[1 : len(target)-1])
		if err != nil {
			return "", fmt.Errorf("a Link header that is not a URL")
		}
		if u.Scheme != c.base.Scheme || u.Host != c.base.Host {
			return "", fmt.Errorf("refused: a next page on another host (%s)", catalog.Excerpt(u.Host, 100))
		}
		return u.String(), nil
	}
	return "", nil
}

func (c *client) shown(u string) string {
	return catalog.Excerpt(strings.TrimPrefix(u, c.base.String()), 200)
}

func (c *client) redact(s string) string {
	if c.cfg.Token != "" {
		s = strings.ReplaceAll(s, c.cfg.Token, "xxxxx")
	}
	return s
}

// startRead begins a read: the ETag cache forgets, at the end of a successful read, every URL
// this read did not ask (so it holds what the location is now, not everything it ever was).
func (c *client) startRead() {
	c.mu.Lock()
	c.used = map[string]bool{}
	c.mu.Unlock()
}

func (c *client) endRead() {
	c.mu.Lock()
	for u := range c.cache {
		if !c.used[u] {
			delete(c.cache, u)
		}
	}
	c.mu.Unlock()
}

// appAuth authenticates as a GitHub App installation: a JWT signed with the app's private key
// buys an installation token, kept until shortly before it expires.
type appAuth struct {
	c       *client
	cfg     *Config
	signer  jose.Signer
	mu      sync.Mutex
	token   string
	expires time.Time
}

func newAppAuth(c *client, cfg *Config) (*appAuth, error) {
	block, _ := pem.Decode([]byte(cfg.PrivateKey))
	if block == nil {
		return nil, errors.New("privateKey: not a PEM private key")
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, errors.New("privateKey: not a signing key")
		}
		key = s
	} else {
		return nil, errors.New("privateKey: not an RSA private key (PKCS#1 or PKCS#8)")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("privateKey: %w", err)
	}
	return &appAuth{c: c, cfg: cfg, signer: signer}, nil
}

func (a *appAuth) jwt() (string, error) {
	now := time.Now()
	claims := jwt.Claims{
		Issuer:   strconv.FormatInt(a.cfg.AppID, 10),
		IssuedAt: jwt.NewNumericDate(now.Add(-60 * time.Second)),
		Expiry:   jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.Signed(a.signer).Claims(claims).Serialize()
}

func (a *appAuth) header(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && time.Until(a.expires) > 5*time.Minute {
		return "Bearer " + a.token, nil
	}
	j, err := a.jwt()
	if err != nil {
		return "", fmt.Errorf("app JWT: %w", err)
	}
	bearer := "Bearer " + j
	id := a.cfg.InstallationID
	if id == 0 {
		var inst struct {
			ID int64 `json:"id"`
		}
		p := "/orgs/" + url.PathEscape(a.cfg.owner) + "/installation"
		if a.cfg.repo != "" {
			p = "/repos/" + url.PathEscape(a.cfg.owner) + "/" + url.PathEscape(a.cfg.repo) + "/installation"
		}
		body, _, err := a.c.do(ctx, http.MethodGet, a.c.resolve(p), bearer, false)
		if err != nil {
			return "", fmt.Errorf("finding the app's installation: %w", err)
		}
		if err := json.Unmarshal(body, &inst); err != nil || inst.ID == 0 {
			return "", errors.New("finding the app's installation: an answer without an id")
		}
		id = inst.ID
	}
	body, _, err := a.c.do(ctx, http.MethodPost, a.c.resolve("/app/installations/"+strconv.FormatInt(id, 10)+"/access_tokens"), bearer, false)
	if err != nil {
		return "", fmt.Errorf("installation token: %w", err)
	}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" {
		return "", errors.New("installation token: an answer without a token")
	}
	a.token, a.expires = tok.Token, tok.ExpiresAt
	return "Bearer " + tok.Token, nil
}
