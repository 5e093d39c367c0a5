package store

import (
	"context"
	"fmt"
	"sync"
)

// answerCache remembers answers computed from the catalog as of one generation (see
// CatalogState): search pages and facet counts. Every Apply that changes entities, relations
// or doc pages bumps the generation, on every replica's database, so an answer is reused
// only while the catalog it was computed from is current. An answer is stored under the
// generation read before it was computed: if a write commits meanwhile, the answer may be
// newer than its generation, never older, and the next request sees the new generation and
// computes afresh.
type answerCache struct {
	mu    sync.Mutex
	gen   int64
	m     map[string]any
	bytes int // answerSize of the answers in m, keys included
}

// maxCachedAnswers and maxCachedAnswerBytes bound the answers kept per generation (their
// count, and what their strings and hits take); when either is reached, the cache starts over.
// The bytes matter because a client chooses how long its answers are and how many distinct
// questions it asks.
const (
	maxCachedAnswers     = 4096
	maxCachedAnswerBytes = 8 << 20
)

// answerSize estimates what v takes in memory: its strings and a word count per hit or value.
func answerSize(key string, v any) int {
	n := len(key) + 64
	switch a := v.(type) {
	case SearchResult:
		for _, h := range a.Hits {
			n += len(h.Ref) + len(h.Path) + len(h.Title) + len(h.Snippet) + 96
		}
	case []FacetValue:
		for _, f := range a {
			n += len(f.Value) + 32
		}
	}
	return n
}

func (c *answerCache) get(gen int64, key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil {
		return nil, false
	}
	v, ok := c.m[key]
	return v, ok
}

func (c *answerCache) put(gen int64, key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.gen {
		return // computed before a newer generation was seen
	}
	size := answerSize(key, v)
	if size > maxCachedAnswerBytes {
		return
	}
	if gen > c.gen || c.m == nil || len(c.m) >= maxCachedAnswers || c.bytes+size > maxCachedAnswerBytes {
		c.gen, c.m, c.bytes = gen, make(map[string]any), 0
	}
	if old, ok := c.m[key]; ok {
		c.bytes -= answerSize(key, old)
	}
	c.m[key] = v
	c.bytes += size
}

// CacheGeneration reads the catalog's generation under which answers are cached, for a
// request that asks several questions of one generation (facets' fields).
func (s *Store) CacheGeneration(ctx context.Context) (int64, error) { return s.generation(ctx) }

// generation reads the catalog's generation for the caches: one single-row read.
func (s *Store) generation(ctx context.Context) (int64, error) {
	var gen int64
	if err := s.DB.QueryRowContext(ctx, "SELECT generation FROM catalog_state ORDER BY id LIMIT 1").Scan(&gen); err != nil {
		return 0, fmt.Errorf("catalog generation: %w", err)
	}
	return gen, nil
}
