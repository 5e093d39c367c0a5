package store

import (
	"context"
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
	return `to_tsvector('simple'::regconfig, regexp_replace(` + expr + `, '[^[:alnum:]]+', ' ', 'g'))`
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
		stmts := []string{
			`ALTER TABLE entities ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS (` + pgSearchVector + `) STORED`,
			// Its GIN index is built by RebuildTextIndex (see postgresGinIndexes).
		}
		for _, stmt := range stmts {
			if _, err := s.DB.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
		return nil
	}
	return searchIndex.migrate(ctx, s.DB)
}

// SearchTerms cuts a query into at most maxSearchTerms lower-case words: runs of letters,
// marks and digits. Everything else (quotes, operators, punctuation, emoji) separates words,
// so nothing of the query reaches a query language but words.
func SearchTerms(query string) ([]string, error) {
	if n := utf8.RuneCountInString(query); n > MaxSearchQueryLen {
		return nil, catalog.Errorf(catalog.EINVALID, "query is %d characters long; at most %d are allowed", n, MaxSearchQueryLen)
	}
	// The snippet marks words by the same rule (isWordRune), so it marks what matched.
	words := strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !isWordRune(r)
	})
	if len(words) == 0 {
		return nil, catalog.Errorf(catalog.EINVALID, "query %q has no words to search for (letters or digits)", catalog.Excerpt(query, 40))
	}
	if len(words) > maxSearchTerms {
		return nil, catalog.Errorf(catalog.EINVALID, "query has %d words; at most %d are allowed", len(words), maxSearchTerms)
	}
	return words, nil
}

// isPrefixTerm says whether a word also matches as a prefix: every word of two characters or
// more. A single character matches only itself: as a prefix it would match most of the
// catalog, and rank all of it, at a keystroke.
func isPrefixTerm(t string) bool { return utf8.RuneCountInString(t) >= 2 }

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

// SearchCursor is the position after which a search page starts.
type SearchCursor struct {
	Score float64
	Ref   string
}

// Encode returns the cursor's opaque form.
func (c SearchCursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte("s:" + strconv.FormatFloat(c.Score, 'g', -1, 64) + "\x00" + c.Ref))
}

// DecodeSearchCursor parses a cursor made by Encode.
func DecodeSearchCursor(s string) (SearchCursor, error) {
	bad := catalog.Errorf(catalog.EINVALID, "after: %q is not a search cursor", catalog.Excerpt(s, 40))
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "s:") {
		return SearchCursor{}, bad
	}
	score, ref, ok := strings.Cut(string(b[2:]), "\x00")
	if !ok {
		return SearchCursor{}, bad
	}
	f, err := strconv.ParseFloat(score, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return SearchCursor{}, bad
	}
	return SearchCursor{Score: f, Ref: ref}, nil
}

// SearchQuery is one page of a search.
type SearchQuery struct {
	Text  string
	Kinds []string // lower-case kinds; empty means all
	First int
	After *SearchCursor
}

// SearchHit is one entity found, best first.
type SearchHit struct {
	ID      int
	Ref     string
	Score   float64
	Snippet string // HTML: escaped text with <mark> around matched words
}

// SearchResult is a page of hits and the number of all of them.
type SearchResult struct {
	Total   int
	Hits    []SearchHit
	HasNext bool
}

// Search ranks the entities matching every word of q.Text (as a prefix), best first, ties
// by ref, and returns the page after q.After.
func (s *Store) Search(ctx context.Context, q SearchQuery) (SearchResult, error) {
	terms, err := SearchTerms(q.Text)
	if err != nil {
		return SearchResult{}, err
	}
	if len(q.Kinds) > maxSearchKinds {
		return SearchResult{}, catalog.Errorf(catalog.EINVALID, "kinds: at most %d are allowed, got %d", maxSearchKinds, len(q.Kinds))
	}
	if s.Dialect == dialect.Postgres {
		res, err := s.searchPostgres(ctx, tsQuery(terms), q)
		if err != nil {
			return res, err
		}
		return res, s.snippets(ctx, terms, &res)
	}
	stale, err := searchIndex.stale(ctx, s.DB)
	if err != nil {
		return SearchResult{}, err
	}
	if stale {
		return SearchResult{}, catalog.Errorf(catalog.ECONFLICT, "the search index is being built after a large ingest; try again shortly")
	}
	res, err := s.searchSQLite(ctx, ftsQuery(terms), q)
	if err != nil {
		return res, err
	}
	return res, s.snippets(ctx, terms, &res)
}

// Column weights of bm25 in entity_search's column order: name, title, tags, meta, description
// (ref and kind are not indexed).
const bm25Weights = "10.0, 8.0, 4.0, 3.0, 1.0, 0.0, 0.0"

func (s *Store) searchSQLite(ctx context.Context, match string, q SearchQuery) (SearchResult, error) {
	args := []any{match}
	kinds := ""
	if len(q.Kinds) > 0 {
		kinds = " AND kind IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(q.Kinds)), ", ") + ")"
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	// ref and kind are read from entity_search itself: joining the entities table for them
	// costs a read of a wide row per match.
	from := ` FROM entity_search WHERE entity_search MATCH ?` + kinds
	var res SearchResult
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&res.Total); err != nil {
		return res, fmt.Errorf("search: %w", err)
	}
	page := `SELECT id, ref, score FROM (SELECT rowid AS id, ref, -bm25(entity_search, ` + bm25Weights + `) AS score` + from + `)`
	if q.After != nil {
		page += ` WHERE score < ? OR (score = ? AND ref > ?)`
		args = append(args, q.After.Score, q.After.Score, q.After.Ref)
	}
	page += ` ORDER BY score DESC, ref LIMIT ?`
	args = append(args, q.First+1)
	if err := s.scanHits(ctx, &res, q.First, page, args...); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Store) searchPostgres(ctx context.Context, tsq string, q SearchQuery) (SearchResult, error) {
	args := []any{tsq}
	kinds := ""
	if len(q.Kinds) > 0 {
		kinds = " AND kind = ANY($2::text[])"
		args = append(args, pq.Array(q.Kinds))
	}
	from := ` FROM entities WHERE search_vector @@ to_tsquery('simple'::regconfig, $1)` + kinds
	var res SearchResult
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&res.Total); err != nil {
		return res, fmt.Errorf("search: %w", err)
	}
	page := `SELECT id, ref, score FROM (SELECT id, ref, ts_rank_cd(search_vector, to_tsquery('simple'::regconfig, $1))::float8 AS score` + from + `) hits`
	if q.After != nil {
		n := len(args)
		page += fmt.Sprintf(` WHERE score < $%d OR (score = $%d AND ref > $%d)`, n+1, n+1, n+2)
		args = append(args, q.After.Score, q.After.Ref)
	}
	page += fmt.Sprintf(` ORDER BY score DESC, ref COLLATE "C" LIMIT $%d`, len(args)+1)
	args = append(args, q.First+1)
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
		if err := rows.Scan(&h.ID, &h.Ref, &h.Score); err != nil {
			return fmt.Errorf("search: %w", err)
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

// snippets fills the hits' snippets from their entities' texts (see snippet).
func (s *Store) snippets(ctx context.Context, terms []string, res *SearchResult) error {
	if len(res.Hits) == 0 {
		return nil
	}
	ps := make([]string, len(res.Hits))
	args := make([]any, len(res.Hits))
	for i, h := range res.Hits {
		ps[i] = "?"
		if s.Dialect == dialect.Postgres {
			ps[i] = "$" + strconv.Itoa(i+1)
		}
		args[i] = h.ID
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, title, description, tags, kind, type, lifecycle, owner_ref, system_ref FROM entities WHERE id IN (`+strings.Join(ps, ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("search snippets: %w", err)
	}
	defer rows.Close()
	snippets := make(map[int]string, len(res.Hits))
	for rows.Next() {
		var id int
		var name, title, desc, kind, typ, lifecycle, owner, system string
		var tagsJSON []byte
		if err := rows.Scan(&id, &name, &title, &desc, &tagsJSON, &kind, &typ, &lifecycle, &owner, &system); err != nil {
			return fmt.Errorf("search snippets: %w", err)
		}
		var tags []string
		_ = json.Unmarshal(tagsJSON, &tags) // no tags: no snippet from them
		meta := strings.Join(slices.DeleteFunc([]string{kind, typ, lifecycle, owner, system}, func(v string) bool { return v == "" }), " · ")
		snippets[id] = snippet(terms, desc, title, name, strings.Join(tags, ", "), meta)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search snippets: %w", err)
	}
	for i := range res.Hits {
		res.Hits[i].Snippet = snippets[res.Hits[i].ID]
	}
	return nil
}
