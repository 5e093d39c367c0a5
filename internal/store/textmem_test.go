package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/predicate"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// unicodeTexts are texts whose case folding differs between Go, SQLite and PostgreSQL's
// locales: sharp s and its capital, Turkish dotted and dotless i, the Kelvin sign, combining
// marks, a title-case digraph, final sigma.
var unicodeTexts = []string{"Straße", "STRASSE", "GROẞE", "İstanbul", "ISTANBUL ıi", "KELVIN \u212a", "e\u0301cole", "École", "ǅungla", "ΣΟΦΟΣ σοφος",
	"--__%%", "...", `\\`, "a_b%c"}

// answer is a text filter's whole answer: every matching ref in order, and the count.
func answer(t *testing.T, st *store.Store, match func(*entsql.Selector)) ([]string, int) {
	t.Helper()
	ctx := context.Background()
	q := st.Client.Entity.Query().Where(predicate.Entity(match))
	n, err := q.Clone().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := q.Order(ent.Asc(entity.FieldRef), ent.Asc(entity.FieldID)).Select(entity.FieldRef).Strings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return refs, n
}

// checkSameAnswers fails unless the text filter answers each query exactly as the ILIKE alone
// does, and returns how many were answered from the in-memory index.
func checkSameAnswers(t *testing.T, st *store.Store, queries []string) int {
	t.Helper()
	ctx := context.Background()
	fromIndex := 0
	for _, q := range queries {
		if _, ok, err := store.TextCandidates(st, ctx, q); err != nil {
			t.Fatalf("text %q: %v", q, err)
		} else if ok {
			fromIndex++
		}
		match, err := st.TextMatch(ctx, q)
		if err != nil {
			t.Fatalf("text %q: %v", q, err)
		}
		got, gotN := answer(t, st, match)
		want, wantN := answer(t, st, store.PlainTextMatch(q))
		if !slices.Equal(got, want) || gotN != wantN {
			t.Errorf("text %.40q: %d refs (count %d), the ILIKE alone %d (count %d)\n got: %.5q\nwant: %.5q", q, len(got), gotN, len(want), wantN, got, want)
		}
	}
	return fromIndex
}

// textQueries are searches as people type them (pieces of the rows' texts, in any case),
// and attacks: punctuation only, unicode folding, a huge search.
func textQueries(rng *rand.Rand, recs []store.EntityRecord) []string {
	qs := []string{"pay", "PAYMENTS", "ments gate", "ledger-w", "50%", "% off", "off_s", "___", "%%%", "---", `"hi"`,
		"straße", "STRASSE", "strasse", "ß", "ẞ", "große", "istanbul", "İSTANBUL", "ıi", "kelvin k", "KELVIN \u212a", "école", "ÉCOLE", "e\u0301c",
		"ǆungla", "Ǆ", "σοφοσ", "ΣΟΦΟΣ", "σοφος", "nightly", "a_b%c", "b%c", `\\`, `\\\`, "...", "t-0001", "serves the", "no such words",
		"tab\th", "\\slash", "ünïc", "✓✓✓", "<&>", strings.Repeat("payments-o", 2_000)}
	for range 150 {
		r := recs[rng.IntN(len(recs))]
		text := []string{r.Name, r.Title, r.Description}[rng.IntN(3)]
		runes := []rune(text)
		if len(runes) < 3 {
			continue
		}
		i := rng.IntN(len(runes) - 2)
		piece := string(runes[i : i+3+rng.IntN(min(12, len(runes)-i-2))])
		switch rng.IntN(3) {
		case 1:
			piece = strings.ToUpper(piece)
		case 2:
			piece = strings.ToLower(piece)
		}
		qs = append(qs, piece)
	}
	return qs
}

func unicodeRecords(n int) []store.EntityRecord {
	recs := textRecords(n)
	for i := range recs {
		if i%3 == 0 {
			recs[i].Title = unicodeTexts[i%len(unicodeTexts)] + fmt.Sprintf(" %d", i%11)
		}
		if i%5 == 0 {
			recs[i].Description = "about " + unicodeTexts[(i/5)%len(unicodeTexts)]
		}
	}
	return recs
}

// TestTextFilterFromTheIndexAnswersAsTheILIKE: on PostgreSQL, the text filter answered from
// the in-memory index gives the same rows, in the same order, and the same count as the
// ILIKE predicates alone; after changes, additions and removals too.
func TestTextFilterFromTheIndexAnswersAsTheILIKE(t *testing.T) {
	st := testdb.Open(t, testdb.Postgres(t))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	recs := unicodeRecords(900)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := store.TextCandidates(st, ctx, "ledger-w"); ok {
		t.Fatal("the text filter used the in-memory index before it was built")
	}
	if _, err := st.RebuildTextIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := store.TextIndexBytes(st); n <= 0 {
		t.Fatalf("RebuildTextIndex left no in-memory text index (%d bytes)", n)
	}
	queries := textQueries(rng, recs)
	if n := checkSameAnswers(t, st, queries); n < len(queries)/2 {
		t.Errorf("only %d of %d searches were answered from the in-memory index", n, len(queries))
	}
	for round := range 3 {
		// Change titles and descriptions, remove some entities and add others; the filter
		// finds the catalog's generation ahead and waits for the index to follow.
		for i := range recs {
			switch rng.IntN(12) {
			case 0:
				recs[i].Title, recs[i].Hash = unicodeTexts[rng.IntN(len(unicodeTexts))]+" Quokka", fmt.Sprint("changed ", round, i)
			case 1:
				recs[i].Description, recs[i].Hash = "now the LEDGER-Wombat", fmt.Sprint("changed d ", round, i)
			}
		}
		recs = slices.DeleteFunc(recs, func(store.EntityRecord) bool { return rng.IntN(15) == 0 })
		for i, r := range textRecords(30) {
			r.Ref, r.Name = fmt.Sprintf("component:default/new-%d-%d", round, i), fmt.Sprintf("new-%d-%d", round, i)
			r.Title = "Wombat " + unicodeTexts[i%len(unicodeTexts)]
			recs = append(recs, r)
		}
		if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		queries := append(textQueries(rng, recs), "quokka", "wombat", "ledger-wom", "new-1-", "new-2-2")
		if n := checkSameAnswers(t, st, queries); n < len(queries)/2 {
			t.Errorf("round %d: only %d of %d searches were answered from the in-memory index", round, n, len(queries))
		}
	}
}

// TestTextFilterFallsBackToTheILIKE: searches the index cannot narrow are the ILIKE alone.
func TestTextFilterFallsBackToTheILIKE(t *testing.T) {
	st := testdb.Open(t, testdb.Postgres(t))
	ctx := context.Background()
	recs := textRecords(300)
	if _, err := st.Apply(ctx, locSpec("t"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RebuildTextIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ab", "x", "ß", "é", "t-", "serves"} { // shorter than a trigram, or not
		_, ok, err := store.TextCandidates(st, ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := utf8.RuneCountInString(q) >= 3; ok != want {
			t.Errorf("text %q from the index: %v, want %v", q, ok, want)
		}
	}
	checkSameAnswers(t, st, []string{"ab", "x", "ß", "t-", "serves", "serves the"})
	// A NUL: PostgreSQL refuses it, as it did before the index.
	if match, err := st.TextMatch(ctx, "ab\x00cd"); err == nil {
		if _, err := st.Client.Entity.Query().Where(predicate.Entity(match)).Count(ctx); err == nil {
			t.Error("a search with a NUL was answered; PostgreSQL refuses it")
		}
	}
}

// BenchmarkTextFilter runs the text filter's two statements (count, and a page of 50 by ref)
// for searches as loadgen types them ("payments-o"), from the in-memory index and as the
// ILIKE alone (with pg_trgm's indexes), on PostgreSQL: a synthetic catalog of CATALOGD_BENCH_N
// entities (default 10,000), or the database CATALOGD_BENCH_DB_URL names (one scripts/bench
// -keep left), and reports the p50 and p99 of single searches.
func BenchmarkTextFilter(b *testing.B) {
	ctx := context.Background()
	n := testdb.BenchSize(10_000)
	stats, err := synth.Write(b.TempDir(), synth.Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	dbURL := os.Getenv("CATALOGD_BENCH_DB_URL")
	if dbURL == "" {
		dbURL = testdb.Postgres(b)
	}
	st := testdb.Open(b, dbURL)
	if st.Dialect != "postgres" {
		b.Skip("the in-memory text index is PostgreSQL's")
	}
	if os.Getenv("CATALOGD_BENCH_DB_URL") == "" {
		p, err := file.New(stats.Root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := testdb.Engine(b, st).Refresh(ctx, p); err != nil {
			b.Fatal(err)
		}
		if _, err := st.DB.Exec("VACUUM ANALYZE entities"); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	if _, err := st.RebuildTextIndex(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("text index: built in %v, %d bytes (heap grew %d)", time.Since(t0).Round(time.Millisecond), store.TextIndexBytes(st), int64(after.HeapAlloc)-int64(before.HeapAlloc))
	var words []string // as scripts/loadgen's textSamples: a name's first word and the next one's first letter
	for _, ref := range stats.SampleComponents {
		parts := strings.Split(ref[strings.LastIndex(ref, "/")+1:], "-")
		if len(parts) >= 2 && len(parts[0]) >= 3 && !slices.Contains(words, parts[0]+"-"+parts[1][:1]) {
			words = append(words, parts[0]+"-"+parts[1][:1])
		}
	}
	for _, path := range []struct {
		name  string
		match func(string) (func(*entsql.Selector), error)
	}{
		{"index", func(q string) (func(*entsql.Selector), error) { return st.TextMatch(ctx, q) }},
		{"ilike", func(q string) (func(*entsql.Selector), error) { return store.PlainTextMatch(q), nil }},
	} {
		b.Run(path.name, func(b *testing.B) {
			var took []time.Duration
			i := 0
			for b.Loop() {
				t := time.Now()
				match, err := path.match(words[i%len(words)])
				if err != nil {
					b.Fatal(err)
				}
				q := st.Client.Entity.Query().Where(predicate.Entity(match))
				if _, err := q.Clone().Count(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := q.Order(ent.Asc(entity.FieldRef), ent.Asc(entity.FieldID)).Limit(51).All(ctx); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t))
				i++
			}
			testdb.ReportLatencies(b, took)
		})
	}
}
