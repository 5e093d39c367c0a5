package trigram

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// corpus is a set of rows and their texts, changed at random, to check the index against.
type corpus struct {
	rng   *rand.Rand
	rows  map[int64][]string
	next  int64
	words []string
}

func newCorpus(seed uint64) *corpus {
	return &corpus{rng: rand.New(rand.NewPCG(seed, 1)), rows: map[int64][]string{}, next: 1,
		words: []string{"payments", "ledger", "-", "o", "w", "writer", "gateway", " ", "%", "_", "ab", "x", "straße", "ünï", "✓", "team", "service", "a-b"}}
}

func (c *corpus) text() string {
	var b strings.Builder
	for range c.rng.IntN(8) {
		b.WriteString(c.words[c.rng.IntN(len(c.words))])
	}
	return b.String()
}

func (c *corpus) add() int64 {
	id := c.next
	c.next += 1 + int64(c.rng.IntN(3))
	c.rows[id] = []string{c.text(), c.text(), c.text()}
	return id
}

// query is a piece of a row's text, or of the words, or across two texts of a row.
func (c *corpus) query() string {
	switch c.rng.IntN(3) {
	case 0:
		for _, texts := range c.rows {
			t := texts[c.rng.IntN(len(texts))]
			if len(t) < 3 {
				continue
			}
			i := c.rng.IntN(len(t) - 2)
			return t[i : i+3+c.rng.IntN(len(t)-i-2)]
		}
	case 1:
		for _, texts := range c.rows {
			a, b := texts[0], texts[1]
			return a[max(0, len(a)-2):] + b[:min(len(b), 2)] // spans two texts: matches only within one
		}
	}
	return c.text()
}

// matches is what the index must find: rows one of whose texts contains q.
func (c *corpus) matches(q string) []int64 {
	var out []int64
	for id, texts := range c.rows {
		for _, t := range texts {
			if strings.Contains(t, q) {
				out = append(out, id)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *corpus) build(t *testing.T, opts Options) *Index {
	t.Helper()
	ids := make([]int64, 0, len(c.rows))
	for id := range c.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := NewBuilder(opts)
	for _, id := range ids {
		if err := b.Add(id, hashOf(c.rows[id]), c.rows[id]...); err != nil {
			t.Fatal(err)
		}
	}
	return b.Index()
}

func hashOf(texts []string) string { return strings.Join(texts, "\x00") }

// checkSuperset fails unless every match of q is a candidate, each candidate is a live row,
// and none is given twice.
func checkSuperset(t *testing.T, c *corpus, ix *Index, q string, max int) {
	t.Helper()
	want := c.matches(q)
	got, ok := ix.Candidates(q, max)
	if !ok {
		if len(q) >= 3 && len(want) < max/4 && ix.opts.MaxPostings == 0 {
			t.Errorf("Candidates(%q) gave up with %d matches", q, len(want))
		}
		return
	}
	if len(got) > max {
		t.Errorf("Candidates(%q, %d) gave %d ids", q, max, len(got))
	}
	slices.Sort(got)
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Candidates(%q) gave an id twice: %v", q, got)
	}
	for _, id := range got {
		if _, live := c.rows[id]; !live {
			t.Errorf("Candidates(%q) gave %d, which is gone", q, id)
		}
	}
	for _, id := range want {
		if _, found := slices.BinarySearch(got, id); !found {
			t.Fatalf("Candidates(%q) misses row %d %q", q, id, c.rows[id])
		}
	}
}

func TestCandidatesHoldEveryMatchThroughUpdates(t *testing.T) {
	for _, opts := range []Options{{}, {MaxPostings: 40}} {
		t.Run(fmt.Sprintf("max postings %d", opts.MaxPostings), func(t *testing.T) {
			c := newCorpus(7)
			for range 400 {
				c.add()
			}
			ix := c.build(t, opts)
			for round := range 30 {
				for range 40 {
					checkSuperset(t, c, ix, c.query(), 1000)
				}
				// Change, add and remove rows, and bring the index up to them as a caller does.
				for id := range c.rows {
					switch c.rng.IntN(20) {
					case 0:
						delete(c.rows, id)
					case 1:
						c.rows[id] = []string{c.text(), c.text(), c.text()}
					}
				}
				for range c.rng.IntN(20) {
					c.add()
				}
				d := ix.Diff()
				var changed []Row
				for id, texts := range c.rows {
					if d.Row(id, hashOf(texts)) {
						changed = append(changed, Row{ID: id, Hash: hashOf(texts), Texts: texts})
					}
				}
				ix = ix.Update(changed, d.Removed())
				if ix.Len() != len(c.rows) {
					t.Fatalf("round %d: index has %d rows, corpus %d", round, ix.Len(), len(c.rows))
				}
				if round%10 == 9 { // as the caller rebuilds when the delta grows
					ix = c.build(t, opts)
				}
			}
		})
	}
}

func TestDiffFindsChangedAndRemovedRows(t *testing.T) {
	b := NewBuilder(Options{})
	for id := int64(1); id <= 5; id++ {
		if err := b.Add(id, fmt.Sprint("h", id), "text"); err != nil {
			t.Fatal(err)
		}
	}
	ix := b.Index()
	d := ix.Diff()
	var changed []int64
	for _, r := range []struct {
		id   int64
		hash string
	}{{1, "h1"}, {2, "other"}, {4, "h4"}, {9, "h9"}} {
		if d.Row(r.id, r.hash) {
			changed = append(changed, r.id)
		}
	}
	if !slices.Equal(changed, []int64{2, 9}) {
		t.Errorf("changed rows: %v, want [2 9]", changed)
	}
	removed := d.Removed()
	slices.Sort(removed)
	if !slices.Equal(removed, []int64{3, 5}) {
		t.Errorf("removed rows: %v, want [3 5]", removed)
	}
	ix = ix.Update([]Row{{ID: 2, Hash: "other", Texts: []string{"changed"}}, {ID: 9, Hash: "h9", Texts: []string{"new text"}}}, removed)
	for q, want := range map[string][]int64{"text": {1, 4, 9}, "changed": {2}, "new": {9}} {
		got, ok := ix.Candidates(q, 10)
		slices.Sort(got)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("Candidates(%q) = %v, %v; want %v", q, got, ok, want)
		}
	}
	if ix.Stale() != 5 { // 2, 3 and 5 dead in the base; 2 and 9 in the delta
		t.Errorf("Stale() = %d, want 5", ix.Stale())
	}
}

func TestAddRefusesRowsOutOfOrder(t *testing.T) {
	b := NewBuilder(Options{})
	if err := b.Add(5, "", "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(5, "", "b"); err != ErrOrder {
		t.Errorf("Add of the same id again: %v, want ErrOrder", err)
	}
}

func TestCandidatesGiveUp(t *testing.T) {
	b := NewBuilder(Options{MaxPostings: 50})
	for id := range int64(100) {
		if err := b.Add(id, "", "common words", fmt.Sprintf("row %03d", id)); err != nil {
			t.Fatal(err)
		}
	}
	ix := b.Index()
	for _, c := range []struct {
		q    string
		max  int
		ok   bool
		want int
	}{
		{"ab", 100, false, 0},      // shorter than a trigram
		{"common", 100, false, 0},  // every trigram common
		{"row 0", 100, false, 0},   // "row", "ow ", "w 0" and " 0" are all common
		{"row 04", 5, false, 0},    // " 04" narrows it to 10 rows, more than max
		{"row 04", 10, true, 10},   // ... which max allows
		{"row 042", 5, true, 1},    // rare trigrams narrow it
		{"nowhere", 5, true, 0},    // a trigram no row holds
		{"common row", 5, true, 0}, // "n r" is in no row's one text: trigrams do not span texts
	} {
		got, ok := ix.Candidates(c.q, c.max)
		if ok != c.ok || (ok && len(got) != c.want) {
			t.Errorf("Candidates(%q, %d) = %d ids, %v; want %d, %v", c.q, c.max, len(got), ok, c.want, c.ok)
		}
	}
}

func TestHugeSearchIsBounded(t *testing.T) {
	c := newCorpus(3)
	for range 2000 {
		c.add()
	}
	ix := c.build(t, Options{})
	huge := strings.Repeat("payments-ledger ✓ straße%_", 400_000) // 10 MB
	// The work is bounded by the grams looked at, spread over the text, not by its length
	// (a wall-clock bound here would measure the machine).
	if n := len(searchGrams(huge)); n == 0 || n > maxSearchGrams {
		t.Errorf("a 10 MB search looks at %d grams; want 1 to %d", n, maxSearchGrams)
	}
	got, _ := ix.Candidates(huge, 1000)
	for _, id := range got { // a superset still: no row holds it
		if len(c.rows[id]) == 0 {
			t.Errorf("candidate %d is no row", id)
		}
	}
	checkSuperset(t, c, ix, "%%%", 1000)
	checkSuperset(t, c, ix, "---", 1000)
}

func BenchmarkCandidates(b *testing.B) {
	c := newCorpus(9)
	for range 100_000 {
		c.add()
	}
	ids := make([]int64, 0, len(c.rows))
	for id := range c.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	bl := NewBuilder(Options{MaxPostings: len(ids) / 8})
	for _, id := range ids {
		_ = bl.Add(id, "", c.rows[id]...)
	}
	ix := bl.Index()
	b.ReportMetric(float64(ix.Bytes()), "index-bytes")
	qs := []string{"payments-o", "ledger-w", "straße", "writer-gat"}
	i := 0
	for b.Loop() {
		ix.Candidates(qs[i%len(qs)], 10_000)
		i++
	}
}
