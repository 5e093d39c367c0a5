package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// PersistedQueries is an allow-list of registered queries, keyed by the hex SHA-256 of their
// text. A request may name one by hash, Apollo's way
// (extensions.persistedQuery.sha256Hash, no query text), or send the text itself. With Only
// set, nothing else runs: bots whose queries are known cannot be made to run others.
type PersistedQueries struct {
	Queries map[string]string
	Only    bool
}

var _ interface {
	graphql.OperationParameterMutator
	graphql.HandlerExtension
} = (*PersistedQueries)(nil)

// LoadPersistedQueries reads a JSON object of sha256hex → query and checks every hash.
func LoadPersistedQueries(r io.Reader, source string) (map[string]string, error) {
	var m map[string]string
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of sha256 hex → query: %v", source, err)
	}
	for h, q := range m {
		if queryHash(q) != h {
			return nil, fmt.Errorf("%s: hash %.16s… is not the SHA-256 of its query", source, h)
		}
	}
	return m, nil
}

func queryHash(q string) string {
	b := sha256.Sum256([]byte(q))
	return hex.EncodeToString(b[:])
}

func (p *PersistedQueries) ExtensionName() string                   { return "PersistedQueries" }
func (p *PersistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters fills in a registered query named by hash, and in Only mode refuses
// every query that is not registered.
func (p *PersistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	var hash string
	if ext, ok := raw.Extensions["persistedQuery"].(map[string]any); ok {
		hash, _ = ext["sha256Hash"].(string)
	}
	if hash == "" {
		if p.Only && p.Queries[queryHash(raw.Query)] == "" {
			return codeError("PERSISTED_QUERY_REQUIRED", "only registered (persisted) queries run on this server")
		}
		return nil
	}
	q, ok := p.Queries[hash]
	switch {
	case !ok && p.Only:
		return codeError("PERSISTED_QUERY_NOT_FOUND", "no registered query has this hash")
	case !ok:
		return nil // automatic persisted queries may know it
	case raw.Query == "":
		raw.Query = q
	case raw.Query != q:
		return codeError(CodeBadRequest, "the query does not match its persisted hash")
	}
	return nil
}

func codeError(code, msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, code)
	return err
}
