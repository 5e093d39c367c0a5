// Package gqlbody decodes the body of a GraphQL-over-HTTP POST once per request. The door
// (internal/server's guard) decodes it to turn a malformed body away with a clear message,
// and hands what it decoded to the transport (graph) in the request's context, which would
// otherwise read and decode the same bytes again. A Decoder also keeps what the bodies sent
// most recently decoded to, and names each body by its hash, by which the transport knows a
// question it has answered before.
package gqlbody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"catalogd/internal/catalog"
	"catalogd/internal/gencache"
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

// Request is a decoded body: the request as gqlgen's transport takes it, and the body's key.
type Request struct {
	Params *graphql.RawParams
	// Key is the body's SHA-256: two requests with one key sent the same bytes, so they ask
	// the same question. The GraphQL handler answers a body it has seen before by it.
	Key [32]byte
}

// Decoder decodes bodies as Decode does and keeps what the last ones decoded to, so that a
// body sent again (a UI asks for the same pages over and over) is not decoded again: decoding
// took a tenth of the CPU of an answer from the answer cache. It is safe for concurrent use.
type Decoder struct {
	known *gencache.Cache[[32]byte, known] // nil: none kept
}

type known struct {
	params *graphql.RawParams // shared by the requests that sent the body: never changed
	size   int
}

// maxKeptBody is the largest body whose decoding is kept: a UI's queries are a few KiB.
const maxKeptBody = 16 << 10

// keptOverhead is what keeping a decoded body costs besides its bytes: the decoded maps and
// strings, the list element, map entry and key.
const keptOverhead = 512

// NewDecoder returns a decoder keeping the decoding of bodies of up to maxKeptBody bytes,
// about maxBytes of them in all, the least recently sent out first (0: none kept).
func NewDecoder(maxBytes int) *Decoder {
	if maxBytes <= 0 {
		return &Decoder{}
	}
	return &Decoder{known: gencache.New(maxBytes, func(_ [32]byte, k known) int { return k.size })}
}

// Decode decodes body as the package's Decode does. The request's Params may be shared with
// other requests that sent the same body: they are not to be changed. A user that sets their
// members (gqlgen's transport sets Headers and ReadTime, a persisted query's extension the
// Query) sets them on a copy of the struct; nothing changes the maps.
func (d *Decoder) Decode(body []byte) (Request, string) {
	req := Request{Key: sha256.Sum256(body)}
	if d.known != nil {
		// Kept under one generation: what a body decodes to never changes.
		if k, ok := d.known.Get(0, req.Key); ok {
			req.Params = k.params
			return req, ""
		}
	}
	p, problem := Decode(body)
	if problem != "" {
		return Request{}, problem
	}
	if d.known != nil && len(body) <= maxKeptBody {
		d.known.Put(0, req.Key, known{params: p, size: 2*len(body) + keptOverhead})
	}
	req.Params = p
	return req, ""
}

type requestKey struct{}

// With returns ctx carrying req, the decoded body of the request ctx belongs to.
func With(ctx context.Context, req Request) context.Context {
	return context.WithValue(ctx, requestKey{}, req)
}

// From returns the request With put in ctx, if any. Its Params are not to be changed (see
// Decoder.Decode).
func From(ctx context.Context) (Request, bool) {
	req, ok := ctx.Value(requestKey{}).(Request)
	return req, ok && req.Params != nil
}
