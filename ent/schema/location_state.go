package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// LocationState is what catalogd knows of one configured location: when it was last read,
// whether that worked, and how much it holds. It is the freshness signal shown to users.
type LocationState struct {
	ent.Schema
}

func (LocationState) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique(),
		field.String("provider"),
		field.String("target"),
		field.Time("last_read_at").Optional().Nillable().Comment("end of the last read, successful or not"),
		field.Time("last_success_at").Optional().Nillable().Comment("end of the last read that applied"),
		field.Time("last_change_at").Optional().Nillable().Comment("last time a read changed any entity"),
		field.Text("last_error").Default(""),
		field.Int("entities").Default(0),
		field.Int("errors").Default(0),
		field.Int64("duration_ms").Default(0),
	}
}

func (LocationState) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("locations")}
}
