package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
)

func getWith(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport of its own: the default one asks for gzip itself and hides the encoding.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// GraphiQL's bundle is 1.5 MB: a browser that accepts gzip gets it compressed, and a browser
// that has it gets a 304.
func TestGraphiQLFilesAreCompressedAndRevalidated(t *testing.T) {
	srv := httptest.NewServer(NewServer(Deps{}))
	defer srv.Close()
	_, page := getWith(t, srv.URL+"/graphql", map[string]string{"Accept": "text/html"})
	m := regexp.MustCompile(`graphiql/[0-9a-f]+/graphiql\.min\.js`).Find(page)
	if m == nil {
		t.Fatalf("page names no graphiql.min.js:\n%s", page)
	}
	url := srv.URL + "/" + string(m)
	want, err := os.ReadFile("graphiql/vendor/graphiql.min.js")
	if err != nil {
		t.Fatal(err)
	}

	plain, body := getWith(t, url, map[string]string{"Accept-Encoding": "identity"})
	if plain.StatusCode != 200 || plain.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, want) {
		t.Errorf("identity: status %d, Content-Encoding %q, %d bytes (want %d)", plain.StatusCode, plain.Header.Get("Content-Encoding"), len(body), len(want))
	}
	zipped, body := getWith(t, url, map[string]string{"Accept-Encoding": "br, gzip"})
	if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip: Content-Encoding %q, Vary %q", zipped.Header.Get("Content-Encoding"), zipped.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, want) {
		t.Errorf("gzip body does not decompress to the file: %v", err)
	}
	if len(body) > len(want)/2 {
		t.Errorf("gzip body is %d bytes for %d", len(body), len(want))
	}
	if zipped.Header.Get("Content-Type") != plain.Header.Get("Content-Type") || zipped.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Errorf("gzip and identity: Content-Type %q and %q, ETag %q and %q", zipped.Header.Get("Content-Type"),
			plain.Header.Get("Content-Type"), zipped.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	if refused, _ := getWith(t, url, map[string]string{"Accept-Encoding": "gzip;q=0, identity"}); refused.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", refused.Header.Get("Content-Encoding"))
	}
	for _, r := range []*http.Response{plain, zipped} {
		again, body := getWith(t, url, map[string]string{"Accept-Encoding": r.Header.Get("Content-Encoding"), "If-None-Match": r.Header.Get("ETag")})
		if again.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: status %d, %d bytes", r.Header.Get("ETag"), again.StatusCode, len(body))
		}
	}
}
