package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"catalogd/internal/catalog"
)

// The HTTP-level error codes of the GraphQL endpoint: mistakes in the request itself, found
// before GraphQL sees it, and the endpoint not being ready yet. README.md lists them with
// every other code.
const (
	codeBadRequest       = "BAD_REQUEST"
	codePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	codeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeUnavailable      = "UNAVAILABLE"
)

// ErrorCodes are the codes this package answers with.
func ErrorCodes() []string {
	return []string{codeBadRequest, codePayloadTooLarge, codeUnsupportedMedia, codeMethodNotAllowed, CodeUnavailable}
}

// guardGraphQL checks what gqlgen's transports would otherwise answer as internal errors or
// echo back whole: the method, the content type, the body's size, and that a POST body is one
// JSON object of the GraphQL-over-HTTP shape. Each mistake is the client's: a 4xx with a JSON
// body carrying errors[0].extensions.code, logged at debug level only.
func guardGraphQL(maxBody int64, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reject := func(status int, code, msg string) {
			log.DebugContext(r.Context(), "graphql request rejected", "status", status, "code", code, "reason", msg, "remote", r.RemoteAddr)
			WriteError(w, status, code, msg)
		}
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			for _, p := range []string{"variables", "extensions"} {
				if v := q.Get(p); v != "" && !isJSONObject([]byte(v)) {
					reject(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("the %s parameter must be a JSON object", p))
					return
				}
			}
		case http.MethodPost:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				reject(http.StatusUnsupportedMediaType, codeUnsupportedMedia, fmt.Sprintf(
					"unsupported content type %q: POST a JSON body with Content-Type application/json "+
						"(answers are application/json, or application/graphql-response+json when accepted), or GET with ?query=",
					catalog.Excerpt(r.Header.Get("Content-Type"), 60)))
				return
			}
			if r.ContentLength > maxBody {
				reject(http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBody))
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					reject(http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBody))
					return
				}
				reject(http.StatusBadRequest, codeBadRequest, "could not read the request body")
				return
			}
			if len(bytes.TrimSpace(body)) == 0 {
				reject(http.StatusBadRequest, codeBadRequest, `empty request body: send a JSON object such as {"query": "{ __typename }"}`)
				return
			}
			if msg := checkParams(body); msg != "" {
				reject(http.StatusBadRequest, codeBadRequest, msg)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			reject(http.StatusMethodNotAllowed, codeMethodNotAllowed, fmt.Sprintf("method %s is not allowed: use GET or POST", catalog.Excerpt(r.Method, 20)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkParams says what is wrong with a POST body, or "" when it is a GraphQL request object.
func checkParams(body []byte) string {
	var p struct {
		Query         *string         `json:"query"`
		OperationName *string         `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return fmt.Sprintf("malformed JSON body at byte %d: %s", syn.Offset, syn.Error())
		case errors.As(err, &typ) && typ.Field == "":
			return "the body must be a JSON object with a query"
		case errors.As(err, &typ):
			return fmt.Sprintf("%s must be a %s", typ.Field, map[string]string{"query": "string", "operationName": "string"}[typ.Field])
		}
		return "malformed JSON body: " + catalog.Excerpt(err.Error(), 100)
	}
	// The body is valid JSON (Unmarshal checked all of it), so a member is an object when it
	// starts with one: no need to decode it again.
	if len(p.Variables) > 0 && p.Variables[0] != '{' && string(p.Variables) != "null" {
		return "variables must be a JSON object"
	}
	if len(p.Extensions) > 0 && p.Extensions[0] != '{' && string(p.Extensions) != "null" {
		return "extensions must be a JSON object"
	}
	return ""
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil
}

// WriteError writes a GraphQL-shaped error answer: a JSON body with errors[0].extensions.code.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
