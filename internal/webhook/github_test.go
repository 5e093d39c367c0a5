package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/internal/webhook"
)

const secret = "It's a Secret to Everybody"

// pushBody is a push event as GitHub sends it (trimmed to the fields around those used).
func pushBody(repo, ref string) string {
	return fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",
"repository":{"id":186853002,"name":%q,"full_name":%q,"private":false,
"html_url":"https://github.com/%[3]s","clone_url":"https://github.com/%[3]s.git",
"ssh_url":"git@github.com:%[3]s.git","git_url":"git://github.com/%[3]s.git","default_branch":"main"},
"pusher":{"name":"octocat","email":"octocat@github.com"},"commits":[],"head_commit":null}`,
		ref, repo[strings.Index(repo, "/")+1:], repo)
}

func sign(key, body string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type call struct {
	repo   string
	urls   []string
	branch string
}

type server struct {
	t     *testing.T
	url   string
	h     *webhook.GitHub
	mu    sync.Mutex
	calls []call
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t}
	h, err := webhook.NewGitHub(webhook.GitHubConfig{Secret: secret}, func(_ context.Context, repo string, urls []string, branch string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls = append(s.calls, call{repo, urls, branch})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/webhooks/github"
	return s
}

func (s *server) post(event, delivery, signature, contentType, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-GitHub-Event", event)
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s.h.Wait()
	return resp.StatusCode, string(b)
}

func (s *server) got() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func TestPushWithAValidSignatureRefreshesTheBranch(t *testing.T) {
	s := newServer(t)
	body := pushBody("octo-org/payments", "refs/heads/main")
	code, msg := s.post("push", "d-1", sign(secret, body), "application/json", body)
	if code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, msg)
	}
	calls := s.got()
	if len(calls) != 1 || calls[0].repo != "octo-org/payments" || calls[0].branch != "main" {
		t.Fatalf("calls %+v", calls)
	}
	want := []string{"https://github.com/octo-org/payments.git", "git@github.com:octo-org/payments.git",
		"git://github.com/octo-org/payments.git", "https://github.com/octo-org/payments"}
	if !slices.Equal(calls[0].urls, want) {
		t.Errorf("clone URLs %v, want %v", calls[0].urls, want)
	}

	// GitHub's form content type carries the same payload in a field.
	form := "payload=" + url.QueryEscape(pushBody("octo-org/web", "refs/heads/release/2.x"))
	if code, msg := s.post("push", "d-2", sign(secret, form), "application/x-www-form-urlencoded", form); code != http.StatusAccepted {
		t.Fatalf("form delivery: %d %s", code, msg)
	}
	if calls := s.got(); len(calls) != 2 || calls[1].repo != "octo-org/web" || calls[1].branch != "release/2.x" {
		t.Fatalf("calls %+v", calls)
	}
}

func TestRefusedDeliveriesDoNothing(t *testing.T) {
	body := pushBody("octo-org/payments", "refs/heads/main")
	for _, tc := range []struct {
		name      string
		signature string
		body      string
		want      int
	}{
		{"no signature", "", body, http.StatusUnauthorized},
		{"a signature made with another secret", sign("guess", body), body, http.StatusUnauthorized},
		{"a SHA-1 signature", "sha1=" + strings.Repeat("0", 40), body, http.StatusUnauthorized},
		{"a signature of another body", sign(secret, body), pushBody("octo-org/other", "refs/heads/main"), http.StatusUnauthorized},
		{"a malformed signature", "sha256=zz", body, http.StatusUnauthorized},
		{"an oversized body, even signed", "", "", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.want == http.StatusRequestEntityTooLarge {
				tc.body = pushBody("octo-org/payments", "refs/heads/main") + strings.Repeat(" ", 1<<20)
				tc.signature = sign(secret, tc.body)
			}
			code, _ := s.post("push", "d-1", tc.signature, "application/json", tc.body)
			if code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
			if calls := s.got(); len(calls) != 0 {
				t.Errorf("refresh called: %+v", calls)
			}
		})
	}
}

func TestReplayedDeliveriesAreAcknowledgedWithoutActing(t *testing.T) {
	s := newServer(t)
	body := pushBody("octo-org/payments", "refs/heads/main")
	if code, _ := s.post("push", "d-1", sign(secret, body), "application/json", body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d", code)
	}
	// The same delivery again: acknowledged, not acted on.
	if code, _ := s.post("push", "d-1", sign(secret, body), "application/json", body); code != http.StatusOK {
		t.Errorf("replay: %d", code)
	}
	// The same id with another body: unsigned it is refused, signed it is a replay.
	other := pushBody("octo-org/other", "refs/heads/main")
	if code, _ := s.post("push", "d-1", sign("guess", other), "application/json", other); code != http.StatusUnauthorized {
		t.Errorf("replay with another, unsigned body: %d", code)
	}
	if code, _ := s.post("push", "d-1", sign(secret, other), "application/json", other); code != http.StatusOK {
		t.Errorf("replay with another, signed body: %d", code)
	}
	// The same signed body under a new id (the id is not signed).
	if code, _ := s.post("push", "d-2", sign(secret, body), "application/json", body); code != http.StatusOK {
		t.Errorf("signed body under a new id: %d", code)
	}
	if calls := s.got(); len(calls) != 1 {
		t.Errorf("refresh called %d times, want once: %+v", len(calls), calls)
	}
}

func TestPingAndOtherEvents(t *testing.T) {
	s := newServer(t)
	ping := `{"zen":"Design for failure.","hook_id":1}`
	if code, _ := s.post("ping", "p-1", sign(secret, ping), "application/json", ping); code != http.StatusOK {
		t.Errorf("ping: %d", code)
	}
	if code, _ := s.post("ping", "p-2", "", "application/json", ping); code != http.StatusUnauthorized {
		t.Errorf("unsigned ping: %d", code)
	}
	issue := `{"action":"opened"}`
	if code, _ := s.post("issues", "i-1", sign(secret, issue), "application/json", issue); code != http.StatusAccepted {
		t.Errorf("issues event: %d", code)
	}
	tag := pushBody("octo-org/payments", "refs/tags/v1.0.0")
	if code, _ := s.post("push", "t-1", sign(secret, tag), "application/json", tag); code != http.StatusAccepted {
		t.Errorf("tag push: %d", code)
	}
	bad := `{"ref":"refs/heads/main","repository":`
	if code, _ := s.post("push", "b-1", sign(secret, bad), "application/json", bad); code != http.StatusBadRequest {
		t.Errorf("truncated payload: %d", code)
	}
	if calls := s.got(); len(calls) != 0 {
		t.Errorf("refresh called: %+v", calls)
	}
	resp, err := http.Get(s.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// The handler answers before the refresh finishes, and pushes arriving while one runs are
// coalesced into one more refresh.
func TestRefreshRunsInTheBackgroundAndCoalesces(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	h, err := webhook.NewGitHub(webhook.GitHubConfig{Secret: secret}, func(context.Context, string, []string, string) {
		mu.Lock()
		n++
		mu.Unlock()
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := range 5 {
		body := strings.Replace(pushBody("octo-org/payments", "refs/heads/main"), `"commits":[]`, fmt.Sprintf(`"commits":[],"n":%d`, i), 1)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte(body)))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprint("d-", i))
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		cancel()
		if err != nil {
			t.Fatalf("delivery %d: %v (the handler waited for the refresh?)", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("delivery %d: %d", i, resp.StatusCode)
		}
	}
	close(release)
	h.Wait()
	if n != 2 {
		t.Errorf("refresh ran %d times, want 2 (one, then one for the pushes meanwhile)", n)
	}
}

func TestNewGitHubNeedsASecret(t *testing.T) {
	if _, err := webhook.NewGitHub(webhook.GitHubConfig{}, func(context.Context, string, []string, string) {}); err == nil {
		t.Fatal("no secret accepted")
	}
}
