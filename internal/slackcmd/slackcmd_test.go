package slackcmd_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/reading"
	"catalogd/internal/slackcmd"
	"catalogd/internal/testdb"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func graphQL(t *testing.T) http.Handler {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments}
spec: {type: service, lifecycle: production, owner: team-a}
`), 0o644)
	st := testdb.Open(t, testdb.SQLite(t))
	p, err := file.New(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testdb.Engine(t, st).Refresh(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return graph.NewHandler(graph.NewResolver(st.Client, st, nil), graph.Options{})
}

func signed(t *testing.T, responseURL, text string) *http.Request {
	form := url.Values{"command": {"/catalog"}, "text": {text}, "user_id": {"U1"}, "response_url": {responseURL},
		"trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10)}}
	body := form.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return req
}

func TestALateAnswerGoesToResponseURLOnlyThroughTheAllowList(t *testing.T) {
	gh := graphQL(t)
	got := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer hook.Close()
	for _, tc := range []struct {
		name  string
		allow []string
		ok    bool
	}{
		{"an allowed response_url receives the answer", []string{strings.TrimPrefix(hook.URL, "http://")}, true},
		{"a response_url the allow-list does not name receives nothing", []string{"hooks.slack.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow, err := reading.ParseAllowList(tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			h := slackcmd.New(slackcmd.Options{SigningSecret: secret, GraphQL: gh, Responder: reading.New(reading.Options{Allow: allow}),
				Deadline: time.Nanosecond}) // every answer is late
			w := httptest.NewRecorder()
			h.ServeHTTP(w, signed(t, hook.URL+"/commands/T1/1/x", "who-owns payments"))
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Working on it") {
				t.Fatalf("first answer: %d %s", w.Code, w.Body)
			}
			h.Wait()
			select {
			case b := <-got:
				var m struct{ Text string }
				json.Unmarshal([]byte(b), &m)
				if !tc.ok || !strings.Contains(m.Text, "group:default/team-a") {
					t.Errorf("response_url got %s", b)
				}
			default:
				if tc.ok {
					t.Error("response_url got nothing")
				}
			}
		})
	}
}

func TestATamperedBodyIsRefused(t *testing.T) {
	h := slackcmd.New(slackcmd.Options{SigningSecret: secret, GraphQL: http.NotFoundHandler()})
	for _, replace := range []string{"text=hElp", "text=impact", "text=he"} {
		req := signed(t, "https://hooks.slack.com/x", "help")
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(strings.Replace(string(b), "text=help", replace, 1)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d", replace, w.Code)
		}
	}
}
