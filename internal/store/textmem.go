package store

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"catalogd/internal/trigram"
)

// On PostgreSQL the text filter first asks an in-memory trigram index (internal/trigram) of
// the three columns which rows can match, and hands PostgreSQL those ids beside the
// unchanged ILIKE predicates: it verifies, filters, orders and pages only them. pg_trgm's GIN
// indexes alone answer poorly for the searches people type ("payments-o"): pg_trgm drops
// punctuation and splits words, so thousands of rows are rechecked against the table, twice
// with the count.
//
// The index holds the columns as PostgreSQL's lower() folds them (ILIKE compares lower() of
// both sides, byte by byte), read from PostgreSQL itself, so whatever the database's locale
// folds alike, the index does too; and the searched text is folded by lower() as well (in Go
// for ASCII where the database folds ASCII so). Any row ILIKE matches therefore holds every
// trigram of the search: the candidates are a superset, and the answers, order and count are
// exactly those of the ILIKE alone.
//
// The index follows the catalog's generation as search's does (follow.go): serve builds it at
// start and brings it up after each change (RebuildTextIndex), and a filter that finds the
// generation ahead waits for the update. Until it is first built, for a search shorter than
// a trigram, or when more than textMemMaxCandidates rows may match, the filter is the ILIKE
// alone (and pg_trgm's indexes).
const (
	// textMemMaxCandidates: past this many candidates, handing PostgreSQL the ids costs about
	// what its own trigram index does.
	textMemMaxCandidates = 10_000
	// textMemCommonShare: a trigram more than this share of the rows hold keeps no postings
	// (it narrows little, and holds most of the index's bytes).
	textMemCommonShare = 8
	// textMemRebuildShare: when the rows changed since the build exceed this share of the
	// index, it is built anew in the background.
	textMemRebuildShare = 0.1
	textMemBatch        = 500
)

// textMem is the text filter's index and how to fold a search for it.
type textMem struct {
	ix *trigram.Index
	// asciiLower: the database's lower() folds ASCII as Go's ASCII lower-casing does, so an
	// ASCII search is folded here without asking it.
	asciiLower bool
}

type textMemState = follower[*textMem]

// textMemColumns are what the index is built from: each row's id, hash and folded texts.
const textMemColumns = `SELECT id, hash, lower(name), lower(title), lower(description) FROM entities`

// warmTextMem builds the text filter's index once the entities table has rows, or brings it
// up to the catalog; it reports whether it built it anew.
func (s *Store) warmTextMem(ctx context.Context) (bool, error) {
	gen, err := s.generation(ctx)
	if err != nil {
		return false, err
	}
	first := s.textMem.cur.Load() == nil
	if first {
		var rows int
		if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM entities LIMIT 1) t").Scan(&rows); err != nil || rows == 0 {
			return false, err
		}
	}
	_, err = s.textMemAt(ctx, gen)
	return first && err == nil, err
}

// textMemAt returns the text filter's index as of generation gen or later.
func (s *Store) textMemAt(ctx context.Context, gen int64) (*textMem, error) {
	return s.textMem.at(ctx, gen, "text index", indexOps[*textMem]{
		generation: s.generation,
		build:      s.buildTextMem,
		update:     s.updateTextMem,
		stale: func(tm *textMem) bool {
			return float64(tm.ix.Stale()) > textMemRebuildShare*float64(tm.ix.Len())
		},
	})
}

// buildTextMem indexes every row.
func (s *Store) buildTextMem(ctx context.Context) (*textMem, error) {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var folded string
	if err := s.DB.QueryRowContext(ctx, `SELECT lower($1)`, letters).Scan(&folded); err != nil {
		return nil, fmt.Errorf("text index: %w", err)
	}
	var rows int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM entities`).Scan(&rows); err != nil {
		return nil, fmt.Errorf("text index: %w", err)
	}
	b := trigram.NewBuilder(trigram.Options{MaxPostings: max(1000, rows/textMemCommonShare)})
	err := s.eachRow(ctx, textMemColumns+` ORDER BY id`, nil, func(r *stdsql.Rows) error {
		var id int64
		var hash, name, title, desc string
		if err := r.Scan(&id, &hash, &name, &title, &desc); err != nil {
			return err
		}
		return b.Add(id, hash, name, title, desc)
	})
	if err != nil {
		return nil, fmt.Errorf("text index: %w", err)
	}
	return &textMem{ix: b.Index(), asciiLower: folded == strings.ToLower(letters)}, nil
}

// updateTextMem indexes the rows whose hash differs from the index's, and drops the rows gone.
func (s *Store) updateTextMem(ctx context.Context, tm *textMem) (*textMem, error) {
	diff := tm.ix.Diff()
	var ids []int64
	err := s.eachRow(ctx, `SELECT id, hash FROM entities`, nil, func(r *stdsql.Rows) error {
		var id int64
		var hash string
		if err := r.Scan(&id, &hash); err != nil {
			return err
		}
		if diff.Row(id, hash) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("text index: %w", err)
	}
	// Many changed rows (the first ingest into an empty catalog) would make a delta larger
	// than the index it sits beside: build anew instead.
	if float64(len(ids)) > textMemRebuildShare*float64(tm.ix.Len())+textMemBatch {
		return s.buildTextMem(ctx)
	}
	var changed []trigram.Row
	for len(ids) > 0 {
		n := min(len(ids), textMemBatch)
		err := s.eachRow(ctx, textMemColumns+` WHERE id = ANY($1)`, []any{pq.Array(ids[:n])}, func(r *stdsql.Rows) error {
			var row trigram.Row
			var name, title, desc string
			if err := r.Scan(&row.ID, &row.Hash, &name, &title, &desc); err != nil {
				return err
			}
			row.Texts = []string{name, title, desc}
			changed = append(changed, row)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("text index: %w", err)
		}
		ids = ids[n:]
	}
	removed := diff.Removed()
	if len(changed) == 0 && len(removed) == 0 {
		return tm, nil
	}
	return &textMem{ix: tm.ix.Update(changed, removed), asciiLower: tm.asciiLower}, nil
}

// textCandidates returns the ids of the rows the text filter for text may match, from the
// index, or ok false when the index cannot narrow it (see above).
func (s *Store) textCandidates(ctx context.Context, text string) (ids []int64, ok bool, err error) {
	if utf8.RuneCountInString(text) < minTrigramLen || s.textMem.cur.Load() == nil {
		return nil, false, nil
	}
	gen, err := s.generation(ctx)
	if err != nil {
		return nil, false, err
	}
	tm, err := s.textMemAt(ctx, gen)
	if err != nil {
		return nil, false, err
	}
	folded, ok := "", false
	if tm.asciiLower && isASCII(text) {
		folded, ok = strings.ToLower(text), true // on ASCII, Go's lower-casing is ASCII's
	} else if err := s.DB.QueryRowContext(ctx, `SELECT lower($1)`, text).Scan(&folded); err == nil {
		ok = true
	} else if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	// A text the database refuses to fold (a NUL) gets the ILIKE alone, and its error.
	if !ok {
		return nil, false, nil
	}
	ids, ok = tm.ix.Candidates(folded, textMemMaxCandidates)
	return ids, ok, nil
}

// textMatchAmong is the ILIKE predicate of the text filter on the rows of ids only. The ILIKE
// is wrapped in IS TRUE, which selects the same rows (WHERE keeps a row only when its
// condition is true) but which no index serves: the planner, which guesses pg_trgm far more
// selective than it is, would otherwise recheck its thousands of rows and filter them by id,
// instead of fetching the few ids by primary key.
func textMatchAmong(text string, ids []int64) func(*sql.Selector) {
	return func(s *sql.Selector) {
		ilike := sql.Or(sql.ContainsFold(s.C("name"), text), sql.ContainsFold(s.C("title"), text), sql.ContainsFold(s.C("description"), text))
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C("id")).WriteString(" = ANY(").Arg(pq.Array(ids)).WriteString(") AND (").Join(ilike).WriteString(") IS TRUE")
		}))
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
