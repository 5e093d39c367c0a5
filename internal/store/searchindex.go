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
	"github.com/lib/pq"

	"catalogd/internal/catalog"
)

// Full-text search (search(query)) ranks entities by words in their name and title (weight A),
// tags and descriptive columns - kind, spec.type, spec.lifecycle, owner, system (B) - and
// description (C):
//
//   - SQLite: entity_search, an FTS5 table (unicode61 tokenizer, prefix indexes of 2 and 3
//     characters) holding those texts by entity id, kept in step by triggers on entities,
//     ranked by bm25() with column weights.
//   - PostgreSQL: search_vector, a stored generated tsvector column of entities with
//     setweight() per group, and a GIN index on it; ranked by ts_rank_cd.
//     Generated, so every write path (apply, bulk COPY, update) keeps it.
//
// The user's query is never handed to either query language: it is cut into words (runs of
// letters and digits), each word becomes a quoted (prefix) term, and all of them must match.
// Snippets are cut in Go from the hits' texts (snippet.go), the same on both databases.
//
// SQLite's index follows the text index's pattern (textindex.go): a large first ingest drops
// the triggers and marks it stale in search_index_state; RebuildTextIndex fills it again.
// While it is stale, search answers CONFLICT rather than miss entities silently.
const (
	searchTable = "entity_search"

	// MaxSearchQueryLen bounds the query in characters, maxSearchTerms the words in it.
	MaxSearchQueryLen = 200
	maxSearchTerms    = 8
	maxSearchKinds    = 50
)

const (
	// The texts of one row of entities, as entity_search holds them (X is new or old).
	searchTags = `(SELECT group_concat(value, ' ') FROM json_each(X.tags))`
	searchMeta = `X.kind || ' ' || X.type || ' ' || X.lifecycle || ' ' || X.owner_ref || ' ' || X.system_ref`
)

func searchValues(x string) string {
	r := strings.NewReplacer("X.", x+".")
	return r.Replace("X.id, X.name, X.title, " + searchTags + ", " + searchMeta + ", X.description, X.ref, X.kind")
}

// searchIndex is search's FTS5 table; it holds its texts (tags and the descriptive fields are
// composed from several columns), with ref and kind for the answer.
var searchIndex = &ftsIndex{
	name:   "search index",
	table:  searchTable,
	source: "entities",
	state:  "search_index_state",
	create: `CREATE VIRTUAL TABLE IF NOT EXISTS entity_search USING fts5(name, title, tags, meta, description, ref UNINDEXED, kind UNINDEXED, tokenize='unicode61', prefix='2 3')`,
	triggers: []string{
		`CREATE TRIGGER IF NOT EXISTS entity_search_insert AFTER INSERT ON entities BEGIN
  INSERT INTO entity_search(rowid, name, title, tags, meta, description, ref, kind) VALUES (` + searchValues("new") + `);
END`,
		`CREATE TRIGGER IF NOT EXISTS entity_search_delete AFTER DELETE ON entities BEGIN
  DELETE FROM entity_search WHERE rowid = old.id;
END`,
		`CREATE TRIGGER IF NOT EXISTS entity_search_update AFTER UPDATE OF name, title, description, tags, kind, type, lifecycle, owner_ref, system_ref ON entities BEGIN
  DELETE FROM entity_search WHERE rowid = old.id;
  INSERT INTO entity_search(rowid, name, title, tags, meta, description, ref, kind) VALUES (` + searchValues("new") + `);
END`,
	},
	rebuild: []string{
		`DELETE FROM entity_search`,
		`INSERT INTO entity_search(rowid, name, title, tags, meta, description, ref, kind) SELECT ` + searchValues("entities") + ` FROM entities`,
	},
}

// PostgreSQL: words are cut at anything but letters and digits, as on SQLite and as the query
// is cut, so "group:default/team-a" holds team and a rather than one path-like token.
func pgWords(expr string) string {
	return `to_tsvector('simple'::regconfig, regexp_replace(catalogd_unaccent(` + expr + `), '[^[:alnum:]]+', ' ', 'g'))`
}

var pgSearchVector = `setweight(` + pgWords(`name || ' ' || title`) + `, 'A') || ` +
	`setweight(` + pgWords(`coalesce(tags::text, '') || ' ' || kind || ' ' || type || ' ' || lifecycle || ' ' || owner_ref || ' ' || system_ref`) + `, 'B') || ` +
	`setweight(` + pgWords(`description`) + `, 'C')`

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

// migrateSearchIndex creates the search index and the facets' indexes when missing. On
// SQLite a database from before it, with rows, gets the index marked stale, to be filled by
// RebuildTextIndex.
func (s *Store) migrateSearchIndex(ctx context.Context) error {
	for _, stmt := range facetIndexes {
		if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("facet index: %w", err)
		}
	}
	if s.Dialect == dialect.Postgres {
		if err := s.migrateUnaccent(ctx); err != nil {
			return err
		}
		// Its GIN index is built by RebuildTextIndex (see postgresGinIndexes).
		if err := s.ensureGenerated(ctx, "entities", "search_vector", pgSearchVector, "catalogd_unaccent"); err != nil {
			return err
		}
	} else if err := searchIndex.migrate(ctx, s.DB); err != nil {
		return err
	}
	if err := s.migrateTagTable(ctx); err != nil {
		return err
	}
	return s.migrateDocSearch(ctx)
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
	for _, w := range strings.FieldsFunc(query, func(r rune) bool { return !isWordRune(r) }) {
		if w = foldWord(w); w != "" {
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

// ftsQuery is the FTS5 expression of terms: each a quoted prefix term, all required.
func ftsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		if isPrefixTerm(t) {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, " ")
}

// tsQuery is the tsquery text of terms: each a quoted prefix lexeme, all required.
func tsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `'` + strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), `'`, `''`) + `'`
		if isPrefixTerm(t) {
			parts[i] += ":*"
		}
	}
	return strings.Join(parts, " & ")
}

// SearchCursor is the position after which a search page starts: a hit's score, whether it
// is a doc page, and the entity's or page's id. Ties of score are ordered by the latter two,
// which the full-text tables hold beside the score: ordering by anything they would have to
// read from each hit's row (its ref) cost more than ranking.
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
	v, err := s.answers.do(ctx, gen, searchKey(terms, q), func(ctx context.Context) (any, error) { return s.search(ctx, terms, q) })
	if err != nil {
		return SearchResult{}, err
	}
	return v.(SearchResult), nil
}

// search computes a page of Search.
func (s *Store) search(ctx context.Context, terms []string, q SearchQuery) (SearchResult, error) {
	var res SearchResult
	var err error
	if s.Dialect == dialect.Postgres {
		res, err = s.searchPostgres(ctx, tsQuery(terms), q)
	} else {
		for _, x := range []*ftsIndex{searchIndex, docSearchIndex} {
			stale, err := x.stale(ctx, s.DB)
			if err != nil {
				return SearchResult{}, err
			}
			if stale {
				return SearchResult{}, catalog.Errorf(catalog.ECONFLICT, "the search index is being built after a large ingest; try again shortly")
			}
		}
		res, err = s.searchSQLite(ctx, ftsQuery(terms), q)
	}
	if err != nil {
		return res, err
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

// Column weights of bm25 in entity_search's column order: name, title, tags, meta, description
// (ref and kind are not indexed).
const bm25Weights = "10.0, 8.0, 4.0, 3.0, 1.0, 0.0, 0.0"

// afterClause is the keyset condition of a page after a cursor, with the cursor's score, src
// and id as the parameters named.
func afterClause(score, src, id string) string {
	return ` WHERE score < ` + score + ` OR (score = ` + score + ` AND (src > ` + src + ` OR (src = ` + src + ` AND id > ` + id + `)))`
}

func (s *Store) searchSQLite(ctx context.Context, match string, q SearchQuery) (SearchResult, error) {
	args := []any{match}
	kinds := ""
	if len(q.Kinds) > 0 {
		ps := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			args = append(args, k)
			ps[i] = "?" + strconv.Itoa(len(args))
		}
		kinds = " AND kind IN (" + strings.Join(ps, ", ") + ")"
	}
	entities := ` FROM entity_search WHERE entity_search MATCH ?1` + kinds
	pages := ` FROM doc_search WHERE doc_search MATCH ?1` + kinds
	after := ""
	if q.After != nil {
		n := len(args)
		after = afterClause("?"+strconv.Itoa(n+1), "?"+strconv.Itoa(n+2), "?"+strconv.Itoa(n+3))
		args = append(args, q.After.Score, q.After.src(), q.After.ID)
	}
	limit := "?" + strconv.Itoa(len(args)+1)
	args = append(args, q.First+1)
	page := rankedPage(
		`SELECT 0 AS src, rowid AS id, -bm25(entity_search, `+bm25Weights+`) AS score`+entities,
		`SELECT 1 AS src, rowid AS id, -bm25(doc_search, `+docBM25Weights+`) * `+strconv.FormatFloat(pageScoreFactor, 'g', -1, 64)+` AS score`+pages,
		after, limit)
	var res SearchResult
	if err := s.scanHits(ctx, &res, q.First, page, args...); err != nil {
		return res, err
	}
	return res, nil
}

// rankedPage is the statement of a search page: every entity hit and every page hit scored
// once (each table's rank computed in one pass over its hits and kept), a first row (src -1)
// with the number of all hits in place of an id, then each table's best hits after the
// cursor, by score and id alone, merged. Counting from the scored hits rather than in a
// statement of its own saves a second pass over every hit's doclist.
func rankedPage(entities, pages, after, limit string) string {
	arm := func(table string) string {
		return `SELECT * FROM (SELECT * FROM ` + table + after + ` ORDER BY score DESC, id LIMIT ` + limit + `) AS ` + table + `_page`
	}
	return `WITH e AS MATERIALIZED (` + entities + `), p AS MATERIALIZED (` + pages + `) ` +
		`SELECT -1 AS src, (SELECT count(*) FROM e) + (SELECT count(*) FROM p) AS id, 0.0 AS score UNION ALL ` +
		`SELECT * FROM (` + arm("e") + ` UNION ALL ` + arm("p") + ` ORDER BY score DESC, src, id LIMIT ` + limit + `) AS hits`
}

func (s *Store) searchPostgres(ctx context.Context, tsq string, q SearchQuery) (SearchResult, error) {
	args := []any{tsq}
	kinds, pageKinds := "", ""
	if len(q.Kinds) > 0 {
		kinds = " AND kind = ANY($2::text[])"
		pageKinds = " AND split_part(entity_ref, ':', 1) = ANY($2::text[])"
		args = append(args, pq.Array(q.Kinds))
	}
	entities := ` FROM entities WHERE search_vector @@ to_tsquery('simple'::regconfig, $1)` + kinds
	pages := ` FROM doc_pages WHERE search_vector @@ to_tsquery('simple'::regconfig, $1)` + pageKinds
	after := ""
	if q.After != nil {
		n := len(args)
		after = afterClause(fmt.Sprintf("$%d", n+1), fmt.Sprintf("$%d", n+2), fmt.Sprintf("$%d", n+3))
		args = append(args, q.After.Score, q.After.src(), q.After.ID)
	}
	limit := fmt.Sprintf("$%d", len(args)+1)
	args = append(args, q.First+1)
	page := rankedPage(
		`SELECT 0 AS src, id::bigint AS id, ts_rank_cd(search_vector, to_tsquery('simple'::regconfig, $1))::float8 AS score`+entities,
		`SELECT 1 AS src, id::bigint AS id, (ts_rank_cd(search_vector, to_tsquery('simple'::regconfig, $1)) * `+strconv.FormatFloat(pageScoreFactor, 'g', -1, 64)+`)::float8 AS score`+pages,
		after, limit)
	var res SearchResult
	if err := s.scanHits(ctx, &res, q.First, page, args...); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Store) scanHits(ctx context.Context, res *SearchResult, first int, query string, args ...any) error {
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h SearchHit
		var src int
		if err := rows.Scan(&src, &h.ID, &h.Score); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if src == -1 {
			res.Total = h.ID // the number of all hits (rankedPage)
			continue
		}
		if src == 1 {
			h.Path = "?" // a page; describeHits fills in its path
		}
		res.Hits = append(res.Hits, h)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if len(res.Hits) > first {
		res.Hits, res.HasNext = res.Hits[:first], true
	}
	return nil
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
