package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"catalogd/internal/catalog"
	"catalogd/internal/gqlbody"
)

// postTransport is gqlgen's POST transport (transport.POST with its defaults) but for how it
// writes the answer. gqlgen writes it with json.Marshal, which passes the answer's data, a
// json.RawMessage, through encoding/json's compaction: a validating scan of every byte that
// removes whitespace between tokens and escapes <, >, & and U+2028/U+2029. For a large
// answer (an impact page of thousands of entities with their paths) that scan costs more than
// producing it. writeResponse writes the data as it is when that scan would not change a byte
// of it, and through json.Marshal otherwise, so the answers stay the same byte for byte;
// TestPostTransportAnswersAsGqlgens compares the two transports.
//
// It tells recall (recall.go) which question each body it makes an operation asks.
type postTransport struct {
	recall *recall // nil: none told
}

var _ graphql.Transport = postTransport{}

// Supports is transport.POST's.
func (postTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	return r.Method == http.MethodPost && mediaType == "application/json"
}

const (
	contentTypeJSON         = "application/json"
	contentTypeGraphQLReply = "application/graphql-response+json"
)

// Do is transport.POST's Do, with writeResponse for gqlgen's writeJson.
func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Add("Content-Type", contentType)
	start := graphql.Now()
	// The body as the door decoded it (internal/gqlbody), or as gqlgen's transport decodes it.
	req, decoded := gqlbody.From(ctx)
	var params *graphql.RawParams
	if decoded {
		// Shared with the decoder, which keeps it: the members set below and by the
		// extensions go to a copy (the maps' values are never changed).
		p := *req.Params
		params = &p
	} else {
		params = &graphql.RawParams{}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			gqlErr := gqlerror.Errorf("could not read request body: %+v", err)
			writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlErr}))
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(params); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			gqlErr := gqlerror.Errorf("json request body could not be decoded: %v; body begins %q", err, catalog.Excerpt(string(body), 60))
			writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlErr}))
			return
		}
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
			if contentType == contentTypeGraphQLReply {
				status = http.StatusBadRequest
			}
		}
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr))
		return
	}
	if decoded && t.recall != nil {
		t.recall.learn(req, rc)
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if st, _ := ctx.Value(answerStateKey{}).(*answerState); st != nil && st.cached {
		writeCompacted(w, resp)
		return
	}
	writeResponse(w, resp)
}

// responseContentType is transport.POST's choice of content type with its defaults: what the
// Accept header asks for first among the two JSON types (application/json for */* and
// application/* or no Accept header), the GraphQL response type when it names neither.
func responseContentType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return contentTypeJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", contentTypeJSON:
			return contentTypeJSON
		case contentTypeGraphQLReply:
			return contentTypeGraphQLReply
		}
	}
	return contentTypeGraphQLReply
}

// writeResponse writes what json.Marshal(resp) writes. When the data is already as
// json.Marshal would write it (see compacted), it writes the data as it is, between the
// other members marshalled as json.Marshal does (fields in order, omitempty as tagged).
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp == nil || len(resp.Data) == 0 || !compacted(resp.Data) {
		b, err := json.Marshal(resp)
		if err != nil {
			panic(fmt.Errorf("unable to marshal %s: %w", string(resp.Data), err))
		}
		setContentLength(w, len(b))
		w.Write(b)
		return
	}
	writeCompacted(w, resp)
}

// writeCompacted is writeResponse for data known to be compacted.
func writeCompacted(w io.Writer, resp *graphql.Response) {
	// Most answers hold only data: {"data": …}, without encoding two empty objects.
	start, end := dataOnlyStart, dataOnlyEnd
	if len(resp.Errors) > 0 || resp.Label != "" || resp.Path != nil || resp.HasNext != nil || len(resp.Extensions) > 0 {
		head, err := json.Marshal(struct {
			Errors gqlerror.List `json:"errors,omitempty"`
		}{resp.Errors})
		if err != nil {
			panic(fmt.Errorf("unable to marshal errors: %w", err))
		}
		tail, err := json.Marshal(struct {
			Label      string         `json:"label,omitempty"`
			Path       ast.Path       `json:"path,omitempty"`
			HasNext    *bool          `json:"hasNext,omitempty"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Label, resp.Path, resp.HasNext, resp.Extensions})
		if err != nil {
			panic(fmt.Errorf("unable to marshal extensions: %w", err))
		}
		sep := `"data":`
		if len(head) > 2 {
			sep = `,"data":`
		}
		start = append(head[:len(head)-1:len(head)-1], sep...) // head without its }
		if len(tail) > 2 {
			tail[0] = ','
			end = tail
		}
	}
	// Three writes rather than one copy of megabytes: the HTTP layer buffers them.
	setContentLength(w, len(start)+len(resp.Data)+len(end))
	w.Write(start)
	w.Write(resp.Data)
	w.Write(end)
}

var dataOnlyStart, dataOnlyEnd = []byte(`{"data":`), []byte(`}`)

// setContentLength announces the answer's length when w is the HTTP answer and its header is
// not written yet: a client then reads it into a buffer of the right size, and the answer is
// not sent in chunks.
func setContentLength(w io.Writer, n int) {
	if rw, ok := w.(http.ResponseWriter); ok {
		rw.Header().Set("Content-Length", strconv.Itoa(n))
	}
}

// compacted reports whether encoding/json's compaction with HTML escaping (what json.Marshal
// does to a json.RawMessage) leaves b as it is: no whitespace outside strings, no <, > or &,
// and no byte 0xE2 (which starts U+2028 and U+2029; a few other characters start with it too
// and are sent the slow way). It trusts that b is valid JSON, as gqlgen writes it.
func compacted(b []byte) bool {
	i, n := 0, len(b)
	for i < n {
		// Outside strings: up to the next string, or what compaction would change.
		for i < n && !stopOutside[b[i]] {
			i++
		}
		if i == n {
			return true
		}
		if b[i] != '"' {
			return false
		}
		// Inside a string: up to its end, skipping escaped characters.
		for i++; ; i++ {
			for i < n && !stopInside[b[i]] {
				i++
			}
			if i >= n {
				return false
			}
			if b[i] == '"' {
				break
			}
			if b[i] != '\\' {
				return false
			}
			i++ // the escaped character
		}
		i++
	}
	return true
}

// stopInside and stopOutside are the bytes compacted stops at inside and outside strings.
var stopInside, stopOutside = func() (in, out [256]bool) {
	for _, c := range []byte{'<', '>', '&', 0xE2} {
		in[c], out[c] = true, true
	}
	in['"'], in['\\'] = true, true
	for _, c := range []byte{'"', ' ', '\t', '\n', '\r'} {
		out[c] = true
	}
	return in, out
}()
