package store

import (
	"bytes"
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"

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

// fulltextBatch is the ids read per statement when loading changed rows.
const fulltextBatch = 500

// fulltextState is search's index as of a generation (follow.go).
type fulltextState = follower[*fulltext.Index]

// fulltextIndex returns the search index as of generation gen or later.
func (s *Store) fulltextIndex(ctx context.Context, gen int64) (*fulltext.Index, error) {
	return s.fulltext.at(ctx, gen, "search index", indexOps[*fulltext.Index]{
		generation: s.generation,
		build:      s.buildFulltext,
		update:     s.updateFulltext,
		stale: func(ix *fulltext.Index) bool {
			return float64(ix.Stale()) > fulltextRebuildShare*float64(ix.Len(fulltext.Entities)+ix.Len(fulltext.Pages))
		},
	})
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
