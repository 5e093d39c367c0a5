package schema

import (
	"encoding/json"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Change is one entry of the append-only change log: an entity added, changed or removed by a
// read of a location. IDs only grow, so the log is ordered and a reader can resume after the
// last id it saw (the change feed).
type Change struct {
	ent.Schema
}

func (Change) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.Time("at").Immutable().Default(time.Now),
		field.String("type").Immutable().Comment("added, changed or removed"),
		field.String("ref").Immutable(),
		field.String("location").Immutable().Comment("key of the location whose read made the change"),
		field.String("revision").Immutable().Default("").Comment("revision of the source read"),
		field.Text("reason").Immutable().Default("").Comment("why, for removals"),
		field.JSON("fields", json.RawMessage{}).Optional().Immutable().Comment("what changed (reserved for the change feed)"),
	}
}

func (Change) Indexes() []ent.Index {
	return []ent.Index{index.Fields("ref"), index.Fields("location")}
}

func (Change) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("changes"), entgql.Skip()}
}
