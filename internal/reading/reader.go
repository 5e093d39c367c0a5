package reading

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Options configure a Reader. Zero values take the defaults.
type Options struct {
	Allow        []Allow
	MaxBytes     int64         // largest body one fetch returns; default 4 MiB
	Timeout      time.Duration // total time of one fetch, retries and body included; default 10s
	MaxRedirects int           // default 3
	Retries      int           // retries on network errors and 5xx answers; default 2, -1 for none
	// Session limits: distinct URLs and bytes fetched during one read of a location.
	MaxFetchesPerSession int   // default 500
	MaxBytesPerSession   int64 // default 64 MiB
}

// Reader fetches URLs the allow-list admits. A nil *Reader, or one with an empty allow-list,
// fetches nothing.
type Reader struct {
	opts   Options
	client *retryablehttp.Client
}

// New returns a Reader.
func New(opts Options) *Reader {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 4 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = 3
	}
	if opts.Retries == 0 {
		opts.Retries = 2
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.MaxFetchesPerSession <= 0 {
		opts.MaxFetchesPerSession = 500
	}
	if opts.MaxBytesPerSession <= 0 {
		opts.MaxBytesPerSession = 64 << 20
	}
	r := &Reader{opts: opts}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the address checks
		DialContext:           r.dialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
	}
	hc := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > r.opts.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrNotAllowed, r.opts.MaxRedirects)
			}
			if err := r.Check(req.URL); err != nil {
				return fmt.Errorf("redirect to %s: %w", excerpt(req.URL.Redacted(), 200), err)
			}
			return nil
		},
	}
	r.client = &retryablehttp.Client{
		HTTPClient:   hc,
		RetryMax:     opts.Retries,
		RetryWaitMin: 100 * time.Millisecond,
		RetryWaitMax: time.Second,
		CheckRetry:   checkRetry,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return r
}

// Enabled reports whether r may fetch anything at all.
func (r *Reader) Enabled() bool { return r != nil && len(r.opts.Allow) > 0 }

// Check returns an error wrapping ErrNotAllowed unless u is an http(s) URL an allow entry admits.
func (r *Reader) Check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: only http and https URLs are read", ErrNotAllowed)
	}
	if u.User != nil {
		return fmt.Errorf("%w: a URL with user information", ErrNotAllowed)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: a URL without a host", ErrNotAllowed)
	}
	if !r.Enabled() {
		return fmt.Errorf("%w: reading URLs is off (no --read-allow entries)", ErrNotAllowed)
	}
	for _, a := range r.opts.Allow {
		if a.matches(u) {
			return nil
		}
	}
	return fmt.Errorf("%w: no --read-allow entry admits %s", ErrNotAllowed, excerpt(u.Host+u.EscapedPath(), 200))
}

// CheckResolved is Check, then the dialer's address rule applied now, for a URL another
// program fetches (git runs its own connections, past this package's dialer): every address
// the host resolves to must be public, unless the URL and an allow entry name it literally.
// DNS may answer differently when the other program connects; this narrows, not closes, that gap.
func (r *Reader) CheckResolved(ctx context.Context, u *url.URL) error {
	if err := r.Check(u); err != nil {
		return err
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); IsSpecial(ip) && !r.literallyAllowed(ip) {
			return fmt.Errorf("%w: %s is a private or special-purpose address (only an allow entry naming it literally reaches it)", ErrNotAllowed, ip)
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%w: cannot resolve %s", ErrNotAllowed, excerpt(host, 100))
	}
	for _, a := range addrs {
		if IsSpecial(a.Unmap()) {
			return fmt.Errorf("%w: %s resolves to %s, a private or special-purpose address", ErrNotAllowed, excerpt(host, 100), a.Unmap())
		}
	}
	return nil
}

// literallyAllowed reports whether an allow entry names ip itself.
func (r *Reader) literallyAllowed(ip netip.Addr) bool {
	for _, a := range r.opts.Allow {
		if a.Addr.IsValid() && a.Addr == ip {
			return true
		}
	}
	return false
}

// dialContext connects only to addresses that are not special-purpose (checked on the address
// actually dialled, after DNS resolution), or to one an allow entry names literally when the
// URL names it literally too.
func (r *Reader) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var literal netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil && r.literallyAllowed(ip.Unmap()) {
		literal = ip.Unmap()
	}
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot check address %s", ErrNotAllowed, address)
			}
			ip := ap.Addr().Unmap()
			if literal.IsValid() && ip == literal {
				return nil
			}
			if IsSpecial(ip) {
				return fmt.Errorf("%w: %s is a private or special-purpose address (only an allow entry naming it literally reaches it)", ErrNotAllowed, ip)
			}
			return nil
		},
	}
	return d.DialContext(ctx, network, addr)
}

// checkRetry retries network errors and 5xx answers, never a refusal.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return !errors.Is(err, ErrNotAllowed), nil
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented, nil
}

// Fetch GETs raw and returns its body, if the allow-list admits it and it answers 200 within
// the size and time bounds.
func (r *Reader) Fetch(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if err := r.Check(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "catalogd")
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("no answer within %s", r.opts.Timeout)
		}
		return nil, &boundedError{msg: "GET: " + excerpt(err.Error(), 300), err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", excerpt(resp.Status, 100))
	}
	limit := r.opts.MaxBytes
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("answer is %d bytes, larger than the limit of %d bytes", resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("answer not complete within %s", r.opts.Timeout)
		}
		return nil, fmt.Errorf("reading the answer: %s", excerpt(err.Error(), 200))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("answer is larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// Session is one read of a location: each distinct URL is fetched once (concurrent callers
// wait for the first), and the number of URLs and bytes fetched are bounded.
type Session struct {
	r       *Reader
	mu      sync.Mutex
	entries map[string]*entry
	bytes   int64
}

type entry struct {
	done chan struct{}
	data []byte
	err  error
}

// NewSession starts a read. A nil Reader gives a session that refuses every URL.
func (r *Reader) NewSession() *Session {
	return &Session{r: r, entries: map[string]*entry{}}
}

// Fetch returns raw's body, fetching it on the session's first request for it. The returned
// slice is shared: callers must not modify it.
func (s *Session) Fetch(ctx context.Context, raw string) ([]byte, error) {
	if s.r == nil {
		return (*Reader)(nil).refuse(raw)
	}
	s.mu.Lock()
	if e, ok := s.entries[raw]; ok {
		s.mu.Unlock()
		select {
		case <-e.done:
			return e.data, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if len(s.entries) >= s.r.opts.MaxFetchesPerSession {
		s.mu.Unlock()
		return nil, fmt.Errorf("this read of the location already fetched %d URLs, its limit", s.r.opts.MaxFetchesPerSession)
	}
	e := &entry{done: make(chan struct{})}
	s.entries[raw] = e
	s.mu.Unlock()

	e.data, e.err = s.r.Fetch(ctx, raw)
	s.mu.Lock()
	s.bytes += int64(len(e.data))
	if s.bytes > s.r.opts.MaxBytesPerSession {
		e.data, e.err = nil, fmt.Errorf("this read of the location fetched more than %d bytes, its limit", s.r.opts.MaxBytesPerSession)
	}
	s.mu.Unlock()
	close(e.done)
	return e.data, e.err
}

// Check returns the refusal of raw by the session's allow-list, if any (without fetching it;
// the dialer may still refuse its address).
func (s *Session) Check(raw string) error {
	_, err := s.r.refuse(raw)
	return err
}

func (r *Reader) refuse(raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if err := r.Check(u); err != nil {
		return nil, err
	}
	return nil, nil
}

// IsURL reports whether s names an http(s) URL (which Reader reads) rather than a path.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// boundedError carries a shortened message and the error it stands for.
type boundedError struct {
	msg string
	err error
}

func (e *boundedError) Error() string { return e.msg }
func (e *boundedError) Unwrap() error { return e.err }
