package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ProcessingError records why a document or a file was not ingested: where (location, file,
// document, line), which entity when known, which field, and what rule. The set for a location
// is replaced each time the location is read.
type ProcessingError struct {
	ent.Schema
}

func (ProcessingError) Fields() []ent.Field {
	return []ent.Field{
		field.String("location").Comment("key of the configured location"),
		field.String("source").Comment("URL of the file"),
		field.Int("document").Default(0).Comment("1-based document in the file; 0 for the whole file"),
		field.Int("line").Default(0),
		field.String("entity_ref").Default(""),
		field.String("path").Default("").Comment("JSON pointer of the offending field"),
		field.Text("message"),
		field.Time("created_at").Default(time.Now).Annotations(entgql.OrderField("CREATED_AT")),
	}
}

func (ProcessingError) Indexes() []ent.Index {
	return []ent.Index{index.Fields("location"), index.Fields("entity_ref")}
}

func (ProcessingError) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("processing_errors"), entgql.RelayConnection()}
}
