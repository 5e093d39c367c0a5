package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"catalogd/internal/testdb"
)

func getBody(t *testing.T, url string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func postGraphQL(t *testing.T, base, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func demoLocation(t *testing.T) string {
	t.Helper()
	loc, err := filepath.Abs(filepath.Join("..", "..", "internal", "ingest", "testdata", "backstage", "create-app", "catalog-info.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestMetricsReportRequestsOperationsErrorsPoolAndIngestion(t *testing.T) {
	s := startServer(t, "--location", demoLocation(t))
	// Asked three times: answers from the answer cache, made operations or recalled by their
	// body (graph/recall.go), are counted as every other.
	for range 3 {
		postGraphQL(t, s.base, `{"query":"query Owners { entities(first: 2) { totalCount } }"}`, nil)
	}
	postGraphQL(t, s.base, `{"query":"{ entities(first: 1) { totalCount } }"}`, nil)
	postGraphQL(t, s.base, `{"query":"{ noSuchField }"}`, nil)
	code, _, body := getBody(t, s.base+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`catalogd_http_request_duration_seconds_count{code="200",method="POST",route="/graphql"} `,
		`catalogd_http_request_duration_seconds_count{code="200",method="GET",route="/readyz"} `,
		`catalogd_graphql_operation_duration_seconds_count{operation="Owners",type="query"} 3`,
		`catalogd_graphql_operation_duration_seconds_count{operation="unnamed",type="query"} 2`, // one answered, one refused by validation
		`catalogd_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1`,
		`go_sql_max_open_connections{db_name="catalogd"} 8`,
		`catalogd_ingest_runs_total{provider="file",result="ok"} 1`,
		`catalogd_ingest_entities_total{outcome="added",provider="file"} 7`,
		`catalogd_scaffolder_tasks{state="pending"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(body, "catalogd_|go_sql"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if regexp.MustCompile(sub).MatchString(l) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetricsTokenIsRequiredWhenSet(t *testing.T) {
	token := "s3cret-metrics-token-123"
	file := filepath.Join(t.TempDir(), "token")
	writeFile(t, file, token+"\n")
	s := startServer(t, "--metrics-token-file", file)
	for name, tc := range map[string]struct {
		header map[string]string
		want   int
	}{
		"no token is refused":        {nil, http.StatusUnauthorized},
		"a wrong token is refused":   {map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		"the right token is allowed": {map[string]string{"Authorization": "Bearer " + token}, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := getBody(t, s.base+"/metrics", tc.header); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
}

func TestProfilesAreServedOnlyWhenAskedAndBehindTheMetricsToken(t *testing.T) {
	token := "s3cret-metrics-token-123"
	file := filepath.Join(t.TempDir(), "token")
	writeFile(t, file, token+"\n")
	t.Run("without --pprof there are none", func(t *testing.T) {
		s := startServer(t, "--metrics-token-file", file)
		if code, _, _ := getBody(t, s.base+"/debug/pprof/", map[string]string{"Authorization": "Bearer " + token}); code != http.StatusNotFound {
			t.Errorf("status %d, want 404", code)
		}
	})
	t.Run("--pprof without a metrics token is refused", func(t *testing.T) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t), "--pprof"}, func(string) string { return "" }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "--pprof needs a metrics token") {
			t.Errorf("err = %v", err)
		}
	})
	s := startServer(t, "--metrics-token-file", file, "--pprof")
	for name, tc := range map[string]struct {
		path   string
		header map[string]string
		want   int
	}{
		"the index without a token":       {"/debug/pprof/", nil, http.StatusUnauthorized},
		"a heap profile with a wrong one": {"/debug/pprof/heap", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		"a cpu profile without a token":   {"/debug/pprof/profile?seconds=1", nil, http.StatusUnauthorized},
		"the index with the token":        {"/debug/pprof/", map[string]string{"Authorization": "Bearer " + token}, http.StatusOK},
		"a heap profile with the token":   {"/debug/pprof/heap", map[string]string{"Authorization": "Bearer " + token}, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := getBody(t, s.base+tc.path, tc.header); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
}

func TestRequestIDsAreEchoedAndOnEveryLogLine(t *testing.T) {
	s, logs := startServerEnv(t, nil, "--log-format", "json", "--log-level", "debug")
	t.Run("a sane id from the caller is kept", func(t *testing.T) {
		resp, _ := postGraphQL(t, s.base, `{"query":"{ noSuchField }"}`, map[string]string{"X-Request-Id": "abc-123.x"})
		if got := resp.Header.Get("X-Request-Id"); got != "abc-123.x" {
			t.Errorf("X-Request-Id = %q", got)
		}
	})
	t.Run("a hostile id is replaced by a new one", func(t *testing.T) {
		for _, bad := range []string{"a b", strings.Repeat("x", 200), "x\"y", "é"} {
			resp, _ := postGraphQL(t, s.base, `{"query":"{ __typename }"}`, map[string]string{"X-Request-Id": bad})
			if got := resp.Header.Get("X-Request-Id"); got == bad || !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(got) {
				t.Errorf("X-Request-Id %q came back as %q", bad, got)
			}
		}
	})
	t.Run("every line logged during a request names it", func(t *testing.T) {
		postGraphQL(t, s.base, `not json`, map[string]string{"X-Request-Id": "req-for-logs"})
		var lines []map[string]any
		for _, l := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(l, "req-for-logs") && !strings.Contains(l, "graphql request rejected") {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("a log line is not JSON: %q", l)
			}
			if m["path"] == "/graphql" || m["msg"] == "graphql request rejected" {
				lines = append(lines, m)
			}
		}
		var rejected, request bool
		for _, m := range lines {
			if m["msg"] == "graphql request rejected" && m["request_id"] == "req-for-logs" {
				rejected = true
			}
			if m["msg"] == "request" && m["request_id"] == "req-for-logs" {
				request = true
			}
		}
		if !rejected || !request {
			t.Errorf("the request's lines do not all carry its id (rejected %v, request %v):\n%s", rejected, request, logs.String())
		}
	})
}

// otlpReceiver is an OTLP/HTTP trace endpoint on loopback that keeps the span names it gets.
type otlpReceiver struct {
	mu    sync.Mutex
	names []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				o.names = append(o.names, sp.Name)
			}
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func TestTracesGoToTheOTLPEndpoint(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	s := startServer(t, "--otlp-endpoint", collector.URL, "--location", demoLocation(t))
	resp, body := postGraphQL(t, s.base, `{"query":"query Find { entities(first: 2) { edges { node { ref } } } }"}`,
		map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query: %d %s", resp.StatusCode, body)
	}
	s.stop() // flushes the spans
	recv.mu.Lock()
	names := strings.Join(recv.names, "\n")
	recv.mu.Unlock()
	for _, want := range []string{"POST /graphql", "graphql query Find", "resolve Query.entities", "sql SELECT"} {
		if !strings.Contains(names, want) {
			t.Errorf("no span %q among:\n%s", want, names)
		}
	}
}

// A metrics token that is easy to guess is refused at start, from the environment as from a
// file, with a message naming where it came from.
func TestShortMetricsTokensAreRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	writeFile(t, file, "short\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"from the environment": {map[string]string{"CATALOGD_METRICS_TOKEN": "short"}, nil, "CATALOGD_METRICS_TOKEN: the token must be at least 16 characters"},
		"from a file":          {nil, []string{"--metrics-token-file", file}, "the token must be at least 16 characters"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t)}, tc.args...)
			// Were the token accepted, serve would run until the deadline and return nil.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, args, func(k string) string { return tc.env[k] }, &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
