// Package gencache keeps values computed from the catalog as of one generation (see
// store.CatalogState): every change of the catalog moves the generation, and a value is given
// only for the generation it was computed at. Both the store's search pages and facet counts
// and the GraphQL handler's whole answers are kept this way.
//
// A value is put under the generation read before it was computed: if a write commits
// meanwhile, the value may be newer than its generation, never older, and the next caller
// sees the new generation and computes afresh. A value of an older generation than the
// newest seen is not kept; one of a newer generation empties the cache first.
package gencache

import (
	"container/list"
	"sync"
)

// Cache is a least-recently-used cache bounded by the size of what it holds, as its size
// function counts it (the value's bytes, its key's, and what holding them costs). A value
// larger than its largest (an eighth of the bound unless NewLargest says otherwise) is not
// kept: one answer must not empty the cache.
type Cache[K comparable, V any] struct {
	max     int
	largest int
	size    func(K, V) int

	mu    sync.Mutex
	gen   int64
	ll    *list.List // of *entry, most recently used first
	m     map[K]*list.Element
	bytes int
}

type entry[K comparable, V any] struct {
	key  K
	v    V
	size int
}

// New returns a cache of at most maxBytes, as size counts them, keeping values of up to an
// eighth of that.
func New[K comparable, V any](maxBytes int, size func(K, V) int) *Cache[K, V] {
	return NewLargest(maxBytes, maxBytes/8, size)
}

// NewLargest returns a cache of at most maxBytes keeping values of up to largest bytes.
func NewLargest[K comparable, V any](maxBytes, largest int, size func(K, V) int) *Cache[K, V] {
	return &Cache[K, V]{max: maxBytes, largest: min(largest, maxBytes), size: size, ll: list.New(), m: map[K]*list.Element{}}
}

// Get returns the value of key as of generation gen.
func (c *Cache[K, V]) Get(gen int64, key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	if gen != c.gen {
		return zero, false
	}
	el, ok := c.m[key]
	if !ok {
		return zero, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*entry[K, V]).v, true
}

// Put keeps v as key's value as of generation gen, dropping the least recently used values
// beyond the bound.
func (c *Cache[K, V]) Put(gen int64, key K, v V) {
	size := c.size(key, v)
	if size > c.largest {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.gen {
		return // computed before a newer generation was seen
	}
	if gen > c.gen {
		c.gen, c.ll, c.m, c.bytes = gen, list.New(), map[K]*list.Element{}, 0
	}
	if el, ok := c.m[key]; ok {
		old := el.Value.(*entry[K, V])
		c.bytes += size - old.size
		old.v, old.size = v, size
		c.ll.MoveToFront(el)
	} else {
		c.m[key] = c.ll.PushFront(&entry[K, V]{key: key, v: v, size: size})
		c.bytes += size
	}
	for c.bytes > c.max {
		el := c.ll.Back()
		e := el.Value.(*entry[K, V])
		c.ll.Remove(el)
		delete(c.m, e.key)
		c.bytes -= e.size
	}
}

// Bytes is what the values held count, as size counts them.
func (c *Cache[K, V]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Each calls fn with every key and value held (for tests and measurements), under the lock.
func (c *Cache[K, V]) Each(fn func(K, V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.m {
		fn(k, el.Value.(*entry[K, V]).v)
	}
}
