package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// fieldLimit refuses, before validation, a query that selects more than max fields. It parses
// the query itself (gqlgen offers no hook between parsing and validating); parsing is linear
// and stops at the token limit, and accepted queries are remembered so they are parsed once.
type fieldLimit struct {
	max, tokens int
	ok          graphql.Cache[struct{}]
}

var (
	_ graphql.HandlerExtension          = (*fieldLimit)(nil)
	_ graphql.OperationParameterMutator = (*fieldLimit)(nil)
)

func (*fieldLimit) ExtensionName() string                   { return "FieldLimit" }
func (*fieldLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (f *fieldLimit) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil
	}
	if _, ok := f.ok.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, f.tokens)
	if err != nil {
		return nil // gqlgen reports it as GRAPHQL_PARSE_FAILED
	}
	if n := countFields(doc, f.max); n > f.max {
		e := gqlerror.Errorf("the query selects more than %d fields (fragments count each time they are spread); split it", f.max)
		errcode.Set(e, errcode.ValidationFailed)
		return e
	}
	f.ok.Add(ctx, p.Query, struct{}{})
	return nil
}

// countFields counts the fields the operations of doc select, a fragment's each time it is
// spread; it stops counting past limit (so a fragment spread exponentially costs nothing).
func countFields(doc *ast.QueryDocument, limit int) int {
	frags := map[string]*ast.FragmentDefinition{}
	for _, f := range doc.Fragments {
		frags[f.Name] = f
	}
	memo := map[string]int{}
	var inSet func(ss ast.SelectionSet, visiting map[string]bool) int
	inSet = func(ss ast.SelectionSet, visiting map[string]bool) int {
		n := 0
		for _, s := range ss {
			if n > limit {
				return n
			}
			switch s := s.(type) {
			case *ast.Field:
				n += 1 + inSet(s.SelectionSet, visiting)
			case *ast.InlineFragment:
				n += inSet(s.SelectionSet, visiting)
			case *ast.FragmentSpread:
				if c, ok := memo[s.Name]; ok {
					n += c
					continue
				}
				def := frags[s.Name]
				if def == nil || visiting[s.Name] {
					continue // validation reports unknown fragments and cycles
				}
				visiting[s.Name] = true
				c := inSet(def.SelectionSet, visiting)
				delete(visiting, s.Name)
				memo[s.Name] = c
				n += c
			}
		}
		return n
	}
	total := 0
	for _, op := range doc.Operations {
		total += inSet(op.SelectionSet, map[string]bool{})
		if total > limit {
			break
		}
	}
	return total
}

// deadline gives every root field's resolvers the operation's deadline, timeout after it
// started. It is set here rather than on the HTTP request because gqlgen answers a request
// whose own context has ended with an empty body; here the fields that miss the deadline
// answer TIMEOUT and the rest of the answer is kept.
func deadline(timeout time.Duration) graphql.RootFieldMiddleware {
	return func(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
		start := time.Now()
		if oc := graphql.GetOperationContext(ctx); !oc.Stats.OperationStart.IsZero() {
			start = oc.Stats.OperationStart
		}
		ctx, cancel := context.WithDeadline(ctx, start.Add(timeout))
		defer cancel() // the field and everything below it are resolved when next returns
		return next(ctx)
	}
}

// maxCachedQuery is the longest query the caches keep (the introspection query GraphiQL sends
// is about 2 KB). The caches are bounded by count, not size: without this, a thousand
// distinct queries of 1 MiB (one long string argument is one token) would pin a gigabyte.
const maxCachedQuery = 16 << 10

// smallOnly keeps only entries whose query is at most maxCachedQuery bytes; size gives the
// query's length from the key and the value.
type smallOnly[T any] struct {
	graphql.Cache[T]
	size func(key string, v T) int
}

func (c smallOnly[T]) Add(ctx context.Context, key string, v T) {
	if c.size(key, v) <= maxCachedQuery {
		c.Cache.Add(ctx, key, v)
	}
}

// queryCache is keyed by the query.
func queryCache[T any](n int) graphql.Cache[T] {
	return smallOnly[T]{lru.New[T](n), func(key string, _ T) int { return len(key) }}
}
