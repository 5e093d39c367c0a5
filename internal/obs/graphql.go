package obs

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// GraphQL is a gqlgen extension: a latency histogram per operation, errors by
// extensions.code, and spans for the operation and each resolver (fields with a resolver of
// their own, not every scalar of every row).
type GraphQL struct {
	Metrics *Metrics // nil: no metrics
	Tracing *Tracing // nil: no spans
}

var (
	_ graphql.HandlerExtension    = GraphQL{}
	_ graphql.ResponseInterceptor = GraphQL{}
	_ graphql.FieldInterceptor    = GraphQL{}
)

func (GraphQL) ExtensionName() string                   { return "Observability" }
func (GraphQL) Validate(graphql.ExecutableSchema) error { return nil }
func (g GraphQL) tracer() trace.Tracer                  { return g.Tracing.Tracer() }

// OperationLabel is the operation's name for metrics and span names: its name, or
// persisted:HASH (12 characters of it) for an unnamed persisted query, or unnamed.
func OperationLabel(oc *graphql.OperationContext) string {
	if oc.OperationName != "" {
		return oc.OperationName
	}
	if oc.Operation != nil && oc.Operation.Name != "" {
		return oc.Operation.Name
	}
	if h := persistedHash(oc); h != "" {
		return "persisted:" + h
	}
	return "unnamed"
}

func persistedHash(oc *graphql.OperationContext) string {
	pq, _ := oc.Extensions["persistedQuery"].(map[string]any)
	h, _ := pq["sha256Hash"].(string)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func (g GraphQL) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		// A request that failed before it became an operation (parse or validation errors).
		resp := next(ctx)
		g.countErrors(resp)
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	typ, name := describe(oc)
	var span trace.Span
	if g.Tracing != nil {
		ctx, span = g.tracer().Start(ctx, "graphql "+typ+" "+name, trace.WithAttributes(attrs("graphql.operation.name", name, "graphql.operation.type", typ)...))
	}
	resp := next(ctx)
	if span != nil {
		if resp != nil && len(resp.Errors) > 0 {
			span.SetStatus(codes.Error, resp.Errors[0].Message)
		}
		span.End()
	}
	g.countErrors(resp)
	if g.Metrics != nil && typ != string(ast.Subscription) {
		start := oc.Stats.OperationStart
		if start.IsZero() {
			start = time.Now()
		}
		g.Metrics.ObserveOperation(name, typ, time.Since(start))
	}
	return resp
}

// ObserveCachedAnswer records an answer the transport gave from the answer cache without
// making an operation (graph.CachedAnswerObserver): as InterceptResponse records an
// operation, with the span marked as answered from the cache.
func (g GraphQL) ObserveCachedAnswer(ctx context.Context, oc *graphql.OperationContext, start time.Time) {
	typ, name := describe(oc)
	if g.Tracing != nil {
		_, span := g.tracer().Start(ctx, "graphql "+typ+" "+name, trace.WithTimestamp(start),
			trace.WithAttributes(attrs("graphql.operation.name", name, "graphql.operation.type", typ, "catalogd.answer_cache", "recalled")...))
		span.End()
	}
	if g.Metrics != nil {
		g.Metrics.ObserveOperation(name, typ, time.Since(start))
	}
}

// describe is the operation's type (query unless its definition says otherwise) and label.
func describe(oc *graphql.OperationContext) (typ, name string) {
	typ = "query"
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
	}
	return typ, OperationLabel(oc)
}

func (g GraphQL) countErrors(resp *graphql.Response) {
	if g.Metrics == nil || resp == nil {
		return
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		g.Metrics.ObserveGraphQLError(code)
	}
}

func (g GraphQL) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if g.Tracing == nil || fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := g.tracer().Start(ctx, "resolve "+fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attrs("graphql.field.path", fc.Path().String())...))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "resolver failed")
	}
	return res, err
}
