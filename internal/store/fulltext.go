package store

import (
	"bytes"
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"golang.org/x/sync/singleflight"

	"catalogd/internal/fulltext"
)

// search(query) ranks from an in-memory index (internal/fulltext) of the entities' and doc
// pages' texts, not from the database: ranking every hit of a common word in SQL (FTS5's
// bm25, PostgreSQL's ts_rank_cd over detoasted tsvectors) took hundreds of milliseconds at
// 100,000 entities and 50,000 pages, and the index answers the same in about one.
//
// The index follows the catalog's generation, which every write that changes entities or doc
// pages bumps in its transaction, on every replica's database: a search that finds the
// generation moved first brings the index up to it. It reads every row's id and content hash
// (a few tens of milliseconds at 150,000 rows), indexes the rows added or changed since, and
// drops the ones gone; when the rows indexed since the index was built and the dead ones
// grow past fulltextRebuildShare of it, it is built anew from every row in the background, searches
// using the current one meanwhile. One search brings it up to
// date while the others asking at the same time wait for the same work.

// Columns and their weights, as bm25() was given them when FTS5 ranked: an entity's name,
// title, tags, descriptive fields (kind, type, lifecycle, owner, system) and description; a
// page's title, headings and text. A page ranks at half an entity's score, so a page that
// says what an entity's name says comes after the entity.
var fulltextConfig = fulltext.Config{
	Weights: [2][]float64{{10, 8, 4, 3, 1}, {5, 3, 1}},
	Factor:  [2]float64{1, pageScoreFactor},
	Attrs:   facetAttrs,
}

// facetAttrs are the facet fields the index counts (facets.go), in the order of the values
// eachFulltextDoc gives it.
var facetAttrs = []string{"kind", "namespace", "spec.type", "spec.lifecycle", "owner", "system", "tags"}

// fulltextRebuildShare: when the rows indexed since the last build and the dead ones exceed
// this share of the index (fulltext.Index.Stale), it is built anew (the delta is searched
// beside the base and rebuilt with every change; dead rows are passed over).
const fulltextRebuildShare = 0.1

// fulltextRefreshTimeout bounds one refresh of the index, which waiting searches share.
const fulltextRefreshTimeout = 2 * time.Minute

// fulltextBatch is the ids read per statement when loading changed rows.
const fulltextBatch = 500

type fulltextSnapshot struct {
	gen int64
	ix  *fulltext.Index
}

type fulltextState struct {
	cur        atomic.Pointer[fulltextSnapshot]
	flight     singleflight.Group
	rebuilding atomic.Bool
}

// fulltextIndex returns the search index as of generation gen or later.
func (s *Store) fulltextIndex(ctx context.Context, gen int64) (*fulltext.Index, error) {
	if snap := s.fulltext.cur.Load(); snap != nil && snap.gen >= gen {
		return snap.ix, nil
	}
	refresh := func() <-chan singleflight.Result {
		return s.fulltext.flight.DoChan("refresh", func() (any, error) {
			// Shared by every waiting search: not bound to the first one's context.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fulltextRefreshTimeout)
			defer cancel()
			return s.refreshFulltext(rctx)
		})
	}
	ch := refresh()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.Err != nil {
				return nil, fmt.Errorf("search index: %w", r.Err)
			}
			snap := r.Val.(*fulltextSnapshot)
			if snap.gen >= gen {
				return snap.ix, nil
			}
			// A refresh that started before gen was written: one more.
			ch = refresh()
		}
	}
}

// WarmSearchIndex builds the search index, so the first search does not wait for it.
func (s *Store) WarmSearchIndex(ctx context.Context) error {
	gen, err := s.generation(ctx)
	if err != nil {
		return err
	}
	_, err = s.fulltextIndex(ctx, gen)
	return err
}

// refreshFulltext brings the index up to the catalog's current generation.
func (s *Store) refreshFulltext(ctx context.Context) (*fulltextSnapshot, error) {
	// The generation is read before the rows: the rows read are at least that new.
	gen, err := s.generation(ctx)
	if err != nil {
		return nil, err
	}
	prev := s.fulltext.cur.Load()
	if prev != nil && prev.gen >= gen {
		return prev, nil
	}
	var ix *fulltext.Index
	if prev == nil {
		if ix, err = s.buildFulltext(ctx); err != nil {
			return nil, err
		}
	} else {
		if ix, err = s.updateFulltext(ctx, prev.ix); err != nil {
			return nil, err
		}
		if float64(ix.Stale()) > fulltextRebuildShare*float64(ix.Len(fulltext.Entities)+ix.Len(fulltext.Pages)) {
			s.rebuildFulltextInBackground()
		}
	}
	return s.putFulltext(gen, ix), nil
}

// buildFulltext indexes every row.
func (s *Store) buildFulltext(ctx context.Context) (*fulltext.Index, error) {
	b := fulltext.NewBuilder(fulltextConfig)
	for _, src := range []fulltext.Source{fulltext.Entities, fulltext.Pages} {
		if err := s.eachFulltextDoc(ctx, src, nil, b.Add); err != nil {
			return nil, err
		}
	}
	return b.Index(), nil
}

// rebuildFulltextInBackground builds the index anew, once at a time, while searches use the
// current one (with its large delta); then, as a refresh, brings the new one up to the
// catalog and puts it in place.
func (s *Store) rebuildFulltextInBackground() {
	if !s.fulltext.rebuilding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.fulltext.rebuilding.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), fulltextRefreshTimeout)
		defer cancel()
		ix, err := s.buildFulltext(ctx)
		if err != nil {
			return // the next refresh that finds the delta large tries again
		}
		// Joined with the refreshes, so none runs meanwhile; a refresh already in flight is
		// waited for, and then this one runs.
		ran := false
		for !ran && ctx.Err() == nil {
			s.fulltext.flight.Do("refresh", func() (any, error) {
				ran = true
				return s.putRebuiltFulltext(ctx, ix)
			})
		}
	}()
}

// putRebuiltFulltext brings a rebuilt index up to the catalog and puts it in place.
func (s *Store) putRebuiltFulltext(ctx context.Context, ix *fulltext.Index) (*fulltextSnapshot, error) {
	gen, err := s.generation(ctx)
	if err != nil {
		return nil, err
	}
	if ix, err = s.updateFulltext(ctx, ix); err != nil {
		return nil, err
	}
	return s.putFulltext(gen, ix), nil
}

// putFulltext makes ix, as of gen, the index searches use, unless a newer one is in place.
func (s *Store) putFulltext(gen int64, ix *fulltext.Index) *fulltextSnapshot {
	snap := &fulltextSnapshot{gen: gen, ix: ix}
	for {
		old := s.fulltext.cur.Load()
		if old != nil && old.gen > gen {
			return old
		}
		if s.fulltext.cur.CompareAndSwap(old, snap) {
			return snap
		}
	}
}

// updateFulltext indexes the rows whose hash differs from the index's, and drops the rows gone.
func (s *Store) updateFulltext(ctx context.Context, ix *fulltext.Index) (*fulltext.Index, error) {
	diff := ix.Diff()
	var changed []fulltext.Doc
	for _, src := range []fulltext.Source{fulltext.Entities, fulltext.Pages} {
		table := "entities"
		if src == fulltext.Pages {
			table = "doc_pages"
		}
		var ids []int64
		// A covering index on hash (searchHashIndexes) keeps this scan off the wide rows.
		err := s.eachRow(ctx, `SELECT id, hash FROM `+table, nil, func(rows *stdsql.Rows) error {
			var id int64
			var hash string
			if err := rows.Scan(&id, &hash); err != nil {
				return err
			}
			if diff.Row(fulltext.Key{Src: src, ID: id}, hash) {
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			continue // (nil would read every row)
		}
		if err := s.eachFulltextDoc(ctx, src, ids, func(d fulltext.Doc) { changed = append(changed, d) }); err != nil {
			return nil, err
		}
	}
	removed := diff.Removed()
	if len(changed) == 0 && len(removed) == 0 {
		return ix, nil
	}
	return ix.Update(changed, removed), nil
}

// eachFulltextDoc reads the texts of src's rows (all of them when ids is nil) and calls fn
// with each.
func (s *Store) eachFulltextDoc(ctx context.Context, src fulltext.Source, ids []int64, fn func(fulltext.Doc)) error {
	query := `SELECT id, hash, kind, name, title, tags, type, lifecycle, owner_ref, system_ref, description, namespace FROM entities`
	if src == fulltext.Pages {
		text := "substr(text, 1, " + strconv.Itoa(maxIndexedPageText) + ")"
		if s.Dialect == dialect.Postgres {
			text = "left(text, " + strconv.Itoa(maxIndexedPageText) + ")"
		}
		query = `SELECT id, hash, entity_ref, title, headings, ` + text + ` FROM doc_pages`
	}
	scan := func(rows *stdsql.Rows) error {
		d := fulltext.Doc{Src: src}
		if src == fulltext.Entities {
			var kind, name, title, typ, lifecycle, owner, system, desc, namespace string
			var tags []byte
			if err := rows.Scan(&d.ID, &d.Hash, &kind, &name, &title, &tags, &typ, &lifecycle, &owner, &system, &desc, &namespace); err != nil {
				return err
			}
			d.Kind = kind
			d.Fields = []string{name, title, tagWords(tags), kind + " " + typ + " " + lifecycle + " " + owner + " " + system, desc}
			d.Attrs = [][]string{{kind}, {namespace}, {typ}, {lifecycle}, {owner}, {system}, tagValues(tags)}
		} else {
			var ref, title, text string
			var headings []byte
			if err := rows.Scan(&d.ID, &d.Hash, &ref, &title, &headings, &text); err != nil {
				return err
			}
			d.Kind, _, _ = strings.Cut(ref, ":")
			d.Fields = []string{title, headingWords(headings), text}
		}
		fn(d)
		return nil
	}
	if ids == nil {
		if err := s.eachRow(ctx, query, nil, scan); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		return nil
	}
	for len(ids) > 0 {
		n := min(len(ids), fulltextBatch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if err := s.eachRow(ctx, query+` WHERE id IN (`+s.placeholders(n)+`)`, args, scan); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// tagWords returns the text of a tags column (a JSON array of strings, or null): the JSON
// itself when no string in it has an escape, since its quotes, commas and brackets separate
// words as spaces would.
func tagWords(raw []byte) string {
	if len(raw) == 0 || raw[0] != '[' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var tags []string
	if json.Unmarshal(raw, &tags) != nil {
		return ""
	}
	return strings.Join(tags, " ")
}

// tagValues returns the tags of a tags column (a JSON array of strings, or null), each as
// often as it is there, as the tag table holds them.
func tagValues(raw []byte) []string {
	if len(raw) < 3 || raw[0] != '[' {
		return nil
	}
	var tags []string
	if json.Unmarshal(raw, &tags) != nil {
		return nil
	}
	return tags
}

// headingWords returns the texts of a page's headings (JSON: level, text, anchor).
func headingWords(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var hs []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &hs) != nil {
		return ""
	}
	texts := make([]string, len(hs))
	for i, h := range hs {
		texts[i] = h.Text
	}
	return strings.Join(texts, " ")
}
