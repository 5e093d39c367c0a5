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

// complexityLimit is gqlgen's extension.FixedComplexityLimit with what it learns of each
// question remembered: a question is its operation name, query text and variables, which are
// all its cost, and whether the answer cache may keep its answer (cacheable), depend on.
// Walking a query's fields to cost it took a fifth of the CPU of an answer given from the
// answer cache, and walking them again to see whether it is cacheable a twentieth. It gives
// each operation its question (key and cacheability), which the answer cache uses.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	facts graphql.Cache[questionFacts]
}

// questionFacts are what is remembered of a question.
type questionFacts struct {
	cost      int
	cacheable bool
}

// question is the operation's question: its key and whether its answer may be cached.
type question struct {
	key       [32]byte
	cacheable bool
}

var _ interface {
	graphql.OperationContextMutator
	graphql.HandlerExtension
} = &complexityLimit{}

func newComplexityLimit(limit int) *complexityLimit {
	return &complexityLimit{limit: limit, facts: queryCache[questionFacts](4096)}
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
	var facts questionFacts
	var known bool
	var name string
	if ok {
		name = hex.EncodeToString(key[:])
		facts, known = c.facts.Get(ctx, name)
	}
	if !known {
		op := oc.Doc.Operations.ForName(oc.OperationName)
		facts = questionFacts{
			cost:      complexity.Calculate(ctx, c.es, op, oc.Variables),
			cacheable: cacheable(c.es.Schema(), oc.Doc, op, oc.Variables),
		}
		if ok {
			c.facts.Add(ctx, name, facts)
		}
	}
	if ok {
		oc.Stats.SetExtension(questionExtension, question{key: key, cacheable: facts.cacheable})
	}
	cost := facts.cost
	oc.Stats.SetExtension("ComplexityLimit", &extension.ComplexityStats{Complexity: cost, ComplexityLimit: c.limit})
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}

// questionExtension is the operation's stats extension holding its question.
const questionExtension = "catalogd.question"

// askedQuestion returns the question complexityLimit found oc to ask, or false when it found
// none (the key could not be made).
func askedQuestion(oc *graphql.OperationContext) (question, bool) {
	q, ok := oc.Stats.GetExtension(questionExtension).(question)
	return q, ok
}

// questionKey is the key of the question oc asks: a hash of its operation name, query text
// and variables (their JSON, whose object keys encoding/json sorts).
func questionKey(oc *graphql.OperationContext) (key [32]byte, ok bool) {
	if q, found := askedQuestion(oc); found {
		return q.key, true
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
