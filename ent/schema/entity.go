package schema

import (
	"encoding/json"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Entity is one catalog entity of any kind. One table serves every kind, so custom kinds need
// no schema change: the whole descriptor is kept in document, and the fields that lists filter
// and sort on are copied into indexed columns. Key columns (kind, namespace, type, lifecycle,
// owner_ref, system_ref) hold lower-case values so every lookup is case-insensitive; display
// values come from the document.
//
// Fields whose GraphQL field of the same name is served from elsewhere (kind, type, lifecycle
// display values come from the document) carry entgql.Skip(): entgql's field collection then
// treats those GraphQL fields as unknown and loads whole rows instead of a column subset.
type Entity struct {
	ent.Schema
}

func (Entity) Fields() []ent.Field {
	return []ent.Field{
		field.String("ref").Unique().NotEmpty().Comment("canonical lower-case kind:namespace/name").
			Annotations(entgql.OrderField("REF")),
		field.String("kind").NotEmpty().Comment("lower-case kind").Annotations(entgql.Skip()),
		field.String("namespace").NotEmpty().Annotations(entgql.OrderField("NAMESPACE")),
		field.String("name").NotEmpty().Comment("as declared").Annotations(entgql.OrderField("NAME")),
		field.String("api_version").Annotations(entgql.Skip()),
		field.String("title").Default("").Annotations(entgql.OrderField("TITLE")),
		field.Text("description").Default(""),
		field.String("type").Default("").Comment("lower-case spec.type").Annotations(entgql.Skip()),
		field.String("lifecycle").Default("").Comment("lower-case spec.lifecycle").Annotations(entgql.Skip()),
		field.String("owner_ref").Default("").Comment("canonical ref of spec.owner").Annotations(entgql.Skip()),
		field.String("system_ref").Default("").Comment("canonical ref of spec.system").Annotations(entgql.Skip()),
		field.JSON("tags", []string{}),
		field.JSON("labels", map[string]string{}),
		field.JSON("annotations", map[string]string{}),
		field.JSON("document", json.RawMessage{}).Comment("the whole descriptor as ingested").Annotations(entgql.Skip()),
		field.String("hash").Comment("content hash of document; unchanged entities are not rewritten").Annotations(entgql.Skip()),
		field.String("location").Comment("key of the configured location that manages the entity").Annotations(entgql.Skip()),
		field.String("source").Comment("URL of the file the entity was read from").Annotations(entgql.Skip()),
		field.Time("created_at").Immutable().Default(time.Now).Comment("first seen"),
		field.Time("observed_at").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("set only while a read keeps the entity without confirming it (its file failed): when a source last confirmed it; NULL means its location's last_observed_at"),
		field.Time("updated_at").Default(time.Now).Annotations(entgql.OrderField("UPDATED_AT")),
	}
}

func (Entity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("declared_relations", Relation.Type).
			Comment("relations this entity's descriptor declared (both directions); removed with it").
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
	}
}

func (Entity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("kind", "namespace"),
		index.Fields("owner_ref"),
		index.Fields("system_ref"),
		index.Fields("location"),
	}
}

func (Entity) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("entities"),
		entgql.RelayConnection(),
	}
}
