package generated

// This file is not generated: go generate (see graph/resolver.go) rewrites gqlgen's calls to
// graphql.MarshalSliceConcurrently in generated.go into calls to marshalSliceSequentially.
//
// gqlgen marshals every list of objects with one goroutine per element. catalogd's resolvers
// never wait per element (each load is batched for the whole list by graph/model), so those
// goroutines only cost: an impact answer of 10,000 entities spent most of its time creating
// and scheduling them. Root fields are still resolved concurrently.

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSliceSequentially has MarshalSliceConcurrently's signature and contract (a field
// context per index, a panic in one element nulls that element), on the calling goroutine.
func marshalSliceSequentially(ctx context.Context, length int, _ int64, omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		fc := &graphql.FieldContext{Index: &i}
		childCtx := graphql.WithFieldContext(ctx, fc)
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(childCtx, graphql.Recover(childCtx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshalElement(childCtx, i)
		}()
	}
	return ret
}
