package store

import (
	"context"
	stdsql "database/sql"
	"strings"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"catalogd/ent"
)

// Trace makes every statement sent through the ent client a span of tracer (the reads that
// answer GraphQL, and the store's own ent statements). The bulk writer's statements on its
// own connection (COPY, the FTS5 rebuild) are not traced; their Apply is one span of the
// ingest instead. Call it before the client is handed out.
func (s *Store) Trace(tracer trace.Tracer) {
	s.Client = ent.NewClient(ent.Driver(tracedDriver{s.driver, tracer, s.Dialect}))
}

// tracedDriver wraps ent's driver with a span per statement.
type tracedDriver struct {
	dialect.Driver
	tracer trace.Tracer
	system string
}

func (d tracedDriver) span(ctx context.Context, query string) (context.Context, trace.Span) {
	op, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	return d.tracer.Start(ctx, "sql "+strings.ToUpper(op), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", dbSystem(d.system)), attribute.String("db.statement", truncate(query, 2000))))
}

func dbSystem(d string) string {
	if d == dialect.Postgres {
		return "postgresql"
	}
	return "sqlite"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

func (d tracedDriver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := d.span(ctx, query)
	err := d.Driver.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (d tracedDriver) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := d.span(ctx, query)
	err := d.Driver.Query(ctx, query, args, v)
	end(span, err)
	return err
}

func (d tracedDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return tracedTx{tx, d}, nil
}

// BeginTx is what ent's Client.BeginTx looks for.
func (d tracedDriver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	bt, ok := d.Driver.(interface {
		BeginTx(context.Context, *stdsql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return d.Tx(ctx)
	}
	tx, err := bt.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return tracedTx{tx, d}, nil
}

type tracedTx struct {
	dialect.Tx
	d tracedDriver
}

func (t tracedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.span(ctx, query)
	err := t.Tx.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (t tracedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.span(ctx, query)
	err := t.Tx.Query(ctx, query, args, v)
	end(span, err)
	return err
}
