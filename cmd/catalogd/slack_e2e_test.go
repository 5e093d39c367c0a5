package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"catalogd/internal/auth"
)

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackRequest is a slash command request signed as Slack signs it: v0=HMAC-SHA256 of
// "v0:timestamp:body" with the app's signing secret.
func slackRequest(t *testing.T, base, secret string, at time.Time, text string) *http.Request {
	t.Helper()
	form := url.Values{"command": {"/catalog"}, "text": {text}, "user_id": {"U012ABCDEF"}, "user_name": {"alice"},
		"team_id": {"T0001"}, "channel_id": {"C0001"}, "response_url": {"https://hooks.slack.com/commands/T0001/1/abc"},
		"trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10) + ".738474920.8088930838d88f008e0"}} // unique, as Slack's
	body := form.Encode()
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return req
}

type slackAnswer struct {
	status int
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text struct {
			Type, Text string
		} `json:"text"`
	} `json:"blocks"`
	ResponseType string `json:"response_type"`
}

func sendSlack(t *testing.T, req *http.Request) slackAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := slackAnswer{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
	}
	return a
}

func TestSlackSlashCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog+`---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
`)
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_SLACK_SIGNING_SECRET": slackSecret}, "--location", filepath.Join(dir, "c.yaml"))

	t.Run("who-owns answers in Block Kit with a plain-text fallback", func(t *testing.T) {
		a := sendSlack(t, slackRequest(t, s.base, slackSecret, time.Now(), "who-owns db-proxy"))
		if a.status != http.StatusOK || !strings.Contains(a.Text, "group:default/team-a") || !strings.Contains(a.Text, "PDBPROXY") ||
			len(a.Blocks) == 0 || a.Blocks[0].Type != "section" || a.Blocks[0].Text.Type != "mrkdwn" || a.ResponseType != "ephemeral" {
			t.Errorf("%+v", a)
		}
	})
	t.Run("a name two entities share lists the candidates", func(t *testing.T) {
		a := sendSlack(t, slackRequest(t, s.base, slackSecret, time.Now(), "who-owns payments"))
		if !strings.Contains(a.Text, "component:default/payments") || !strings.Contains(a.Text, "api:default/payments") {
			t.Errorf("%+v", a)
		}
	})
	for _, tc := range []struct{ text, want string }{
		{"impact db-proxy", "2 entities of 2 owners"},
		{"deps checkout", "component:default/db-proxy"},
		{"search money", "component:default/payments"},
		{"help", "who-owns"},
		{"frobnicate", "Unknown command"},
		{"who-owns nothing-like-it", "no entity named"},
	} {
		t.Run(tc.text+" answers", func(t *testing.T) {
			a := sendSlack(t, slackRequest(t, s.base, slackSecret, time.Now(), tc.text))
			if a.status != http.StatusOK || !strings.Contains(a.Text, tc.want) {
				t.Errorf("%+v", a)
			}
		})
	}

	t.Run("forged, missing, replayed and stale signatures are refused with 401", func(t *testing.T) {
		forged := slackRequest(t, s.base, "another-secret", time.Now(), "help")
		missing := slackRequest(t, s.base, slackSecret, time.Now(), "help")
		missing.Header.Del("X-Slack-Signature")
		noTime := slackRequest(t, s.base, slackSecret, time.Now(), "help")
		noTime.Header.Del("X-Slack-Request-Timestamp")
		stale := slackRequest(t, s.base, slackSecret, time.Now().Add(-6*time.Minute), "help")
		future := slackRequest(t, s.base, slackSecret, time.Now().Add(6*time.Minute), "help")
		tampered := slackRequest(t, s.base, slackSecret, time.Now(), "help")
		tampered.Body = io.NopCloser(strings.NewReader(strings.Replace(mustRead(t, tampered), "text=help", "text=hElp", 1))) // same length
		first := slackRequest(t, s.base, slackSecret, time.Now(), "search money")
		replay := first.Clone(first.Context())
		body := mustRead(t, first)
		first.Body, replay.Body = io.NopCloser(strings.NewReader(body)), io.NopCloser(strings.NewReader(body))
		if a := sendSlack(t, first); a.status != http.StatusOK {
			t.Fatalf("the original: %d", a.status)
		}
		for name, req := range map[string]*http.Request{"forged": forged, "missing signature": missing, "missing timestamp": noTime,
			"stale": stale, "from the future": future, "tampered body": tampered, "replayed": replay} {
			if a := sendSlack(t, req); a.status != http.StatusUnauthorized {
				t.Errorf("%s: status %d", name, a.status)
			}
		}
	})
}

func mustRead(t *testing.T, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWithoutASigningSecretThereIsNoSlackRoute(t *testing.T) {
	s := startServer(t)
	if a := sendSlack(t, slackRequest(t, s.base, slackSecret, time.Now(), "help")); a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
		t.Errorf("status %d", a.status)
	}
}

func TestSlackUsersMapToCatalogUsersByAnnotationOrProfileEmail(t *testing.T) {
	// Slack's users.info, as Slack answers it (only the fields used).
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.URL.Path != "/api/users.info" || (r.Header.Get("Authorization") != "Bearer xoxb-test" && r.Form.Get("token") != "xoxb-test") {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		email := map[string]string{"U0ALICE": "alice@example.com"}[r.Form.Get("user")]
		if email == "" {
			w.Write([]byte(`{"ok":false,"error":"user_not_found"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": r.Form.Get("user"), "profile": map[string]any{"email": email}}})
	}))
	defer api.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), mcpCatalog+`---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob, annotations: {slack.com/user-id: U0BOB}}
spec: {memberOf: []}
`)
	key := "ck_5f0e7c1d2b3a49687766554433221100"
	writeFile(t, filepath.Join(dir, "keys"), "ci:editor:"+auth.HashAPIKey(key)+"\n")
	s, _ := startServerEnv(t, map[string]string{"CATALOGD_SLACK_SIGNING_SECRET": slackSecret, "CATALOGD_SLACK_BOT_TOKEN": "xoxb-test",
		"CATALOGD_SLACK_API_URL": api.URL + "/api/", "CATALOGD_API_KEY_FILE": filepath.Join(dir, "keys")},
		"--location", filepath.Join(dir, "c.yaml"), "--read-allow", strings.TrimPrefix(api.URL, "http://"),
		"--role-binding", "editor=group:team-a")
	for _, tc := range []struct{ user, want string }{
		{"U0BOB", "You are *user:default/bob* (slack:U0BOB); roles: reader"},
		{"U0ALICE", "You are *user:default/alice* (slack:alice@example.com); roles: reader, editor"},
		{"U0NOBODY", "You are *not a User of the catalog* (slack:U0NOBODY); roles: reader"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			req := slackRequest(t, s.base, slackSecret, time.Now(), "whoami")
			body := strings.Replace(mustRead(t, req), "user_id=U012ABCDEF", "user_id="+tc.user, 1)
			req = resign(t, req, body)
			if a := sendSlack(t, req); a.status != http.StatusOK || a.Text != tc.want {
				t.Errorf("%d %q, want %q", a.status, a.Text, tc.want)
			}
		})
	}
}

// resign gives req a new body, signed.
func resign(t *testing.T, req *http.Request, body string) *http.Request {
	ts := req.Header.Get("X-Slack-Request-Timestamp")
	m := hmac.New(sha256.New, []byte(slackSecret))
	m.Write([]byte("v0:" + ts + ":" + body))
	out, _ := http.NewRequest(http.MethodPost, req.URL.String(), strings.NewReader(body))
	out.Header = req.Header.Clone()
	out.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return out
}
