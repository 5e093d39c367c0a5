package store_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"catalogd/ent/entity"
	"catalogd/internal/catalog"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// searchRecords is a small catalog for relevance: payments-api is named for payments, ledger
// only mentions payments-api in its description, and svc-NNN fill pages.
func searchRecords() []store.EntityRecord {
	rec := func(kind, name, typ, owner, desc string, tags ...string) store.EntityRecord {
		r := records(1, "s")[0]
		r.Ref, r.Kind, r.Name = kind+":default/"+name, kind, name
		r.Title, r.Description, r.Type, r.OwnerRef, r.Tags = "", desc, typ, owner, tags
		r.SystemRef, r.Relations, r.Hash = "", nil, "h-"+name
		return r
	}
	recs := []store.EntityRecord{
		rec("component", "payments-api", "service", "group:default/team-alpha", "Takes card payments from the shop.", "billing"),
		rec("component", "ledger", "service", "group:default/team-beta", "Books every payments-api call in the ledger, payments after payments."),
		rec("component", "checkout-web", "website", "group:default/web-squad", `<script>alert(1)</script> the <b>checkout</b> page & more`, "frontend", "checkout"),
		rec("api", "orders", "grpc", "group:default/team-alpha", "Order API of the shop.", "orders"),
	}
	for i := range 60 {
		recs = append(recs, rec("component", fmt.Sprintf("svc-%03d", i), "service", "group:default/team-gamma", fmt.Sprintf("filler service %d, filler of filler", i%4)))
	}
	return recs
}

func search(t *testing.T, st *store.Store, q store.SearchQuery) store.SearchResult {
	t.Helper()
	if q.First == 0 {
		q.First = 100
	}
	res, err := st.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %q: %v", q.Text, err)
	}
	return res
}

func hitRefs(res store.SearchResult) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.Ref
	}
	return out
}

func openSearch(t *testing.T, dbURL string) (*store.Store, []store.EntityRecord) {
	t.Helper()
	st := testdb.Open(t, dbURL)
	recs := searchRecords()
	if _, err := st.Apply(context.Background(), locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	return st, recs
}

func TestSearchRelevance(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, _ := openSearch(t, dbURL)
		cases := []struct {
			name, query string
			kinds       []string
			first       string   // the best hit
			want        []string // exactly these hits, in any order (nil: not checked)
		}{
			{"an exact name beats a description mention", "payments-api", nil, "component:default/payments-api", []string{"component:default/payments-api", "component:default/ledger"}},
			{"a name word beats repeated description mentions", "payments", nil, "component:default/payments-api", []string{"component:default/payments-api", "component:default/ledger"}},
			{"a prefix finds the name for type-ahead", "paym", nil, "component:default/payments-api", nil},
			{"a three-letter prefix works", "led", nil, "component:default/ledger", nil},
			{"a two-letter word matches only itself", "le", nil, "", []string{}},
			{"a single character matches only itself", "p", nil, "", []string{}},
			{"tags are searchable", "billing", nil, "component:default/payments-api", []string{"component:default/payments-api"}},
			{"owner is searchable", "squad", nil, "component:default/checkout-web", []string{"component:default/checkout-web"}},
			{"owner words together", "team alpha", nil, "", []string{"component:default/payments-api", "api:default/orders"}},
			{"kinds filter", "team alpha", []string{"api"}, "api:default/orders", []string{"api:default/orders"}},
			{"spec.type is searchable", "grpc", nil, "api:default/orders", []string{"api:default/orders"}},
			{"kind is searchable", "api", []string{"api"}, "api:default/orders", []string{"api:default/orders"}},
			{"every word must match", "payments shop", nil, "component:default/payments-api", []string{"component:default/payments-api"}},
			{"case does not matter", "LEDGER", nil, "component:default/ledger", nil},
			{"nothing found", "zebra", nil, "", []string{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := search(t, st, store.SearchQuery{Text: c.query, Kinds: c.kinds})
				got := hitRefs(res)
				if c.first != "" && (len(got) == 0 || got[0] != c.first) {
					t.Fatalf("search %q: hits %q, want %s first", c.query, got, c.first)
				}
				if c.want != nil {
					g, w := slices.Clone(got), slices.Clone(c.want)
					sort.Strings(g)
					sort.Strings(w)
					if !slices.Equal(g, w) {
						t.Fatalf("search %q: hits %q, want %q", c.query, got, c.want)
					}
				}
				if res.Total != len(got) {
					t.Errorf("search %q: total %d, %d hits", c.query, res.Total, len(got))
				}
				for i := 1; i < len(res.Hits); i++ {
					if a, b := res.Hits[i-1], res.Hits[i]; a.Score < b.Score || (a.Score == b.Score && a.ID > b.ID) {
						t.Errorf("search %q: hits out of order at %d: %v, %v", c.query, i, a, b)
					}
				}
			})
		}
	})
}

func TestSearchPagingWalksEveryHitOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, recs := openSearch(t, dbURL)
		var want []string
		for _, r := range recs {
			if strings.Contains(r.Description, "filler") {
				want = append(want, r.Ref)
			}
		}
		var got []string
		var after *store.SearchCursor
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("paging does not end")
			}
			res := search(t, st, store.SearchQuery{Text: "filler", First: 7, After: after})
			if res.Total != len(want) {
				t.Fatalf("total %d, want %d", res.Total, len(want))
			}
			got = append(got, hitRefs(res)...)
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

func TestSearchQueriesCannotInject(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, _ := openSearch(t, dbURL)
		// Words with operators, quotes and symbols around them: no error; operators are words.
		for _, q := range []string{`"payments`, `paym*`, `-payments`, `payments:api`, `'payments'`, `pay\ments`, `payments 🚀`,
			`payments OR ledger`, `NEAR(payments ledger)`, `(payments`, `payments AND NOT ledger`, `name:payments`, `{name}: payments`,
			`payments^`, `payments' OR '1'='1`, `payments"; DROP TABLE entities; --`, `payments & | ! <->`, `payments\`, `ledger OR checkout`,
			"tab\tpayments", `payments NOT`, `^payments`, `payments + ledger`, `ünïcødé`, `x:*`} {
			res, err := st.Search(context.Background(), store.SearchQuery{Text: q, First: 100})
			if err != nil {
				t.Errorf("search %q: %v", q, err)
				continue
			}
			refs := hitRefs(res)
			if slices.Contains(refs, "component:default/checkout-web") && slices.Contains(refs, "component:default/ledger") {
				t.Errorf("search %q found both ledger and checkout-web: an operator was obeyed", q)
			}
		}
		for _, q := range []string{`paym*`, `-payments`, `"payments`, `(payments`, `payments^`, `payments:`, `{payments}`} {
			if refs := hitRefs(search(t, st, store.SearchQuery{Text: q})); !slices.Contains(refs, "component:default/payments-api") {
				t.Errorf("search %q: hits %q, want payments-api among them", q, refs)
			}
		}
		// Nothing to search for, or too much: a clear invalid-input error.
		for _, q := range []string{"", "   ", `"`, `*`, `-`, `()`, `:`, `'`, `\`, `""`, "🚀", "* OR *"[0:1], strings.Repeat("a ", 9), strings.Repeat("x", 201)} {
			_, err := st.Search(context.Background(), store.SearchQuery{Text: q, First: 10})
			if catalog.ErrorCode(err) != catalog.EINVALID {
				t.Errorf("search %.20q: error %v, want invalid input", q, err)
			}
		}
		if err := st.DB.QueryRow("SELECT count(*) FROM entities").Scan(new(int)); err != nil {
			t.Fatalf("the entities table is gone: %v", err)
		}
	})
}

func TestSearchSnippetsEscapeHTML(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st, _ := openSearch(t, dbURL)
		res := search(t, st, store.SearchQuery{Text: "checkout page"})
		if len(res.Hits) != 1 {
			t.Fatalf("hits %q", hitRefs(res))
		}
		s := res.Hits[0].Snippet
		if strings.Contains(s, "<script") || strings.Contains(s, "<b>") {
			t.Fatalf("snippet lets markup through: %s", s)
		}
		if !strings.Contains(s, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("snippet does not show the escaped script tag: %s", s)
		}
		if !strings.Contains(s, "&amp;") {
			t.Errorf("snippet does not escape &: %s", s)
		}
		if !strings.Contains(s, "<mark>page</mark>") {
			t.Errorf("snippet does not mark the matched word: %s", s)
		}
		if strings.Count(s, "<mark>") != strings.Count(s, "</mark>") {
			t.Errorf("unbalanced marks: %s", s)
		}
		res = search(t, st, store.SearchQuery{Text: "paym"})
		if s := res.Hits[0].Snippet; !strings.Contains(strings.ToLower(s), "<mark>payments") {
			t.Errorf("prefix snippet does not mark the word: %s", s)
		}
	})
}

func TestSearchIndexFollowsWrites(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, recs := openSearch(t, dbURL)
		// Migrating again (a restart) keeps the index and its triggers.
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		recs[1].Description, recs[1].Hash = "Now keeps the quokka register.", "changed"
		recs[3].Tags, recs[3].Hash = []string{"wombat"}, "changed"
		removed := recs[0]
		recs = recs[1:]
		if _, err := st.Apply(ctx, locSpec("s"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitRefs(search(t, st, store.SearchQuery{Text: "quokka"})); !slices.Equal(got, []string{"component:default/ledger"}) {
			t.Errorf("after an update: quokka finds %q", got)
		}
		if got := hitRefs(search(t, st, store.SearchQuery{Text: "wombat"})); !slices.Equal(got, []string{"api:default/orders"}) {
			t.Errorf("after a tag update: wombat finds %q", got)
		}
		if got := hitRefs(search(t, st, store.SearchQuery{Text: "payments"})); slices.Contains(got, removed.Ref) || slices.Contains(got, "component:default/ledger") {
			t.Errorf("after a delete and an update: payments finds %q", got)
		}
	})
}

// TestSearchAfterALargeFirstApply: after a large first apply (which the bulk writer makes),
// search finds everything at once, and follows later writes.
func TestSearchAfterALargeFirstApply(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		recs := textRecords(5200)
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Search(ctx, store.SearchQuery{Text: "nightly", First: 5}); err != nil {
			t.Fatalf("search after the first apply: %v", err)
		}
		recs[7].Title, recs[7].Hash = "Platypus Queue", "changed"
		recs = slices.Delete(recs, 8, 20)
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, r := range recs {
			if strings.Contains(strings.ToLower(r.Title), "nightly") {
				want++
			}
		}
		if res := search(t, st, store.SearchQuery{Text: "nightly", First: 5}); res.Total != want || want == 0 {
			t.Fatalf("after an update: %d hits, want %d", res.Total, want)
		}
		if got := hitRefs(search(t, st, store.SearchQuery{Text: "platypus"})); !slices.Equal(got, []string{recs[7].Ref}) {
			t.Errorf("platypus finds %q, want %s", got, recs[7].Ref)
		}
		recs[9].Title, recs[9].Hash = "Echidna Cache", "changed again"
		recs = slices.Delete(recs, 30, 40)
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		if got := hitRefs(search(t, st, store.SearchQuery{Text: "echidna"})); !slices.Equal(got, []string{recs[9].Ref}) {
			t.Errorf("echidna finds %q, want %s", got, recs[9].Ref)
		}
	})
}

func TestFacetsCountLikeTheRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		recs := records(300, "f")
		for i := range recs {
			recs[i].Type = []string{"service", "website", "library"}[i%3]
			recs[i].Lifecycle = []string{"production", "experimental"}[i%2]
			if i%11 == 0 {
				recs[i].SystemRef = ""
			}
		}
		if _, err := st.Apply(ctx, locSpec("f"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		value := func(r store.EntityRecord, field string) []string {
			switch field {
			case "kind":
				return []string{r.Kind}
			case "namespace":
				return []string{r.Namespace}
			case "spec.type":
				return []string{r.Type}
			case "spec.lifecycle":
				return []string{r.Lifecycle}
			case "owner":
				return []string{r.OwnerRef}
			case "system":
				return []string{r.SystemRef}
			}
			return r.Tags
		}
		for _, filtered := range []bool{false, true} {
			var preds []func(*entsql.Selector)
			if filtered {
				preds = append(preds, entity.TypeIn("service", "library"))
			}
			for _, field := range store.FacetFields() {
				counts := map[string]int{}
				for i, r := range recs {
					if filtered && i%3 == 1 {
						continue
					}
					for _, v := range value(r, field) {
						if v != "" {
							counts[v]++
						}
					}
				}
				var want []store.FacetValue
				for v, n := range counts {
					want = append(want, store.FacetValue{Value: v, Count: n})
				}
				sort.Slice(want, func(i, j int) bool {
					if want[i].Count != want[j].Count {
						return want[i].Count > want[j].Count
					}
					return want[i].Value < want[j].Value
				})
				want = want[:min(len(want), 5)]
				gen, err := st.Generation(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, cache := range []int64{-1, gen, gen} { // computed, cached, from the cache
					got, err := st.Facet(ctx, field, preds, 5, cache)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Errorf("facet %s (filtered %v, cache %v):\n got %v\nwant %v", field, filtered, cache, got, want)
					}
				}
				// Counted in memory, from the search index.
				var ff store.FacetFilter
				if filtered {
					ff.Types = []string{"service", "library"}
				}
				got, err := st.Facets(ctx, []string{field}, ff, 5)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[0], want) {
					t.Errorf("facet %s in memory (filtered %v):\n got %v\nwant %v", field, filtered, got[0], want)
				}
			}
		}
		// Other filters, in memory and in the database, after some entities went.
		recs = recs[40:]
		recs[0].Tags, recs[0].Hash = []string{"t1", "t2", "t1"}, "retagged"
		if _, err := st.Apply(ctx, locSpec("f"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			ff    store.FacetFilter
			preds []func(*entsql.Selector)
		}{
			{store.FacetFilter{Tags: []string{"t1"}}, []func(*entsql.Selector){store.JSONArrayContains(entity.FieldTags, "t1")}},
			{store.FacetFilter{Tags: []string{"t1", "t2"}}, []func(*entsql.Selector){store.JSONArrayContains(entity.FieldTags, "t1"), store.JSONArrayContains(entity.FieldTags, "t2")}},
			{store.FacetFilter{Owner: "group:default/team-3", Kinds: []string{"component", "api"}}, []func(*entsql.Selector){entity.OwnerRef("group:default/team-3"), entity.KindIn("component", "api")}},
			{store.FacetFilter{System: "system:default/s1", Lifecycles: []string{"production"}, Namespaces: []string{"default"}}, []func(*entsql.Selector){entity.SystemRef("system:default/s1"), entity.LifecycleIn("production"), entity.NamespaceIn("default")}},
			{store.FacetFilter{Kinds: []string{"nonesuch"}}, []func(*entsql.Selector){entity.KindIn("nonesuch")}},
		} {
			got, err := st.Facets(ctx, store.FacetFields(), c.ff, 5)
			if err != nil {
				t.Fatal(err)
			}
			for i, field := range store.FacetFields() {
				want, err := st.Facet(ctx, field, c.preds, 5, -1)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[i], want) {
					t.Errorf("facet %s under %+v in memory:\n got %v\nwant %v", field, c.ff, got[i], want)
				}
			}
		}
		if _, err := st.Facet(ctx, "color", nil, 5, 0); catalog.ErrorCode(err) != catalog.EINVALID || !strings.Contains(err.Error(), "spec.lifecycle") {
			t.Errorf("unknown field: %v", err)
		}
	})
}

// TestFacetsReadAnIndexAlone checks the plans: a facet of the whole catalog, or of one kind,
// is counted from an index, never from the wide rows of the table.
func TestFacetsReadAnIndexAlone(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		if _, err := st.Apply(ctx, locSpec("f"), &store.Batch{Parts: parts(records(200, "f"))}); err != nil {
			t.Fatal(err)
		}
		conn, err := st.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain, want := "EXPLAIN QUERY PLAN ", "COVERING INDEX"
		if st.Dialect == dialect.Postgres {
			if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE entities, entity_tags"); err != nil {
				t.Fatal(err)
			}
			// A table this small is cheaper to scan; forbid that, and reading the table through
			// an index, to see whether an index alone can serve. Whether the planner prefers an
			// index-only scan otherwise depends on the visibility map, which VACUUM cannot set
			// while another session's snapshot is open: under concurrent tests it chose plain
			// index scans now and then.
			for _, scan := range []string{"seqscan", "indexscan", "bitmapscan"} {
				if _, err := conn.ExecContext(ctx, "SET enable_"+scan+" = off"); err != nil {
					t.Fatal(err)
				}
				defer conn.ExecContext(ctx, "RESET enable_"+scan)
			}
			explain, want = "EXPLAIN ", "Index Only Scan"
		}
		for _, field := range []string{"kind", "namespace", "spec.type", "spec.lifecycle", "owner", "system", "tags"} {
			for _, preds := range [][]func(*entsql.Selector){nil, {entity.KindIn("component")}} {
				if field == "tags" && preds != nil {
					continue // entity_tags joined to the kind's rows
				}
				query, args, err := store.FacetQuery(st, field, preds, 100, true)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := conn.QueryContext(ctx, explain+query, args...)
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				var plan strings.Builder
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					fmt.Fprintln(&plan, vals...)
				}
				rows.Close()
				if !strings.Contains(plan.String(), want) {
					t.Errorf("facet %s (filtered %v) does not read an index alone (%q):\n%s\n%s", field, preds != nil, want, query, plan.String())
				}
			}
		}
	})
}

// TestTagTableFollowsTheEntities: the tags facet counted from entity_tags equals the count
// from the entities' JSON after entities are added, their tags changed, and entities removed,
// on a large first ingest (SQLite's table stale, then rebuilt) as after row-by-row applies.
func TestTagTableFollowsTheEntities(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		count := func(tagTable bool) []store.FacetValue {
			t.Helper()
			query, args, err := store.FacetQuery(st, "tags", nil, 1000, tagTable)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := st.DB.QueryContext(ctx, query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []store.FacetValue
			for rows.Next() {
				var v store.FacetValue
				if err := rows.Scan(&v.Value, &v.Count); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			return out
		}
		check := func(when string) {
			t.Helper()
			if _, err := st.RebuildTextIndex(ctx); err != nil {
				t.Fatal(err)
			}
			fromJSON, fromTable := count(false), count(true)
			if len(fromJSON) == 0 || !slices.Equal(fromJSON, fromTable) {
				t.Errorf("%s: tags from entity_tags\n%v\nfrom the JSON\n%v", when, fromTable, fromJSON)
			}
		}
		recs := records(3000, "g") // enough for the bulk writer on SQLite
		if _, err := st.Apply(ctx, locSpec("g"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		check("after a first ingest")
		changed := slices.Clone(recs[:2000])
		for i := range changed {
			if i%2 == 0 {
				changed[i].Tags = []string{"new", "new", fmt.Sprint("x", i%4)}
			}
		}
		if _, err := st.Apply(ctx, locSpec("g"), &store.Batch{Parts: parts(changed)}); err != nil {
			t.Fatal(err)
		}
		check("after tags changed and entities removed")
		if _, err := st.Apply(ctx, locSpec("h"), &store.Batch{Parts: parts(records(20, "h"))}); err != nil {
			t.Fatal(err)
		}
		check("after entities added to a full catalog")
	})
}
