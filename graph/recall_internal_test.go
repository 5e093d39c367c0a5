package graph

import (
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"catalogd/internal/gqlbody"
)

// What recall remembers of a body is small: not the query's syntax tree, not the body's
// extensions, whatever their size (a hostile client sending thousands of large queries must
// not keep them alive through it).
func TestRecallRemembersLittle(t *testing.T) {
	r := newRecall(nil, nil)
	oc := &graphql.OperationContext{
		OperationName: "Page",
		RawQuery:      strings.Repeat("x", 10000),
		Operation:     &ast.OperationDefinition{Operation: ast.Query, Name: "Page", SelectionSet: ast.SelectionSet{&ast.Field{Name: "entity"}}},
		Extensions: map[string]any{
			"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("a", 64), "junk": strings.Repeat("y", 10000)},
			"other":          strings.Repeat("z", 10000),
		},
	}
	oc.Stats.SetExtension(questionExtension, question{key: [32]byte{1}, cacheable: true})
	req := gqlbody.Request{Params: &graphql.RawParams{}, Key: [32]byte{2}}
	r.learn(req, oc)
	l, ok := r.learned.Get(req.Key)
	if !ok || l.key != [32]byte{1} {
		t.Fatalf("learned %+v, %v", l, ok)
	}
	seen := l.oc
	if seen.RawQuery != "" || seen.Operation.SelectionSet != nil || seen.Operation.Name != "Page" || seen.Operation.Operation != ast.Query || seen.OperationName != "Page" {
		t.Fatalf("remembered operation %+v", seen)
	}
	want := map[string]any{"persistedQuery": map[string]any{"sha256Hash": strings.Repeat("a", 64)}}
	if len(seen.Extensions) != 1 || len(seen.Extensions["persistedQuery"].(map[string]any)) != 1 || seen.Extensions["persistedQuery"].(map[string]any)["sha256Hash"] != want["persistedQuery"].(map[string]any)["sha256Hash"] {
		t.Fatalf("remembered extensions %v; want %v", seen.Extensions, want)
	}
	// A question that may not be cached is not remembered.
	oc.Stats.SetExtension(questionExtension, question{key: [32]byte{3}})
	r.learn(gqlbody.Request{Params: &graphql.RawParams{}, Key: [32]byte{4}}, oc)
	if _, ok := r.learned.Get([32]byte{4}); ok {
		t.Fatal("an uncacheable question was remembered")
	}
}
