package reading

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestParseAllowAcceptsHostPortAndPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Allow
	}{
		{"docs.example.com", Allow{Host: "docs.example.com"}},
		{"Docs.Example.COM.", Allow{Host: "docs.example.com"}},
		{"*.example.com", Allow{Host: "*.example.com"}},
		{"git.example.com:8443", Allow{Host: "git.example.com", Port: "8443"}},
		{"git.example.com/org", Allow{Host: "git.example.com", PathPrefix: "/org"}},
		{"git.example.com:8443/org/", Allow{Host: "git.example.com", Port: "8443", PathPrefix: "/org/"}},
		{"git.example.com/", Allow{Host: "git.example.com"}},
		{"127.0.0.1:9000", Allow{Host: "127.0.0.1", Port: "9000", Addr: netip.MustParseAddr("127.0.0.1")}},
		{"[::1]:9000", Allow{Host: "::1", Port: "9000", Addr: netip.MustParseAddr("::1")}},
		{"[::1]", Allow{Host: "::1", Addr: netip.MustParseAddr("::1")}},
		{"10.1.2.3", Allow{Host: "10.1.2.3", Addr: netip.MustParseAddr("10.1.2.3")}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAllow(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("ParseAllow(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseAllowRejectsWhatItCannotMatchSafely(t *testing.T) {
	for _, in := range []string{
		"", "https://example.com", "user@example.com", "example.com?x=1", "example.com#f",
		"example.com:0", "example.com:65536", "example.com:http", "example.com:08080",
		"::1", "[::1", "exa mple.com", "-bad.example.com", "*", "a.*.com", "example.com/a/../b",
		"example.com//a", "example.com/a%2fb", "[fe80::1%eth0]:80", strings.Repeat("a", 300) + ".com",
	} {
		t.Run(in, func(t *testing.T) {
			if a, err := ParseAllow(in); err == nil {
				t.Errorf("ParseAllow(%q) = %+v, want an error", in, a)
			} else if len(err.Error()) > 250 {
				t.Errorf("error quotes too much: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestAllowMatchesHostPortAndPathSegments(t *testing.T) {
	for _, tc := range []struct {
		entry, url string
		want       bool
	}{
		{"docs.example.com", "https://docs.example.com/a/b", true},
		{"docs.example.com", "http://DOCS.example.com./a", true},
		{"docs.example.com", "https://docs.example.com:8443/a", false},
		{"docs.example.com", "https://evil.docs.example.com/a", false},
		{"docs.example.com", "https://docs.example.com.evil.net/a", false},
		{"*.example.com", "https://a.b.example.com/", true},
		{"*.example.com", "https://example.com/", false},
		{"*.example.com", "https://badexample.com/", false},
		{"git.example.com:8443", "https://git.example.com:8443/x", true},
		{"git.example.com:8443", "https://git.example.com/x", false},
		{"git.example.com:443", "https://git.example.com/x", true},
		{"git.example.com/org", "https://git.example.com/org", true},
		{"git.example.com/org", "https://git.example.com/org/repo", true},
		{"git.example.com/org", "https://git.example.com/organisation", false},
		{"git.example.com/org", "https://git.example.com/org/../admin", false},
		{"git.example.com/org", "https://git.example.com/org/%2e%2e/admin", false},
		{"git.example.com/org", "https://git.example.com/org%2Fx", false},
		{"git.example.com/org/", "https://git.example.com/org/x", true},
		{"git.example.com/org/", "https://git.example.com/org", false},
		{"127.0.0.1:9000", "http://127.0.0.1:9000/x", true},
		{"127.0.0.1:9000", "http://127.0.0.1:9001/x", false},
		{"127.0.0.1:9000", "http://localhost:9000/x", false},
		{"127.0.0.1:9000", "http://[::ffff:127.0.0.1]:9000/x", true},
		{"localhost:9000", "http://127.0.0.1:9000/x", false},
		{"[::1]:9000", "http://[::1]:9000/", true},
	} {
		t.Run(tc.entry+" "+tc.url, func(t *testing.T) {
			a, err := ParseAllow(tc.entry)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.matches(u); got != tc.want {
				t.Errorf("%s matches %s = %v, want %v", tc.entry, tc.url, got, tc.want)
			}
		})
	}
}

func TestIsSpecialClassifiesAddressesAfterResolution(t *testing.T) {
	for _, tc := range []struct {
		ip      string
		special bool
	}{
		{"127.0.0.1", true}, {"127.255.0.9", true}, {"10.0.0.1", true}, {"172.16.5.4", true},
		{"172.32.0.1", false}, {"192.168.1.1", true}, {"169.254.169.254", true}, {"100.64.0.1", true},
		{"100.128.0.1", false}, {"0.0.0.0", true}, {"0.1.2.3", true}, {"224.0.0.1", true},
		{"239.255.255.250", true}, {"255.255.255.255", true}, {"240.0.0.1", true}, {"192.0.2.1", true},
		{"198.18.0.1", true}, {"192.0.0.8", true}, {"8.8.8.8", false}, {"1.1.1.1", false},
		{"93.184.216.34", false},
		{"::", true}, {"::1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"::ffff:169.254.169.254", true}, {"::ffff:8.8.8.8", false}, {"::127.0.0.1", true},
		{"64:ff9b::a00:1", true}, {"2002:a00:1::", true}, {"2001::1", true}, {"2001:db8::1", true},
		{"fc00::1", true}, {"fd12:3456::1", true}, {"fe80::1", true}, {"fe80::1%eth0", true},
		{"ff02::1", true}, {"2606:4700:4700::1111", false}, {"2a00:1450:4001::200e", false},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := IsSpecial(netip.MustParseAddr(tc.ip)); got != tc.special {
				t.Errorf("IsSpecial(%s) = %v, want %v", tc.ip, got, tc.special)
			}
		})
	}
}

// server is a loopback HTTP server that counts its requests per path.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[r.URL.Path]++
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

func (s *server) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *server) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

func reader(t *testing.T, opts Options, entries ...string) *Reader {
	t.Helper()
	allow, err := ParseAllowList(entries)
	if err != nil {
		t.Fatal(err)
	}
	opts.Allow = allow
	return New(opts)
}

func TestReaderFetchesOnlyWhatTheAllowListAdmits(t *testing.T) {
	ok := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("content")) })
	other := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
	ctx := context.Background()

	t.Run("no allow entries: nothing is fetched", func(t *testing.T) {
		for _, r := range []*Reader{nil, New(Options{})} {
			if _, err := r.NewSession().Fetch(ctx, ok.URL+"/a"); !errors.Is(err, ErrNotAllowed) {
				t.Errorf("err = %v, want ErrNotAllowed", err)
			}
		}
		if ok.total() != 0 {
			t.Error("the server was called")
		}
	})
	t.Run("a literal loopback entry reaches its server only", func(t *testing.T) {
		r := reader(t, Options{}, ok.hostPort())
		data, err := r.Fetch(ctx, ok.URL+"/a")
		if err != nil || string(data) != "content" {
			t.Fatalf("fetch = %q, %v", data, err)
		}
		if _, err := r.Fetch(ctx, other.URL+"/a"); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("other server: err = %v", err)
		}
		if other.total() != 0 {
			t.Error("the server without an allow entry was called")
		}
	})
	t.Run("a name resolving to loopback is refused after resolution", func(t *testing.T) {
		port := other.URL[strings.LastIndex(other.URL, ":")+1:]
		r := reader(t, Options{}, "localhost:"+port)
		_, err := r.Fetch(ctx, "http://localhost:"+port+"/a")
		if !errors.Is(err, ErrNotAllowed) && (err == nil || !strings.Contains(err.Error(), "special-purpose")) {
			t.Errorf("err = %v, want a refusal", err)
		}
		if other.total() != 0 {
			t.Error("the loopback server behind an allowed name was called")
		}
	})
}

func TestReaderFollowsRedirectsOnlyToAllowedHostsAndFewTimes(t *testing.T) {
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
	var self *server
	self = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/out":
			http.Redirect(w, r, target.URL+"/meta-data", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, self.URL+"/loop", http.StatusFound)
		case "/in":
			http.Redirect(w, r, self.URL+"/final", http.StatusFound)
		default:
			w.Write([]byte("final"))
		}
	})
	r := reader(t, Options{}, self.hostPort())
	ctx := context.Background()
	if data, err := r.Fetch(ctx, self.URL+"/in"); err != nil || string(data) != "final" {
		t.Errorf("redirect inside the allowed host: %q, %v", data, err)
	}
	if _, err := r.Fetch(ctx, self.URL+"/out"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("redirect out: err = %v", err)
	}
	if target.total() != 0 {
		t.Error("the redirect target without an allow entry was called")
	}
	if _, err := r.Fetch(ctx, self.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: err = %v", err)
	}
	if n := self.count("/loop"); n != 4 {
		t.Errorf("redirect loop: %d requests, want 4 (the first and 3 redirects)", n)
	}
}

func TestReaderBoundsSizeAndRetriesOnlyServerErrors(t *testing.T) {
	var fails atomic.Int32
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case "/flaky":
			if fails.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ok"))
		case "/down":
			http.Error(w, "down", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	})
	r := reader(t, Options{MaxBytes: 1000}, s.hostPort())
	ctx := context.Background()
	if _, err := r.Fetch(ctx, s.URL+"/big"); err == nil || !strings.Contains(err.Error(), "larger than the limit of 1000 bytes") {
		t.Errorf("big: err = %v", err)
	}
	if data, err := r.Fetch(ctx, s.URL+"/flaky"); err != nil || string(data) != "ok" || s.count("/flaky") != 3 {
		t.Errorf("flaky: %q, %v after %d requests", data, err, s.count("/flaky"))
	}
	if _, err := r.Fetch(ctx, s.URL+"/down"); err == nil || !strings.Contains(err.Error(), "502") || s.count("/down") != 3 {
		t.Errorf("down: err = %v after %d requests, want 502 after 3", err, s.count("/down"))
	}
	if _, err := r.Fetch(ctx, s.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "404") || s.count("/missing") != 1 {
		t.Errorf("missing: err = %v after %d requests, want 404 after 1", err, s.count("/missing"))
	}
}

func TestASessionFetchesEachURLOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("body")) })
	r := reader(t, Options{MaxFetchesPerSession: 3}, s.hostPort())
	sess := r.NewSession()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if data, err := sess.Fetch(context.Background(), s.URL+"/same"); err != nil || string(data) != "body" {
				t.Errorf("fetch = %q, %v", data, err)
			}
		})
	}
	wg.Wait()
	if n := s.count("/same"); n != 1 {
		t.Errorf("%d requests for one URL in one session, want 1", n)
	}
	sess.Fetch(context.Background(), s.URL+"/b")
	sess.Fetch(context.Background(), s.URL+"/c")
	if _, err := sess.Fetch(context.Background(), s.URL+"/d"); err == nil || !strings.Contains(err.Error(), "already fetched 3 URLs") {
		t.Errorf("fourth URL: err = %v", err)
	}
	if s.count("/d") != 0 {
		t.Error("the URL over the session's limit was fetched")
	}
	if r.NewSession().Fetch(context.Background(), s.URL+"/same"); s.count("/same") != 2 {
		t.Error("a new session must fetch again")
	}
}
