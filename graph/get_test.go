package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestGETNeverRunsMutations checks what NewHandler relies on: gqlgen's GET transport refuses
// mutations before executing them (so a link or an <img> cannot make a browser write), while
// POST runs them. Today's schema has no mutations, so this uses a schema that has one.
func TestGETNeverRunsMutations(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `type Query { name: String! } type Mutation { touch: String! }`})
	var mutations atomic.Int32
	srv := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			if graphql.GetOperationContext(ctx).Operation.Operation == ast.Mutation {
				mutations.Add(1)
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"touch":"done"}`)})
			}
			return graphql.OneShot(&graphql.Response{Data: []byte(`{"name":"x"}`)})
		},
	})
	// The transports NewHandler uses.
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})

	get := httptest.NewRecorder()
	srv.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape("mutation { touch }"), nil))
	if get.Code == http.StatusOK || !strings.Contains(get.Body.String(), "GET requests only allow query operations") || mutations.Load() != 0 {
		t.Errorf("GET mutation: status %d, body %s, mutations run %d", get.Code, get.Body, mutations.Load())
	}
	q := httptest.NewRecorder()
	srv.ServeHTTP(q, httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape("{ name }"), nil))
	if q.Code != http.StatusOK {
		t.Errorf("GET query: status %d, body %s", q.Code, q.Body)
	}
	post := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"mutation { touch }"}`))
	req.Header.Set("Content-Type", "application/json")
	srv.ServeHTTP(post, req)
	if post.Code != http.StatusOK || mutations.Load() != 1 {
		t.Errorf("POST mutation: status %d, body %s, mutations run %d (the check above could not fail)", post.Code, post.Body, mutations.Load())
	}
}
