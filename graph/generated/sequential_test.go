package generated

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// The rewrite replaces gqlgen's function by ours at every call site, so both must keep one
// signature: if gqlgen changes it, this stops compiling.
var (
	_ func(context.Context, int, int64, bool, func(context.Context, int) graphql.Marshaler) graphql.Array = graphql.MarshalSliceConcurrently
	_ func(context.Context, int, int64, bool, func(context.Context, int) graphql.Marshaler) graphql.Array = marshalSliceSequentially
)

// TestListsAreMarshalledSequentially fails the day the committed executor marshals lists with
// gqlgen's goroutine-per-element function again (a regeneration without scripts/sequentialize,
// or a gqlgen whose output the rewrite no longer matches).
func TestListsAreMarshalledSequentially(t *testing.T) {
	src, err := os.ReadFile("generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "MarshalSliceConcurrently") {
		t.Fatal("generated.go calls graphql.MarshalSliceConcurrently: run go generate ./graph (scripts/sequentialize)")
	}
	if n := strings.Count(string(src), "marshalSliceSequentially("); n < 10 {
		t.Fatalf("generated.go has %d calls of marshalSliceSequentially, want every list marshaller rewritten", n)
	}
}

func TestMarshalSliceSequentially(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	got := marshalSliceSequentially(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if i == 1 {
			panic("boom")
		}
		if fc := graphql.GetFieldContext(ctx); fc == nil || fc.Index == nil || *fc.Index != i {
			t.Errorf("element %d: field context index %v", i, fc)
		}
		return graphql.MarshalInt(i)
	})
	if len(got) != 3 || got[1] != graphql.Null {
		t.Fatalf("got %v, want 3 elements with the panicking one null", got)
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 1 {
		t.Fatalf("errors = %v, want the one panic recorded", errs)
	}
}
