package server

import (
	"context"
	"html"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"catalogd/internal/store"
)

// DocsCSP is the Content-Security-Policy of every /docs/ response: pages are sanitised
// already, and this makes sure that nothing served there (an SVG asset opened on its own, say)
// runs a script, loads from elsewhere or is framed.
const DocsCSP = "default-src 'none'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"

// DocsLookup finds what an entity's docs hold at a path (see store.Store.DocFile).
type DocsLookup func(ctx context.Context, ref, path string) (*store.DocFile, error)

// serveDocs serves GET /docs/{namespace}/{kind}/{name}/{path...}: a page as standalone HTML,
// or an asset with the content type of its extension.
func serveDocs(lookup DocsLookup) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", DocsCSP)
		ns, kind, name := r.PathValue("namespace"), r.PathValue("kind"), r.PathValue("name")
		p := r.PathValue("path")
		if ns == "" || kind == "" || name == "" || len(p) > 1024 ||
			(p != "" && !fs.ValidPath(strings.TrimSuffix(p, "/"))) || strings.ContainsAny(p, "\\\x00") {
			http.Error(w, "bad docs path", http.StatusBadRequest)
			return
		}
		ref := strings.ToLower(kind) + ":" + strings.ToLower(ns) + "/" + strings.ToLower(name)
		f, err := lookup(r.Context(), ref, p)
		if err != nil {
			http.Error(w, "cannot read docs", http.StatusInternalServerError)
			return
		}
		if f == nil && p != "" && !strings.HasSuffix(p, "/") {
			// guide/setup without its slash: send the browser to the page's URL, so its
			// relative links resolve as they were written.
			if g, _ := lookup(r.Context(), ref, p+"/"); g != nil {
				http.Redirect(w, r, r.URL.EscapedPath()+"/", http.StatusMovedPermanently)
				return
			}
		}
		if f == nil {
			http.Error(w, "no such docs page or file", http.StatusNotFound)
			return
		}
		body := f.Body
		if f.Page {
			body = []byte("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(f.Title) +
				"</title></head>\n<body>\n" + string(f.Body) + "</body></html>\n")
		}
		h.Set("Content-Type", f.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-cache")
		w.Write(body)
	}
}
