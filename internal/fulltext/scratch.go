package fulltext

import "sync"

// scratch is a search's working memory, one entry per row ordinal, reused across searches:
// mark says which term last counted a row (by stamp, so it needs no clearing between terms),
// slot is a row's candidate number plus one (cleared by the search that set it). The two sit
// side by side: a posting touches one cache line, not two.
type scratch struct {
	rows  []rowScratch
	stamp uint32
}

type rowScratch struct {
	mark, slot uint32
}

var scratchPool sync.Pool

func getScratch(n int) *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	if len(sc.rows) < n {
		sc.rows = make([]rowScratch, n+n/8)
		sc.stamp = 0
	}
	return sc
}

func putScratch(sc *scratch) { scratchPool.Put(sc) }

func (sc *scratch) nextStamp() uint32 {
	sc.stamp++
	if sc.stamp == 0 { // wrapped: old marks could equal new stamps
		for i := range sc.rows {
			sc.rows[i].mark = 0
		}
		sc.stamp = 1
	}
	return sc.stamp
}
