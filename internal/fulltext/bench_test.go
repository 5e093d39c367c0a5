package fulltext

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkSearch ranks a 150,000-row index (100,000 entities of a few words, 50,000 pages of
// 200) for queries of one common prefix and of three words.
func BenchmarkSearch(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 20000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("%c%c%cw%d", 'a'+r.IntN(26), 'a'+r.IntN(26), 'a'+r.IntN(26), i)
	}
	words := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			// Zipf-like: a few words are very common.
			ws[i] = vocab[int(float64(len(vocab))*r.Float64()*r.Float64()*r.Float64())]
		}
		return strings.Join(ws, " ")
	}
	bld := NewBuilder(testConfig)
	for i := range 100_000 {
		bld.Add(Doc{Src: Entities, ID: int64(i), Kind: "component", Fields: []string{words(3), words(3), words(2), words(4), words(12)}})
	}
	for i := range 50_000 {
		bld.Add(Doc{Src: Pages, ID: int64(i), Kind: "component", Fields: []string{words(4), words(8), words(200)}})
	}
	ix := bld.Index()
	for _, q := range [][]string{{vocab[0][:3]}, {vocab[0], vocab[1], vocab[2][:3]}} {
		b.Run(strings.Join(q, "+"), func(b *testing.B) {
			var total int
			for b.Loop() {
				total = ix.Search(Query{Terms: q, Prefix: IsPrefixLen(3), First: 20}).Total
			}
			b.ReportMetric(float64(total), "hits")
		})
	}
}
