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

// Change is one entry of the append-only change log (the change feed): an entity added,
// changed or removed by a read of a location, an entity's owner changed, a read refused by the
// removal guard. IDs only grow, and every writer of the log holds the apply lock (see
// internal/store/changes.go), so ids are assigned in commit order and a reader can resume
// after the last id it saw without missing a row committed later with a smaller id.
type Change struct {
	ent.Schema
}

func (Change) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.Time("at").Immutable().Default(time.Now),
		field.String("type").Immutable().Comment("added, changed, removed, owner_changed or refused"),
		field.String("ref").Immutable().Comment("the entity's ref (\"\" for a refused read)"),
		field.String("kind").Immutable().Default("").Comment("the entity's kind, lower case, for filters"),
		field.String("owner").Immutable().Default("").Comment("the entity's owner ref after the change (before, for a removal)"),
		field.String("previous_owner").Immutable().Default("").Comment("for owner_changed: the owner before"),
		field.String("location").Immutable().Comment("key of the location whose read made the change"),
		field.String("revision").Immutable().Default("").Comment("revision of the source read"),
		field.Text("reason").Immutable().Default("").Comment("why, for removals"),
		field.JSON("fields", json.RawMessage{}).Optional().Immutable().Comment("what changed: JSON paths, owners, guard figures"),
	}
}

func (Change) Indexes() []ent.Index {
	return []ent.Index{index.Fields("ref"), index.Fields("location"), index.Fields("at")}
}

func (Change) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("changes"), entgql.Skip()}
}
