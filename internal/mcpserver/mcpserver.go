// Package mcpserver serves the catalog to LLM assistants over the Model Context Protocol
// (Streamable HTTP, stateless, so any replica answers any request). Each tool runs a GraphQL
// operation in process, through the same handler, resolvers, limits and error presenter as
// /graphql, with the caller's principal: the answers and the policy are GraphQL's, not a copy.
package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"catalogd/internal/auth"
)

// Options configure the MCP handler.
type Options struct {
	// GraphQL is the GraphQL handler (without the HTTP authentication in front of it): tools
	// post their operations to it with the caller's context.
	GraphQL http.Handler
	// Policy decides whether the write tools are listed to a caller (nil: they are, as to the
	// local admin when authentication is off). The GraphQL mutations check again.
	Policy *auth.Policy
	// RelationTypes are described by describe_catalog.
	RelationTypes []string
	Version       string
	Log           *slog.Logger
	// Authenticated says every request carries credentials checked before the handler. The
	// SDK's DNS-rebinding protection (refusing a request that reached a loopback address
	// with another Host) then only gets in the way of a reverse proxy on the same machine,
	// and is turned off; without authentication it stays on.
	Authenticated bool
}

// NewHandler returns the /mcp handler. The caller's principal must be in the request's
// context (the server's authentication middleware puts it there).
func NewHandler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	read := newServer(o, false)
	write := newServer(o, true)
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		if mayWrite(o.Policy, auth.FromContext(r.Context())) {
			return write
		}
		return read
	}, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: o.Log,
		DisableLocalhostProtection: o.Authenticated})
}

// mayWrite reports whether the write tools are listed to p: when its roles allow registering
// locations or refreshing entities anywhere.
func mayWrite(pol *auth.Policy, p *auth.Principal) bool {
	if pol == nil {
		return true
	}
	if p == nil {
		return false
	}
	return pol.Authorize(p, auth.ActionLocationWrite, auth.Resource{}) == nil ||
		pol.Authorize(p, auth.ActionEntityRefresh, auth.Resource{}) == nil
}

// gql runs one GraphQL operation in process and decodes its data into out. GraphQL errors
// become the tool's error (isError), with the presenter's message and code.
func gql(ctx context.Context, h http.Handler, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, req)
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Path       []any          `json:"path"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(w.body.Bytes(), &resp); err != nil {
		return fmt.Errorf("internal error (status %d)", w.status)
	}
	if len(resp.Errors) > 0 {
		msgs := make([]string, len(resp.Errors))
		for i, e := range resp.Errors {
			msgs[i] = fmt.Sprintf("%s: %s", e.Extensions["code"], e.Message)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Data, out)
}

// recorder is the ResponseWriter of an in-process GraphQL request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
