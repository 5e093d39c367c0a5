package graph

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/sync/singleflight"

	"catalogd/internal/gencache"
	"catalogd/internal/store"
)

// The answer cache keeps whole answers to queries that read only the catalog, per catalog
// generation: the entity pages, lists, searches and impact answers a UI asks for again and
// again are written from memory until the catalog changes.
//
// What may be cached is decided field by field: an operation is cached only when every field
// it selects is answered from the catalog as of its generation (entities, relations, the
// dependency graph, doc pages, the search index). Fields that change without the generation
// moving (processing errors, freshness, locations' status, scaffolder tasks, the change log,
// the viewer, node lookups that may find tasks) make an operation uncached; volatileTypes and
// volatileFields name them, and a test lists every field the cache answers, so a field added
// to the schema has to be classified before the tests pass again.
//
// Every request reads the generation once (the same read the graph index and the search make,
// and they reuse it); an answer is stored under the generation read before it was computed,
// and only if the graph index it may have used had caught up with that generation, so an
// answer is never older than its key. Replicas share the database's generation, so a write
// through one replica is seen by the next request to any replica. Callers are not told apart:
// every caller that reaches an operation may read the whole catalog (the policy authorizes
// reading at the door, internal/server), and no cacheable field depends on who asks.

// DefaultAnswerCacheBytes bounds the answers kept: their data and keys.
const DefaultAnswerCacheBytes = 16 << 20

// volatileTypes are types whose fields change without the catalog generation moving.
var volatileTypes = map[string]bool{
	"Mutation": true, "Subscription": true, "Viewer": true,
	"CatalogChange": true, "CatalogChangeConnection": true, "CatalogChangeEdge": true,
	"LocationStatus": true, "LocationResult": true, "LocationProcessingError": true,
	"ProcessingError": true, "ProcessingErrorConnection": true, "ProcessingErrorEdge": true,
	"ScaffolderTask": true, "ScaffolderTaskConnection": true, "ScaffolderTaskEdge": true,
	"TaskEvent": true, "TaskStep": true, "ScaffolderAction": true,
	"DryRunResult": true, "DryRunFile": true, "DryRunStep": true,
	"EntityFreshness": true,
}

// volatileFields are fields (Type.field, or *.field on every type) that are not answered from
// the catalog as of a generation, on types that otherwise are.
var volatileFields = map[string]bool{
	"Query.node": true, "Query.nodes": true, // may find scaffolder tasks
	"Query.viewer": true, "Query.catalogChanges": true, "Query.catalogChangesHead": true,
	"Query.processingErrors": true, "Query.locations": true,
	"Query.task": true, "Query.tasks": true, "Query.scaffolderActions": true,
	"*.processingErrors": true, // replaced on every read of a location, changed or not
	"*.freshness":        true, // when the entity was last confirmed
}

// volatileInputs are input fields (Input.field) that, given a value, make the field they are
// an argument of read what changes without the generation moving.
var volatileInputs = map[string]bool{
	"EntityFilter.notObservedSince": true, // entities' and locations' last confirmation times
}

// cacheable reports whether every field op selects, with the arguments vars give it, is
// answered from the catalog as of one generation, and op is a query without @defer.
func cacheable(schema *ast.Schema, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) bool {
	if op == nil || op.Operation != ast.Query {
		return false
	}
	seen := map[string]bool{} // fragments already checked
	var ok func(ast.SelectionSet) bool
	ok = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if len(s.Directives.ForNames("defer")) > 0 || len(s.Directives.ForNames("stream")) > 0 {
					return false
				}
				if s.Definition == nil || s.ObjectDefinition == nil {
					if s.Name == "__typename" {
						continue
					}
					return false
				}
				if !fieldCacheable(s.ObjectDefinition.Name, s.Name, s.Definition.Type.Name()) {
					return false
				}
				if len(s.Arguments) > 0 {
					args := s.ArgumentMap(vars)
					for _, a := range s.Definition.Arguments {
						if inputVolatile(schema, a.Type, args[a.Name]) {
							return false
						}
					}
				}
				if !ok(s.SelectionSet) {
					return false
				}
			case *ast.InlineFragment:
				if len(s.Directives.ForNames("defer")) > 0 || !ok(s.SelectionSet) {
					return false
				}
			case *ast.FragmentSpread:
				if len(s.Directives.ForNames("defer")) > 0 {
					return false
				}
				if seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				def := s.Definition
				if def == nil {
					def = doc.Fragments.ForName(s.Name)
				}
				if def == nil || !ok(def.SelectionSet) {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return ok(op.SelectionSet)
}

// inputVolatile reports whether v, a value of type typ, sets one of volatileInputs.
func inputVolatile(schema *ast.Schema, typ *ast.Type, v any) bool {
	if v == nil || typ == nil {
		return false
	}
	if typ.Elem != nil {
		list, _ := v.([]any)
		for _, e := range list {
			if inputVolatile(schema, typ.Elem, e) {
				return true
			}
		}
		return false
	}
	def := schema.Types[typ.NamedType]
	m, ok := v.(map[string]any)
	if def == nil || def.Kind != ast.InputObject || !ok {
		return false
	}
	for _, f := range def.Fields {
		if fv := m[f.Name]; fv != nil && (volatileInputs[def.Name+"."+f.Name] || inputVolatile(schema, f.Type, fv)) {
			return true
		}
	}
	return false
}

// fieldCacheable reports whether field of parent, returning a value of type typ, is answered
// from the catalog as of a generation. Introspection is: the schema does not change.
func fieldCacheable(parent, field, typ string) bool {
	if len(field) >= 2 && field[:2] == "__" {
		return true
	}
	return !volatileTypes[parent] && !volatileTypes[typ] && !volatileFields[parent+"."+field] && !volatileFields["*."+field]
}

// answerCache keeps answers of the current generation, least recently used out first.
type answerCache struct {
	kept *gencache.Cache[[32]byte, *graphql.Response]

	// flight joins concurrent requests for the same answer: ten callers asking the same new
	// question at once cost one computation.
	flight singleflight.Group
}

// answerOverhead is what an answer costs besides its data: the response, list element, map
// entry and key.
const answerOverhead = 256

func newAnswerCache(maxBytes int) *answerCache {
	// An answer of up to a quarter of the cache is kept: the impact of a hub with its paths
	// takes a few megabytes.
	return &answerCache{kept: gencache.NewLargest(maxBytes, maxBytes/4, func(_ [32]byte, resp *graphql.Response) int {
		size := len(resp.Data) + answerOverhead
		for _, v := range resp.Extensions {
			if b, ok := v.(json.RawMessage); ok {
				size += len(b)
			} else {
				size += answerOverhead
			}
		}
		return size
	})}
}

func (c *answerCache) get(gen int64, key [32]byte) *graphql.Response {
	resp, _ := c.kept.Get(gen, key)
	return resp
}

func (c *answerCache) put(gen int64, key [32]byte, resp *graphql.Response) {
	if !compacted(resp.Data) {
		// Kept as json.Marshal writes it, so that writing it again needs no scan (see
		// writeResponse); the caller's answer is not changed.
		data, err := json.Marshal(resp.Data)
		if err != nil {
			return
		}
		kept := *resp
		kept.Data = data
		resp = &kept
	}
	c.kept.Put(gen, key, resp)
}

// answerState is one operation's dealings with the cache, from the operation middleware
// (which decides) to the response middleware (which answers).
type answerState struct {
	gen    int64
	key    [32]byte
	served bool
	// cached is set when the answer came from the cache, whose data is compacted (see put):
	// the transport writes it without scanning it again.
	cached bool
}

type answerStateKey struct{}

// answers wires the cache into the handler: the operation middleware decides whether the
// operation may be answered from the cache and reads the generation; the response middleware
// answers from the cache or computes, once for concurrent callers, and keeps the answer.
type answers struct {
	cache *answerCache
	store *store.Store
	// caughtUp reports whether the graph index has a snapshot of generation gen or newer.
	caughtUp func(gen int64) bool
}

func (a *answers) operation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	// The question as complexityLimit (always installed before) found it: its key, and
	// whether it is cacheable. Without one (its key could not be made) nothing is cached.
	q, ok := askedQuestion(oc)
	if !ok || !q.cacheable {
		return next(ctx)
	}
	gen, err := a.store.Generation(ctx)
	if err != nil {
		return next(ctx) // the resolvers will meet the same error and report it
	}
	ctx = store.WithGeneration(ctx, gen)
	st := &answerState{gen: gen, key: q.key}
	return next(context.WithValue(ctx, answerStateKey{}, st))
}

func (a *answers) response(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	st, _ := ctx.Value(answerStateKey{}).(*answerState)
	if st == nil {
		return next(ctx)
	}
	if st.served {
		return nil // the one answer was given; a streaming transport asks for more
	}
	st.served = true
	if resp := a.cache.get(st.gen, st.key); resp != nil {
		st.cached = true
		return resp
	}
	// Only an answer computed while the graph index had caught up is kept: snapshots only
	// move forward, so every one it may have used was of its generation or newer.
	fresh := a.caughtUp(st.gen)
	computed := false
	v, _, _ := a.cache.flight.Do(strconv.FormatInt(st.gen, 10)+"\x00"+string(st.key[:]), func() (any, error) {
		if resp := a.cache.get(st.gen, st.key); resp != nil {
			return resp, nil
		}
		computed = true
		resp := next(ctx)
		if keepable(resp) && fresh {
			a.cache.put(st.gen, st.key, resp)
		}
		return resp, nil
	})
	resp, _ := v.(*graphql.Response)
	if computed {
		return resp
	}
	// Another caller computed it. Its answer is ours only if it is a clean one of our
	// generation: an error (its deadline, say) is computed again for this caller.
	if keepable(resp) {
		return resp
	}
	return next(ctx)
}

// keepable reports whether resp is a whole answer without errors.
func keepable(resp *graphql.Response) bool {
	return resp != nil && len(resp.Errors) == 0 && resp.HasNext == nil && resp.Label == "" && resp.Path == nil && len(resp.Data) > 0
}
