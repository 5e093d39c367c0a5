package obs

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// HTTP is the middleware every request goes through: a span (continuing a caller's trace
// from its traceparent header), a request id (the caller's X-Request-Id when sane, else a
// new one; echoed in the response) with a logger bound to it in the context, the latency
// histogram by route, and a debug line per request.
type HTTP struct {
	Log     *slog.Logger
	Metrics *Metrics // nil: no metrics
	Tracing *Tracing // nil: no spans
}

// Wrap returns next behind the middleware. next must be (or end in) the ServeMux whose
// pattern names the route.
func (o HTTP) Wrap(next http.Handler) http.Handler {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := RequestIDFrom(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		ctx := WithRequestID(r.Context(), id)
		ctx = WithLogger(ctx, log)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		// The mux wrote the matched pattern into r, the request it was handed.
		if span := trace.SpanFromContext(ctx); span.IsRecording() && r.Pattern != "" {
			span.SetName(r.Method + " " + routeOf(r.Pattern))
		}
		if o.Metrics != nil {
			o.Metrics.ObserveHTTP(r.Pattern, r.Method, rec.status, took)
		}
		Logger(ctx, log).DebugContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", took)
	})
	if o.Tracing == nil {
		return h
	}
	return otelhttp.NewHandler(h, "http", otelhttp.WithTracerProvider(o.Tracing.Provider),
		otelhttp.WithPropagators(o.Tracing.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

func routeOf(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[i+1:]
		}
	}
	return pattern
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the websocket handshake reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes flushes on (GraphQL over SSE and streamed answers).
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
