package graph

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
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
)

// Options tune the GraphQL handler.
type Options struct {
	// ComplexityLimit caps a query's cost: every field costs 1, connections multiply by their
	// page size and list fields of related entities by 10. 0 means DefaultComplexityLimit.
	ComplexityLimit int
	// Introspection is on unless disabled (frontends and GraphiQL rely on it).
	DisableIntrospection bool
	Log                  *slog.Logger
	// PersistedQueries, when set, serves registered queries by hash (and only them in Only mode).
	PersistedQueries *PersistedQueries
}

// DefaultComplexityLimit admits a full page of 500 entities with their relations' targets.
const DefaultComplexityLimit = 100_000

// listFields are the fields that return lists of related objects; their cost counts ×10.
var listFields = map[string]bool{
	"Relations": true, "DependsOn": true, "DependencyOf": true, "Subcomponents": true,
	"ProvidesApis": true, "ConsumesApis": true, "Providers": true, "Consumers": true,
	"Parts": true, "Components": true, "Apis": true, "Resources": true, "Subdomains": true,
	"Systems": true, "Children": true, "Members": true, "MemberOf": true, "Owns": true,
	"ProcessingErrors": true, "Affected": true, "Owners": true, "Escalation": true, "Contacts": true,
	"OwnedEntities": true, "Ancestors": true,
}

// NewHandler builds the GraphQL HTTP handler: POST and GET transports only, query cache,
// complexity limit, a recover func that logs the stack, and the error presenter.
func NewHandler(r *Resolver, opts Options) *handler.Server {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := generated.Config{Resolvers: r}
	setComplexity(&cfg.Complexity)
	srv := handler.New(generated.NewExecutableSchema(cfg))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if !opts.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	if opts.PersistedQueries != nil {
		srv.Use(opts.PersistedQueries)
	}
	if opts.PersistedQueries == nil || !opts.PersistedQueries.Only {
		srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	}
	limit := opts.ComplexityLimit
	if limit <= 0 {
		limit = DefaultComplexityLimit
	}
	srv.Use(extension.FixedComplexityLimit(limit))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.Error("panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return catalog.Errorf(catalog.EINTERNAL, "internal error")
	})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		return presentError(ctx, err, log)
	})
	return srv
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
		setCode(gerr, "NOT_FOUND")
	case isInputError(ctx, err):
		setCode(gerr, "BAD_USER_INPUT")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		gerr.Message = "request cancelled or timed out"
		setCode(gerr, "TIMEOUT")
	default:
		log.Error("internal error", "err", err, "path", gerr.Path.String())
		gerr.Message = "internal error"
		setCode(gerr, "INTERNAL")
	}
	return gerr
}

func transportCode(code string) string {
	switch code {
	case catalog.EINVALID:
		return "BAD_USER_INPUT"
	case catalog.ENOTFOUND:
		return "NOT_FOUND"
	case catalog.ECONFLICT:
		return "CONFLICT"
	case catalog.EUNAUTHENTICATED:
		return "UNAUTHENTICATED"
	case catalog.EFORBIDDEN:
		return "FORBIDDEN"
	}
	return "INTERNAL"
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

// setComplexity makes connections cost page size × their nodes and related lists ×10.
func setComplexity(c *generated.ComplexityRoot) {
	page := func(first, last *int) int {
		switch {
		case first != nil:
			return max(*first, 1)
		case last != nil:
			return max(*last, 1)
		}
		return defaultPageSize
	}
	c.Query.Entities = func(child int, _ *model.EntityFilter, first *int, _ *ent.Cursor, last *int, _ *ent.Cursor, _ *ent.EntityOrder) int {
		return 1 + child*page(first, last)
	}
	c.Query.ProcessingErrors = func(child int, _ *string, _ *string, first *int, _ *ent.Cursor) int {
		return 1 + child*page(first, nil)
	}
	c.Query.Nodes = func(child int, ids []int) int { return 1 + child*max(len(ids), 1) }
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
