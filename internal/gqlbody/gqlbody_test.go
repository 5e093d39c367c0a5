package gqlbody_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"catalogd/internal/gqlbody"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body, problem string
	}{
		{"a whole request", `{"query": "query($n: Int){ a(n: $n) }", "operationName": "Q", "variables": {"n": 12345678901234567890}, "extensions": {"x": 1}}`, ""},
		{"null members are none", `{"query": "{ a }", "variables": null, "extensions": null, "operationName": null}`, ""},
		{"white space around the object", " \n{\"query\": \"{ a }\"}\t\n", ""},
		{"malformed JSON", `{"query": "{ a }"`, "malformed JSON body"},
		{"not an object", `["{ a }"]`, "the body must be a JSON object with a query"},
		{"a query that is a number", `{"query": 5}`, "query must be a string"},
		{"an operation name that is an object", `{"query": "{ a }", "operationName": {}}`, "operationName must be a string"},
		{"variables that are a list", `{"query": "{ a }", "variables": [{}]}`, "variables must be a JSON object"},
		{"variables that are a string", `{"query": "{ a }", "variables": "{}"}`, "variables must be a JSON object"},
		{"extensions that are a number", `{"query": "{ a }", "extensions": 1}`, "extensions must be a JSON object"},
		{"a second value after the object", `{"query": "{ a }"} {"query": "{ b }"}`, "at byte 19"},
		{"garbage after the object", `{"query": "{ a }"}xyz`, "follows the request object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, problem := gqlbody.Decode([]byte(tc.body))
			if tc.problem == "" {
				if problem != "" || p == nil {
					t.Fatalf("Decode(%s) = %v, %q; want the request", tc.body, p, problem)
				}
				return
			}
			if p != nil || !strings.Contains(problem, tc.problem) {
				t.Fatalf("Decode(%s) = %v, %q; want a problem saying %q", tc.body, p, problem, tc.problem)
			}
			if len(problem) > 200 {
				t.Fatalf("problem is %d bytes long: %q", len(problem), problem)
			}
		})
	}
}

// The request is decoded as gqlgen's POST transport decodes it: numbers stay json.Number, so a
// large ID or a 64-bit integer reaches the resolvers exactly.
func TestDecodeKeepsNumbers(t *testing.T) {
	p, problem := gqlbody.Decode([]byte(`{"query": "q", "operationName": "Op", "variables": {"n": 12345678901234567890, "s": "x"}, "extensions": {"e": true}}`))
	if problem != "" {
		t.Fatal(problem)
	}
	if p.Query != "q" || p.OperationName != "Op" || p.Extensions["e"] != true || p.Variables["s"] != "x" {
		t.Fatalf("decoded %+v", p)
	}
	if n, ok := p.Variables["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Fatalf("n = %#v; want the json.Number 12345678901234567890", p.Variables["n"])
	}
}

func TestDecodeQuotesAShortExcerpt(t *testing.T) {
	body := `{"query": "{ a }"}` + strings.Repeat("x", 1<<20)
	_, problem := gqlbody.Decode([]byte(body))
	if problem == "" || len(problem) > 200 {
		t.Fatalf("problem of %d bytes: %.300q", len(problem), problem)
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := gqlbody.From(ctx); ok {
		t.Fatal("From found a request in an empty context")
	}
	req, _ := gqlbody.NewDecoder(0).Decode([]byte(`{"query": "{ a }"}`))
	if got, ok := gqlbody.From(gqlbody.With(ctx, req)); !ok || got != req {
		t.Fatalf("From(With(req)) = %+v, %v; want %+v", got, ok, req)
	}
}

// A decoder keeps what bodies decoded to and names each body by its hash: the same body
// decodes to the same request, kept, and another body (however alike) to another.
func TestDecoderKeepsBodies(t *testing.T) {
	dec := gqlbody.NewDecoder(1 << 20)
	body := []byte(`{"query": "query($n: Int){ a(n: $n) }", "variables": {"n": 1, "o": {"p": [1, 2]}}, "extensions": {"e": 1}}`)
	first, problem := dec.Decode(body)
	if problem != "" {
		t.Fatal(problem)
	}
	if first.Key != sha256.Sum256(body) {
		t.Fatalf("key %x; want the body's SHA-256", first.Key)
	}
	again, problem := dec.Decode(body)
	if problem != "" {
		t.Fatal(problem)
	}
	if again.Key != first.Key || again.Params != first.Params {
		t.Fatalf("decoded again: key %x, params %p; want key %x and the kept params %p", again.Key, again.Params, first.Key, first.Params)
	}
	if again.Params.Query != "query($n: Int){ a(n: $n) }" || again.Params.Variables["n"] != json.Number("1") || again.Params.Extensions["e"] != json.Number("1") {
		t.Fatalf("decoded again: %+v", again.Params)
	}
	// Another body, however alike, is another request.
	other, _ := dec.Decode(append([]byte(" "), body...))
	if other.Key == first.Key || other.Params == first.Params {
		t.Fatal("two bodies share a request")
	}
	// Without keeping, every body is decoded afresh.
	none := gqlbody.NewDecoder(0)
	a, _ := none.Decode(body)
	b, _ := none.Decode(body)
	if a.Params == b.Params || a.Key != b.Key {
		t.Fatal("a decoder keeping nothing shared a request")
	}
	// A malformed body is refused every time.
	for range 2 {
		if req, problem := dec.Decode([]byte(`{"query": 5}`)); problem == "" || req.Params != nil {
			t.Fatalf("a malformed body decoded to %+v", req)
		}
	}
}

// What a decoder keeps is bounded: bodies larger than it keeps are decoded every time, and
// many bodies do not grow it past its bound (the oldest go).
func TestDecoderIsBounded(t *testing.T) {
	dec := gqlbody.NewDecoder(64 << 10)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for i := range 5000 {
		body := fmt.Sprintf(`{"query": "{ a }", "variables": {"s": %q}}`, strings.Repeat("x", 1000)+strconv.Itoa(i))
		if _, problem := dec.Decode([]byte(body)); problem != "" {
			t.Fatal(problem)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(dec)
	if grew := int64(ms.HeapAlloc) - int64(before); grew > 1<<20 {
		t.Fatalf("the heap grew by %d bytes keeping 5000 bodies of 1 KB under a bound of 64 KiB", grew)
	}
}
