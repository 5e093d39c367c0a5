package fulltext

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var testConfig = Config{
	Weights: [numSources][]float64{{10, 8, 4, 3, 1}, {5, 3, 1}},
	Factor:  [numSources]float64{1, 0.5},
}

// reference ranks docs for q the slow, obvious way: every doc, every word, BM25 as FTS5's
// bm25() computes it, per source.
func reference(cfg Config, docs map[Key]Doc, q Query) []Cursor {
	type stats struct {
		n     int
		words int
	}
	var st [numSources]stats
	words := map[Key][][]string{}
	for k, d := range docs {
		st[d.Src].n++
		var cols [][]string
		for _, text := range d.Fields {
			var ws []string
			EachWord(text, func(w string) { ws = append(ws, w) })
			cols = append(cols, ws)
			st[d.Src].words += len(ws)
		}
		words[k] = cols
	}
	matches := func(t, w string) bool {
		if q.Prefix != nil && q.Prefix(t) {
			return strings.HasPrefix(w, t)
		}
		return w == t
	}
	// Rows holding each term, per source.
	hits := make([][numSources]int, len(q.Terms))
	freq := map[Key][]float64{}
	for k, d := range docs {
		f := make([]float64, len(q.Terms))
		for i, t := range q.Terms {
			for c, ws := range words[k] {
				for _, w := range ws {
					if matches(t, w) {
						f[i] += cfg.Weights[d.Src][c]
					}
				}
			}
			if f[i] > 0 {
				hits[i][d.Src]++
			}
		}
		freq[k] = f
	}
	var out []Cursor
	for k, d := range docs {
		f := freq[k]
		if slices.Contains(f, 0) {
			continue
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, d.Kind) {
			continue
		}
		dl := 0
		for _, ws := range words[k] {
			dl += len(ws)
		}
		s := d.Src
		avg := float64(st[s].words) / float64(st[s].n)
		score := 0.0
		for i := range q.Terms {
			n, h := float64(st[s].n), float64(hits[i][s])
			idf := math.Log((n - h + 0.5) / (h + 0.5))
			if idf <= 0 {
				idf = 1e-6
			}
			score += idf * (f[i] * (k1 + 1)) / (f[i] + k1*(1-b+b*float64(dl)/avg))
		}
		out = append(out, Cursor{Score: score * cfg.Factor[s], Src: s, ID: k.ID})
	}
	slices.SortFunc(out, func(a, b Cursor) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	})
	return out
}

var vocabulary = strings.Fields("payments payment pay ledger ledgers checkout cart search searching api apis team platform Zürich zurich ÉTÉ été a b c go golang service services x")

func randomText(r *rand.Rand) string {
	n := r.IntN(8)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = vocabulary[r.IntN(len(vocabulary))]
	}
	return strings.Join(ws, []string{" ", "-", ", ", "/"}[r.IntN(4)])
}

func randomDoc(r *rand.Rand, src Source, id int64) Doc {
	d := Doc{Src: src, ID: id, Kind: []string{"component", "api", "group"}[r.IntN(3)], Hash: fmt.Sprint(r.Int())}
	for range testConfig.Weights[src] {
		d.Fields = append(d.Fields, randomText(r))
	}
	return d
}

// sameHits compares rankings, scores to a relative 1e-5 (the index sums weights in float32).
func sameHits(t *testing.T, what string, got, want []Cursor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, want %d:\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Src != w.Src || g.ID != w.ID || math.Abs(g.Score-w.Score) > 1e-5*math.Abs(w.Score) {
			t.Fatalf("%s: hit %d is %+v, want %+v\n got %v\nwant %v", what, i, g, w, got, want)
		}
	}
}

// searchAll pages through q's hits with cursors, page size n.
func searchAll(t *testing.T, ix *Index, q Query, n int) ([]Cursor, int) {
	t.Helper()
	var all []Cursor
	q.First = n
	total := -1
	for range 1000 {
		res := ix.Search(q)
		if total >= 0 && res.Total != total {
			t.Fatalf("total changed between pages: %d then %d", total, res.Total)
		}
		total = res.Total
		all = append(all, res.Hits...)
		if !res.HasNext {
			return all, total
		}
		last := res.Hits[len(res.Hits)-1]
		q.After = &last
	}
	t.Fatal("paging does not end")
	return nil, 0
}

// TestSearchEqualsAReferenceRanking builds random indexes, changes them at random, and checks
// every ranking, page by page, against BM25 computed the slow way over the live docs.
func TestSearchEqualsAReferenceRanking(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		docs := map[Key]Doc{}
		var list []Doc
		for i := range 40 + r.IntN(60) {
			d := randomDoc(r, Source(r.IntN(2)), int64(i+1))
			docs[Key{d.Src, d.ID}] = d
			list = append(list, d)
		}
		ix := NewIndex(testConfig, list)
		for round := range 6 {
			if round > 0 { // change, add and remove some rows
				var changed []Doc
				var removed []Key
				for k, d := range docs {
					switch r.IntN(8) {
					case 0:
						removed = append(removed, k)
						delete(docs, k)
					case 1:
						nd := randomDoc(r, d.Src, d.ID)
						docs[k] = nd
						changed = append(changed, nd)
					}
				}
				for range r.IntN(5) {
					nd := randomDoc(r, Source(r.IntN(2)), int64(1000+r.IntN(1000)))
					docs[Key{nd.Src, nd.ID}] = nd
					changed = append(changed, nd)
				}
				if round == 3 { // a row changed twice in one update: the last wins
					for _, d := range changed[:min(1, len(changed))] {
						nd := randomDoc(r, d.Src, d.ID)
						docs[Key{nd.Src, nd.ID}] = nd
						changed = append(changed, nd)
					}
				}
				old := ix
				probe := Query{Terms: []string{"pay"}, Prefix: IsPrefixLen(3), First: 50}
				before := old.Search(probe)
				ix = ix.Update(changed, removed)
				// The old snapshot answers as it did: Update changed nothing it reads.
				if after := old.Search(probe); after.Total != before.Total || !slices.Equal(after.Hits, before.Hits) {
					t.Fatalf("seed %d round %d: the old snapshot answered %+v before the update and %+v after", seed, round, before, after)
				}
			}
			for qi := range 12 {
				q := Query{Prefix: IsPrefixLen(3)}
				for range 1 + r.IntN(3) {
					w := vocabulary[r.IntN(len(vocabulary))]
					var ws []string
					EachWord(w, func(x string) { ws = append(ws, x) })
					t := ws[0]
					if r.IntN(2) == 0 && len(t) > 3 {
						t = t[:3]
					}
					q.Terms = append(q.Terms, t)
				}
				if qi%4 == 0 {
					q.Kinds = []string{"api", "group"}
				}
				want := reference(testConfig, docs, q)
				got, total := searchAll(t, ix, q, 1+r.IntN(7))
				what := fmt.Sprintf("seed %d round %d query %v kinds %v", seed, round, q.Terms, q.Kinds)
				if total != len(want) {
					t.Fatalf("%s: total %d, want %d", what, total, len(want))
				}
				sameHits(t, what, got, want)
			}
		}
	}
}

func TestWordsAreFoldedAndCut(t *testing.T) {
	var got []string
	EachWord("Zürich-ÉTÉ payments/API_v2 "+strings.Repeat("x", 100)+" 東京", func(w string) { got = append(got, w) })
	want := []string{"zurich", "ete", "payments", "api", "v2", strings.Repeat("x", maxWordBytes), "東京"}
	if !slices.Equal(got, want) {
		t.Fatalf("words %q, want %q", got, want)
	}
}

func TestShortTermsMatchOnlyWholeWords(t *testing.T) {
	ix := NewIndex(testConfig, []Doc{
		{Src: Entities, ID: 1, Kind: "component", Fields: []string{"go-service"}},
		{Src: Entities, ID: 2, Kind: "component", Fields: []string{"golang"}},
	})
	res := ix.Search(Query{Terms: []string{"go"}, Prefix: IsPrefixLen(3), First: 10})
	if res.Total != 1 || res.Hits[0].ID != 1 {
		t.Fatalf("go matched %+v; want only the row holding the word go", res)
	}
	res = ix.Search(Query{Terms: []string{"gol"}, Prefix: IsPrefixLen(3), First: 10})
	if res.Total != 1 || res.Hits[0].ID != 2 {
		t.Fatalf("gol matched %+v; want golang as a prefix", res)
	}
}

// TestCountEqualsAReferenceCount checks facet counts against counting the live rows' values
// the slow way, across random filters and updates.
func TestCountEqualsAReferenceCount(t *testing.T) {
	cfg := testConfig
	cfg.Attrs = []string{"kind", "owner", "tags"}
	values := [][]string{{"component", "api", "group"}, {"group:a", "group:b", "group:c", "group:d", ""}, {"java", "go", "web", "data"}}
	randomAttrs := func(r *rand.Rand) [][]string {
		var tags []string
		for _, v := range values[2] {
			if r.IntN(3) == 0 {
				tags = append(tags, v)
			}
		}
		return [][]string{{values[0][r.IntN(3)]}, {values[1][r.IntN(5)]}, tags}
	}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 11))
		docs := map[Key]Doc{}
		var list []Doc
		for i := range 30 + r.IntN(50) {
			d := randomDoc(r, Source(r.IntN(2)), int64(i+1))
			if d.Src == Entities {
				d.Attrs = randomAttrs(r)
			}
			docs[Key{d.Src, d.ID}] = d
			list = append(list, d)
		}
		ix := NewIndex(cfg, list)
		for round := range 4 {
			if round > 0 {
				var changed []Doc
				var removed []Key
				for k, d := range docs {
					switch r.IntN(6) {
					case 0:
						removed = append(removed, k)
						delete(docs, k)
					case 1:
						nd := randomDoc(r, d.Src, d.ID)
						if nd.Src == Entities {
							nd.Attrs = randomAttrs(r)
						}
						docs[k] = nd
						changed = append(changed, nd)
					}
				}
				ix = ix.Update(changed, removed)
			}
			for range 10 {
				var f Filter
				if r.IntN(2) == 0 {
					f = append(f, Condition{Attr: 0, Values: []string{values[0][r.IntN(3)], "nonesuch"}})
				}
				if r.IntN(2) == 0 {
					f = append(f, Condition{Attr: 2, Values: []string{values[2][r.IntN(4)], values[2][r.IntN(4)]}, All: true})
				}
				if r.IntN(4) == 0 {
					f = append(f, Condition{Attr: 1, Values: []string{"group:zzz"}})
				}
				got := ix.Count(Entities, f, []int{0, 1, 2}, 3)
				// The reference.
				counts := make([]map[string]int, 3)
				for i := range counts {
					counts[i] = map[string]int{}
				}
				for _, d := range docs {
					if d.Src != Entities {
						continue
					}
					ok := true
					for _, c := range f {
						n := 0
						for _, v := range c.Values {
							if slices.Contains(d.Attrs[c.Attr], v) {
								n++
							}
						}
						if c.All && n < len(slices.Compact(slices.Sorted(slices.Values(c.Values)))) || !c.All && n == 0 {
							ok = false
						}
					}
					if !ok {
						continue
					}
					for i, vs := range d.Attrs {
						for _, v := range vs {
							if v != "" {
								counts[i][v]++
							}
						}
					}
				}
				for i := range 3 {
					var want []FacetValue
					for v, c := range counts[i] {
						want = append(want, FacetValue{v, c})
					}
					slices.SortFunc(want, func(x, y FacetValue) int {
						if x.Count != y.Count {
							return y.Count - x.Count
						}
						return strings.Compare(x.Value, y.Value)
					})
					if len(want) > 3 {
						want = want[:3]
					}
					if want == nil {
						want = []FacetValue{}
					}
					if !slices.Equal(got[i], want) {
						t.Fatalf("seed %d round %d filter %+v attr %d: %v, want %v", seed, round, f, i, got[i], want)
					}
				}
			}
		}
	}
}
