package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"catalogd/graph"
	"catalogd/internal/server"
	"catalogd/internal/testdb"
)

// No request can run away with the server: the attacks of the trust-boundary issue, sent to
// the real server over HTTP.

// httpAnswer is one answer: status, the first error's code and message, the raw body.
type httpAnswer struct {
	status  int
	code    string
	message string
	body    []byte
	took    time.Duration
}

// post sends body to /graphql with contentType and decodes the GraphQL error it must carry
// when the status is not 200. The client gives up after a minute, so an attack the server
// does not stop fails the test instead of hanging it.
func (s *testServer) post(contentType string, body io.Reader, size int64) httpAnswer {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/graphql", body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.ContentLength = size
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.do(req)
}

func (s *testServer) do(req *http.Request) httpAnswer {
	s.t.Helper()
	start := time.Now()
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := httpAnswer{status: resp.StatusCode, body: raw, took: time.Since(start)}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("status %d: body is not JSON: %.300s", resp.StatusCode, raw)
	}
	if len(out.Errors) > 0 {
		a.message = out.Errors[0].Message
		a.code, _ = out.Errors[0].Extensions["code"].(string)
	}
	return a
}

func (s *testServer) postQuery(q string) httpAnswer {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q})
	return s.post("application/json", bytes.NewReader(body), int64(len(body)))
}

// noErrorLogged checks the server logged nothing at ERROR level: a client's mistake is not
// the server's error.
func (s *testServer) noErrorLogged() {
	s.t.Helper()
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			s.t.Errorf("the server logged an error: %s", line)
		}
	}
}

func TestRepeatedFieldsAreRefusedBeforeValidation(t *testing.T) {
	s := startServer(t, "--database", testdb.SQLite(t))
	t.Run("880 KB of one repeated field stops at the parser's token limit", func(t *testing.T) {
		q := "{" + strings.Repeat(" __typename", 80_000) + "}"
		a := s.postQuery(q)
		if a.code != "GRAPHQL_PARSE_FAILED" || !strings.Contains(a.message, "token limit") {
			t.Errorf("answer %d %s %q, want GRAPHQL_PARSE_FAILED about the token limit", a.status, a.code, a.message)
		}
		if a.took > 5*time.Second { // it took 609 s of CPU before the limit
			t.Errorf("refused in %s", a.took)
		}
	})
	t.Run("a query just under the token limit that selects too many fields is refused before validation", func(t *testing.T) {
		// 100 × 100 fields in about 11,000 tokens: 5 s of pairwise field comparisons.
		inner := "{" + strings.Repeat(" ref", 100) + " }"
		a := s.postQuery("{" + strings.Repeat(` entity(ref: "x") `+inner, 100) + "}")
		if a.code != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(a.message, "more than 1000 fields") {
			t.Errorf("answer %d %s %q, want GRAPHQL_VALIDATION_FAILED about the field limit", a.status, a.code, a.message)
		}
		if a.took > 5*time.Second {
			t.Errorf("refused in %s", a.took)
		}
	})
	t.Run("fragments count each time they are spread", func(t *testing.T) {
		q := `{ ...a } fragment a on Query { ...b ...b } fragment b on Query { ...c ...c } fragment c on Query { ...d ...d }
			fragment d on Query { ...e ...e } fragment e on Query { ...f ...f } fragment f on Query { ...g ...g }
			fragment g on Query { ...h ...h } fragment h on Query { ...i ...i } fragment i on Query { ...j ...j }
			fragment j on Query { ...k ...k } fragment k on Query { __typename }`
		if a := s.postQuery(q); a.code != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(a.message, "fields") {
			t.Errorf("answer %d %s %q", a.status, a.code, a.message)
		}
	})
	s.noErrorLogged()
}

func TestAliasesOfLargeAnswersAreRefusedBeforeTheyRun(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		s := startServer(t, "--database", dbURL, "--demo")
		one := `a0: impact(ref: "resource:postgres-main") { affected { ref depth path } }`
		var ten []string
		for i := range 10 {
			ten = append(ten, strings.Replace(one, "a0", fmt.Sprintf("a%d", i), 1))
		}
		a := s.postQuery("{ " + strings.Join(ten, " ") + " }")
		if a.code != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(string(a.body), `"data":null`) {
			t.Errorf("10 aliases of the default affected page: %d %s %.200s", a.status, a.code, a.body)
		}
		if a := s.postQuery("{ " + one + " }"); a.status != 200 || a.code != "" {
			t.Errorf("one alias: %d %s %q", a.status, a.code, a.message)
		}
		// Smaller pages are cheaper: ten aliases of a page of 100 pass.
		small := strings.ReplaceAll("{ "+strings.Join(ten, " ")+" }", "affected {", "affected(first: 100) {")
		if a := s.postQuery(small); a.status != 200 || a.code != "" {
			t.Errorf("10 aliases of 100: %d %s %q", a.status, a.code, a.message)
		}
		s.noErrorLogged()
	})
}

func TestAffectedIsPagedOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		s := startServer(t, "--database", dbURL, "--demo")
		type item struct {
			Ref, Cursor string
			Depth       int
		}
		var all struct {
			Impact struct {
				TotalAffected int
				Affected      []item
			}
		}
		s.data(`{ impact(ref: "resource:postgres-main") { totalAffected affected { ref depth cursor } } }`, nil, &all)
		if all.Impact.TotalAffected < 10 || len(all.Impact.Affected) != all.Impact.TotalAffected {
			t.Fatalf("the default page is not the whole list: %d of %d", len(all.Impact.Affected), all.Impact.TotalAffected)
		}
		var walked []item
		var after any
		for range 100 {
			var p struct {
				Impact struct {
					TotalAffected int
					Affected      []item
				}
			}
			s.data(`query($after: String) { impact(ref: "resource:postgres-main") { totalAffected affected(first: 3, after: $after) { ref depth cursor } } }`,
				map[string]any{"after": after}, &p)
			if p.Impact.TotalAffected != all.Impact.TotalAffected {
				t.Errorf("totalAffected %d on a page, want %d", p.Impact.TotalAffected, all.Impact.TotalAffected)
			}
			walked = append(walked, p.Impact.Affected...)
			if len(p.Impact.Affected) < 3 {
				break
			}
			after = p.Impact.Affected[2].Cursor
		}
		if fmt.Sprint(walked) != fmt.Sprint(all.Impact.Affected) {
			t.Errorf("walking pages of 3 gave\n%v\nwant\n%v", walked, all.Impact.Affected)
		}
		a := s.postQuery(`{ impact(ref: "resource:postgres-main") { affected(after: "nonsense") { ref } } }`)
		if a.code != "BAD_USER_INPUT" || !strings.Contains(a.message, "after") {
			t.Errorf("a bad cursor: %d %s %q", a.status, a.code, a.message)
		}
		s.noErrorLogged()
	})
}

// repeatReader streams n bytes of b repeated, so a huge body costs no memory to send.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range k {
		p[i] = r.b
	}
	r.n -= k
	return int(k), nil
}

func TestClientMistakesAreTheClients(t *testing.T) {
	s := startServer(t, "--database", testdb.SQLite(t), "--demo")
	for _, tc := range []struct {
		name        string
		contentType string
		body        func() (io.Reader, int64)
		status      int
		code        string
		message     string
	}{
		{"malformed JSON is a bad request", "application/json", str(`{"query": "{ __typename }"`), 400, "BAD_REQUEST", "malformed JSON"},
		{"an empty body is a bad request", "application/json", str(""), 400, "BAD_REQUEST", "empty request body"},
		{"a body that is not an object is a bad request", "application/json", str(`["{ __typename }"]`), 400, "BAD_REQUEST", "JSON object"},
		{"a query that is not a string is a bad request", "application/json", str(`{"query": 5}`), 400, "BAD_REQUEST", "query must be a string"},
		{"variables that are a list are a bad request", "application/json", str(`{"query": "{ __typename }", "variables": [{}]}`), 400, "BAD_REQUEST", "variables must be a JSON object"},
		{"variables that are a string are a bad request", "application/json", str(`{"query": "{ __typename }", "variables":  "{}"}`), 400, "BAD_REQUEST", "variables must be a JSON object"},
		{"extensions that are a number are a bad request", "application/json", str(`{"query": "{ __typename }", "extensions": 1}`), 400, "BAD_REQUEST", "extensions must be a JSON object"},
		{"null variables are none", "application/json", str(`{"query": "{ __typename }", "variables": null, "extensions": null}`), 200, "", ""},
		{"50 MB announced is too large", "application/json", func() (io.Reader, int64) { return &repeatReader{'x', 50 << 20}, 50 << 20 }, 413, "PAYLOAD_TOO_LARGE", "larger than"},
		{"50 MB streamed is too large", "application/json", func() (io.Reader, int64) { return &repeatReader{' ', 50 << 20}, -1 }, 413, "PAYLOAD_TOO_LARGE", "larger than"},
		{"a form is an unsupported media type", "application/x-www-form-urlencoded", str(`query={__typename}`), 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"no content type is an unsupported media type", "", str(`{"query": "{ __typename }"}`), 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"a persisted-query hash that does not match the query is a bad request", "application/json",
			str(`{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}}`), 200, "BAD_REQUEST", "hash does not match"},
		{"an unknown persisted-query version is a bad request", "application/json",
			str(`{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 2, "sha256Hash": "abc"}}}`), 200, "BAD_REQUEST", "unsupported APQ version"},
		{"first above the maximum says the maximum", "application/json", str(`{"query": "{ entities(first: 1000000) { totalCount } }"}`), 200, "BAD_USER_INPUT", "between 0 and 500"},
		{"first of affected above the maximum says the maximum", "application/json",
			str(`{"query": "{ impact(ref: \"resource:postgres-main\") { affected(first: 1000000) { ref } } }"}`), 200, "BAD_USER_INPUT", "between 0 and 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: a body sent again (whose decoding the door keeps, and whose question the
			// answer cache may recall) gets the same answer.
			for range 2 {
				body, size := tc.body()
				a := s.post(tc.contentType, body, size)
				if a.status != tc.status || a.code != tc.code || !strings.Contains(a.message, tc.message) {
					t.Errorf("answer %d %s %q, want %d %s saying %q", a.status, a.code, a.message, tc.status, tc.code, tc.message)
				}
				if len(a.body) > 1000 {
					t.Errorf("answer of %d bytes: errors quote a short excerpt, never the input", len(a.body))
				}
			}
		})
	}
	t.Run("a body shorter than its announced length is a bad request", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\": \"{ a }\"}")
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "could not read the request body") {
			t.Errorf("answer %d %s; want 400 saying the body could not be read", resp.StatusCode, b)
		}
	})
	t.Run("other methods are not allowed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, s.base+"/graphql", strings.NewReader(`{}`))
		if a := s.do(req); a.status != 405 || a.code != "METHOD_NOT_ALLOWED" {
			t.Errorf("PUT: %d %s %q", a.status, a.code, a.message)
		}
	})
	t.Run("GET with variables that are not an object is a bad request", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.base+`/graphql?query={__typename}&variables=[1`, nil)
		if a := s.do(req); a.status != 400 || a.code != "BAD_REQUEST" {
			t.Errorf("GET: %d %s %q", a.status, a.code, a.message)
		}
	})
	s.noErrorLogged()
}

func TestRequestDeadline(t *testing.T) {
	// A deadline that has always passed when a resolver runs: the database refuses the
	// statement and the answer says TIMEOUT.
	s := startServer(t, "--database", testdb.SQLite(t), "--demo", "--request-timeout", "1ns")
	a := s.postQuery(`{ entities(first: 500) { totalCount edges { node { ref } } } }`)
	if a.code != "TIMEOUT" {
		t.Errorf("answer %d %s %q, want TIMEOUT", a.status, a.code, a.message)
	}
	s.noErrorLogged()
}

func str(s string) func() (io.Reader, int64) {
	return func() (io.Reader, int64) { return strings.NewReader(s), int64(len(s)) }
}

// README.md lists every code an answer can carry, and only those.
func TestREADMEListsEveryErrorCode(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "### Errors\n")
	if !ok {
		t.Fatal("README.md has no Errors section")
	}
	documented := map[string]bool{}
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the table ends
			}
			continue
		}
		inTable = true
		if first, ok := strings.CutPrefix(line, "| `"); ok {
			cell, _, _ := strings.Cut(first, " |")
			for _, c := range strings.Split(cell, ", ") {
				documented[strings.Trim(c, "`")] = true
			}
		}
	}
	emitted := map[string]bool{}
	for _, c := range append(graph.ErrorCodes(), server.ErrorCodes()...) {
		emitted[c] = true
		if !documented[c] {
			t.Errorf("code %s is not in README.md's table", c)
		}
	}
	for c := range documented {
		if !emitted[c] {
			t.Errorf("README.md documents %s, which no answer carries", c)
		}
	}
}
