package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"catalogd/internal/gqlbody"
	"catalogd/internal/store"
)

// recall answers a POST whose body it has seen before from the answer cache, in front of
// gqlgen's handler, without making it an operation again. For an answer the cache holds,
// making the operation (finding the parsed query, coercing the variables, running the
// extensions, the interceptors and the answer cache's own middleware) took a quarter of the
// server's CPU, and decoding the body another tenth (see gqlbody.Decoder). The POST transport
// tells recall which question each body it made an operation asks (learn).
//
// A request is known by its body's hash (gqlbody.Request.Key). Everything that decides whether
// a request becomes an operation, and which question it asks, is a function of the body and
// of the handler's fixed configuration: the query's parse and validation, its variables'
// coercion, the field and complexity limits, the persisted queries registered at start. So a
// body that once became an operation asking a cacheable question asks the same question every
// time it is sent, and recall remembers which (learn). A persisted query sent by its hash
// alone is no exception: the hash is its text's SHA-256, so it names one query. (Sent by
// automatic persisted queries, it is recalled even after their cache forgot the text, rather
// than asking the client for it again.)
//
// What reaches the cache is unchanged: the generation is read for each request, and an answer
// is given only when the cache holds one for that generation (see answers). Callers are not
// told apart, as for the cache itself: who may ask is decided at the door (internal/server).
type recall struct {
	answers *answers
	// learned holds the questions of the bodies seen last, by body key.
	learned *lru.Cache[[32]byte, learned]
	// observers are the extensions told of each answer recall gives (metrics, traces).
	observers []CachedAnswerObserver
}

// learned is what recall remembers of a body asking a cacheable question: the question's key
// (bodies asking others are not remembered), and the operation as observers
// see it: its name and type, and the persisted query's hash (a copy of each, so that a body
// remembered does not keep its query's syntax tree or its extensions alive).
type learned struct {
	key [32]byte
	oc  *graphql.OperationContext
}

// recallEntries bounds the bodies recall remembers: a few hundred bytes each.
const recallEntries = 8192

// CachedAnswerObserver is implemented by an extension (Options.Extensions) that observes
// operations: an answer recall gives from the answer cache without making an operation passes
// no interceptor, so the extension is told of it here instead. oc holds only the operation's
// name, its definition's name and type (no selections), and the persisted query's hash among
// its extensions.
type CachedAnswerObserver interface {
	ObserveCachedAnswer(ctx context.Context, oc *graphql.OperationContext, start time.Time)
}

func newRecall(a *answers, extensions []graphql.HandlerExtension) *recall {
	learnedCache, _ := lru.New[[32]byte, learned](recallEntries)
	r := &recall{answers: a, learned: learnedCache}
	for _, ext := range extensions {
		if o, ok := ext.(CachedAnswerObserver); ok {
			r.observers = append(r.observers, o)
		}
	}
	return r
}

// in puts recall in front of next, gqlgen's handler: a POST whose body the door decoded
// (internal/server's guard, gqlbody) and recall knows is answered here, before gqlgen sees it.
func (r *recall) in(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		req, decoded := gqlbody.From(hr.Context())
		if !decoded || hr.Method != http.MethodPost || hr.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, hr)
			return
		}
		ctx, answered := r.answer(hr.Context(), w, hr, req, graphql.Now())
		if answered {
			return
		}
		if ctx != hr.Context() {
			hr = hr.WithContext(ctx)
		}
		next.ServeHTTP(w, hr)
	})
}

// answer writes the cached answer to the question req's body asked before, if the cache
// holds one of the current generation, and reports whether it did. When it read the
// generation and found no answer, the context it returns carries the generation, so the
// operation made next does not read it again.
func (r *recall) answer(ctx context.Context, w http.ResponseWriter, hr *http.Request, req gqlbody.Request, start time.Time) (context.Context, bool) {
	l, ok := r.learned.Get(req.Key)
	if !ok {
		return ctx, false
	}
	gen, err := r.answers.store.Generation(ctx)
	if err != nil {
		return ctx, false // the operation will meet the same error and report it
	}
	ctx = store.WithGeneration(ctx, gen)
	resp := r.answers.cache.get(gen, l.key)
	if resp == nil {
		return ctx, false
	}
	w.Header().Set("Content-Type", responseContentType(hr))
	writeCompacted(w, resp)
	for _, o := range r.observers {
		o.ObserveCachedAnswer(ctx, l.oc, start)
	}
	return ctx, true
}

// learn remembers the question oc, made from req's body without error, asks.
func (r *recall) learn(req gqlbody.Request, oc *graphql.OperationContext) {
	q, ok := askedQuestion(oc)
	if !ok || !q.cacheable {
		// Not remembered either: the body is made an operation each time, as before.
		return
	}
	if _, known := r.learned.Peek(req.Key); known {
		return
	}
	seen := &graphql.OperationContext{OperationName: oc.OperationName}
	if op := oc.Operation; op != nil {
		seen.Operation = &ast.OperationDefinition{Operation: op.Operation, Name: op.Name}
	}
	if pq, ok := oc.Extensions["persistedQuery"].(map[string]any); ok {
		if h, ok := pq["sha256Hash"].(string); ok && len(h) <= 64 {
			seen.Extensions = map[string]any{"persistedQuery": map[string]any{"sha256Hash": h}}
		}
	}
	r.learned.Add(req.Key, learned{key: q.key, oc: seen})
}
