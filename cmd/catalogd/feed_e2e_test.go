package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"catalogd/internal/feed"
	"catalogd/internal/testdb"
)

func component(name, owner, desc string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: %s, description: %q}\nspec: {type: service, lifecycle: production, owner: %s}\n", name, desc, owner)
}

func components(cs ...string) string { return strings.Join(cs, "---\n") }

type feedPage struct {
	CatalogChanges struct {
		Edges []struct {
			Cursor string
			Node   struct {
				Type, Ref, At string
				Fields        json.RawMessage
			}
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

const changesQuery = `query($after: Cursor, $first: Int) { catalogChanges(after: $after, first: $first) {
  edges { cursor node { type ref at fields } } pageInfo { hasNextPage endCursor } } }`

// readFeed pages through the feed after cursor (nil: from the start), two at a time, and
// returns "type ref" lines and the last cursor.
func (s *testServer) readFeed(after *string) ([]string, *string) {
	s.t.Helper()
	var out []string
	for {
		vars := map[string]any{"first": 2}
		if after != nil {
			vars["after"] = *after
		}
		var p feedPage
		s.data(changesQuery, vars, &p)
		for _, e := range p.CatalogChanges.Edges {
			line := e.Node.Type + " " + e.Node.Ref
			if e.Node.Type == "changed" || e.Node.Type == "owner_changed" {
				line += " " + string(e.Node.Fields)
			}
			out = append(out, line)
		}
		if p.CatalogChanges.PageInfo.EndCursor != nil {
			after = p.CatalogChanges.PageInfo.EndCursor
		}
		if !p.CatalogChanges.PageInfo.HasNextPage {
			return out, after
		}
	}
}

func TestTheFeedResumesFromACursorAfterARestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "catalog.yaml")
		writeFile(t, file, components(component("a", "team-a", "one"), component("b", "team-a", "two"),
			component("c", "team-b", "three"), component("d", "team-b", "four")))
		s := startServer(t, "--database", dbURL, "--location", file)
		first, cursor := s.readFeed(nil)
		want := []string{"added component:default/a", "added component:default/b", "added component:default/c", "added component:default/d"}
		if !slices.Equal(first, want) {
			t.Fatalf("first read:\n got %q\nwant %q", first, want)
		}
		s.stop()

		// While the consumer's server is down, the catalog adds, changes and removes entities.
		writeFile(t, file, components(component("a", "team-a", "one, edited"), component("b", "team-c", "two"),
			component("c", "team-b", "three"), component("e", "team-b", "five")))
		s = startServer(t, "--database", dbURL, "--location", file)
		rest, cursor2 := s.readFeed(cursor)
		// One read's changes: additions as the read meets them, then changes, then removals.
		want = []string{
			"added component:default/e",
			`changed component:default/a {"paths":["metadata.description"]}`,
			`changed component:default/b {"paths":["spec.owner"]}`,
			`owner_changed component:default/b {"from":"group:default/team-a","to":"group:default/team-c"}`,
			"removed component:default/d",
		}
		if len(rest) != len(want) {
			t.Fatalf("after the restart:\n got %q\nwant %q", rest, want)
		}
		for i := range want {
			if normJSON(rest[i]) != normJSON(want[i]) {
				t.Errorf("change %d: got %s, want %s", i, rest[i], want[i])
			}
		}
		// Nothing more, and polling with the end cursor stays there.
		more, cursor3 := s.readFeed(cursor2)
		if len(more) != 0 || *cursor3 != *cursor2 {
			t.Errorf("after the end: %q, cursor %v -> %v", more, *cursor2, *cursor3)
		}
	})
}

// normJSON makes PostgreSQL's jsonb spacing and key order comparable with encoding/json's.
func normJSON(line string) string {
	i := strings.IndexByte(line, '{')
	if i < 0 {
		return line
	}
	var v any
	if json.Unmarshal([]byte(line[i:]), &v) != nil {
		return line
	}
	b, _ := json.Marshal(v)
	return line[:i] + string(b)
}

func TestCatalogChangesRefusesBadArguments(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct{ name, query string }{
		{"an unknown type", `{ catalogChanges(filter: {type: ["exploded"]}) { edges { cursor } } }`},
		{"a page too large", `{ catalogChanges(first: 100000) { edges { cursor } } }`},
		{"a bad owner ref", `{ catalogChanges(filter: {owner: "group:"}) { edges { cursor } } }`},
	} {
		t.Run(tc.name+" is refused as bad input", func(t *testing.T) {
			r := s.query(tc.query, nil)
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
				t.Fatalf("errors %+v", r.Errors)
			}
		})
	}
}

// receiver is a webhook receiver on loopback that answers 500 to its first fail requests,
// then checks each delivery's signature and records its events.
type receiver struct {
	*httptest.Server
	secret string
	fail   int
	mu     sync.Mutex
	calls  int
	bad    []string
	events map[int64]int // id -> times seen
	lines  []string
}

func newReceiver(t *testing.T, secret string, fail int) *receiver {
	r := &receiver{secret: secret, fail: fail, events: map[int64]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if r.calls <= r.fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if err := feed.Verify(r.secret, req.Header, body, 5*time.Minute, time.Now()); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d feed.Delivery
		if err := json.Unmarshal(body, &d); err != nil || req.Header.Get(feed.HeaderDelivery) != d.Delivery {
			r.bad = append(r.bad, fmt.Sprintf("body %.100s", body))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, e := range d.Events {
			if r.events[e.ID] == 0 {
				r.lines = append(r.lines, e.Type+" "+e.Ref)
			}
			r.events[e.ID]++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		got, lines := len(r.events), slices.Clone(r.lines)
		r.mu.Unlock()
		if got >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver saw %d events, want %d: %q", got, n, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAWebhookReceivesEveryChangeOnceAfterFailingTwiceAndAcrossARestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		const secret = "a-webhook-secret-of-some-length"
		rcv := newReceiver(t, secret, 2)
		dir := t.TempDir()
		file := filepath.Join(dir, "catalog.yaml")
		writeFile(t, file, components(component("a", "team-a", "one"), component("b", "team-a", "two"), component("c", "team-b", "three")))
		cfg := filepath.Join(dir, "catalogd.yaml")
		writeFile(t, cfg, fmt.Sprintf(`reading: {allow: [%q]}
feed:
  pollInterval: 50ms
  webhooks:
    - name: bot
      url: %s/hook
      secret: ${HOOK_SECRET}
`, strings.TrimPrefix(rcv.URL, "http://"), rcv.URL))
		env := map[string]string{"HOOK_SECRET": secret}
		s, _ := startServerEnv(t, env, "--database", dbURL, "--location", file, "--config", cfg)
		lines := rcv.waitFor(t, 3)
		if want := []string{"added component:default/a", "added component:default/b", "added component:default/c"}; !slices.Equal(lines, want) {
			t.Errorf("first deliveries: %q, want %q", lines, want)
		}
		s.stop()
		writeFile(t, file, components(component("a", "team-z", "one"), component("b", "team-a", "two"), component("d", "team-b", "four")))
		startServerEnv(t, env, "--database", dbURL, "--location", file, "--config", cfg)
		lines = rcv.waitFor(t, 7)
		want := []string{"added component:default/a", "added component:default/b", "added component:default/c",
			"added component:default/d", "changed component:default/a", "owner_changed component:default/a", "removed component:default/c"}
		if !slices.Equal(lines, want) {
			t.Errorf("deliveries:\n got %q\nwant %q", lines, want)
		}
		time.Sleep(200 * time.Millisecond) // a few more polls: nothing is delivered again
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for id, n := range rcv.events {
			if n != 1 {
				t.Errorf("event %d delivered %d times", id, n)
			}
		}
		if len(rcv.bad) > 0 {
			t.Errorf("bad deliveries: %q", rcv.bad)
		}
		if rcv.calls < 4 {
			t.Errorf("%d calls: the two 500s were not retried", rcv.calls)
		}
	})
}

func TestAWebhookToAnAddressTheAllowListDoesNotNameGetsNothing(t *testing.T) {
	const secret = "a-webhook-secret-of-some-length"
	rcv := newReceiver(t, secret, 0)
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	writeFile(t, file, component("a", "team-a", "one"))
	cfg := filepath.Join(dir, "catalogd.yaml")
	// Loopback is a special-purpose address: only an allow entry naming it literally admits it.
	writeFile(t, cfg, fmt.Sprintf("reading: {allow: [\"*.example.com\"]}\nfeed:\n  pollInterval: 20ms\n  webhooks:\n    - {name: bot, url: %q, secret: %q}\n", rcv.URL, secret))
	s, log := startServerEnv(t, nil, "--location", file, "--config", cfg)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "not allowed") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.calls != 0 {
		t.Errorf("the receiver was called %d times", rcv.calls)
	}
}

func TestCatalogChangedStreamsChangesOverWebsocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	writeFile(t, file, component("a", "team-a", "one"))
	cfg := filepath.Join(dir, "catalogd.yaml")
	writeFile(t, cfg, "feed: {pollInterval: 20ms}\n")
	s := startServer(t, "--location", file, "--config", cfg, "--refresh-interval", "50ms")
	ws, _, err := s.dialWS(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.init(nil); err != nil {
		t.Fatal(err)
	}
	ws.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { catalogChanged(filter: {owner: "team-b"}) { type ref fields } }`}})
	time.Sleep(100 * time.Millisecond) // subscribed from now on
	writeFile(t, file, components(component("a", "team-b", "one"), component("x", "team-c", "other")))
	var got []string
	for len(got) < 2 {
		m, err := ws.read(20 * time.Second)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		switch m.Type {
		case "ping":
			ws.send(map[string]any{"type": "pong"})
		case "next":
			var r struct {
				Data struct{ CatalogChanged struct{ Type, Ref string } }
			}
			json.Unmarshal(m.Payload, &r)
			got = append(got, r.Data.CatalogChanged.Type+" "+r.Data.CatalogChanged.Ref)
		default:
			t.Fatalf("unexpected %s %s", m.Type, m.Payload)
		}
	}
	if want := []string{"changed component:default/a", "owner_changed component:default/a"}; !slices.Equal(got, want) {
		t.Errorf("streamed %q, want %q", got, want)
	}
}
