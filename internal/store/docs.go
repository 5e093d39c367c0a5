package store

import (
	"context"
	"encoding/json"
	"fmt"
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
	// Revision is what the docs were read from when it is not the location's revision (the
	// commit of a url: techdocs-ref's repository); "" means the location's.
	Revision string
	Nav      json.RawMessage
	Hash     string
	Pages    []DocPageRecord
	Assets   []DocAssetRecord
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

// docsWrite is the docs of one entity to write (see writeDocs).
type docsWrite struct {
	ref string
	d   *DocsRecord
}

// docsBatch is how many entities' docs writeDocs writes together.
const docsBatch = 200

// writeDocs makes the stored docs of each entity what its record says (docs that are kept or
// unchanged are not written here: removeStaleDocs takes them over in batches). Entities are
// written together: a site's, its pages' and its assets' deletes and inserts are each one
// statement per batch, not one per entity (a first read of 25,400 sites took six statements
// each). Only what a re-read keeps of a site (pages whose source did not change) takes
// statements of its own.
func writeDocs(ctx context.Context, tx *ent.Client, loc, revision string, items []docsWrite, now time.Time) error {
	for _, batch := range chunks(items, docsBatch) {
		refs := make([]string, len(batch))
		sites := make([]*ent.DocSiteCreate, len(batch))
		var whole []string // refs none of whose pages are kept: all their pages go
		var fresh []*ent.DocPageCreate
		var assets []*ent.DocAssetCreate
		for i, w := range batch {
			rev := revision
			if w.d.Revision != "" {
				rev = w.d.Revision
			}
			refs[i] = w.ref
			sites[i] = tx.DocSite.Create().SetEntityRef(w.ref).SetLocation(loc).SetSiteName(w.d.SiteName).SetNav(w.d.Nav).
				SetHash(w.d.Hash).SetRevision(rev).SetUpdatedAt(now)
			var keep []string
			for j := range w.d.Pages {
				p := &w.d.Pages[j]
				if p.Stub {
					keep = append(keep, p.Path)
					continue
				}
				fresh = append(fresh, tx.DocPage.Create().SetEntityRef(w.ref).SetPath(p.Path).SetTitle(p.Title).SetText(p.Text).
					SetHTML(p.HTML).SetHeadings(p.Headings).SetHash(p.Hash).SetPosition(p.Position).SetRevision(rev).SetUpdatedAt(now))
			}
			if len(keep) == 0 {
				whole = append(whole, w.ref)
			} else if err := keepDocPages(ctx, tx, w.ref, w.d, keep); err != nil {
				return err
			}
			for _, a := range w.d.Assets {
				assets = append(assets, tx.DocAsset.Create().SetEntityRef(w.ref).SetPath(a.Path).SetContentType(a.ContentType).SetData(a.Data).SetHash(a.Hash))
			}
		}
		if _, err := tx.DocSite.Delete().Where(docsite.EntityRefIn(refs...)).Exec(ctx); err != nil {
			return fmt.Errorf("replace docs: %w", err)
		}
		if err := tx.DocSite.CreateBulk(sites...).Exec(ctx); err != nil {
			return fmt.Errorf("write docs: %w", err)
		}
		if len(whole) > 0 {
			if _, err := tx.DocPage.Delete().Where(docpage.EntityRefIn(whole...)).Exec(ctx); err != nil {
				return fmt.Errorf("replace doc pages: %w", err)
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
		for _, part := range chunks(assets, 50) {
			if err := tx.DocAsset.CreateBulk(part...).Exec(ctx); err != nil {
				return fmt.Errorf("write doc assets: %w", err)
			}
		}
	}
	return nil
}

// keepDocPages removes the pages of ref that d no longer has, and moves the kept ones it
// orders anew (the kept pages' rows stay as they are).
func keepDocPages(ctx context.Context, tx *ent.Client, ref string, d *DocsRecord, keep []string) error {
	if _, err := tx.DocPage.Delete().Where(docpage.EntityRef(ref), docpage.PathNotIn(keep...)).Exec(ctx); err != nil {
		return fmt.Errorf("replace doc pages of %s: %w", ref, err)
	}
	for i := range d.Pages {
		if p := &d.Pages[i]; p.Stub && p.Moved {
			if _, err := tx.DocPage.Update().Where(docpage.EntityRef(ref), docpage.Path(p.Path)).
				SetPosition(p.Position).Save(ctx); err != nil {
				return fmt.Errorf("order doc pages of %s: %w", ref, err)
			}
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
	w.docsPending = append(w.docsPending, docsWrite{ref: e.Ref, d: e.Docs})
	if len(w.docsPending) >= docsBatch {
		return w.flushDocs(ctx, tx)
	}
	return nil
}

// flushDocs writes the docs w.docs holds back; Apply calls it after the last part, before
// removeStaleDocs reads the location's sites.
func (w *bulkWriter) flushDocs(ctx context.Context, tx *ent.Client) error {
	err := writeDocs(ctx, tx, w.loc.Key, w.revision, w.docsPending, w.now)
	w.docsPending = w.docsPending[:0]
	return err
}

// removeStaleDocs removes the docs of removed entities and those of the location's entities
// that no longer name docs (kept entities keep theirs).
func (w *bulkWriter) removeStaleDocs(ctx context.Context, tx *ent.Client, removed []string, kept map[string]bool) error {
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
