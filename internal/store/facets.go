package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"catalogd/internal/catalog"
)

// FacetColumns maps each facet field to the entities column it counts ("tags" is the JSON
// array, counted per element). Every column but tags has an index (see facetIndexes).
var FacetColumns = map[string]string{
	"kind":           "kind",
	"namespace":      "namespace",
	"spec.type":      "type",
	"spec.lifecycle": "lifecycle",
	"owner":          "owner_ref",
	"system":         "system_ref",
	"tags":           "tags",
}

// FacetFields lists the facet fields, sorted, for messages.
func FacetFields() []string {
	out := make([]string, 0, len(FacetColumns))
	for f := range FacetColumns {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// FacetValue is one value of a field and the number of entities holding it.
type FacetValue struct {
	Value string
	Count int
}

// Facet counts the values of field over the entities matching preds, most frequent first,
// then by value: at most limit values. Empty values (no owner, no system) are not counted.
// With a generation (from CacheGeneration; negative: none), the counts are kept for it (see
// answerCache): only for predicates that read nothing but entities and relations, which
// every change to bumps it.
func (s *Store) Facet(ctx context.Context, field string, preds []func(*sql.Selector), limit int, gen int64) ([]FacetValue, error) {
	tagTable := false
	if field == "tags" {
		var err error
		if tagTable, err = s.tagTableReady(ctx); err != nil {
			return nil, err
		}
	}
	query, args, err := s.facetQuery(field, preds, limit, tagTable)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("facet\x00%s\x00%#v", query, args)
	if gen < 0 {
		return s.facet(ctx, field, query, args)
	}
	v, err := s.answers.do(ctx, gen, key, func(ctx context.Context) (any, error) { return s.facet(ctx, field, query, args) })
	if err != nil {
		return nil, err
	}
	return v.([]FacetValue), nil
}

func (s *Store) facet(ctx context.Context, field, query string, args []any) ([]FacetValue, error) {
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("facet %s: %w", field, err)
	}
	defer rows.Close()
	values := []FacetValue{}
	for rows.Next() {
		var v FacetValue
		if err := rows.Scan(&v.Value, &v.Count); err != nil {
			return nil, fmt.Errorf("facet %s: %w", field, err)
		}
		values = append(values, v)
	}
	return values, rows.Err()
}

// facetQuery is the statement of Facet; tags are counted from entity_tags when tagTable
// says it is in step (tagtable.go), else from each row's JSON.
func (s *Store) facetQuery(field string, preds []func(*sql.Selector), limit int, tagTable bool) (string, []any, error) {
	col, ok := FacetColumns[field]
	if !ok {
		return "", nil, catalog.Errorf(catalog.EINVALID, "fields: unknown facet field %q; allowed: %s", catalog.Excerpt(field, 40), strings.Join(FacetFields(), ", "))
	}
	// Tags that are not an array (an entity without tags may hold null) count nothing.
	// The filter's predicates build the inner selection; the grouping wraps it, so the
	// predicates' arguments and placeholders stay as ent made them.
	inner := sql.Dialect(s.Dialect).Select().From(sql.Table("entities"))
	inner.Select(inner.C(col))
	if col == "tags" && tagTable {
		inner.Select(inner.C("id"))
	}
	for _, p := range preds {
		p(inner)
	}
	var query, value string
	switch {
	case col == "tags" && tagTable && len(preds) == 0:
		// The whole catalog: a grouping over entity_tags' index alone.
		query, value = `SELECT t.tag, count(*) FROM entity_tags AS t%.0s`, "t.tag"
	case col == "tags" && tagTable:
		query, value = `SELECT t.tag, count(*) FROM entity_tags AS t WHERE t.entity_id IN (%s)`, "t.tag"
	case col == "tags" && s.Dialect == dialect.Postgres:
		query, value = `SELECT t.value, count(*) FROM (%s) AS f CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(f.tags) = 'array' THEN f.tags ELSE '[]' END) AS t(value)`, "t.value"
	case col == "tags":
		query, value = `SELECT t.value, count(*) FROM (%s) AS f, json_each(CASE WHEN json_type(f.tags) = 'array' THEN f.tags ELSE '[]' END) AS t WHERE t.type = 'text'`, "t.value"
	default:
		inner.Where(sql.NEQ(inner.C(col), ""))
		query, value = `SELECT f.`+col+`, count(*) FROM (%s) AS f`, "f."+col
	}
	innerSQL, args := inner.Query()
	// Values sort bytewise on both databases, as Go's sort does.
	order := value
	if s.Dialect == dialect.Postgres {
		order += ` COLLATE "C"`
	}
	query = fmt.Sprintf(query, innerSQL) + ` GROUP BY ` + value + ` ORDER BY count(*) DESC, ` + order
	query += fmt.Sprintf(" LIMIT %d", limit)
	return query, args, nil
}
