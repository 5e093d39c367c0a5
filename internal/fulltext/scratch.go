package fulltext

import "sync"

// scratch is a search's working memory, one entry per row ordinal, reused across searches:
// mark says which term last counted a row (by stamp, so it needs no clearing between terms),
// slot is a row's candidate number plus one (cleared by the search that set it).
type scratch struct {
	mark  []uint32
	slot  []uint32
	stamp uint32
}

var scratchPool sync.Pool

func getScratch(n int) *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	if len(sc.mark) < n {
		sc.mark = make([]uint32, n+n/8)
		sc.slot = make([]uint32, n+n/8)
		sc.stamp = 0
	}
	return sc
}

func putScratch(sc *scratch) { scratchPool.Put(sc) }

func (sc *scratch) nextStamp() uint32 {
	sc.stamp++
	if sc.stamp == 0 { // wrapped: old marks could equal new stamps
		clear(sc.mark)
		sc.stamp = 1
	}
	return sc.stamp
}
