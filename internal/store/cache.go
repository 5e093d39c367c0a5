package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"

	"golang.org/x/sync/singleflight"

	"catalogd/internal/gencache"
)

// answerCache remembers answers computed from the catalog as of one generation (see
// CatalogState and package gencache): search pages and facet counts. Every Apply that
// changes entities, relations or doc pages bumps the generation, on every replica's
// database, so an answer is reused only while the catalog it was computed from is current.
type answerCache struct {
	once sync.Once
	kept *gencache.Cache[string, any]

	// flight joins requests for the same answer of the same generation that is not cached
	// yet: the first computes it, the others wait for it instead of computing it again (ten
	// clients asking the same new question at once cost ten times the work).
	flight singleflight.Group

	// genStmt is the generation read every request makes, prepared: parsed once per
	// connection instead of once per request.
	genStmt atomic.Pointer[sql.Stmt]
}

// maxCachedAnswerBytes bounds the answers kept (what their strings and hits take). The bytes
// matter because a client chooses how long its answers are and how many distinct questions
// it asks.
const maxCachedAnswerBytes = 8 << 20

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
	case facetCounts:
		for _, vs := range a {
			for _, f := range vs {
				n += len(f.Value) + 32
			}
		}
	}
	return n
}

func (c *answerCache) cache() *gencache.Cache[string, any] {
	c.once.Do(func() { c.kept = gencache.New(maxCachedAnswerBytes, answerSize) })
	return c.kept
}

func (c *answerCache) get(gen int64, key string) (any, bool) { return c.cache().Get(gen, key) }

func (c *answerCache) put(gen int64, key string, v any) { c.cache().Put(gen, key, v) }

// do returns the answer to key as of gen: cached, or computed once by compute for all the
// callers asking at the same time, then cached. An error is returned to every caller waiting
// for it, and not cached; but a caller whose own context is live does not take another's
// cancellation for an answer: it computes with its own context.
func (c *answerCache) do(ctx context.Context, gen int64, key string, compute func(context.Context) (any, error)) (any, error) {
	if v, ok := c.get(gen, key); ok {
		return v, nil
	}
	v, err, shared := c.flight.Do(strconv.FormatInt(gen, 10)+"\x00"+key, func() (any, error) {
		if v, ok := c.get(gen, key); ok {
			return v, nil
		}
		v, err := compute(ctx)
		if err == nil {
			c.put(gen, key, v)
		}
		return v, err
	})
	if err != nil && shared && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		if v, err = compute(ctx); err == nil {
			c.put(gen, key, v)
		}
	}
	return v, err
}

const generationQuery = "SELECT generation FROM catalog_state ORDER BY id LIMIT 1"

type generationKey struct{}

// WithGeneration returns ctx carrying the catalog generation a request read at its start:
// Generation returns it instead of reading again, so one request reads the generation once
// and everything it asks (the graph index, the search index, cached answers) agrees on it.
func WithGeneration(ctx context.Context, gen int64) context.Context {
	return context.WithValue(ctx, generationKey{}, gen)
}

// generation reads the catalog's generation for the caches: one single-row read, or the one
// the request already made (WithGeneration).
func (s *Store) generation(ctx context.Context) (int64, error) {
	if gen, ok := ctx.Value(generationKey{}).(int64); ok {
		return gen, nil
	}
	if s.Dialect == dialect.SQLite {
		s.wal.once.Do(func() {
			octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.wal.watch, _ = openWALWatch(octx, s.dsn) // without one, every read goes to SQLite
		})
		if w := s.wal.watch; w != nil {
			return w.generation(func() (int64, error) { return s.readGeneration(ctx) })
		}
	}
	if s.Dialect == dialect.Postgres {
		return s.genBatch.read(ctx, s.readGeneration)
	}
	return s.readGeneration(ctx)
}

// readGeneration reads the generation from the database.
func (s *Store) readGeneration(ctx context.Context) (int64, error) {
	stmt := s.answers.genStmt.Load()
	if stmt == nil {
		// Not with ctx: the statement outlives this request. Until it can be prepared (the
		// table is not there before the migration), the read is made unprepared.
		if p, err := s.DB.PrepareContext(context.Background(), generationQuery); err == nil {
			if s.answers.genStmt.CompareAndSwap(nil, p) {
				stmt = p
			} else {
				p.Close()
				stmt = s.answers.genStmt.Load()
			}
		}
	}
	var gen int64
	var row *sql.Row
	if stmt != nil {
		row = stmt.QueryRowContext(ctx)
	} else {
		row = s.DB.QueryRowContext(ctx, generationQuery)
	}
	if err := row.Scan(&gen); err != nil {
		return 0, fmt.Errorf("catalog generation: %w", err)
	}
	return gen, nil
}
