package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"catalogd/internal/testdb"
)

// attrURL finds the URLs a page loads or links to.
var attrURL = regexp.MustCompile(`(?i)\b(?:src|href|action|formaction|poster|data)\s*=\s*["']?([^"'\s>]*)`)

// The contract of the issue: GET /graphql from a browser is a page that names no other host,
// and every file it names is served here with its content type, cached for good.
func TestGraphiQLPageLoadsNothingFromAnotherHost(t *testing.T) {
	s := startServer(t, "--database", testdb.SQLite(t))
	page, header := s.get(t, "/graphql", "text/html", http.StatusOK)
	if ct := header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("page Content-Type = %q", ct)
	}
	csp := header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("Content-Security-Policy %q allows more than this origin", csp)
	}
	if header.Get("Cache-Control") != "no-cache" || !strings.Contains(header.Get("Vary"), "Accept") {
		t.Errorf("page Cache-Control %q, Vary %q", header.Get("Cache-Control"), header.Get("Vary"))
	}
	for _, bad := range []string{"http:", "https:", "//", "<script>", "<style", "style="} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q:\n%s", bad, page)
		}
	}

	manifest := readManifest(t)
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	pageURL, _ := url.Parse(s.base + "/graphql")
	var seen []string
	for _, m := range attrURL.FindAllStringSubmatch(page, -1) {
		ref, err := url.Parse(m[1])
		if err != nil || ref.Scheme != "" || ref.Host != "" {
			t.Errorf("page names %q: not a same-origin relative URL", m[1])
			continue
		}
		u := pageURL.ResolveReference(ref)
		name := path.Base(u.Path)
		seen = append(seen, name)
		body, h := s.get(t, u.RequestURI(), "*/*", http.StatusOK)
		if got := h.Get("Content-Type"); got != wantType[path.Ext(name)] {
			t.Errorf("%s: Content-Type %q", u.Path, got)
		}
		if h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Cache-Control %q, X-Content-Type-Options %q", u.Path, h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
		sum := sha256.Sum256([]byte(body))
		if !strings.HasPrefix(u.Path, "/graphiql/"+hex.EncodeToString(sum[:])[:12]+"/") {
			t.Errorf("%s is not named by its content's hash", u.Path)
		}
		if want, vendored := manifest[name]; vendored && want != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 differs from MANIFEST", u.Path)
		}
		// A stale name is not found rather than answered with today's file.
		s.get(t, "/graphiql/000000000000/"+name, "*/*", http.StatusNotFound)
	}
	for _, want := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js", "start.js"} {
		if !strings.Contains(strings.Join(seen, " "), want) {
			t.Errorf("page does not load %s; it loads %v", want, seen)
		}
	}
}

// readManifest returns the sha256 of each vendored file by name.
func readManifest(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "internal", "server", "graphiql", "vendor", "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 4 && !strings.HasPrefix(fields[0], "#") {
			out[fields[0]] = fields[3]
		}
	}
	if len(out) == 0 {
		t.Fatal("MANIFEST lists no files")
	}
	return out
}

func (s *testServer) get(t *testing.T, path, accept string, wantStatus int) (string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, wantStatus)
	}
	return string(body), resp.Header
}

// headlessShell finds Debian's chromium-headless-shell. In CI a missing browser fails the
// test; elsewhere it skips, saying how to install it.
func headlessShell(t *testing.T) string {
	t.Helper()
	// The binary itself first: /usr/bin/chromium-headless-shell is a shell script that runs
	// it, and chromedp should start, watch and stop the browser, not a shell around it.
	for _, p := range []string{os.Getenv("CATALOGD_TEST_CHROMIUM"), "/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell"} {
		if p == "" {
			continue
		}
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	msg := "chromium-headless-shell not found: apt-get install chromium-headless-shell (or set CATALOGD_TEST_CHROMIUM to a Chromium binary)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

const graphiqlQuery = `{ entity(ref: "component:checkout-service") { ref } }`

// A real browser, with every other host unreachable, opens GraphiQL from the real server,
// runs a query and sees its answer, without errors, CSP violations or requests elsewhere.
func TestGraphiQLRunsAQueryInABrowserWithoutInternet(t *testing.T) {
	exe := headlessShell(t)
	s := startServer(t, "--database", testdb.SQLite(t), "--demo")
	base, _ := url.Parse(s.base)

	// Everything the browser does is bounded: a hang fails the test instead of stalling CI.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE "+base.Hostname()),
		chromedp.WindowSize(1280, 800),
	)
	defer cancelAlloc() // before t.TempDir's cleanup: it waits for the browser to exit
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	// The first call starts the browser; it must not get the shorter timeout below, which
	// would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}

	var (
		mu        sync.Mutex
		problems  []string // console errors, exceptions, CSP violations
		elsewhere []string // requests to any host but the server's
		accepts   []string // Accept headers of GraphiQL's requests to /graphql
		wg        sync.WaitGroup
	)
	note := func(list *[]string, s string) {
		mu.Lock()
		defer mu.Unlock()
		*list = append(*list, s)
	}
	local := func(raw string) bool {
		u, err := url.Parse(raw)
		return err == nil && (u.Scheme == "data" || u.Scheme == "blob" || u.Scheme == "about" || u.Hostname() == base.Hostname())
	}
	// Subscriptions start when these return, so they see everything the page does from here.
	listenCtx, stopListening := context.WithCancel(ctx)
	paused := chromedp.Events(listenCtx, fetch.RequestPaused)
	sockets := chromedp.Events(listenCtx, network.WebSocketCreated)
	console := chromedp.Console(listenCtx)
	wg.Add(3)
	go func() {
		defer wg.Done()
		// Every request stops here: the server's go on, any other fails and is recorded.
		for ev, err := range paused {
			if err != nil {
				return
			}
			if local(ev.Request.URL) {
				if ev.Request.Method == http.MethodPost && strings.HasSuffix(ev.Request.URL, "/graphql") {
					for k, v := range ev.Request.Headers {
						if strings.EqualFold(k, "Accept") {
							note(&accepts, fmt.Sprint(v))
						}
					}
				}
				chromedp.Call(listenCtx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			note(&elsewhere, ev.Request.URL)
			chromedp.Call(listenCtx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range sockets {
			if err != nil {
				return
			}
			if !local(ev.URL) {
				note(&elsewhere, ev.URL)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Source == "security" {
				note(&problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			}
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatal(err)
	}

	runCtx, cancelRun := context.WithTimeout(ctx, 60*time.Second)
	defer cancelRun()
	err := chromedp.Do(runCtx,
		chromedp.Navigate(s.base+"/graphql"),
		// The editor replaces the "Loading…" placeholder once React and GraphiQL run.
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-query-editor .CodeMirror`)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(
				`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(%q), true`, graphiqlQuery))(ctx, t)
			return err
		}),
		chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)),
	)
	var result string
	if err == nil {
		result, err = chromedp.Run(runCtx, chromedp.Poll[string](
			`(t => t.includes('component:default/checkout-service') && t)((document.querySelector('.result-window') || {}).innerText || '')`))
	}
	if err != nil {
		t.Errorf("GraphiQL did not show the query's answer: %v", err)
	} else if !strings.Contains(result, `"ref": "component:default/checkout-service"`) {
		t.Errorf("result pane: %q", result)
	}

	mu.Lock()
	bad := len(elsewhere) > 0 || len(problems) > 0
	mu.Unlock()
	if t.Failed() || bad {
		screenshot(t, ctx)
	}
	stopListening()
	wg.Wait()
	if len(elsewhere) > 0 {
		t.Errorf("the page tried to reach other hosts: %q", elsewhere)
	}
	if len(accepts) == 0 || slices.ContainsFunc(accepts, func(a string) bool { return a != "application/json" }) {
		t.Errorf("Accept headers of GraphiQL's requests: %q, want application/json", accepts)
	}
	if len(problems) > 0 {
		t.Errorf("console errors or CSP violations:\n%s", strings.Join(problems, "\n"))
	}
}

// screenshot saves what the browser shows to a temporary file, to see why a test failed.
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	f, err := os.CreateTemp("", "catalogd-graphiql-*.png")
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	f.Write(png)
	f.Close()
	t.Logf("screenshot: %s", f.Name())
}
