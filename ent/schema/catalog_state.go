package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// CatalogState is a single row whose generation grows with every write that changes entities or
// relations. Replicas compare it to tell whether caches built from the graph are current.
type CatalogState struct {
	ent.Schema
}

func (CatalogState) Fields() []ent.Field {
	return []ent.Field{field.Int64("generation").Default(0)}
}

func (CatalogState) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("catalog_state")}
}
