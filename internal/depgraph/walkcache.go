package depgraph

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"
)

// A large impact (tens of thousands of entities reached) is asked about again and again while
// an incident lasts, by many callers at once, and its answer changes only with the catalog.
// Each snapshot therefore keeps the traversals it walked that reached at least
// cacheMinNodes nodes, up to cacheNodes nodes in all (the oldest go first), and each of them
// keeps what its callers derived from it and asked to memoise (Traversal.Memo: a page of
// affected written as JSON), up to memoBytes bytes over the snapshot. A new snapshot (the
// catalog changed) starts empty; the old one's cache goes with it. Callers asking for a walk
// that another caller is making wait for it rather than make it again.
const (
	cacheMinNodes = 64
	memoPerWalk   = 4 // entries
)

// The cache's bounds (variables for the tests).
var (
	cacheNodes = 1 << 20 // 12 bytes each: 12 MiB
	// The GraphQL answer cache keeps whole answers to a question asked again; memos serve the
	// first answer of another page or selection of a walk already made, so a few suffice.
	memoBytes = 8 << 20
)

type walkCache struct {
	mu    sync.Mutex
	walks map[string]*Traversal // by walkKey
	order []string              // oldest first
	nodes int                   // reached by the walks held
	bytes int                   // memoised by the walks held
	// making joins callers asking for a walk that another caller is making.
	making singleflight.Group
}

// Walk is Traverse, answered from the snapshot's cache when the same walk was made before.
// The traversal it returns is shared: callers must not change it.
func (s *Snapshot) Walk(root int32, edgeTypes []string, maxDepth int) *Traversal {
	key := walkKey(root, edgeTypes, maxDepth)
	c := &s.walks
	c.mu.Lock()
	t := c.walks[key]
	c.mu.Unlock()
	if t != nil {
		return t
	}
	v, _, _ := c.making.Do(key, func() (any, error) {
		c.mu.Lock()
		t := c.walks[key]
		c.mu.Unlock()
		if t == nil {
			t = s.Traverse(root, edgeTypes, maxDepth)
			c.keep(key, t)
		}
		return t, nil
	})
	return v.(*Traversal)
}

// walkKey names a walk: its root, depth and edge types.
func walkKey(root int32, edgeTypes []string, maxDepth int) string {
	return strconv.Itoa(int(root)) + "\x00" + strconv.Itoa(maxDepth) + "\x00" + strings.Join(edgeTypes, "\x00")
}

// keep holds t in the cache under key if it is large enough to be worth it, dropping the
// oldest walks to make room.
func (c *walkCache) keep(key string, t *Traversal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Len() < cacheMinNodes || t.Len() > cacheNodes {
		return
	}
	for c.nodes+t.Len() > cacheNodes && len(c.order) > 0 {
		old := c.walks[c.order[0]]
		c.nodes -= old.Len()
		c.bytes -= old.memoSize()
		old.cache = nil // its memo no longer counts against (nor grows) the cache's
		delete(c.walks, c.order[0])
		c.order = c.order[1:]
	}
	if c.walks == nil {
		c.walks = map[string]*Traversal{}
	}
	c.walks[key] = t
	c.order = append(c.order, key)
	c.nodes += t.Len()
	t.cache = c
}

// Memo returns what build returns for key, built once for this traversal while it is in its
// snapshot's cache (a traversal not in it builds it each time). What build returns is shared:
// callers must not change it.
func (t *Traversal) Memo(key string, build func() []byte) []byte {
	c := t.cacheOf()
	if c == nil {
		return build()
	}
	c.mu.Lock()
	b, ok := t.memo[key]
	c.mu.Unlock()
	if ok {
		return b
	}
	b = build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := t.memo[key]; ok {
		return old
	}
	if t.cache != c || len(t.memo) >= memoPerWalk || c.bytes+len(b) > memoBytes {
		return b
	}
	if t.memo == nil {
		t.memo = map[string][]byte{}
	}
	t.memo[key] = b
	c.bytes += len(b)
	return b
}

// Cached reports whether t is in its snapshot's cache (Memo memoises).
func (t *Traversal) Cached() bool { return t.cacheOf() != nil }

func (t *Traversal) cacheOf() *walkCache {
	// t.cache is written under the cache's lock; a traversal outside any cache has none.
	if t.s == nil {
		return nil
	}
	c := &t.s.walks
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.cache != c {
		return nil
	}
	return c
}

// memoSize is the bytes t memoised (the cache's lock held).
func (t *Traversal) memoSize() int {
	n := 0
	for _, b := range t.memo {
		n += len(b)
	}
	return n
}
