package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// FeedCursor is where a consumer of the change feed inside catalogd (an outgoing webhook) has
// got to: the id of the last change it delivered. Kept in the database so a restart, or another
// replica, resumes there.
type FeedCursor struct {
	ent.Schema
}

func (FeedCursor) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().Immutable().Comment("the consumer, e.g. webhook:<name>"),
		field.Int64("last_id").Default(0).Comment("id of the last change delivered"),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

func (FeedCursor) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("feed_cursors"), entgql.Skip()}
}
