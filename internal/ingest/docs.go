package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"catalogd/internal/catalog"
	"catalogd/internal/docs"
	"catalogd/internal/reading"
	"catalogd/internal/store"
)

// AnnotationTechDocsRef names an entity's docs: dir:<path relative to the descriptor's file>,
// or url:<forge folder URL> (see docsurl.go).
const AnnotationTechDocsRef = "backstage.io/techdocs-ref"

const techdocsPath = "/metadata/annotations/backstage.io~1techdocs-ref"

func (e *Engine) docsReader() *docs.Reader {
	e.docsOnce.Do(func() {
		if e.Docs == nil {
			e.Docs = &docs.Reader{Renderer: docs.NewRenderer(), Limits: docs.DefaultLimits}
		}
		if e.Docs.Renderer == nil {
			e.Docs.Renderer = docs.NewRenderer()
		}
	})
	return e.Docs
}

// processDocs reads the docs of the file's entities that name them, from the same tree (and so
// the same revision) as the file. It runs for files taken from the memo too: docs can change
// while the descriptor does not. Docs that cannot be read are a processing error on the entity,
// which is ingested all the same, and whatever docs it had are kept.
func (e *Engine) processDocs(ctx context.Context, rd *read, r *fileResult) {
	if len(r.techdocs) == 0 || ctx.Err() != nil {
		return
	}
	r.errors = slices.Clip(r.errors) // they may be the memo's
	for i := range r.entities {
		ent := &r.entities[i]
		ref, ok := r.techdocs[ent.Ref]
		if !ok {
			continue
		}
		report := func(msg string) {
			r.errors = append(r.errors, errorRecord(r.url, ent.DocIndex, ent.DocLine, ent.Ref, techdocsPath, "docs: "+msg))
		}
		site, rev, err := e.readDocs(ctx, rd, r.path, ent.Ref, ref)
		for _, p := range siteProblems(site) {
			report(p)
		}
		switch {
		case errors.Is(err, docs.ErrUnchanged):
			ent.Docs = &store.DocsRecord{Unchanged: true}
		case err != nil:
			rd.misses.Add(1) // the error must be recorded
			report(err.Error())
			ent.Docs = &store.DocsRecord{Keep: true}
		default:
			rd.misses.Add(1)
			ent.Docs = docsRecord(site, rd.docsPrev[ent.Ref])
			ent.Docs.Revision = rev
		}
	}
}

func siteProblems(s *docs.Site) []string {
	if s == nil {
		return nil
	}
	return s.Problems
}

// readDocs reads an entity's docs; the revision it returns is "" for docs read from the
// descriptor's own tree, and the commit read for url: docs.
func (e *Engine) readDocs(ctx context.Context, rd *read, from, entRef, ref string) (*docs.Site, string, error) {
	quoted := quoteDocsRef(ref)
	kind, target, _ := strings.Cut(ref, ":")
	tree, dir, rev := rd.tree, "", ""
	switch {
	case kind == "url":
		t, d, err := e.readURLDocsTree(ctx, rd, target)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", quoted, err)
		}
		tree, dir, rev = t, d, t.Revision
	case kind != "dir":
		return nil, "", fmt.Errorf("%s: must be dir:<path> (a folder holding mkdocs.yml, relative to the descriptor) or url:<forge folder URL>", quoted)
	case reading.IsURL(from):
		return nil, "", fmt.Errorf("%s: a descriptor read from a URL names no folders", quoted)
	default:
		d, err := resolvePath(path.Dir(from), target)
		if err == nil {
			err = mayRead(rd.tree, d)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", quoted, err)
		}
		dir = d
	}
	var prev *docs.Previous
	if rd.next != nil && e.Store != nil {
		rd.docsOnce.Do(func() {
			rd.docsPrev, _ = e.Store.DocsOf(ctx, rd.loc.Key) // on error, everything is rendered
		})
		if p := rd.docsPrev[entRef]; p != nil {
			prev = &docs.Previous{Hash: p.Hash, Pages: p.Pages}
		}
	}
	site, err := e.docsReader().Read(tree.FS, dir, SiteBase(entRef), prev)
	if err != nil && !errors.Is(err, docs.ErrUnchanged) {
		if errors.Is(err, catalog.ErrOutsideTree) {
			return nil, "", fmt.Errorf("%s: %w", quoted, catalog.ErrOutsideTree)
		}
		return site, "", fmt.Errorf("%s: %w", quoted, err)
	}
	return site, rev, err
}

// SiteBase is the URL prefix of an entity's docs: /docs/<namespace>/<kind>/<name>/.
func SiteBase(ref string) string {
	r, err := catalog.ParseRef(ref, catalog.RefDefaults{})
	if err != nil {
		return "/docs/"
	}
	return "/docs/" + url.PathEscape(strings.ToLower(r.Namespace)) + "/" + url.PathEscape(strings.ToLower(r.Kind)) + "/" +
		url.PathEscape(strings.ToLower(r.Name)) + "/"
}

func docsRecord(s *docs.Site, prev *store.DocsPrevious) *store.DocsRecord {
	nav, _ := json.Marshal(s.Nav)
	d := &store.DocsRecord{SiteName: s.Name, Nav: nav, Hash: s.Hash}
	for _, p := range s.Pages {
		h, _ := json.Marshal(p.Headings)
		d.Pages = append(d.Pages, store.DocPageRecord{Path: p.Path, Title: p.Title, Text: p.Text, HTML: p.HTML,
			Headings: h, Hash: p.Hash, Position: p.Position, Stub: p.Stub})
		if p.Stub && prev != nil {
			if pos, ok := prev.Positions[p.Path]; !ok || pos != p.Position {
				d.Pages[len(d.Pages)-1].Moved = true
			}
		}
	}
	for _, a := range s.Assets {
		d.Assets = append(d.Assets, store.DocAssetRecord{Path: a.Path, ContentType: a.ContentType, Data: a.Data, Hash: a.Hash})
	}
	return d
}

// docsSize is about what a docs record holds in memory.
func docsSize(d *store.DocsRecord) int {
	if d == nil {
		return 0
	}
	n := len(d.Nav)
	for i := range d.Pages {
		p := &d.Pages[i]
		n += len(p.HTML) + len(p.Text) + len(p.Headings) + len(p.Path) + len(p.Title)
	}
	for i := range d.Assets {
		n += len(d.Assets[i].Data)
	}
	return n
}
