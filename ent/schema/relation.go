package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Relation is one directed relation between two refs. Refs, not foreign keys, name both ends:
// a target that does not exist yet is kept and resolves the moment an entity with that ref
// arrives. Each row belongs to the entity whose descriptor declared it (entity_id), so the row
// goes when that entity goes or changes; both directions of a declared relation are stored.
type Relation struct {
	ent.Schema
}

func (Relation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("entity_id").Comment("the entity whose descriptor declared the relation"),
		field.String("source_ref"),
		field.String("type"),
		field.String("target_ref"),
	}
}

func (Relation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("entity", Entity.Type).Ref("declared_relations").Field("entity_id").Unique().Required(),
	}
}

func (Relation) Indexes() []ent.Index {
	return []ent.Index{
		// Both directions are stored, so every lookup is by source: "relations of X" and
		// "what points to X" (X's inverse rows) alike. entity_id serves replace and delete.
		index.Fields("source_ref", "type"),
		index.Fields("entity_id"),
	}
}

func (Relation) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("relations")}
}
