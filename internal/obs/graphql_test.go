package obs

import (
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vektah/gqlparser/v2/ast"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// An answer recalled from the answer cache without an operation is counted and traced as the
// operation would have been: its name's latency series, and a span of its name that starts
// when the request did.
func TestCachedAnswersAreObservedAsOperations(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	g := GraphQL{Metrics: NewMetrics(), Tracing: &Tracing{Provider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))}}
	oc := &graphql.OperationContext{OperationName: "Page", Operation: &ast.OperationDefinition{Operation: ast.Query, Name: "Page"}}
	start := time.Now().Add(-3 * time.Millisecond)
	g.ObserveCachedAnswer(context.Background(), oc, start)
	g.ObserveCachedAnswer(context.Background(), &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Query}}, start)

	if n := testutil.CollectAndCount(g.Metrics.opDuration); n != 2 {
		t.Fatalf("%d operation series; want Page and unnamed", n)
	}
	families, err := g.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "catalogd_graphql_operation_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" {
					counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if counts["Page"] != 1 || counts["unnamed"] != 1 {
		t.Fatalf("operations counted %v; want Page 1, unnamed 1", counts)
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "graphql query Page" || spans[1].Name() != "graphql query unnamed" {
		t.Fatalf("spans %v; want graphql query Page and graphql query unnamed", spans)
	}
	if !spans[0].StartTime().Equal(start) || spans[0].EndTime().Sub(start) < 3*time.Millisecond {
		t.Errorf("span from %v to %v; want from the request's start, %v", spans[0].StartTime(), spans[0].EndTime(), start)
	}
	var recalled bool
	for _, a := range spans[0].Attributes() {
		recalled = recalled || (a.Key == "catalogd.answer_cache" && a.Value.AsString() == "recalled")
	}
	if !recalled {
		t.Errorf("span attributes %v; want catalogd.answer_cache=recalled", spans[0].Attributes())
	}
}
