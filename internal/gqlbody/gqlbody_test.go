package gqlbody_test

import (
	"context"
	"encoding/json"
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
	if gqlbody.From(ctx) != nil {
		t.Fatal("From found a request in an empty context")
	}
	p, _ := gqlbody.Decode([]byte(`{"query": "{ a }"}`))
	if got := gqlbody.From(gqlbody.With(ctx, p)); got != p {
		t.Fatalf("From(With(p)) = %p; want %p", got, p)
	}
}
