package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"catalogd/internal/auth"
	"catalogd/internal/auth/oidctest"
)

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

// dialWS opens a websocket to the server's /graphql offering graphql-transport-ws, with the
// headers given (an Origin, say).
func (s *testServer) dialWS(t *testing.T, header http.Header, subprotocols ...string) (*wsConn, *http.Response, error) {
	t.Helper()
	if subprotocols == nil {
		subprotocols = []string{"graphql-transport-ws"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: t, c: c}, resp, nil
}

func (w *wsConn) send(m any) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// read returns the next message, or the error that ended the connection (within wait).
func (w *wsConn) read(wait time.Duration) (wsMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return wsMsg{}, err
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("not a JSON message: %.200s", b)
	}
	return m, nil
}

// closedWith reads until the connection ends and returns its close status and reason,
// failing on any message that carries data.
func (w *wsConn) closedWith(wait time.Duration) (websocket.StatusCode, string) {
	w.t.Helper()
	for {
		m, err := w.read(wait)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			w.t.Fatalf("connection ended without a close frame: %v", err)
		}
		if m.Type != "ping" && m.Type != "pong" {
			w.t.Fatalf("got %s %s before the close", m.Type, m.Payload)
		}
	}
}

// init sends connection_init with payload (nil: none) and waits for connection_ack.
func (w *wsConn) init(payload map[string]any) error {
	w.t.Helper()
	msg := map[string]any{"type": "connection_init"}
	if payload != nil {
		msg["payload"] = payload
	}
	w.send(msg)
	m, err := w.read(10 * time.Second)
	if err != nil {
		return err
	}
	if m.Type != "connection_ack" {
		w.t.Fatalf("answer to connection_init: %s", m.Type)
	}
	return nil
}

// query runs query as operation id and returns its one result, checking that complete follows.
func (w *wsConn) query(id, query string) gqlResponse {
	w.t.Helper()
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}})
	var out gqlResponse
	got := false
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			w.t.Fatalf("operation %s: %v", id, err)
		}
		switch {
		case m.Type == "ping":
			w.send(map[string]any{"type": "pong"})
		case m.ID != id:
			w.t.Fatalf("message for another operation: %+v", m)
		case m.Type == "next" && !got:
			got = true
			if err := json.Unmarshal(m.Payload, &out); err != nil {
				w.t.Fatal(err)
			}
		case m.Type == "complete" && got:
			return out
		default:
			w.t.Fatalf("operation %s: unexpected %s %s", id, m.Type, m.Payload)
		}
	}
}

func (w *wsConn) viewer() viewer {
	w.t.Helper()
	r := w.query("v", `{ viewer { kind name ref roles groups } }`)
	if len(r.Errors) > 0 {
		w.t.Fatalf("viewer over websocket: %+v", r.Errors)
	}
	var v struct{ Viewer viewer }
	if err := json.Unmarshal(r.Data, &v); err != nil {
		w.t.Fatal(err)
	}
	return v.Viewer
}

func TestWebsocketAuthenticatesInConnectionInit(t *testing.T) {
	iss := oidctest.Start(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), authCatalog)
	key := "ck_0123456789abcdef0123456789abcdef"
	writeFile(t, filepath.Join(dir, "keys"), "ci:editor:"+auth.HashAPIKey(key)+"\n")
	s, log := startServerEnv(t, map[string]string{"CATALOGD_OIDC_ISSUER": iss.URL, "CATALOGD_OIDC_AUDIENCE": "catalogd"},
		"--location", filepath.Join(dir, "c.yaml"), "--api-key-file", filepath.Join(dir, "keys"),
		"--cors-origin", "https://ui.example.com")
	jane := func() string {
		return iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd"})
	}

	t.Run("a valid token in connection_init, in each form clients send, answers as its user", func(t *testing.T) {
		for _, payload := range []map[string]any{
			{"Authorization": "Bearer " + jane()},
			{"authorization": "Bearer " + jane()},
			{"token": jane()},
		} {
			w, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if w.c.Subprotocol() != "graphql-transport-ws" {
				t.Errorf("subprotocol %q", w.c.Subprotocol())
			}
			if err := w.init(payload); err != nil {
				t.Fatalf("init: %v", err)
			}
			v := w.viewer()
			if v.Kind != "user" || v.Ref == nil || *v.Ref != "user:default/jane" || !slices.Equal(v.Groups, []string{"group:default/team-a"}) {
				t.Errorf("viewer = %+v", v)
			}
			// Queries run as many times as asked on one connection.
			r := w.query("2", `{ entities { totalCount } }`)
			if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"totalCount":3`) {
				t.Errorf("entities: %s %+v", r.Data, r.Errors)
			}
		}
	})

	t.Run("an API key in connection_init answers as its service principal", func(t *testing.T) {
		w, _, err := s.dialWS(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.init(map[string]any{"Authorization": "Bearer " + key}); err != nil {
			t.Fatal(err)
		}
		if v := w.viewer(); v.Kind != "service" || v.Name != "ci" || !slices.Equal(v.Roles, []string{"editor"}) {
			t.Errorf("viewer = %+v", v)
		}
	})

	t.Run("no, bad or expired credentials close the connection with 4401 before any data", func(t *testing.T) {
		expired := iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd", "exp": time.Now().Add(-time.Minute).Unix()})
		for name, payload := range map[string]map[string]any{
			"no payload":             nil,
			"no token":               {"other": "x"},
			"a token not a string":   {"Authorization": 42},
			"not a bearer token":     {"Authorization": "Basic amFuZTpzZWNyZXQ="},
			"a malformed token":      {"token": "not-a-token.really.no"},
			"an unknown API key":     {"token": key + "0"},
			"an expired token":       {"Authorization": "Bearer " + expired},
			"another audience":       {"token": iss.Sign(t, map[string]any{"sub": "u1", "aud": "other"})},
			"an empty Authorization": {"Authorization": ""},
		} {
			w, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := map[string]any{"type": "connection_init"}
			if payload != nil {
				msg["payload"] = payload
			}
			w.send(msg)
			// An operation sent at once must not run either.
			w.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `{ viewer { kind } }`}})
			if code, reason := w.closedWith(10 * time.Second); code != 4401 || !strings.HasPrefix(reason, "Unauthorized") {
				t.Errorf("%s: closed with %d %q, want 4401 Unauthorized", name, code, reason)
			}
		}
		if !strings.Contains(log.String(), "token expired") {
			t.Errorf("the refusal is not logged with its reason")
		}
		if strings.Contains(log.String(), expired[strings.LastIndexByte(expired, '.')+1:]) {
			t.Errorf("the log holds the token")
		}
	})

	t.Run("a connection ends with 4401 when its token expires", func(t *testing.T) {
		w, _, err := s.dialWS(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		exp := time.Now().Add(3 * time.Second)
		if err := w.init(map[string]any{"token": iss.Sign(t, map[string]any{"sub": "u1", "email": "jane@example.com", "aud": "catalogd", "exp": exp.Unix()})}); err != nil {
			t.Fatal(err)
		}
		if v := w.viewer(); v.Kind != "user" {
			t.Fatalf("viewer = %+v", v)
		}
		code, reason := w.closedWith(15 * time.Second)
		if code != 4401 || reason != "Unauthorized: token expired" {
			t.Errorf("closed with %d %q, want 4401 Unauthorized: token expired", code, reason)
		}
		// exp has a resolution of a second.
		if early := time.Until(exp.Truncate(time.Second)); early > 0 {
			t.Errorf("closed %s before the token expired", early)
		}
	})

	t.Run("an operation before connection_init closes the connection with 4401", func(t *testing.T) {
		w, _, err := s.dialWS(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `{ viewer { kind } }`}})
		if code, _ := w.closedWith(10 * time.Second); code != 4401 {
			t.Errorf("closed with %d, want 4401", code)
		}
	})

	t.Run("a connection_init payload that is not an object closes the connection with 4400", func(t *testing.T) {
		for _, payload := range []string{`"Bearer x"`, `[1]`, `42`} {
			w, _, err := s.dialWS(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":`+payload+`}`))
			cancel()
			if code, _ := w.closedWith(10 * time.Second); code != 4400 {
				t.Errorf("payload %s: closed with %d, want 4400", payload, code)
			}
		}
	})

	t.Run("a page on another origin cannot open a websocket; the configured and the same origin can", func(t *testing.T) {
		_, resp, err := s.dialWS(t, http.Header{"Origin": {"https://evil.example.com"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial from another origin: err %v, response %v", err, resp)
		}
		// Scheme matters: the configured origin is https.
		if _, resp, err := s.dialWS(t, http.Header{"Origin": {"http://ui.example.com"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial from the configured host over http: err %v", err)
		}
		for _, origin := range []string{"https://ui.example.com", s.base} {
			w, _, err := s.dialWS(t, http.Header{"Origin": {origin}})
			if err != nil {
				t.Fatalf("dial from %s: %v", origin, err)
			}
			if err := w.init(map[string]any{"token": jane()}); err != nil {
				t.Fatal(err)
			}
			if v := w.viewer(); v.Kind != "user" {
				t.Errorf("viewer from %s = %+v", origin, v)
			}
		}
	})

	t.Run("a handshake without graphql-transport-ws is refused", func(t *testing.T) {
		for _, protos := range [][]string{{}, {"graphql-ws"}} {
			if _, resp, err := s.dialWS(t, nil, protos...); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("subprotocols %v: err %v", protos, err)
			}
		}
	})

	t.Run("an Upgrade header does not make a plain request skip authentication", func(t *testing.T) {
		for _, up := range []string{"h2c", "websocket"} {
			req := mustRequest(t, http.MethodGet, s.base+"/graphql?query=%7Bviewer%7Bkind%7D%7D")
			req.Header.Set("Upgrade", up)
			req.Header.Set("Connection", "Upgrade")
			// Refused as a malformed handshake, in the GraphQL error shape.
			if a := s.sendAs(req); a.status != http.StatusBadRequest || code(a) != "BAD_REQUEST" || strings.Contains(a.raw, `"data"`) {
				t.Errorf("Upgrade %s: status %d, %s", up, a.status, a.raw)
			}
		}
	})
}

func TestWebsocketWithoutAuthIsTheLocalAdmin(t *testing.T) {
	s, _ := startServerEnv(t, nil)
	w, _, err := s.dialWS(t, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := w.init(nil); err != nil {
		t.Fatalf("init: %v", err)
	}
	if v := w.viewer(); v.Kind != auth.KindLocal || !slices.Equal(v.Roles, []string{"admin"}) {
		t.Errorf("viewer = %+v, want the local admin", v)
	}
	// The local admin is a reason more to keep other origins' pages out.
	if _, resp, err := s.dialWS(t, http.Header{"Origin": {"https://evil.example.com"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dial from another origin: err %v", err)
	}
}

func TestWebsocketWithoutConnectionInitIsClosed(t *testing.T) {
	t.Parallel()
	s, _ := startServerEnv(t, nil)
	w, _, err := s.dialWS(t, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	start := time.Now()
	if code, reason := w.closedWith(30 * time.Second); code != 4408 {
		t.Errorf("closed with %d %q, want 4408", code, reason)
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Errorf("closed after %s, before the init timeout", d)
	}
}

func TestWebsocketsEndWithTheServer(t *testing.T) {
	var c *websocket.Conn
	// Registered before the server's: runs after it has stopped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				if ctx.Err() != nil {
					t.Errorf("the websocket is still open after the server stopped")
				}
				return
			}
		}
	})
	s, _ := startServerEnv(t, nil)
	var err error
	c, _, err = websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(s.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	w := &wsConn{t: t, c: c}
	if err := w.init(nil); err != nil {
		t.Fatal(err)
	}
}
