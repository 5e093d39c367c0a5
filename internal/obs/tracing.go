package obs

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is the tracer provider catalogd's spans go to: OTLP over HTTP when an endpoint is
// configured, nothing otherwise (a no-op provider, which costs next to nothing).
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// NewTracing exports spans to endpoint (a URL such as http://collector:4318), or to the
// endpoint OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names when
// endpoint is empty (the exporter reads the OTEL_* variables itself: headers, timeout, ...).
// Without either, tracing is off.
func NewTracing(ctx context.Context, endpoint, serviceVersion string, getenv func(string) string) (*Tracing, error) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if endpoint == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return &Tracing{Provider: noop.NewTracerProvider(), Propagator: prop, shutdown: func(context.Context) error { return nil }}, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	host, _ := os.Hostname()
	res := sdkResource(serviceVersion, host)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(5*time.Second)), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Propagator: prop, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes the spans not yet exported, within ctx's deadline.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Tracer is catalogd's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.Provider.Tracer("catalogd") }

func attrs(kv ...string) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, attribute.String(kv[i], kv[i+1]))
	}
	return out
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool {
	_, noopProvider := t.Provider.(noop.TracerProvider)
	return !noopProvider
}
