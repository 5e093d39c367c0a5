package mcpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"catalogd/graph"
	"catalogd/internal/auth"
	"catalogd/internal/depgraph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/mcpserver"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// BenchmarkImpactAnalysisOverMCP asks impact_analysis of the synthetic catalog's most
// depended-on resource (CATALOGD_BENCH_N entities, default 100,000) through the Go SDK's
// client over HTTP, and reports the answer's size.
func BenchmarkImpactAnalysisOverMCP(b *testing.B) {
	n := testdb.BenchSize(100_000)
	stats, err := synth.Write(b.TempDir(), synth.Config{N: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	st := testdb.Open(b, testdb.SQLite(b))
	p, err := file.New(stats.Root)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := testdb.Engine(b, st).Refresh(ctx, p); err != nil {
		b.Fatal(err)
	}
	r := graph.NewResolver(st.Client, st, nil)
	if _, err := r.Index.Current(ctx); err != nil {
		b.Fatal(err)
	}
	gh := graph.NewHandler(r, graph.Options{})
	h := mcpserver.NewHandler(mcpserver.Options{GraphQL: gh, RelationTypes: depgraph.ForwardTypes})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(auth.WithPrincipal(req.Context(), auth.Local())))
	}))
	defer srv.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	var size int
	var total any
	for b.Loop() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "impact_analysis", Arguments: map[string]any{"ref": stats.HotResource}})
		if err != nil || res.IsError {
			b.Fatalf("%v %+v", err, res)
		}
		raw, _ := json.Marshal(res)
		size = len(raw)
		total = res.StructuredContent.(map[string]any)["totalAffected"]
	}
	b.ReportMetric(float64(size), "answer-bytes")
	b.Logf("%s: totalAffected %v (generator: %d dependents), answer %d bytes", stats.HotResource, total, stats.HotDependents, size)
}
