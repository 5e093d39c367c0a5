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
	"catalogd/internal/gqlbody"
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
	dec := gqlbody.NewDecoder(keptBodyBytes)
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
			body, err := readBody(w, r, maxBody)
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
			req, msg := dec.Decode(body)
			if msg != "" {
				reject(http.StatusBadRequest, codeBadRequest, msg)
				return
			}
			// The transport takes the request as decoded here; the body stays readable for
			// one that decodes it itself.
			r = r.WithContext(gqlbody.With(r.Context(), req))
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

// readBody reads the body of r, of at most maxBody bytes: into a buffer of its length when it
// announced a small one (net/http reads no more than that), which a UI's queries are. A larger
// one grows with what arrives: a client announcing a megabyte and sending it slowly, or never,
// does not get a megabyte set aside for it.
func readBody(w http.ResponseWriter, r *http.Request, maxBody int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= min(maxBody, maxPresizedBody) {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
}

// maxPresizedBody is the largest announced body readBody sets a buffer aside for at once.
const maxPresizedBody = 64 << 10

// keptBodyBytes bounds the bodies whose decoding the guard keeps (see gqlbody.Decoder): a few
// thousand of a UI's queries with their variables.
const keptBodyBytes = 4 << 20

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
