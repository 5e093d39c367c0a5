package store

import (
	"encoding/json"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
)

// RefIn matches rows whose column is one of values, in one statement however many values
// there are: short lists become IN (...); long ones pass as one parameter (a JSON array read
// with json_each on SQLite, an array with = ANY on PostgreSQL), so no variable limit applies
// and the number of statements never grows with the size of a result.
func RefIn(column string, values []string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		s.Where(In(s.C(column), values))
	}
}

// In is RefIn for a column expression already qualified.
func In(col string, values []string) *sql.Predicate {
	if len(values) <= 100 {
		args := make([]any, len(values))
		for i, v := range values {
			args[i] = v
		}
		if len(args) == 0 {
			return sql.False()
		}
		return sql.In(col, args...)
	}
	return sql.P(func(b *sql.Builder) {
		if b.Dialect() == dialect.Postgres {
			b.WriteString(col).WriteString(" = ANY(").Arg(pq.Array(values)).WriteString(")")
			return
		}
		js, _ := json.Marshal(values)
		b.WriteString(col).WriteString(" IN (SELECT value FROM json_each(").Arg(string(js)).WriteString("))")
	})
}

// JSONArrayContains matches rows whose JSON array column holds value.
func JSONArrayContains(column, value string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		col := s.C(column)
		s.Where(sql.P(func(b *sql.Builder) {
			if b.Dialect() == dialect.Postgres {
				b.WriteString("jsonb_exists(").WriteString(col).WriteString(", ").Arg(value).WriteString(")")
				return
			}
			b.WriteString("EXISTS (SELECT 1 FROM json_each(").WriteString(col).WriteString(") WHERE value = ").Arg(value).WriteString(")")
		}))
	}
}

// JSONObjectHas matches rows whose JSON object column has key, with the given value when
// value is not nil. Keys and values are bound as parameters, never spliced into SQL.
func JSONObjectHas(column, key string, value *string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		col := s.C(column)
		s.Where(sql.P(func(b *sql.Builder) {
			if b.Dialect() == dialect.Postgres {
				if value == nil {
					b.WriteString("jsonb_exists(").WriteString(col).WriteString(", ").Arg(key).WriteString(")")
					return
				}
				b.WriteString("(").WriteString(col).WriteString(" ->> ").Arg(key).WriteString(") = ").Arg(*value)
				return
			}
			b.WriteString("EXISTS (SELECT 1 FROM json_each(").WriteString(col).WriteString(") WHERE key = ").Arg(key)
			if value != nil {
				b.WriteString(" AND value = ").Arg(*value)
			}
			b.WriteString(")")
		}))
	}
}
