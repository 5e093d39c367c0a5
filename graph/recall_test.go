package graph_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"catalogd/graph"
	"catalogd/internal/gqlbody"
	"catalogd/internal/testdb"
)

// withDecodedBody decodes a POST body as the door does (internal/server's guard) and hands it
// to h in the request's context: the transport's recall works on the door's decoding.
func withDecodedBody(t *testing.T, dec *gqlbody.Decoder, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			req, problem := dec.Decode(body)
			if problem != "" {
				http.Error(w, problem, http.StatusBadRequest)
				return
			}
			r = r.WithContext(gqlbody.With(r.Context(), req))
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		h.ServeHTTP(w, r)
	})
}

// watcher counts the operations made and the answers recalled without one.
type watcher struct {
	mu       sync.Mutex
	made     int
	recalled []string // operation names
}

func (*watcher) ExtensionName() string                   { return "watcher" }
func (*watcher) Validate(graphql.ExecutableSchema) error { return nil }

func (w *watcher) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	w.mu.Lock()
	w.made++
	w.mu.Unlock()
	return next(ctx)
}

func (w *watcher) ObserveCachedAnswer(_ context.Context, oc *graphql.OperationContext, start time.Time) {
	if start.IsZero() || time.Since(start) < 0 {
		panic("recalled answer without a start")
	}
	w.mu.Lock()
	w.recalled = append(w.recalled, oc.OperationName)
	w.mu.Unlock()
}

// counts returns the operations made and answers recalled since the last call.
func (w *watcher) counts() (made, recalled int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	made, recalled = w.made, len(w.recalled)
	w.made, w.recalled = 0, nil
	return made, recalled
}

type recallFixture struct {
	*cacheFixture
	w   *watcher
	dec *gqlbody.Decoder
	srv *httptest.Server
}

func newRecallFixture(t *testing.T, dbURL string, opts graph.Options) *recallFixture {
	w := &watcher{}
	opts.Extensions = append(opts.Extensions, w)
	f := newCacheFixture(t, dbURL, opts)
	dec := gqlbody.NewDecoder(1 << 20)
	srv := httptest.NewServer(withDecodedBody(t, dec, graph.NewHandler(f.r, opts)))
	t.Cleanup(srv.Close)
	return &recallFixture{cacheFixture: f, w: w, dec: dec, srv: srv}
}

// unchanged checks that the request the door keeps for body (shared by every request that
// sends it) is as the body says, after the handler made operations of it.
func (f *recallFixture) unchanged(body string) {
	f.t.Helper()
	kept, problem := f.dec.Decode([]byte(body))
	fresh, _ := gqlbody.Decode([]byte(body))
	if problem != "" {
		f.t.Fatal(problem)
	}
	got, _ := json.Marshal(kept.Params)
	want, _ := json.Marshal(fresh)
	if string(got) != string(want) || kept.Params.Headers != nil || !kept.Params.ReadTime.Start.IsZero() {
		f.t.Fatalf("the kept request changed: %s (headers %v); want %s", got, kept.Params.Headers, want)
	}
}

// post sends body and returns the answer's status, content type and bytes.
func (f *recallFixture) post(body, accept string) (int, string, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func webBody(name, ref string) string {
	q := strings.Replace(webPage, "query(", "query "+name+"(", 1)
	b, _ := json.Marshal(map[string]any{"query": q, "operationName": name, "variables": map[string]any{"ref": ref}})
	return string(b)
}

// A body sent again is answered from the answer cache without making an operation (no
// interceptor runs, observers are told), with the same bytes; after a change of the catalog
// the next one is made an operation again, and answered afresh.
func TestRecallAnswersABodySeenBefore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := newRecallFixture(t, dbURL, graph.Options{})
		body := webBody("Web", "component:default/web")
		status, _, first := f.post(body, "")
		if status != http.StatusOK || !strings.Contains(first, `"title":"Web"`) {
			t.Fatalf("first answer: %d %s", status, first)
		}
		if made, recalled := f.w.counts(); made != 1 || recalled != 0 {
			t.Fatalf("first request: %d operations, %d recalled; want 1, 0", made, recalled)
		}
		f.n.Store(0)
		for range 3 {
			status, ct, again := f.post(body, "")
			if status != http.StatusOK || again != first || ct != "application/json" {
				t.Fatalf("again: %d %q %s; want 200 application/json %s", status, ct, again, first)
			}
		}
		if made, recalled := f.w.counts(); made != 0 || recalled != 3 {
			t.Fatalf("the same body three times: %d operations, %d recalled; want 0, 3", made, recalled)
		}
		if f.n.Load() != 0 {
			t.Fatalf("recalled answers cost %d statements", f.n.Load())
		}
		f.w.recalled = nil
		// The content type follows each request's Accept header.
		if _, ct, again := f.post(body, "application/graphql-response+json"); ct != "application/graphql-response+json" || again != first {
			t.Fatalf("recalled with Accept application/graphql-response+json: %q %s", ct, again)
		}
		f.w.counts()

		// A change: the next request sees it, through an operation; then it is recalled again.
		f.write("Changed", 0)
		f.caughtUp()
		if _, _, changed := f.post(body, ""); !strings.Contains(changed, `"title":"Changed"`) {
			t.Fatalf("after the change: %s", changed)
		}
		if made, recalled := f.w.counts(); made != 1 || recalled != 0 {
			t.Fatalf("after a change: %d operations, %d recalled; want 1, 0", made, recalled)
		}
		if _, _, again := f.post(body, ""); !strings.Contains(again, `"title":"Changed"`) {
			t.Fatalf("after the change, again: %s", again)
		}
		if made, recalled := f.w.counts(); made != 0 || recalled != 1 {
			t.Fatalf("after a change, again: %d operations, %d recalled; want 0, 1", made, recalled)
		}
	})
}

// What recall does not answer: a body it has not seen (the known query with other bytes, or
// with extensions that make it fail), a body that failed, and a question the cache does not
// keep.
func TestRecallAnswersOnlyWhatTheBodyDecides(t *testing.T) {
	f := newRecallFixture(t, testdb.SQLite(t), graph.Options{ComplexityLimit: 5000})
	known := webBody("Web", "component:default/web")
	f.post(known, "")
	f.post(known, "")
	if made, recalled := f.w.counts(); made != 1 || recalled != 1 {
		t.Fatalf("known body: %d operations, %d recalled; want 1, 1", made, recalled)
	}

	// The same question in other bytes is another body: made an operation once, then recalled.
	spaced := " " + known
	f.post(spaced, "")
	f.post(spaced, "")
	if made, recalled := f.w.counts(); made != 1 || recalled != 1 {
		t.Fatalf("the known body with a space: %d operations, %d recalled; want 1, 1", made, recalled)
	}

	// The known query with extensions: an automatic persisted query whose hash does not match
	// is refused every time, not answered by recall.
	var withExt map[string]any
	json.Unmarshal([]byte(known), &withExt)
	withExt["extensions"] = map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
	b, _ := json.Marshal(withExt)
	for range 2 {
		if _, _, answer := f.post(string(b), ""); !strings.Contains(answer, "errors") || strings.Contains(answer, `"title"`) {
			t.Fatalf("a known query with a mismatched persisted hash: %s", answer)
		}
	}
	if _, recalled := f.w.counts(); recalled != 0 {
		t.Fatalf("%d answers recalled for a body with extensions", recalled)
	}

	// Bodies that fail are never recalled: a variable of the wrong type, a query over the
	// complexity limit, a query that does not parse. Each fails every time.
	bad := map[string]string{
		"wrong variable": `{"query": "query($ref: String!){ entity(ref: $ref){ ref } }", "variables": {"ref": 5}}`,
		"over the limit": `{"query": "{ entities(first: 500){ edges { node { ref relations { target { ref } } } } } }"}`,
		"no parse":       `{"query": "{ entity(ref: "}`,
	}
	for name, body := range bad {
		for range 2 {
			if _, _, answer := f.post(body, ""); !strings.Contains(answer, `"errors"`) {
				t.Fatalf("%s: %s", name, answer)
			}
		}
	}
	if _, recalled := f.w.counts(); recalled != 0 {
		t.Fatalf("%d failing bodies recalled", recalled)
	}

	// A question the cache does not keep is made an operation every time.
	volatile := `{"query": "{ processingErrors(first: 1){ totalCount } }"}`
	for range 2 {
		f.post(volatile, "")
	}
	if made, recalled := f.w.counts(); made != 2 || recalled != 0 {
		t.Fatalf("an uncached question twice: %d operations, %d recalled; want 2, 0", made, recalled)
	}
	f.unchanged(volatile)
	f.unchanged(known)
}

// A persisted query registered at start, sent by its hash alone, is recalled: what it asks is
// fixed at start. Observers see its operation as they see it made.
func TestRecallAnswersRegisteredPersistedQueries(t *testing.T) {
	q := strings.Replace(webPage, "query(", "query Web(", 1)
	sum := sha256.Sum256([]byte(q))
	hash := hex.EncodeToString(sum[:])
	f := newRecallFixture(t, testdb.SQLite(t), graph.Options{PersistedQueries: &graph.PersistedQueries{Queries: map[string]string{hash: q}, Only: true}})
	body := `{"variables": {"ref": "component:default/web"}, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "` + hash + `"}}}`
	_, _, first := f.post(body, "")
	_, _, again := f.post(body, "")
	if !strings.Contains(first, `"title":"Web"`) || again != first {
		t.Fatalf("persisted query: %s, then %s", first, again)
	}
	made, recalled := f.w.counts()
	if made != 1 || recalled != 1 {
		t.Fatalf("a registered persisted query twice: %d operations, %d recalled; want 1, 1", made, recalled)
	}
	f.unchanged(body) // the extension filled in the query of the operation's request, not the kept one
	// In Only mode a query sent as text stays refused, however often.
	text, _ := json.Marshal(map[string]any{"query": `{ __typename }`})
	for range 2 {
		if _, _, answer := f.post(string(text), ""); !strings.Contains(answer, "PERSISTED_QUERY_REQUIRED") {
			t.Fatalf("a query as text in Only mode: %s", answer)
		}
	}
	if _, recalled := f.w.counts(); recalled != 0 {
		t.Fatalf("%d refused bodies recalled", recalled)
	}
}
