package store

import (
	"context"
	stdsql "database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"catalogd/internal/catalog"
	"catalogd/internal/fulltext"
)

// Full-text search (search(query)) ranks entities by words in their name and title, tags and
// descriptive fields - kind, spec.type, spec.lifecycle, owner, system - and description, and
// doc pages (docs.go) by title, headings and text, from an in-memory index (fulltext.go).
//
// The user's query is never handed to a query language: it is cut into words (runs of
// letters and digits), each word longer than MinPrefixLen also matches as a prefix, and all
// of them must match. Snippets are cut in Go from the hits' texts (snippet.go).
const (
	// MaxSearchQueryLen bounds the query in characters, maxSearchTerms the words in it.
	MaxSearchQueryLen = 200
	maxSearchTerms    = 8
	maxSearchKinds    = 50
)

// Indexes for facets: each grouped column after kind, the filter facets are most often asked
// with, and type and lifecycle alone (owner_ref and system_ref have theirs from the ent
// schema), so both a kind's facet and the whole catalog's are read in order from an index
// alone (namespace from the ent schema's (kind, namespace)).
var facetIndexes = []string{
	`CREATE INDEX IF NOT EXISTS entities_kind_type ON entities (kind, type)`,
	`CREATE INDEX IF NOT EXISTS entities_kind_lifecycle ON entities (kind, lifecycle)`,
	`CREATE INDEX IF NOT EXISTS entities_kind_owner ON entities (kind, owner_ref)`,
	`CREATE INDEX IF NOT EXISTS entities_kind_system ON entities (kind, system_ref)`,
	`CREATE INDEX IF NOT EXISTS entities_type ON entities (type)`,
	`CREATE INDEX IF NOT EXISTS entities_lifecycle ON entities (lifecycle)`,
}

// searchHashIndexes cover search's index's scan of every row's id and hash (fulltext.go),
// which would otherwise read every wide row (documents, page texts and HTML) after each change:
// (hash, id), so PostgreSQL can answer it from the index alone too (SQLite's index holds the
// rowid anyway).
var searchHashIndexes = []string{
	`CREATE INDEX IF NOT EXISTS entities_hash_id ON entities (hash, id)`,
	`CREATE INDEX IF NOT EXISTS doc_pages_hash_id ON doc_pages (hash, id)`,
}

// migrateSearchIndex creates the facets' indexes and the tag table when missing, and drops
// the full-text tables and columns search ranked from before its in-memory index.
func (s *Store) migrateSearchIndex(ctx context.Context) error {
	for _, stmt := range append(slices.Clone(facetIndexes), searchHashIndexes...) {
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("facet index: %w", err)
		}
	}
	if err := s.dropSearchTables(ctx); err != nil {
		return err
	}
	return s.migrateTagTable(ctx)
}

// formerSearchObjects are what search ranked from before its in-memory index: FTS5 tables
// with their triggers and state tables on SQLite, generated tsvector columns (their GIN
// indexes go with them) and the functions they called on PostgreSQL. Writes kept them up to
// date for nothing.
var formerSearchObjects = map[string][]string{
	dialect.SQLite: {
		`DROP TRIGGER IF EXISTS entity_search_insert`, `DROP TRIGGER IF EXISTS entity_search_delete`, `DROP TRIGGER IF EXISTS entity_search_update`,
		`DROP TRIGGER IF EXISTS doc_search_insert`, `DROP TRIGGER IF EXISTS doc_search_delete`, `DROP TRIGGER IF EXISTS doc_search_update`,
		`DROP TABLE IF EXISTS entity_search`, `DROP TABLE IF EXISTS search_index_state`,
		`DROP TABLE IF EXISTS doc_search`, `DROP TABLE IF EXISTS doc_search_state`,
	},
	dialect.Postgres: {
		`ALTER TABLE entities DROP COLUMN IF EXISTS search_vector`,
		`ALTER TABLE doc_pages DROP COLUMN IF EXISTS search_vector`,
		`DROP FUNCTION IF EXISTS catalogd_doc_headings(bytea)`,
		`DROP FUNCTION IF EXISTS catalogd_unaccent(text)`,
	},
}

func (s *Store) dropSearchTables(ctx context.Context) error {
	for _, stmt := range formerSearchObjects[s.Dialect] {
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("drop the former search index: %w", err)
		}
	}
	return nil
}

// SearchTerms cuts a query into at most maxSearchTerms lower-case words: runs of letters,
// marks and digits. Everything else (quotes, operators, punctuation, emoji) separates words,
// so nothing of the query reaches a query language but words.
func SearchTerms(query string) ([]string, error) {
	if n := utf8.RuneCountInString(query); n > MaxSearchQueryLen {
		return nil, catalog.Errorf(catalog.EINVALID, "query is %d characters long; at most %d are allowed", n, MaxSearchQueryLen)
	}
	// The snippet marks words by the same rule (isWordRune), so it marks what matched.
	var words []string
	for _, w := range strings.FieldsFunc(query, func(r rune) bool { return !fulltext.IsWordRune(r) }) {
		if w = fulltext.Fold(w); w != "" {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return nil, catalog.Errorf(catalog.EINVALID, "query %q has no words to search for (letters or digits)", catalog.Excerpt(query, 40))
	}
	if len(words) > maxSearchTerms {
		return nil, catalog.Errorf(catalog.EINVALID, "query has %d words; at most %d are allowed", len(words), maxSearchTerms)
	}
	return words, nil
}

// MinPrefixLen is the shortest word that also matches as a prefix. A shorter word matches
// only itself: as a prefix it would match most of the catalog and its docs (two letters
// matched 53,000 of 150,000 entities and pages), and rank all of them, at a keystroke.
const MinPrefixLen = 3

// isPrefixTerm says whether a word also matches as a prefix (see MinPrefixLen).
func isPrefixTerm(t string) bool { return utf8.RuneCountInString(t) >= MinPrefixLen }

// SearchCursor is the position after which a search page starts: a hit's score, whether it
// is a doc page, and the entity's or page's id. Ties of score are ordered by the latter two,
// which the index holds beside each row (fulltext.Cursor).
type SearchCursor struct {
	Score float64
	Page  bool
	ID    int
}

// Encode returns the cursor's opaque form.
func (c SearchCursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte("s:" + strconv.FormatFloat(c.Score, 'g', -1, 64) + ":" + strconv.Itoa(c.src()) + ":" + strconv.Itoa(c.ID)))
}

func (c SearchCursor) src() int {
	if c.Page {
		return 1
	}
	return 0
}

// DecodeSearchCursor parses a cursor made by Encode.
func DecodeSearchCursor(s string) (SearchCursor, error) {
	bad := catalog.Errorf(catalog.EINVALID, "after: %q is not a search cursor", catalog.Excerpt(s, 40))
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "s:") {
		return SearchCursor{}, bad
	}
	parts := strings.Split(string(b[2:]), ":")
	if len(parts) != 3 || (parts[1] != "0" && parts[1] != "1") {
		return SearchCursor{}, bad
	}
	f, err := strconv.ParseFloat(parts[0], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return SearchCursor{}, bad
	}
	id, err := strconv.Atoi(parts[2])
	if err != nil {
		return SearchCursor{}, bad
	}
	return SearchCursor{Score: f, Page: parts[1] == "1", ID: id}, nil
}

// SearchQuery is one page of a search.
type SearchQuery struct {
	Text  string
	Kinds []string // lower-case kinds; empty means all
	First int
	After *SearchCursor
}

// SearchHit is one entity or doc page found, best first.
type SearchHit struct {
	ID    int    // of the entity, or of the doc page when Path is set
	Ref   string // of the entity, or of the page's entity
	Path  string // of the doc page; "" for an entity hit
	Title string // of the doc page
	Score float64
	// Snippet is HTML: escaped text with <mark> around matched words.
	Snippet string
}

// Page reports whether h is a doc page hit.
func (h SearchHit) Page() bool { return h.Path != "" }

// Cursor is the position of h, for the next page.
func (h SearchHit) Cursor() SearchCursor {
	return SearchCursor{Score: h.Score, Page: h.Page(), ID: h.ID}
}

// SearchResult is a page of hits and the number of all of them.
type SearchResult struct {
	Total   int
	Hits    []SearchHit
	HasNext bool
}

// Search ranks the entities and doc pages matching every word of q.Text (as a prefix), best
// first, ties in a stable order (entities before pages, then by id), and returns the page
// after q.After.
func (s *Store) Search(ctx context.Context, q SearchQuery) (SearchResult, error) {
	terms, err := SearchTerms(q.Text)
	if err != nil {
		return SearchResult{}, err
	}
	if len(q.Kinds) > maxSearchKinds {
		return SearchResult{}, catalog.Errorf(catalog.EINVALID, "kinds: at most %d are allowed, got %d", maxSearchKinds, len(q.Kinds))
	}
	gen, err := s.generation(ctx)
	if err != nil {
		return SearchResult{}, err
	}
	v, err := s.answers.do(ctx, gen, searchKey(terms, q), func(ctx context.Context) (any, error) { return s.search(ctx, gen, terms, q) })
	if err != nil {
		return SearchResult{}, err
	}
	return v.(SearchResult), nil
}

// search computes a page of Search from the in-memory index as of gen (fulltext.go).
func (s *Store) search(ctx context.Context, gen int64, terms []string, q SearchQuery) (SearchResult, error) {
	ix, err := s.fulltextIndex(ctx, gen)
	if err != nil {
		return SearchResult{}, err
	}
	fq := fulltext.Query{Terms: terms, Prefix: isPrefixTerm, Kinds: q.Kinds, First: q.First}
	if q.After != nil {
		fq.After = &fulltext.Cursor{Score: q.After.Score, Src: fulltext.Source(q.After.src()), ID: int64(q.After.ID)}
	}
	r := ix.Search(fq)
	res := SearchResult{Total: r.Total, HasNext: r.HasNext, Hits: make([]SearchHit, len(r.Hits))}
	for i, h := range r.Hits {
		res.Hits[i] = SearchHit{ID: int(h.ID), Score: h.Score}
		if h.Src == fulltext.Pages {
			res.Hits[i].Path = "?" // a page; describeHits fills in its path
		}
	}
	if err := s.describeHits(ctx, terms, &res); err != nil {
		return res, err
	}
	return res, nil
}

// searchKey names a search page in the answer cache.
func searchKey(terms []string, q SearchQuery) string {
	key := "search\x00" + strings.Join(terms, " ") + "\x00" + strings.Join(q.Kinds, ",") + "\x00" + strconv.Itoa(q.First)
	if q.After != nil {
		key += "\x00" + q.After.Encode()
	}
	return key
}

// describeHits fills in the hits' refs, paths, titles and snippets from their entities' and
// pages' rows (see snippet). A hit whose row is gone meanwhile is dropped.
func (s *Store) describeHits(ctx context.Context, terms []string, res *SearchResult) error {
	var entityIDs, pageIDs []any
	for _, h := range res.Hits {
		if h.Page() {
			pageIDs = append(pageIDs, h.ID)
		} else {
			entityIDs = append(entityIDs, h.ID)
		}
	}
	entities := make(map[int]SearchHit, len(entityIDs))
	pages := make(map[int]SearchHit, len(pageIDs))
	if len(entityIDs) > 0 {
		err := s.eachRow(ctx, `SELECT id, ref, name, title, description, tags, kind, type, lifecycle, owner_ref, system_ref FROM entities WHERE id IN (`+s.placeholders(len(entityIDs))+`)`, entityIDs, func(rows *stdsql.Rows) error {
			var id int
			var ref, name, title, desc, kind, typ, lifecycle, owner, system string
			var tagsJSON []byte
			if err := rows.Scan(&id, &ref, &name, &title, &desc, &tagsJSON, &kind, &typ, &lifecycle, &owner, &system); err != nil {
				return err
			}
			var tags []string
			_ = json.Unmarshal(tagsJSON, &tags) // no tags: no snippet from them
			meta := strings.Join(slices.DeleteFunc([]string{kind, typ, lifecycle, owner, system}, func(v string) bool { return v == "" }), " · ")
			entities[id] = SearchHit{Ref: ref, Snippet: snippet(terms, desc, title, name, strings.Join(tags, ", "), meta)}
			return nil
		})
		if err != nil {
			return fmt.Errorf("search hits: %w", err)
		}
	}
	if len(pageIDs) > 0 {
		text := "substr(text, 1, " + strconv.Itoa(maxIndexedPageText) + ")"
		if s.Dialect == dialect.Postgres {
			text = "left(text, " + strconv.Itoa(maxIndexedPageText) + ")"
		}
		err := s.eachRow(ctx, `SELECT id, entity_ref, path, title, `+text+` FROM doc_pages WHERE id IN (`+s.placeholders(len(pageIDs))+`)`, pageIDs, func(rows *stdsql.Rows) error {
			var id int
			var ref, path, title, text string
			if err := rows.Scan(&id, &ref, &path, &title, &text); err != nil {
				return err
			}
			pages[id] = SearchHit{Ref: ref, Path: path, Title: title, Snippet: snippet(terms, text, title)}
			return nil
		})
		if err != nil {
			return fmt.Errorf("search hits: %w", err)
		}
	}
	hits := res.Hits[:0]
	for _, h := range res.Hits {
		d, ok := entities[h.ID]
		if h.Page() {
			d, ok = pages[h.ID]
		}
		if !ok {
			continue // removed between the two reads
		}
		d.ID, d.Score = h.ID, h.Score
		hits = append(hits, d)
	}
	res.Hits = hits
	return nil
}

// placeholders returns n parameters for an IN list: ?, ?, … or $1, $2, ….
func (s *Store) placeholders(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "?"
		if s.Dialect == dialect.Postgres {
			ps[i] = "$" + strconv.Itoa(i+1)
		}
	}
	return strings.Join(ps, ", ")
}

// eachRow runs query and calls scan for each row.
func (s *Store) eachRow(ctx context.Context, query string, args []any, scan func(*stdsql.Rows) error) error {
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
