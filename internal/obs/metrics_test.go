package obs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOperationNamesAreBounded(t *testing.T) {
	m := NewMetrics()
	for i := range MaxOperationNames + 50 {
		m.ObserveOperation(fmt.Sprintf("Op%d", i), "query", time.Millisecond)
	}
	for _, hostile := range []string{strings.Repeat("x", 500), "a b", "name\"}", "é"} {
		m.ObserveOperation(hostile, "query", time.Millisecond)
	}
	if n := testutil.CollectAndCount(m.opDuration); n != MaxOperationNames+1 {
		t.Errorf("%d operation series, want %d (the cap, and other)", n, MaxOperationNames+1)
	}
	// A name seen before the cap keeps its series.
	m.ObserveOperation("Op3", "query", time.Millisecond)
	if n := testutil.CollectAndCount(m.opDuration); n != MaxOperationNames+1 {
		t.Errorf("%d operation series after a known name, want %d", n, MaxOperationNames+1)
	}
}

func TestHTTPLabelsAreBounded(t *testing.T) {
	m := NewMetrics()
	m.ObserveHTTP("", "BREW", 999, time.Millisecond)
	m.ObserveHTTP("GET /healthz", "GET", 200, time.Millisecond)
	m.ObserveHTTP("", "GET", 1234, time.Millisecond)
	for _, want := range [][3]string{{"unmatched", "other", "999"}, {"/healthz", "GET", "200"}, {"unmatched", "GET", "other"}} {
		if n := testutil.CollectAndCount(m.httpDuration); n != 3 {
			t.Fatalf("%d series, want 3", n)
		}
		if _, err := m.httpDuration.GetMetricWithLabelValues(want[0], want[1], want[2]); err != nil {
			t.Error(err)
		}
	}
}

func TestRequestIDFrom(t *testing.T) {
	for in, keep := range map[string]bool{"abc-1.2:3_x": true, "": false, "a b": false, strings.Repeat("a", 129): false, "x\ny": false} {
		got := RequestIDFrom(in)
		if (got == in) != keep || got == "" {
			t.Errorf("RequestIDFrom(%q) = %q; kept %v, want %v", in, got, got == in, keep)
		}
	}
}
