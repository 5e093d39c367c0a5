package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"catalogd/ent"
	"catalogd/ent/docasset"
	"catalogd/ent/docpage"
	"catalogd/ent/docsite"
)

// DocsRecord is an entity's documentation as one read found it. It travels with the entity's
// record and is written in the same transaction, for an entity this location manages.
type DocsRecord struct {
	// Keep: the docs could not be read this time; what is stored stays (stale is better than
	// wrong). Unchanged: they are what is stored. Otherwise the fields below replace it.
	Keep, Unchanged bool
	SiteName        string
	Nav             json.RawMessage
	Hash            string
	Pages           []DocPageRecord
	Assets          []DocAssetRecord
}

// DocPageRecord is a page; a Stub is one whose rendering is stored already (Path, Hash and
// Position set).
type DocPageRecord struct {
	Path, Title, Text, HTML string
	Headings                json.RawMessage
	Hash                    string
	Position                int
	Stub                    bool
	Moved                   bool // a stub whose position in the site changed
}

// DocAssetRecord is an asset of a site.
type DocAssetRecord struct {
	Path, ContentType string
	Data              []byte
	Hash              string
}

// DocsPrevious is what the store holds of a site: its hash and its pages' hashes.
type DocsPrevious struct {
	Hash      string
	Pages     map[string]string
	Positions map[string]int
}

// DocsOf returns what is stored of the docs sites a location wrote, by entity ref (two
// statements whatever the number of sites).
func (s *Store) DocsOf(ctx context.Context, location string) (map[string]*DocsPrevious, error) {
	sites, err := s.Client.DocSite.Query().Where(docsite.Location(location)).
		Select(docsite.FieldEntityRef, docsite.FieldHash).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load docs of %s: %w", location, err)
	}
	out := make(map[string]*DocsPrevious, len(sites))
	for _, st := range sites {
		out[st.EntityRef] = &DocsPrevious{Hash: st.Hash, Pages: map[string]string{}, Positions: map[string]int{}}
	}
	if len(out) == 0 {
		return out, nil
	}
	var rows []struct {
		Ref  string `json:"entity_ref"`
		Path string `json:"path"`
		Hash string `json:"hash"`
		Pos  int    `json:"position"`
	}
	refs := make([]string, 0, len(out))
	for ref := range out {
		refs = append(refs, ref)
	}
	for _, part := range chunks(refs, 500) {
		var some []struct {
			Ref  string `json:"entity_ref"`
			Path string `json:"path"`
			Hash string `json:"hash"`
			Pos  int    `json:"position"`
		}
		if err := s.Client.DocPage.Query().Where(docpage.EntityRefIn(part...)).
			Select(docpage.FieldEntityRef, docpage.FieldPath, docpage.FieldHash, docpage.FieldPosition).Scan(ctx, &some); err != nil {
			return nil, fmt.Errorf("load doc pages of %s: %w", location, err)
		}
		rows = append(rows, some...)
	}
	for _, r := range rows {
		if p := out[r.Ref]; p != nil {
			p.Pages[r.Path] = r.Hash
			p.Positions[r.Path] = r.Pos
		}
	}
	return out, nil
}

// pendingSite is a site whose docs are to be written (see bulkWriter.flushDocs).
type pendingSite struct {
	ref string
	d   *DocsRecord
}

// Docs are written in batches of sites: a statement per table and batch instead of about
// six per site (at 25,000 sites, each statement a round trip on PostgreSQL).
const (
	docsBatchSites = 500
	docsBatchPages = 2000
)

// writeDocs writes the docs of the sites queued: what d says replaces what is stored for each
// ref (docs that are kept or unchanged are not queued: removeStaleDocs takes them over).
func writeDocs(ctx context.Context, tx *ent.Client, loc, revision string, sites []pendingSite, now time.Time) error {
	refs := make([]string, len(sites))
	var whole []string // refs none of whose stored pages are kept
	for i, st := range sites {
		refs[i] = st.ref
		if !slices.ContainsFunc(st.d.Pages, func(p DocPageRecord) bool { return p.Stub }) {
			whole = append(whole, st.ref)
		}
	}
	if _, err := tx.DocSite.Delete().Where(docsite.EntityRefIn(refs...)).Exec(ctx); err != nil {
		return fmt.Errorf("replace docs: %w", err)
	}
	builders := make([]*ent.DocSiteCreate, len(sites))
	for i, st := range sites {
		d := st.d
		builders[i] = tx.DocSite.Create().SetEntityRef(st.ref).SetLocation(loc).SetSiteName(d.SiteName).SetNav(d.Nav).
			SetHash(d.Hash).SetRevision(revision).SetUpdatedAt(now)
	}
	for _, part := range chunks(builders, 200) {
		if err := tx.DocSite.CreateBulk(part...).Exec(ctx); err != nil {
			return fmt.Errorf("write docs: %w", err)
		}
	}
	if len(whole) > 0 {
		if _, err := tx.DocPage.Delete().Where(docpage.EntityRefIn(whole...)).Exec(ctx); err != nil {
			return fmt.Errorf("replace doc pages: %w", err)
		}
	}
	var fresh []*ent.DocPageCreate
	for _, st := range sites {
		d := st.d
		keep := make([]string, 0, len(d.Pages))
		for i := range d.Pages {
			p := &d.Pages[i]
			if p.Stub {
				keep = append(keep, p.Path)
			} else {
				fresh = append(fresh, tx.DocPage.Create().SetEntityRef(st.ref).SetPath(p.Path).SetTitle(p.Title).SetText(p.Text).
					SetHTML(p.HTML).SetHeadings(p.Headings).SetHash(p.Hash).SetPosition(p.Position).SetRevision(revision).SetUpdatedAt(now))
			}
		}
		if len(keep) == 0 {
			continue // deleted with the others above
		}
		if _, err := tx.DocPage.Delete().Where(docpage.EntityRef(st.ref), docpage.PathNotIn(keep...)).Exec(ctx); err != nil {
			return fmt.Errorf("replace doc pages of %s: %w", st.ref, err)
		}
		for i := range d.Pages {
			if p := &d.Pages[i]; p.Stub && p.Moved {
				if _, err := tx.DocPage.Update().Where(docpage.EntityRef(st.ref), docpage.Path(p.Path)).
					SetPosition(p.Position).Save(ctx); err != nil {
					return fmt.Errorf("order doc pages of %s: %w", st.ref, err)
				}
			}
		}
	}
	for _, part := range chunks(fresh, 200) {
		if err := tx.DocPage.CreateBulk(part...).Exec(ctx); err != nil {
			return fmt.Errorf("write doc pages: %w", err)
		}
	}
	if _, err := tx.DocAsset.Delete().Where(docasset.EntityRefIn(refs...)).Exec(ctx); err != nil {
		return fmt.Errorf("replace doc assets: %w", err)
	}
	var assets []*ent.DocAssetCreate
	for _, st := range sites {
		for _, a := range st.d.Assets {
			assets = append(assets, tx.DocAsset.Create().SetEntityRef(st.ref).SetPath(a.Path).SetContentType(a.ContentType).SetData(a.Data).SetHash(a.Hash))
		}
	}
	for _, part := range chunks(assets, 50) {
		if err := tx.DocAsset.CreateBulk(part...).Exec(ctx); err != nil {
			return fmt.Errorf("write doc assets: %w", err)
		}
	}
	return nil
}

// removeDocs deletes the docs of refs.
func removeDocs(ctx context.Context, tx *ent.Client, refs []string) error {
	for _, part := range chunks(refs, 500) {
		if _, err := tx.DocPage.Delete().Where(docpage.EntityRefIn(part...)).Exec(ctx); err != nil {
			return fmt.Errorf("remove doc pages: %w", err)
		}
		if _, err := tx.DocAsset.Delete().Where(docasset.EntityRefIn(part...)).Exec(ctx); err != nil {
			return fmt.Errorf("remove doc assets: %w", err)
		}
		if _, err := tx.DocSite.Delete().Where(docsite.EntityRefIn(part...)).Exec(ctx); err != nil {
			return fmt.Errorf("remove docs: %w", err)
		}
	}
	return nil
}

// docs writes the docs of an entity this read holds.
func (w *bulkWriter) docs(ctx context.Context, tx *ent.Client, e *EntityRecord) error {
	if e.Docs == nil {
		return nil
	}
	w.docsSeen[e.Ref] = true
	if e.Docs.Keep || e.Docs.Unchanged {
		w.docsKept = append(w.docsKept, e.Ref)
		return nil
	}
	w.docsChanged = true
	w.docsQueued = append(w.docsQueued, pendingSite{e.Ref, e.Docs})
	w.docsQueuedPages += len(e.Docs.Pages)
	if len(w.docsQueued) >= docsBatchSites || w.docsQueuedPages >= docsBatchPages {
		return w.flushDocs(ctx, tx)
	}
	return nil
}

// flushDocs writes the sites queued.
func (w *bulkWriter) flushDocs(ctx context.Context, tx *ent.Client) error {
	if len(w.docsQueued) == 0 {
		return nil
	}
	err := writeDocs(ctx, tx, w.loc.Key, w.revision, w.docsQueued, w.now)
	w.docsQueued, w.docsQueuedPages = nil, 0
	return err
}

// removeStaleDocs removes the docs of removed entities and those of the location's entities
// that no longer name docs (kept entities keep theirs).
func (w *bulkWriter) removeStaleDocs(ctx context.Context, tx *ent.Client, removed []string, kept map[string]bool) error {
	if err := w.flushDocs(ctx, tx); err != nil {
		return err
	}
	// Unchanged docs written by another location (the entity moved here) are taken over: one
	// statement per thousand entities, not one each (27,000 of them took 8 s on PostgreSQL).
	for _, part := range chunks(w.docsKept, 1000) {
		if _, err := tx.DocSite.Update().Where(docsite.EntityRefIn(part...), docsite.LocationNEQ(w.loc.Key)).
			SetLocation(w.loc.Key).Save(ctx); err != nil {
			return fmt.Errorf("take over docs: %w", err)
		}
	}
	refs, err := tx.DocSite.Query().Where(docsite.Location(w.loc.Key)).Select(docsite.FieldEntityRef).Strings(ctx)
	if err != nil {
		return fmt.Errorf("load docs of %s: %w", w.loc.Key, err)
	}
	stale := removed
	for _, ref := range refs {
		if !w.docsSeen[ref] && !kept[ref] {
			stale = append(stale, ref)
		}
	}
	w.docsChanged = w.docsChanged || len(stale) > 0
	return removeDocs(ctx, tx, stale)
}

// DocFile is what GET /docs/... serves: a page (its title and sanitised HTML) or an asset.
type DocFile struct {
	Page        bool
	Title       string
	ContentType string
	Body        []byte
}

// DocFile finds what the docs of ref hold at p, a path in the site's URLs: a page by its
// directory URL ("" for index.md, "guide/setup/" for guide/setup.md), else an asset by its
// path under docs_dir. It returns nil when there is none.
func (s *Store) DocFile(ctx context.Context, ref, p string) (*DocFile, error) {
	if p == "" || strings.HasSuffix(p, "/") {
		dir := strings.TrimSuffix(p, "/")
		cands := []string{p + "index.md", p + "README.md", p + "index.markdown"}
		if dir != "" {
			cands = append(cands, dir+".md", dir+".markdown")
		}
		rows, err := s.Client.DocPage.Query().Where(docpage.EntityRef(ref), docpage.PathIn(cands...)).
			Select(docpage.FieldPath, docpage.FieldTitle, docpage.FieldHTML).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cands { // the first candidate that exists wins
			for _, r := range rows {
				if r.Path == c {
					return &DocFile{Page: true, Title: r.Title, ContentType: "text/html; charset=utf-8", Body: []byte(r.HTML)}, nil
				}
			}
		}
		return nil, nil
	}
	a, err := s.Client.DocAsset.Query().Where(docasset.EntityRef(ref), docasset.Path(p)).
		Select(docasset.FieldContentType, docasset.FieldData).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &DocFile{ContentType: a.ContentType, Body: a.Data}, nil
}
