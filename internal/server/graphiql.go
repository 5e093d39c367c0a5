package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The GraphiQL page and everything it loads are embedded, so that it works without internet
// and loads nothing from another host. vendor/ holds the npm packages' browser bundles and
// their licences, copied by scripts/graphiql-assets (its MANIFEST lists versions and sha256);
// index.html, page.css and start.js are ours.
//
//go:embed graphiql/index.html graphiql/page.css graphiql/start.js graphiql/vendor
var graphiqlFS embed.FS

// graphiqlCSP allows only this origin. The stylesheet carries its fonts and icons as data: URLs.
// Neither inline script nor inline style is needed (React sets styles through the CSSOM, which
// CSP does not restrict), so neither is allowed; the browser test reports any violation.
const graphiqlCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

type graphiqlAsset struct {
	hash        string
	contentType string
	body        []byte

	gzipOnce sync.Once
	gzipped  []byte // body compressed on first demand, so that a start pays nothing for it
}

func (a *graphiqlAsset) gzip() []byte {
	a.gzipOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level: no error
		zw.Write(a.body)
		zw.Close()
		a.gzipped = b.Bytes()
	})
	return a.gzipped
}

// graphiQL serves the GraphiQL page and its files.
type graphiQL struct {
	page   []byte
	assets map[string]*graphiqlAsset // by file name
}

func newGraphiQL() *graphiQL {
	g := &graphiQL{assets: map[string]*graphiqlAsset{}}
	err := fs.WalkDir(graphiqlFS, "graphiql", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "graphiql/index.html" {
			return err
		}
		body, err := graphiqlFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		g.assets[path.Base(p)] = &graphiqlAsset{hash: hex.EncodeToString(sum[:6]), contentType: contentType(p), body: body}
		return nil
	})
	if err != nil {
		panic(err) // the files are embedded: this cannot happen in a binary that built
	}
	tmpl := template.Must(template.New("index.html").Funcs(template.FuncMap{
		// asset is the URL of a file, /graphiql/<hash>/<name> (the route is in routes.go), the
		// hash being the start of the file's sha256 so that the file can be cached for good. It
		// is relative to the page at /graphql, so the page also works behind a proxy that
		// mounts catalogd under a path prefix.
		"asset": func(name string) (string, error) {
			a, ok := g.assets[name]
			if !ok {
				return "", fmt.Errorf("graphiql: no embedded file %q", name)
			}
			return "graphiql/" + a.hash + "/" + name, nil
		},
	}).ParseFS(graphiqlFS, "graphiql/index.html"))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, nil); err != nil {
		panic(err)
	}
	g.page = page.Bytes()
	return g
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "text/plain; charset=utf-8" // LICENSE.*, MANIFEST
}

// servePage answers GET /graphql from a browser. The page is small and names its files by
// hash, so it is revalidated every time while the files are cached for a year.
func (g *graphiQL) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", graphiqlCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept") // /graphql answers JSON to the same GET without text/html
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(g.page))
}

// serveAsset answers GET /graphiql/{hash}/{name}, gzipped when the client accepts it (the
// bundles shrink to about 40%). A stale hash is a 404, not today's file under yesterday's
// name, which a cache would then keep for a year.
func (g *graphiQL) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := g.assets[r.PathValue("name")]
	if !ok || r.PathValue("hash") != a.hash {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	body, etag := a.body, a.hash
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = a.gzip(), a.hash+"-gzip"
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip with a q-value above 0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
