package schema

import (
	"entgo.io/contrib/entgql"
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
		// The registry: where the location comes from and how to build its provider again.
		field.JSON("options", map[string]any{}).Optional().Comment("the provider's own keys").Annotations(entgql.Skip()),
		field.String("origin").Default("config").Comment("config (from flags or the configuration file) or runtime (registered through the API)"),
		field.String("registered_by").Default("").Comment("principal that registered a runtime location"),
		field.Time("created_at").Optional().Nillable(),
		field.Bool("retired").Default(false).Comment("no longer configured: its entities may be adopted by another location, the rest are removed").Annotations(entgql.Skip()),
		field.String("revision").Default("").Comment("revision of the source at the last applied read"),
		field.Time("last_observed_at").Optional().Nillable().Comment("last read that confirmed the location's content (applied, or the same revision again)"),
	}
}

func (LocationState) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("locations")}
}
