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

// ScaffolderTask is one run of a software template: what was asked (the template as it was
// when the task was created, the values, who asked), where it is (state, lease of the worker
// that runs it) and what came of it. Steps and events are rows of their own tables, keyed by
// the task's id. The GraphQL types are written by hand (graph/scaffolder.graphqls).
type ScaffolderTask struct {
	ent.Schema
}

func (ScaffolderTask) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().NotEmpty().Comment("random UUID"),
		field.String("template_ref").Immutable().Comment("canonical ref of the template entity"),
		field.JSON("template", json.RawMessage{}).Immutable().Comment("the template entity's document when the task was created: a resumed task runs the same steps"),
		field.JSON("values", json.RawMessage{}).Immutable().Comment("the validated parameter values"),
		field.String("state").Default("OPEN").Comment("OPEN, PROCESSING, COMPLETED, FAILED or CANCELLED"),
		field.String("created_by").Immutable().Comment("the principal that ran it, kind:name"),
		field.String("created_by_issuer").Immutable().Default("").Comment("the OIDC issuer of a user's token: with created_by, who may see the task"),
		field.String("created_by_ref").Immutable().Default("").Comment("the User entity it maps to"),
		field.JSON("principal", json.RawMessage{}).Immutable().Comment("the principal as authenticated (kind, name, issuer, ref, groups, roles): steps act as it"),
		field.Time("created_at").Immutable().Default(time.Now),
		field.Time("updated_at").Default(time.Now),
		field.Int64("queued_ms").Default(0).Comment("when it last became OPEN (created or retried), Unix milliseconds"),
		field.Time("started_at").Optional().Nillable(),
		field.Time("finished_at").Optional().Nillable(),
		field.String("lease_owner").Default("").Comment("worker holding the task while PROCESSING"),
		field.Int64("lease_until").Default(0).Comment("Unix milliseconds after which another worker may take the task over; integers compare alike on both databases"),
		field.Time("heartbeat_at").Optional().Nillable(),
		field.Int("attempts").Default(0).Comment("times a worker claimed it"),
		field.Bool("cancel_requested").Default(false),
		field.JSON("output", json.RawMessage{}).Optional(),
		field.Text("error").Default(""),
		field.Bytes("secrets").Optional().Nillable().Sensitive().Comment("AES-GCM ciphertext of the secrets (nonce first); NULL once the task is final"),
		field.String("secrets_key").Default("").Comment("fingerprint of the key that sealed secrets"),
	}
}

func (ScaffolderTask) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("state", "lease_until"),
		index.Fields("created_by", "created_at"),
		index.Fields("created_at"),
	}
}

func (ScaffolderTask) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("scaffolder_tasks"), entgql.Skip()}
}

// ScaffolderStep is the state of one step of a task (one per entry of the template's steps).
type ScaffolderStep struct {
	ent.Schema
}

func (ScaffolderStep) Fields() []ent.Field {
	return []ent.Field{
		field.String("task_id").Immutable(),
		field.Int("index").Immutable().Comment("position in the template's steps"),
		field.String("step_id").Immutable(),
		field.String("name").Immutable(),
		field.String("action").Immutable(),
		field.String("status").Default("OPEN"),
		field.JSON("output", map[string]any{}).Optional(),
		field.Text("error").Default(""),
		field.Time("started_at").Optional().Nillable(),
		field.Time("finished_at").Optional().Nillable(),
	}
}

func (ScaffolderStep) Indexes() []ent.Index {
	return []ent.Index{index.Fields("task_id", "index").Unique()}
}

func (ScaffolderStep) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("scaffolder_steps"), entgql.Skip()}
}

// ScaffolderEvent is one entry of a task's append-only event log. seq numbers a task's events
// from 1 without gaps; only the worker holding the task's lease appends, so a reader that
// polls for seq > last never misses one.
type ScaffolderEvent struct {
	ent.Schema
}

func (ScaffolderEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id").Immutable(),
		field.String("task_id").Immutable(),
		field.Int("seq").Immutable(),
		field.String("type").Immutable().Comment("log, step-start, step-end, error, completion, cancelled, rollback"),
		field.String("step_id").Immutable().Default(""),
		field.Text("message").Immutable().Default(""),
		field.Time("created_at").Immutable().Default(time.Now),
	}
}

func (ScaffolderEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("task_id", "seq").Unique()}
}

func (ScaffolderEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("scaffolder_events"), entgql.Skip()}
}
