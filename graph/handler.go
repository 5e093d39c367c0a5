package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"catalogd/ent"
	"catalogd/graph/generated"
	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/scaffolder"
)

// Options tune the GraphQL handler.
type Options struct {
	// ComplexityLimit caps a query's cost: every field costs 1, paged lists multiply by their
	// effective page size, other list fields of related entities by 10, and each walk of the
	// dependency graph costs GraphWalkCost besides. 0 means DefaultComplexityLimit.
	ComplexityLimit int
	// Introspection is on unless disabled (frontends and GraphiQL rely on it).
	DisableIntrospection bool
	// ParserTokenLimit stops parsing a query at this many tokens (0: DefaultParserTokenLimit).
	ParserTokenLimit int
	// MaxFields caps the fields a query selects, counting a fragment's each time it is spread
	// (0: DefaultMaxFields).
	MaxFields int
	// RequestTimeout is the deadline of an operation's resolvers, from its start (0: none).
	RequestTimeout time.Duration
	Log            *slog.Logger
	// PersistedQueries, when set, serves registered queries by hash (and only them in Only mode).
	PersistedQueries *PersistedQueries
	// Websocket configures GraphQL over websocket; without Websocket.Authenticate every
	// connection is refused.
	Websocket WebsocketOptions
	// Extensions are added after the handler's own (e.g. metrics and tracing).
	Extensions []graphql.HandlerExtension
	// Generic has gqlgen write every answer its own way: its generated executor the pages of
	// affected entities that are otherwise written from the graph index
	// (writeAffectedDirectly), its POST transport the answers that postTransport otherwise
	// writes. The answers are the same; tests compare the two.
	Generic bool
	// AnswerCacheBytes bounds the answers kept for queries that read only the catalog (see
	// answers.go): 0 means DefaultAnswerCacheBytes, a negative number no cache.
	AnswerCacheBytes int
}

// DefaultParserTokenLimit is far above any query of the README, the tests or GraphiQL's
// introspection, and stops a body of repeated tokens after a few milliseconds of parsing.
const DefaultParserTokenLimit = 15_000

// DefaultMaxFields bounds validation: gqlparser's OverlappingFieldsCanBeMerged rule compares
// fields pairwise, so its work grows with the square of the fields a query selects.
const DefaultMaxFields = 1_000

// DefaultComplexityLimit admits a full page of 500 entities with their relations' targets, or
// an impact answer with every list at its default page (affected with entity, depth and path;
// owners with their refs, escalation and contacts; systems; domains), but not ten aliases of
// a default page of affected.
const DefaultComplexityLimit = 150_000

// GraphWalkCost is the cost of impact, dependencies, path and graph on top of their answer's:
// each walks up to the whole relation graph, so a query may hold only a few of them.
const GraphWalkCost = 10_000

// listFields are the unpaged fields that return lists of related objects; their cost counts
// ×10. (Paged lists are set one by one in setComplexity.)
var listFields = map[string]bool{
	"Relations": true, "DependsOn": true, "DependencyOf": true, "Subcomponents": true,
	"ProvidesApis": true, "ConsumesApis": true, "Providers": true, "Consumers": true,
	"Parts": true, "Components": true, "Apis": true, "Resources": true, "Subdomains": true,
	"Systems": true, "Children": true, "Members": true, "MemberOf": true, "Owns": true,
	"ProcessingErrors": true, "Escalation": true, "Ancestors": true,
}

// NewHandler builds the GraphQL HTTP handler: websocket, POST and GET transports, query cache,
// complexity limit, a recover func that logs the stack, and the error presenter; in front of
// it, the answer cache's recall of bodies seen before (recall.go).
func NewHandler(r *Resolver, opts Options) http.Handler {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := generated.Config{Resolvers: r}
	setComplexity(&cfg.Complexity, len(r.deps.ContactAnnotations))
	es := generated.NewExecutableSchema(cfg)
	srv := handler.New(es)
	// First: gqlgen gives a request to the first transport that supports it, and the HTTP
	// layer lets every request with an Upgrade header through to authenticate here, in
	// connection_init.
	srv.AddTransport(websocketTransport(opts.Websocket, log))
	srv.AroundOperations(limitOperations)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	a := newAnswers(r, opts.AnswerCacheBytes)
	var rc *recall
	if opts.Generic {
		srv.AddTransport(transport.POST{})
	} else {
		if a != nil {
			rc = newRecall(a, opts.Extensions)
		}
		srv.AddTransport(postTransport{recall: rc})
	}
	srv.SetQueryCache(queryCache[*ast.QueryDocument](1000))
	tokens := opts.ParserTokenLimit
	if tokens <= 0 {
		tokens = DefaultParserTokenLimit
	}
	srv.SetParserTokenLimit(tokens)
	if !opts.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	if opts.PersistedQueries != nil {
		srv.Use(opts.PersistedQueries)
	}
	if opts.PersistedQueries == nil || !opts.PersistedQueries.Only {
		srv.Use(extension.AutomaticPersistedQuery{Cache: smallOnly[string]{lru.New[string](100), func(_, q string) int { return len(q) }}})
	}
	fields := opts.MaxFields
	if fields <= 0 {
		fields = DefaultMaxFields
	}
	// After the persisted-query extension, so a query it fills in is counted too.
	srv.Use(&fieldLimit{max: fields, tokens: tokens, ok: queryCache[struct{}](1000)})
	limit := opts.ComplexityLimit
	if limit <= 0 {
		limit = DefaultComplexityLimit
	}
	srv.Use(newComplexityLimit(limit))
	if opts.RequestTimeout > 0 {
		srv.AroundRootFields(deadline(opts.RequestTimeout))
	}
	if !opts.Generic {
		srv.AroundFields(writeAffectedDirectly)
	}
	for _, ext := range opts.Extensions {
		srv.Use(ext)
	}
	// After the extensions, so metrics and traces see the answers the cache gives too.
	if a != nil {
		srv.AroundOperations(a.operation)
		srv.AroundResponses(a.response)
	}
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return catalog.Errorf(catalog.EINTERNAL, "internal error")
	})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		return presentError(ctx, err, log)
	})
	if rc != nil {
		return rc.in(srv)
	}
	return srv
}

// newAnswers returns the answer cache of size bytes (0: DefaultAnswerCacheBytes), or nil
// when size is negative or the resolver has no store and graph index to follow.
func newAnswers(r *Resolver, size int) *answers {
	if size < 0 || r.Store == nil || r.Index == nil {
		return nil
	}
	if size == 0 {
		size = DefaultAnswerCacheBytes
	}
	return &answers{cache: newAnswerCache(size), store: r.Store, caughtUp: func(gen int64) bool {
		if r.Index.Built() >= gen {
			return true
		}
		r.Index.Refresh(gen)
		return false
	}}
}

// The extensions.code values this package gives errors; README.md lists each with its HTTP
// status.
const (
	CodeBadRequest      = "BAD_REQUEST"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeTimeout         = "TIMEOUT"
	CodeInternal        = "INTERNAL"
)

// ErrorCodes are all the codes a GraphQL answer can carry: the presenter's and those of
// gqlgen it passes through.
func ErrorCodes() []string {
	return []string{CodeBadRequest, CodeBadUserInput, CodeNotFound, CodeConflict, CodeUnauthenticated,
		CodeForbidden, CodeTimeout, CodeInternal, errcode.ParseFailed, errcode.ValidationFailed,
		"COMPLEXITY_LIMIT_EXCEEDED", "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_REQUIRED", CodeTooManyOperations}
}

// presentError is the one place where errors become GraphQL errors with extensions.code.
// Messages of internal errors are logged, never shown.
func presentError(ctx context.Context, err error, log *slog.Logger) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	if gerr.Extensions != nil && gerr.Extensions["code"] != nil {
		return gerr // gqlgen's own: GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, ...
	}
	var de *catalog.Error
	switch {
	case errors.As(err, &de):
		gerr.Message = de.Message
		setCode(gerr, transportCode(de.Code))
		if de.Code == catalog.EINTERNAL {
			gerr.Message = "internal error"
		}
	case ent.IsNotFound(err):
		gerr.Message = "not found"
		setCode(gerr, CodeNotFound)
	case isInputError(ctx, err):
		setCode(gerr, CodeBadUserInput)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		gerr.Message = "request cancelled or timed out"
		setCode(gerr, CodeTimeout)
	case ctx.Err() != nil:
		// The request's deadline passed (or its client left): whatever failed, failed for that.
		gerr.Message = "request cancelled or timed out"
		setCode(gerr, CodeTimeout)
	case isRequestError(ctx, err):
		log.DebugContext(ctx, "bad graphql request", "err", err)
		setCode(gerr, CodeBadRequest)
	default:
		log.ErrorContext(ctx, "internal error", "err", err, "path", gerr.Path.String())
		gerr.Message = "internal error"
		setCode(gerr, CodeInternal)
	}
	return gerr
}

func transportCode(code string) string {
	switch code {
	case catalog.EINVALID:
		return CodeBadUserInput
	case catalog.ENOTFOUND:
		return CodeNotFound
	case catalog.ECONFLICT:
		return CodeConflict
	case catalog.EUNAUTHENTICATED:
		return CodeUnauthenticated
	case catalog.EFORBIDDEN:
		return CodeForbidden
	}
	return CodeInternal
}

// isRequestError recognises what gqlgen reports about the request itself before executing it
// without a code (an invalid persisted-query extension, a hash that does not match the
// query): a GraphQL error outside any field. Resolvers' errors always have a field.
func isRequestError(ctx context.Context, err error) bool {
	var ge *gqlerror.Error
	return errors.As(err, &ge) && len(ge.Path) == 0 && graphql.GetFieldContext(ctx) == nil
}

// isInputError recognises errors from decoding an argument (a malformed cursor, an ID that is
// not a number): gqlgen reports them at a path that ends with the argument's name. Any other
// error, whatever its message says, is ours and stays INTERNAL.
func isInputError(ctx context.Context, err error) bool {
	var ge *gqlerror.Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Rule != "" {
		return true
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || len(ge.Path) == 0 {
		return false
	}
	last, ok := ge.Path[len(ge.Path)-1].(ast.PathName)
	if !ok {
		return false
	}
	for _, a := range fc.Field.Arguments {
		if a.Name == string(last) {
			return true
		}
	}
	return false
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// setComplexity makes every paged list cost its effective page size × its items, related
// lists ×10, and walks of the dependency graph GraphWalkCost. A page size above the maximum
// counts as the maximum, so the resolver's own check answers it (BAD_USER_INPUT, saying the
// maximum) rather than the complexity limit.
func setComplexity(c *generated.ComplexityRoot, contactKeys int) {
	page := func(first, last *int) int {
		switch {
		case first != nil:
			return model.PageSize(first, defaultPageSize, maxPageSize)
		case last != nil:
			return model.PageSize(last, defaultPageSize, maxPageSize)
		}
		return defaultPageSize
	}
	c.Query.Entities = func(child int, _ *model.EntityFilter, first *int, _ *ent.Cursor, last *int, _ *ent.Cursor, _ *ent.EntityOrder) int {
		return 1 + child*page(first, last)
	}
	c.Query.ProcessingErrors = func(child int, _ *string, _ *string, first *int, _ *ent.Cursor) int {
		return 1 + child*page(first, nil)
	}
	c.Query.CatalogChanges = func(child int, _ *ent.Cursor, first *int, _ *model.CatalogChangeFilter) int {
		return 1 + child*model.PageSize(first, model.DefaultListPage, model.MaxListPage)
	}
	c.Query.Nodes = func(child int, ids []string) int { return 1 + child*min(max(len(ids), 1), maxPageSize) }
	c.Query.Search = func(child int, _ string, _ []string, first *int, _ *string) int {
		return 1 + child*model.PageSize(first, defaultSearchPage, maxSearchPage)
	}
	c.Query.Facets = func(child int, fields []string, _ *model.EntityFilter) int {
		return 1 + child*min(max(len(fields), 1), maxFacetFields)
	}

	c.Query.Tasks = func(child int, first *int, _ *string, _ *model.TaskFilter) int {
		return 1 + child*model.PageSize(first, scaffolder.DefaultTaskPage, scaffolder.MaxTaskPage)
	}
	c.ScaffolderTask.Events = func(child int, _ *int, first *int) int {
		return 1 + child*model.PageSize(first, scaffolder.MaxEventPage, scaffolder.MaxEventPage)
	}
	c.ScaffolderTask.Steps = func(child int) int { return 1 + child*scaffolder.MaxSteps/10 }

	c.Query.Impact = func(child int, _ string, _ *int) int { return GraphWalkCost + child }
	c.Query.Dependencies = func(child int, _ string, _ *int) int { return GraphWalkCost + child }
	c.Query.Path = func(child int, _, _ string, _ *int) int { return GraphWalkCost + child }
	c.Query.Graph = func(child int, _ string, _ *model.GraphDirection, _ []string, _ *int, maxNodes *int) int {
		return GraphWalkCost + child*model.PageSize(maxNodes, defaultGraphNodes, maxGraphNodes)
	}
	// A list of scalars has no children: each item then costs 1.
	list := func(child int, first *int) int {
		return 1 + max(child, 1)*model.PageSize(first, model.DefaultListPage, model.MaxListPage)
	}
	c.Impact.Affected = func(child int, first *int, _ *string) int {
		return 1 + max(child, 1)*model.PageSize(first, model.DefaultAffectedPage, model.MaxAffectedPage)
	}
	c.Impact.Owners = func(child int, first *int, _ *string) int { return list(child, first) }
	c.Impact.Systems = func(child int, first *int, _ *string) int { return list(child, first) }
	c.Impact.Domains = func(child int, first *int, _ *string) int { return list(child, first) }
	c.ImpactedOwner.EntityRefs = func(child int, first *int, _ *string) int { return list(child, first) }
	c.ImpactedContainer.EntityRefs = func(child int, first *int, _ *string) int { return list(child, first) }
	c.Group.OwnedEntities = func(child int, _ *bool, first *int, _ *string) int { return list(child, first) }
	c.User.OwnedEntities = func(child int, first *int, _ *string) int { return list(child, first) }
	// A list of contacts holds at most one per configured contact annotation, and a profile email.
	contacts := func(child int) int { return 1 + child*(contactKeys+1) }
	c.ImpactedEntity.Contacts = contacts
	c.Impact.RootContacts = contacts
	c.ImpactedOwner.Contacts = contacts
	c.EscalationStep.Contacts = contacts
	// Every kind's struct has the same list fields; set them all by name.
	root := reflect.ValueOf(c).Elem()
	for i := 0; i < root.NumField(); i++ {
		typ := root.Field(i)
		if typ.Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < typ.NumField(); j++ {
			name := typ.Type().Field(j).Name
			f := typ.Field(j)
			if !listFields[name] || f.Kind() != reflect.Func || !f.IsNil() {
				continue
			}
			f.Set(reflect.MakeFunc(f.Type(), func(args []reflect.Value) []reflect.Value {
				return []reflect.Value{reflect.ValueOf(1 + 10*int(args[0].Int()))}
			}))
		}
	}
}

// writeAffectedDirectly is field middleware: the page of affected entities that Impact.affected
// resolves to is written by model.AffectedMarshaler, straight from the traversal, when the
// query selects only fields it writes. gqlgen takes a Marshaler that the middleware returns
// in place of the field's value as the field's answer (graphql.ResolveField); the
// answer tests (TestImpactAnswersStayTheSame, TestAffectedIsWrittenDirectly) fail when that
// stops applying.
func writeAffectedDirectly(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	fc := graphql.GetFieldContext(ctx)
	if err != nil || fc == nil || fc.Object != "Impact" || fc.Field.Name != "affected" {
		return res, err
	}
	page, ok := res.([]*model.ImpactedEntity)
	if !ok {
		return res, err
	}
	if m := model.AffectedMarshaler(graphql.GetOperationContext(ctx), fc.Field.Selections, page); m != nil {
		return m, nil
	}
	return res, err
}
