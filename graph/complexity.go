package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit is gqlgen's extension.FixedComplexityLimit with the computed cost of each
// question remembered: a question is its operation name, query text and variables, which are
// all the cost depends on. Walking a query's fields to cost it took a fifth of the CPU of an
// answer given from the answer cache. It also gives each operation its question's key, which
// the answer cache uses.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	costs graphql.Cache[int]
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = &complexityLimit{}

func newComplexityLimit(limit int) *complexityLimit {
	return &complexityLimit{limit: limit, costs: queryCache[int](4096)}
}

// ExtensionName is gqlgen's, so extension.GetComplexityStats finds the stats as before.
func (c *complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(schema graphql.ExecutableSchema) error {
	if schema == nil {
		return errors.New("complexity limit: no schema")
	}
	c.es = schema
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	key, ok := questionKey(oc)
	var cost int
	var known bool
	var name string
	if ok {
		oc.Stats.SetExtension(questionExtension, key)
		name = hex.EncodeToString(key[:])
		cost, known = c.costs.Get(ctx, name)
	}
	if !known {
		cost = complexity.Calculate(ctx, c.es, oc.Doc.Operations.ForName(oc.OperationName), oc.Variables)
		if ok {
			c.costs.Add(ctx, name, cost)
		}
	}
	oc.Stats.SetExtension("ComplexityLimit", &extension.ComplexityStats{Complexity: cost, ComplexityLimit: c.limit})
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

// questionExtension is the operation's stats extension holding its question's key.
const questionExtension = "catalogd.question"

// questionKey is the key of the question oc asks: a hash of its operation name, query text
// and variables (their JSON, whose object keys encoding/json sorts).
func questionKey(oc *graphql.OperationContext) (key [32]byte, ok bool) {
	if k, found := oc.Stats.GetExtension(questionExtension).([32]byte); found {
		return k, true
	}
	vars, err := json.Marshal(oc.Variables)
	if err != nil {
		return key, false
	}
	h := sha256.New()
	h.Write([]byte(oc.OperationName))
	h.Write([]byte{0})
	h.Write([]byte(oc.RawQuery))
	h.Write([]byte{0})
	h.Write(vars)
	h.Sum(key[:0])
	return key, true
}
