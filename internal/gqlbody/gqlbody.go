// Package gqlbody decodes the body of a GraphQL-over-HTTP POST once per request. The door
// (internal/server's guard) decodes it to turn a malformed body away with a clear message,
// and hands what it decoded to the transport (graph) in the request's context, which would
// otherwise read and decode the same bytes again.
package gqlbody

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"catalogd/internal/catalog"
)

// Decode decodes body as gqlgen's POST transport does (numbers kept as json.Number). When body
// is not one JSON object with a string query and operation name and object (or null)
// variables and extensions, it returns a message saying what is wrong and where instead.
func Decode(body []byte) (*graphql.RawParams, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	p := &graphql.RawParams{}
	if err := dec.Decode(p); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Sprintf("malformed JSON body at byte %d: %s", syn.Offset, syn.Error())
		case errors.As(err, &typ) && typ.Field == "":
			return nil, "the body must be a JSON object with a query"
		case errors.As(err, &typ):
			switch typ.Field {
			case "query", "operationName":
				return nil, typ.Field + " must be a string"
			case "variables", "extensions":
				return nil, typ.Field + " must be a JSON object"
			}
			return nil, fmt.Sprintf("%s has the wrong type (%s)", catalog.Excerpt(typ.Field, 40), typ.Value)
		}
		return nil, "malformed JSON body: " + catalog.Excerpt(err.Error(), 100)
	}
	if end := dec.InputOffset(); len(bytes.TrimSpace(body[end:])) > 0 {
		return nil, fmt.Sprintf("malformed JSON body at byte %d: %q follows the request object", end+1,
			catalog.Excerpt(string(bytes.TrimSpace(body[end:])), 20))
	}
	return p, ""
}

type paramsKey struct{}

// With returns ctx carrying p, the decoded body of the request ctx belongs to.
func With(ctx context.Context, p *graphql.RawParams) context.Context {
	return context.WithValue(ctx, paramsKey{}, p)
}

// From returns the decoded body With put in ctx, or nil. The caller may change it: it is the
// request's own.
func From(ctx context.Context) *graphql.RawParams {
	p, _ := ctx.Value(paramsKey{}).(*graphql.RawParams)
	return p
}
