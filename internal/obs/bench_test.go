package obs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures what the middleware adds to a request: request id, logger in
// the context, the latency histogram; and otelhttp's own cost on top, with a no-op provider
// (serve leaves otelhttp out entirely when tracing is off).
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	log := slog.New(slog.DiscardHandler)
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	b.Run("bare mux", func(b *testing.B) { run(b, mux) })
	b.Run("metrics and request id", func(b *testing.B) { run(b, HTTP{Log: log, Metrics: NewMetrics()}.Wrap(mux)) })
	tr, err := NewTracing(context.Background(), "", "bench", func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	b.Run("with a no-op tracer", func(b *testing.B) { run(b, HTTP{Log: log, Metrics: NewMetrics(), Tracing: tr}.Wrap(mux)) })
}
