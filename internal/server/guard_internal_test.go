package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// A body that announces a large length and sends a few bytes before it ends (or stalls) gets
// no buffer of the announced length: what the door sets aside grows with what arrives. Bodies
// that arrive whole are read whole, at any announced length up to the bound.
func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	const maxBody = 1 << 20
	short := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/graphql", io.NopCloser(strings.NewReader(`{"query": "{ a }"}`)))
		r.ContentLength = maxBody
		return r
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// (That such a body is refused is net/http's part, tested over a connection in
	// cmd/catalogd's TestClientMistakesAreTheClients.)
	for range 10 {
		readBody(httptest.NewRecorder(), short(), maxBody)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 2<<20 {
		t.Fatalf("ten bodies of 18 bytes announcing 1 MiB allocated %d bytes", grew)
	}
	for _, n := range []int{1, 100, 64 << 10, 64<<10 + 1, maxBody} {
		body := strings.Repeat("x", n)
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		got, err := readBody(httptest.NewRecorder(), r, maxBody)
		if err != nil || string(got) != body {
			t.Fatalf("a body of %d bytes: %d bytes read, %v", n, len(got), err)
		}
	}
}
