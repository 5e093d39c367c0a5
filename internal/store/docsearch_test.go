package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

type hitKey struct{ ref, path string }

func hitKeys(res store.SearchResult) []hitKey {
	out := make([]hitKey, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = hitKey{h.Ref, h.Path}
	}
	return out
}

func page(path, title, text string, headings ...string) store.DocPageRecord {
	type heading struct {
		Level  int    `json:"level"`
		Text   string `json:"text"`
		Anchor string `json:"anchor"`
	}
	hs := []heading{}
	for _, h := range headings {
		hs = append(hs, heading{2, h, strings.ToLower(h)})
	}
	b, _ := json.Marshal(hs)
	return store.DocPageRecord{Path: path, Title: title, Text: text, HTML: "<p>" + text + "</p>", Headings: b, Hash: "h-" + path + title + text}
}

func site(pages ...store.DocPageRecord) *store.DocsRecord {
	for i := range pages {
		pages[i].Position = i
	}
	return &store.DocsRecord{SiteName: "docs", Nav: json.RawMessage(`[]`), Hash: fmt.Sprint(len(pages), pages[0].Hash), Pages: pages}
}

// docSearchRecords is searchRecords with docs: payments-api's pages mention payments and hold
// a quokka; orders (an API) has a page on wombats; every filler service has a filler page.
func docSearchRecords() []store.EntityRecord {
	recs := searchRecords()
	for i := range recs {
		switch recs[i].Name {
		case "payments-api":
			recs[i].Docs = site(
				page("index.md", "Payments API", "How to take payments with the payments-api. Payments settle nightly."),
				page("guide/quokka.md", "Running it", "The quokka runbook: restart the <script>alert(1)</script> worker & wait.", "Restarting the numbat"),
			)
		case "orders":
			recs[i].Docs = site(page("index.md", "Orders", "Wombats dig orders."))
		default:
			if strings.HasPrefix(recs[i].Name, "svc-") {
				recs[i].Docs = site(page("index.md", "Filler", "filler pages of filler"))
			}
		}
	}
	return recs
}

func openDocSearch(t *testing.T, dbURL string) (*store.Store, []store.EntityRecord) {
	t.Helper()
	st := testdb.Open(t, dbURL)
	recs := docSearchRecords()
	if _, err := st.Apply(context.Background(), locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	return st, recs
}

func TestSearchFindsDocPages(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, _ := openDocSearch(t, dbURL)
		payments, orders := "component:default/payments-api", "api:default/orders"
		cases := []struct {
			name, query string
			kinds       []string
			first       hitKey
			want        []hitKey // exactly these, in any order (nil: not checked)
		}{
			{"a page's words find the page, linked to its entity", "quokka", nil, hitKey{payments, "guide/quokka.md"}, []hitKey{{payments, "guide/quokka.md"}}},
			{"a heading's words find the page", "numbat", nil, hitKey{payments, "guide/quokka.md"}, []hitKey{{payments, "guide/quokka.md"}}},
			{"a page title finds the page", "running", nil, hitKey{payments, "guide/quokka.md"}, []hitKey{{payments, "guide/quokka.md"}}},
			{"a prefix finds a page", "quok", nil, hitKey{payments, "guide/quokka.md"}, []hitKey{{payments, "guide/quokka.md"}}},
			{"the exact name beats pages that mention it", "payments-api", nil, hitKey{payments, ""}, nil},
			{"an entity named for a word beats its pages", "payments", nil, hitKey{payments, ""}, nil},
			{"kinds filter pages by their entity's kind", "wombats", []string{"api"}, hitKey{orders, "index.md"}, []hitKey{{orders, "index.md"}}},
			{"kinds leave out pages of other kinds", "quokka", []string{"api"}, hitKey{}, []hitKey{}},
			{"entity and page hits come together", "orders", nil, hitKey{orders, ""}, []hitKey{{orders, ""}, {orders, "index.md"}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := search(t, st, store.SearchQuery{Text: c.query, Kinds: c.kinds})
				got := hitKeys(res)
				if c.first != (hitKey{}) && (len(got) == 0 || got[0] != c.first) {
					t.Fatalf("search %q: hits %v, want %v first", c.query, got, c.first)
				}
				if c.want != nil {
					g, w := slices.Clone(got), slices.Clone(c.want)
					less := func(a, b hitKey) int { return strings.Compare(a.ref+"\x00"+a.path, b.ref+"\x00"+b.path) }
					slices.SortFunc(g, less)
					slices.SortFunc(w, less)
					if !slices.Equal(g, w) {
						t.Fatalf("search %q: hits %v, want %v", c.query, got, c.want)
					}
				}
				if res.Total != len(got) {
					t.Errorf("search %q: total %d, %d hits", c.query, res.Total, len(got))
				}
				for _, h := range res.Hits {
					if h.Page() && h.Title == "" {
						t.Errorf("search %q: page hit %v without its title", c.query, h)
					}
				}
			})
		}
	})
}

func TestSearchPageSnippetsAreMarkedAndEscaped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, _ := openDocSearch(t, dbURL)
		res := search(t, st, store.SearchQuery{Text: "quokka"})
		if len(res.Hits) != 1 {
			t.Fatalf("hits %v", hitKeys(res))
		}
		s := res.Hits[0].Snippet
		if !strings.Contains(s, "<mark>quokka</mark>") {
			t.Errorf("snippet does not mark the word: %s", s)
		}
		if strings.Contains(s, "<script") || !strings.Contains(s, "&lt;script&gt;") || !strings.Contains(s, "&amp;") {
			t.Errorf("snippet does not escape the page's text: %s", s)
		}
	})
}

// TestSearchPagingWalksEntitiesAndPagesOnce pages through 60 filler services and their 60
// filler pages in small pages.
func TestSearchPagingWalksEntitiesAndPagesOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, recs := openDocSearch(t, dbURL)
		var want []string
		for _, r := range recs {
			if strings.HasPrefix(r.Name, "svc-") {
				want = append(want, r.Ref+" ", r.Ref+" index.md")
			}
		}
		var got []string
		var after *store.SearchCursor
		for pages := 0; ; pages++ {
			if pages > 40 {
				t.Fatal("paging does not end")
			}
			res := search(t, st, store.SearchQuery{Text: "filler", First: 7, After: after})
			if res.Total != len(want) {
				t.Fatalf("total %d, want %d", res.Total, len(want))
			}
			for _, h := range res.Hits {
				got = append(got, h.Ref+" "+h.Path)
			}
			if !res.HasNext {
				break
			}
			last := res.Hits[len(res.Hits)-1]
			c, err := store.DecodeSearchCursor(last.Cursor().Encode())
			if err != nil {
				t.Fatal(err)
			}
			after = &c
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("paging walked %d hits, want each of %d once:\n got %q\nwant %q", len(got), len(want), got, want)
		}
	})
}

func TestDocSearchFollowsPageChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, recs := openDocSearch(t, dbURL)
		if err := st.Migrate(ctx); err != nil { // a restart keeps the index and its triggers
			t.Fatal(err)
		}
		find := func(q string) []hitKey {
			t.Helper()
			return hitKeys(search(t, st, store.SearchQuery{Text: q}))
		}
		// payments-api's runbook page changes its words; orders loses its docs; one filler
		// service is removed with its page.
		for i := range recs {
			switch recs[i].Name {
			case "payments-api":
				recs[i].Docs = site(
					page("index.md", "Payments API", "How to take payments with the payments-api. Payments settle nightly."),
					page("guide/quokka.md", "Running it", "The echidna runbook.", "Restarting"),
				)
				recs[i].Docs.Pages[0].Stub = true // unchanged: kept as stored
				recs[i].Hash = "changed"
			case "orders":
				recs[i].Docs, recs[i].Hash = nil, "changed"
			}
		}
		recs = slices.DeleteFunc(recs, func(r store.EntityRecord) bool { return r.Name == "svc-007" })
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := find("quokka"); len(got) != 0 {
			t.Errorf("quokka still finds %v", got)
		}
		if got := find("echidna"); !slices.Equal(got, []hitKey{{"component:default/payments-api", "guide/quokka.md"}}) {
			t.Errorf("echidna finds %v", got)
		}
		if got := find("nightly"); !slices.Equal(got, []hitKey{{"component:default/payments-api", "index.md"}}) {
			t.Errorf("the kept page: nightly finds %v", got)
		}
		if got := find("wombats"); len(got) != 0 {
			t.Errorf("docs removed: wombats still finds %v", got)
		}
		res := search(t, st, store.SearchQuery{Text: "filler"})
		for _, h := range res.Hits {
			if strings.HasSuffix(h.Ref, "svc-007") {
				t.Errorf("a removed entity's page is still found: %v", h)
			}
		}
		if res.Total != 2*59 {
			t.Errorf("filler: %d hits, want %d", res.Total, 2*59)
		}
	})
}

// TestSearchIndexesABoundedTextPerPage: words past the indexed length of a long page do not
// find it; its beginning does.
func TestSearchIndexesABoundedTextPerPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		recs := searchRecords()[:1]
		recs[0].Docs = site(page("index.md", "Long", "aardvark "+strings.Repeat("filler ", 5000)+"pangolin"))
		if _, err := st.Apply(context.Background(), locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "aardvark"})); len(got) != 1 {
			t.Errorf("the page's first word finds %v", got)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "pangolin"})); len(got) != 0 {
			t.Errorf("a word past the indexed text finds %v", got)
		}
	})
}

// TestCachedAnswersFollowWrites: search pages and facet counts are reused only until the next
// write that changes them, a docs-only change included.
func TestCachedAnswersFollowWrites(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, recs := openDocSearch(t, dbURL)
		kinds := func() []store.FacetValue {
			t.Helper()
			gen, err := st.Generation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v, err := st.Facet(ctx, "kind", nil, 10, gen)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		before := kinds()
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "wombats"})); len(got) != 1 {
			t.Fatalf("wombats finds %v", got)
		}
		// A docs-only change: the entity itself is unchanged.
		for i := range recs {
			if recs[i].Name == "orders" {
				recs[i].Docs = site(page("index.md", "Orders", "Echidnas dig orders."))
			}
		}
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "wombats"})); len(got) != 0 {
			t.Errorf("after a docs-only change, wombats still finds %v", got)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "echidnas"})); len(got) != 1 {
			t.Errorf("after a docs-only change, echidnas finds %v", got)
		}
		// An entity removed: one component fewer.
		recs = slices.DeleteFunc(recs, func(r store.EntityRecord) bool { return r.Name == "ledger" })
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		after := kinds()
		count := func(vs []store.FacetValue, v string) int {
			for _, x := range vs {
				if x.Value == v {
					return x.Count
				}
			}
			return 0
		}
		if count(after, "component") != count(before, "component")-1 {
			t.Errorf("components: %d before, %d after removing one", count(before, "component"), count(after, "component"))
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "ledger"})); slices.Contains(got, hitKey{"component:default/ledger", ""}) {
			t.Errorf("a removed entity is still found: %v", got)
		}
	})
}

// TestSearchIgnoresDiacriticsOnBothDatabases: accented and plain spellings find each other,
// in entities and in doc pages, and the snippet marks the accented word.
func TestSearchIgnoresDiacriticsOnBothDatabases(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		recs := searchRecords()[:2]
		recs[0].Title, recs[0].Description = "Zürich Gateway", "Serves the Café Señor branch."
		recs[1].Docs = site(page("index.md", "Dessert", "Crème brûlée is served at noon."))
		if _, err := st.Apply(context.Background(), locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		gateway, ledger := hitKey{recs[0].Ref, ""}, hitKey{recs[1].Ref, "index.md"}
		for _, c := range []struct {
			query string
			want  hitKey
			mark  string
		}{
			{"zurich", gateway, "<mark>Zürich</mark>"},
			{"Zürich", gateway, "<mark>Zürich</mark>"},
			{"ZÜRICH", gateway, "<mark>Zürich</mark>"},
			{"zür", gateway, "<mark>Zürich</mark>"},
			{"cafe senor", gateway, "<mark>Café</mark> <mark>Señor</mark>"},
			{"CAFÉ", gateway, "<mark>Café</mark>"},
			{"creme brulee", ledger, "<mark>Crème</mark> <mark>brûlée</mark>"},
			{"crème brûlée", ledger, "<mark>Crème</mark> <mark>brûlée</mark>"},
			{"cre\u0300me", ledger, "<mark>Crème</mark>"}, // decomposed: e and a combining grave accent
		} {
			res := search(t, st, store.SearchQuery{Text: c.query})
			if got := hitKeys(res); !slices.Equal(got, []hitKey{c.want}) {
				t.Errorf("search %q: hits %v, want %v", c.query, got, c.want)
				continue
			}
			if s := res.Hits[0].Snippet; !strings.Contains(s, c.mark) {
				t.Errorf("search %q: snippet %s, want %s in it", c.query, s, c.mark)
			}
		}
	})
}

// TestFormerSearchTablesAreDropped: a database from before the in-memory search index loses
// the full-text tables, triggers and columns search ranked from (writes kept them for
// nothing), and search still folds accents.
func TestFormerSearchTablesAreDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		former := []string{
			`CREATE VIRTUAL TABLE entity_search USING fts5(name)`,
			`CREATE TABLE search_index_state (id INTEGER PRIMARY KEY, stale INTEGER NOT NULL)`,
			`CREATE VIRTUAL TABLE doc_search USING fts5(title)`,
			`CREATE TRIGGER entity_search_insert AFTER INSERT ON entities BEGIN INSERT INTO entity_search(rowid, name) VALUES (new.id, new.name); END`,
			`CREATE TRIGGER doc_search_delete AFTER DELETE ON doc_pages BEGIN DELETE FROM doc_search WHERE rowid = old.id; END`,
		}
		left := `SELECT count(*) FROM sqlite_master WHERE name LIKE 'entity_search%' OR name LIKE 'doc_search%' OR name = 'search_index_state'`
		if st.Dialect == dialect.Postgres {
			former = []string{
				`CREATE OR REPLACE FUNCTION catalogd_unaccent(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT t $$`,
				`ALTER TABLE entities ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, catalogd_unaccent(name))) STORED`,
				`CREATE INDEX entities_search ON entities USING gin (search_vector)`,
				`ALTER TABLE doc_pages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, title)) STORED`,
			}
			left = `SELECT (SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'search_vector') +
				(SELECT count(*) FROM pg_proc WHERE proname = 'catalogd_unaccent') + (SELECT count(*) FROM pg_indexes WHERE indexname = 'entities_search')`
		}
		count := func() int {
			t.Helper()
			var n int
			if err := st.DB.QueryRow(left).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, stmt := range former {
			if _, err := st.DB.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(); n == 0 {
			t.Fatal("the former search objects were not made")
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d former search objects are left", n)
		}
		recs := searchRecords()[:1]
		recs[0].Description = "Zürich"
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "zurich"})); len(got) != 1 {
			t.Errorf("zurich finds %v", got)
		}
	})
}

// TestCachedAnswersAreBoundedInBytes: a client asking many distinct questions with long
// answers (a common word, a full page, a kinds list varied by a kind that matches nothing)
// must not make a replica keep more than the cache's byte bound of them.
func TestCachedAnswersAreBoundedInBytes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		long := strings.Repeat("quagga wallaby koala ", 40)
		recs := records(100, "big")
		for i := range recs {
			recs[i].Description = "numbat " + long
			recs[i].Title, recs[i].Tags, recs[i].Labels, recs[i].Annotations = "", nil, nil, nil
		}
		if _, err := st.Apply(ctx, locSpec("big"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		bound := store.MaxCachedAnswerBytes
		for i := range 500 {
			res, err := st.Search(ctx, store.SearchQuery{Text: "numbat", Kinds: []string{"component", fmt.Sprintf("nothing-%d", i)}, First: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) != 100 {
				t.Fatalf("search %d: %d hits, want 100", i, len(res.Hits))
			}
		}
		if got := st.CachedAnswerBytes(); got > bound {
			t.Errorf("the answer cache holds %d bytes after 500 long answers; want at most %d", got, bound)
		}
	})
}

// TestSearchIndexReindexesOnlyWhatChanged: after one entity changes, search's index indexes
// that row again and no other (not every doc page).
func TestSearchIndexReindexesOnlyWhatChanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, recs := openDocSearch(t, dbURL)
		search(t, st, store.SearchQuery{Text: "payments"})
		if n := store.SearchIndexDelta(st); n != 0 {
			t.Fatalf("a new index holds %d rows in its delta", n)
		}
		pageIDs := func() []int {
			t.Helper()
			var ids []int
			rows, err := st.DB.Query(`SELECT id FROM doc_pages ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int
				rows.Scan(&id)
				ids = append(ids, id)
			}
			return ids
		}
		before := pageIDs()
		for _, r := range recs { // as a re-read sends pages whose source did not change
			if r.Docs != nil {
				for j := range r.Docs.Pages {
					r.Docs.Pages[j].Stub = true
				}
			}
		}
		recs[3].Description, recs[3].Hash = "now with a wallaby", "changed"
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "wallaby"})); len(got) != 1 {
			t.Fatalf("wallaby finds %v", got)
		}
		if after := pageIDs(); !slices.Equal(before, after) {
			t.Fatalf("the pages were written again: ids %v, then %v", before, after)
		}
		if n := store.SearchIndexDelta(st); n != 1 {
			t.Fatalf("after one entity changed, %d rows were indexed again", n)
		}
	})
}

// TestSearchIndexIsRebuiltInTheBackground: when more than a tenth of the rows changed since
// the index was built, it is built anew in the background; searches answer right meanwhile
// and after.
func TestSearchIndexIsRebuiltInTheBackground(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		recs := records(200, "r")
		if _, err := st.Apply(ctx, locSpec("r"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		search(t, st, store.SearchQuery{Text: "r"})
		for i := range 30 {
			recs[i].Description, recs[i].Hash = "a numbat lives here", "changed"
		}
		if _, err := st.Apply(ctx, locSpec("r"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if res := search(t, st, store.SearchQuery{Text: "numbat"}); res.Total != 30 {
			t.Fatalf("numbat: %d hits, want 30", res.Total)
		}
		deadline := time.Now().Add(30 * time.Second)
		for store.SearchIndexDelta(st) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the index still holds %d rows in its delta", store.SearchIndexDelta(st))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if res := search(t, st, store.SearchQuery{Text: "numbat"}); res.Total != 30 {
			t.Fatalf("after the rebuild, numbat: %d hits, want 30", res.Total)
		}
	})
}

// TestADocsOnlyChangeMovesTheGeneration: a re-read that changes a doc page and no entity
// moves the catalog's generation and says so (serve brings search's index up to it).
func TestADocsOnlyChangeMovesTheGeneration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, recs := openDocSearch(t, dbURL)
		before, err := st.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if recs[i].Name == "payments-api" {
				recs[i].Docs.Pages[0].Text, recs[i].Docs.Pages[0].Hash = "Now about a bilby.", "changed"
			}
		}
		res, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)})
		if err != nil {
			t.Fatal(err)
		}
		after, err := st.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed() || !res.GenerationChanged() || after <= before {
			t.Fatalf("a docs-only change: Changed %v, GenerationChanged %v, generation %d then %d", res.Changed(), res.GenerationChanged(), before, after)
		}
		if got := hitKeys(search(t, st, store.SearchQuery{Text: "bilby"})); len(got) != 1 {
			t.Fatalf("bilby finds %v", got)
		}
	})
}
