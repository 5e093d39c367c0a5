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
	mu  sync.Mutex
	gen int64
	m   map[string]any
}

// maxCachedAnswers bounds the answers kept per generation; when full, the cache starts over.
const maxCachedAnswers = 4096

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
	if gen > c.gen || c.m == nil || len(c.m) >= maxCachedAnswers {
		c.gen, c.m = gen, make(map[string]any)
	}
	c.m[key] = v
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
