package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/client"

	"catalogd/ent"
	"catalogd/graph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// cacheCatalog is a small catalog whose one component's title and dependencies a test can
// change: web depends on db-<dep>.
func cacheCatalog(title string, dep int) string {
	docs := []string{
		"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n",
		fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: web, title: %q}\nspec: {type: service, lifecycle: production, owner: team, dependsOn: [resource:db-%d]}\n", title, dep),
	}
	for i := range 3 {
		docs = append(docs, fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: db-%d}\nspec: {type: database, owner: team}\n", i))
	}
	return strings.Join(docs, "---\n")
}

type cacheFixture struct {
	t    *testing.T
	st   *store.Store
	r    *graph.Resolver
	c    *client.Client
	n    *atomic.Int64
	path string
}

func newCacheFixture(t *testing.T, dbURL string, opts graph.Options) *cacheFixture {
	f := &cacheFixture{t: t, st: testdb.Open(t, dbURL), n: &atomic.Int64{}, path: filepath.Join(t.TempDir(), "catalog.yaml")}
	f.write("Web", 0)
	counted := ent.NewClient(ent.Driver(countingDriver{f.st.Driver(), f.n}))
	f.r = graph.NewResolver(counted, f.st, nil)
	f.c = client.New(graph.NewHandler(f.r, opts))
	f.caughtUp()
	return f
}

// write ingests the catalog with web's title and dependency.
func (f *cacheFixture) write(title string, dep int) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(cacheCatalog(title, dep)), 0o644); err != nil {
		f.t.Fatal(err)
	}
	p, err := file.New(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := testdb.Engine(f.t, f.st).Refresh(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
}

// caughtUp waits for the graph index to reach the catalog's generation.
func (f *cacheFixture) caughtUp() {
	f.t.Helper()
	if f.r == nil {
		return
	}
	if _, err := f.r.Index.Fresh(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// ask posts q and returns its answer as JSON and the statements it cost through ent.
func (f *cacheFixture) ask(q string, opts ...client.Option) (string, int64) {
	f.t.Helper()
	f.n.Store(0)
	var resp map[string]any
	if err := f.c.Post(q, &resp, opts...); err != nil {
		f.t.Fatalf("query: %v", err)
	}
	b, _ := json.Marshal(resp)
	return string(b), f.n.Load()
}

const webPage = `query($ref: String!) { entity(ref: $ref) { ref title ... on Component { owner { ref } dependsOn { ref } } relations { type targetRef } } }`

func TestAnswersOfTheCatalogAreKeptUntilItChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := newCacheFixture(t, dbURL, graph.Options{})
		web := client.Var("ref", "component:default/web")
		first, cost := f.ask(webPage, web)
		if cost == 0 || !strings.Contains(first, `"title":"Web"`) {
			t.Fatalf("first answer cost %d statements: %s", cost, first)
		}
		again, cost := f.ask(webPage, web)
		if cost != 0 || again != first {
			t.Errorf("the same question again cost %d statements (want 0), answer %s", cost, again)
		}
		// Other variables, another question.
		if other, cost := f.ask(webPage, client.Var("ref", "resource:default/db-1")); cost == 0 || strings.Contains(other, `"title":"Web"`) {
			t.Errorf("another ref: %d statements, %s", cost, other)
		}
		// The same query under another operation name is another question too (a query may
		// hold several operations).
		if _, cost := f.ask(strings.Replace(webPage, "query(", "query Named(", 1), web); cost == 0 {
			t.Error("a renamed operation was answered from the cache of another text")
		}

		// A change is seen by the next request: the generation moved.
		f.write("Web v2", 1)
		changed, cost := f.ask(webPage, web)
		if cost == 0 || !strings.Contains(changed, `"title":"Web v2"`) || !strings.Contains(changed, "db-1") {
			t.Errorf("after a change: %d statements, %s", cost, changed)
		}
		f.caughtUp()
		f.ask(webPage, web)
		if _, cost := f.ask(webPage, web); cost != 0 {
			t.Errorf("the changed answer is not kept: %d statements", cost)
		}
	})
}

func TestVolatileFieldsAndMutationsAreNeverKept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := newCacheFixture(t, dbURL, graph.Options{})
		web := client.Var("ref", "component:default/web")
		for name, q := range map[string]string{
			"processing errors":  `query($ref: String!) { entity(ref: $ref) { ref processingErrors { message } } }`,
			"freshness":          `query($ref: String!) { entity(ref: $ref) { ref freshness { lastObservedAt } } }`,
			"in a fragment":      `query($ref: String!) { entity(ref: $ref) { ...F } } fragment F on Entity { ref freshness { lastObservedAt } }`,
			"in a nested entity": `query($ref: String!) { entity(ref: $ref) { ref relations { target { ref ... on Resource { processingErrors { message } } } } } }`,
		} {
			t.Run(name, func(t *testing.T) {
				f.ask(q, web)
				if _, cost := f.ask(q, web); cost == 0 {
					t.Error("answered from the cache")
				}
			})
		}
		t.Run("entities no source confirmed since a time", func(t *testing.T) {
			q := `query($since: Time) { entities(filter: {notObservedSince: $since}) { totalCount } }`
			since := client.Var("since", "2000-01-01T00:00:00Z")
			f.ask(q, since)
			if _, cost := f.ask(q, since); cost == 0 {
				t.Error("answered from the cache")
			}
		})
		t.Run("locations", func(t *testing.T) {
			q := `{ locations { key lastReadAt } entity(ref: "component:default/web") { ref } }`
			f.ask(q)
			if _, cost := f.ask(q); cost == 0 {
				t.Error("answered from the cache")
			}
		})
	})
}

func TestWithoutACacheEveryAnswerIsComputed(t *testing.T) {
	f := newCacheFixture(t, testdb.SQLite(t), graph.Options{AnswerCacheBytes: -1})
	web := client.Var("ref", "component:default/web")
	f.ask(webPage, web)
	if _, cost := f.ask(webPage, web); cost == 0 {
		t.Error("answered from a cache that is off")
	}
}

// An impact answer computed from a graph index that has not caught up with the catalog is
// given, but not kept: the next request after the index caught up sees the change.
func TestAnswersFromALaggingGraphIndexAreNotKept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := newCacheFixture(t, dbURL, graph.Options{})
		q := `query($ref: String!) { impact(ref: $ref) { totalAffected affected { ref } } }`
		db1 := client.Var("ref", "resource:default/db-1")
		before, _ := f.ask(q, db1)
		if !strings.Contains(before, `"totalAffected":0`) {
			t.Fatalf("before: %s", before)
		}
		f.write("Web", 1) // web now depends on db-1
		f.ask(q, db1)     // may be answered from the snapshot before the change
		f.caughtUp()
		if after, _ := f.ask(q, db1); !strings.Contains(after, `"totalAffected":1`) {
			t.Errorf("after the index caught up: %s", after)
		}
	})
}

// Concurrent callers asking the same new question share one computation and one answer.
func TestConcurrentCallersShareOneAnswer(t *testing.T) {
	f := newCacheFixture(t, testdb.SQLite(t), graph.Options{})
	f.n.Store(0)
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp map[string]any
			if err := f.c.Post(webPage, &resp, client.Var("ref", "component:default/web")); err != nil {
				t.Error(err)
			}
			b, _ := json.Marshal(resp)
			answers[i] = string(b)
		}()
	}
	wg.Wait()
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ: %s and %s", a, answers[0])
		}
	}
	got := f.n.Load()
	_, once := f.ask(strings.Replace(webPage, "ref title", "title ref", 1), client.Var("ref", "component:default/web"))
	if got > 2*once {
		t.Errorf("8 concurrent callers cost %d statements; one caller costs %d", got, once)
	}
}

// A kept answer is written byte for byte as it was the first time, also when its data had to
// be compacted and escaped (HTML characters in a title).
func TestKeptAnswersAreWrittenAsTheFirst(t *testing.T) {
	f := newCacheFixture(t, testdb.SQLite(t), graph.Options{})
	f.write("<b>Web & co</b>", 0)
	f.caughtUp()
	srv := httptest.NewServer(graph.NewHandler(f.r, graph.Options{}))
	defer srv.Close()
	body := `{"query":"query($ref: String!) { entity(ref: $ref) { ref title } }","variables":{"ref":"component:default/web"}}`
	var answers []string
	for range 3 {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers = append(answers, string(b))
	}
	if !strings.Contains(answers[0], `\u003cb\u003eWeb \u0026 co`) {
		t.Fatalf("first answer: %s", answers[0])
	}
	for i, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("answer %d: %s, first: %s", i+2, a, answers[0])
		}
	}
}
