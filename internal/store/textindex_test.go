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
	"catalogd/ent/predicate"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// textMatches asks the database which refs the text filter matches.
func textMatches(t *testing.T, st *store.Store, text string) []string {
	t.Helper()
	match, err := st.TextMatch(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := st.Client.Entity.Query().Where(predicate.Entity(match)).Select(entity.FieldRef).Strings(context.Background())
	if err != nil {
		t.Fatalf("text %q: %v", text, err)
	}
	sort.Strings(refs)
	return refs
}

// scanMatches is the filter's meaning, computed here: text is a substring of name, title or
// description, ignoring case.
func scanMatches(st *store.Store, recs []store.EntityRecord, text string) []string {
	var out []string
	fold := strings.ToLower
	for _, r := range recs {
		for _, v := range []string{r.Name, r.Title, r.Description} {
			if strings.Contains(fold(v), fold(text)) {
				out = append(out, r.Ref)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func textRecords(n int) []store.EntityRecord {
	recs := records(n, "t")
	words := []string{"Payments Gateway", "ledger-writer", "50% off_sale", `say "hi"`, "Straße", "NIGHTLY batch", "a_b%c", "x", "ab", "abc"}
	for i := range recs {
		recs[i].Title = words[i%len(words)] + fmt.Sprintf(" %d", i%13)
		recs[i].Description = "serves the " + words[(i*7)%len(words)] + " for " + tricky[i%len(tricky)]
	}
	return recs
}

func TestTextFilterMatchesExactlyTheSubstrings(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		recs := textRecords(300)
		if _, err := st.Apply(context.Background(), locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"pay", "PAYMENTS", "ments gate", "ledger-w", "50%", "% off", "off_s", "_", "%", `"hi"`, `y "h`,
			"straße", "STRASSE", "nightly", "tly ba", "a_b%c", "b%c", "x", "ab", "abc", "t-0001", "t-00", "12", "serves the",
			"no such words", "tab\th", "\\slash", "ünïc", "✓", "<&>"} {
			got, want := textMatches(t, st, q), scanMatches(st, recs, q)
			if !slices.Equal(got, want) {
				t.Errorf("text %q: matched %d refs, want %d\n got: %.5q\nwant: %.5q", q, len(got), len(want), got, want)
			}
		}
	})
}

func TestTextIndexFollowsEveryWrite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		// Large enough for the first apply to build the index at the end (SQLite).
		recs := textRecords(5200)
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		// The large first apply left the index stale (SQLite): the filter scans meanwhile.
		if got, want := textMatches(t, st, "ledger-w"), scanMatches(st, recs, "ledger-w"); !slices.Equal(got, want) || len(got) == 0 {
			t.Fatalf("after a large first apply: %d matches, want %d", len(got), len(want))
		}
		rebuilt, err := st.RebuildTextIndex(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rebuilt {
			t.Fatal("RebuildTextIndex after a large first apply built nothing")
		}
		if again, err := st.RebuildTextIndex(ctx); err != nil || again {
			t.Fatalf("a second RebuildTextIndex: %v, %v; want nothing to do", again, err)
		}
		checkUsesIndex(t, st, "ledger-w")
		if got, want := textMatches(t, st, "ledger-w"), scanMatches(st, recs, "ledger-w"); !slices.Equal(got, want) || len(got) == 0 {
			t.Fatalf("after the rebuild: %d matches, want %d", len(got), len(want))
		}
		// Change one title, remove one entity, add one.
		recs[1].Title, recs[1].Hash = "Quokka Service", "changed"
		removed := recs[2]
		recs = slices.Delete(recs, 2, 3)
		added := textRecords(1)[0]
		added.Ref, added.Name, added.Title = "component:default/new-one", "new-one", "Wombat Tracker"
		recs = append(recs, added)
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"quokka", "wombat", removed.Name, "ledger-w", "payments gate"} {
			if got, want := textMatches(t, st, q), scanMatches(st, recs, q); !slices.Equal(got, want) {
				t.Errorf("text %q after changes: %d matches %.3q, want %d %.3q", q, len(got), got, len(want), want)
			}
		}
		if got := textMatches(t, st, removed.Name); len(got) != 0 {
			t.Errorf("the removed entity %s is still found: %q", removed.Ref, got)
		}
	})
}

// TestTextFilterUsesTheIndex checks the plans: the filter must not scan the table.
func TestTextFilterUsesTheIndex(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		if _, err := st.Apply(context.Background(), locSpec("t"), &store.Batch{Parts: parts(textRecords(200))}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RebuildTextIndex(context.Background()); err != nil { // PostgreSQL: builds the GIN indexes
			t.Fatal(err)
		}
		checkUsesIndex(t, st, "ledger")
	})
}

// checkUsesIndex fails unless the plan of the text filter for text uses the trigram index.
func checkUsesIndex(t *testing.T, st *store.Store, text string) {
	t.Helper()
	ctx := context.Background()
	match, err := st.TextMatch(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	sel := entsql.Dialect(st.Dialect).Select("id").From(entsql.Table(entity.Table))
	match(sel)
	query, args := sel.Query()
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	want := "VIRTUAL TABLE INDEX"
	if st.Dialect == dialect.Postgres {
		// A table this small is cheaper to scan; forbid that to see whether the index can serve.
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "RESET enable_seqscan")
		explain, want = "EXPLAIN ", "_trgm"
		if _, fromMemory, err := store.TextCandidates(st, ctx, text); err != nil {
			t.Fatal(err)
		} else if fromMemory { // the in-memory index's candidates, by primary key
			want = "entities_pkey"
		}
	}
	rows, err := conn.QueryContext(ctx, explain+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
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
	if !strings.Contains(plan.String(), want) {
		t.Fatalf("plan of %s does not use the text index (%q):\n%s", query, want, plan.String())
	}
}

// TestTextIndexIsBuiltForExistingRows: a database from before the index gets it filled.
func TestTextIndexIsBuiltForExistingRows(t *testing.T) {
	dbURL := testdb.SQLite(t)
	ctx := context.Background()
	st := testdb.Open(t, dbURL)
	recs := textRecords(50)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP TRIGGER entity_text_insert", "DROP TRIGGER entity_text_delete", "DROP TRIGGER entity_text_update", "DROP TABLE entity_text"} {
		if _, err := st.DB.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := textMatches(t, st, "payments"), scanMatches(st, recs, "payments"); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("after migrating an old database: %d matches, want %d", len(got), len(want))
	}
	if rebuilt, err := st.RebuildTextIndex(ctx); err != nil || !rebuilt {
		t.Fatalf("RebuildTextIndex of an old database: %v, %v", rebuilt, err)
	}
	checkUsesIndex(t, st, "payments")
	if got, want := textMatches(t, st, "payments"), scanMatches(st, recs, "payments"); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("after the rebuild: %d matches, want %d", len(got), len(want))
	}
}

// TestWritesWhileTheTextIndexIsStale: applies between a large first apply and the rebuild
// change rows the index does not hold; the rebuild must still leave a sound index.
func TestWritesWhileTheTextIndexIsStale(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.SQLite(t))
	recs := textRecords(5200)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	recs[7].Title, recs[7].Hash = "Platypus Queue", "changed"
	recs = slices.Delete(recs, 8, 20)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	if got, want := textMatches(t, st, "platypus"), scanMatches(st, recs, "platypus"); !slices.Equal(got, want) || len(got) != 1 {
		t.Fatalf("while stale: %q, want %q", got, want)
	}
	if rebuilt, err := st.RebuildTextIndex(ctx); err != nil || !rebuilt {
		t.Fatalf("RebuildTextIndex: %v, %v", rebuilt, err)
	}
	recs[9].Title, recs[9].Hash = "Echidna Cache", "changed again"
	recs = slices.Delete(recs, 30, 40)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB.Exec("INSERT INTO entity_text(entity_text, rank) VALUES ('integrity-check', 1)"); err != nil {
		t.Fatalf("the text index does not match its rows: %v", err)
	}
	for _, q := range []string{"platypus", "echidna", "ledger-w", "payments gate"} {
		if got, want := textMatches(t, st, q), scanMatches(st, recs, q); !slices.Equal(got, want) {
			t.Errorf("text %q: %d matches, want %d", q, len(got), len(want))
		}
	}
}

// TestPostgresGinIndexesAreBuiltAfterTheFirstIngest: a first ingest into PostgreSQL writes no
// GIN index row by row; RebuildTextIndex builds them (concurrently) once the table has rows,
// not before, and once.
func TestPostgresGinIndexesAreBuiltAfterTheFirstIngest(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.Postgres(t))
	gin := func() []string {
		rows, err := st.DB.Query(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'entities' AND indexdef LIKE '%USING gin%' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	if built, err := st.RebuildTextIndex(ctx); err != nil || built || len(gin()) != 0 {
		t.Fatalf("on an empty table: built %v, %v, indexes %v; want none yet", built, err, gin())
	}
	recs := textRecords(300)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	if got := gin(); len(got) != 0 {
		t.Fatalf("GIN indexes %v exist during the first ingest", got)
	}
	if got, want := textMatches(t, st, "ledger-w"), scanMatches(st, recs, "ledger-w"); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("without the indexes: %d matches, want %d", len(got), len(want))
	}
	if built, err := st.RebuildTextIndex(ctx); err != nil || !built {
		t.Fatalf("RebuildTextIndex: %v, %v", built, err)
	}
	want := []string{"entities_description_trgm", "entities_name_trgm", "entities_title_trgm"}
	if got := gin(); !slices.Equal(got, want) {
		t.Fatalf("GIN indexes %v, want %v", got, want)
	}
	if built, err := st.RebuildTextIndex(ctx); err != nil || built {
		t.Fatalf("a second RebuildTextIndex: %v, %v; want nothing to do", built, err)
	}
	checkUsesIndex(t, st, "ledger-w")
}
