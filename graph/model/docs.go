package model

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"catalogd/ent"
	"catalogd/ent/docpage"
	"catalogd/ent/docsite"
	"catalogd/internal/docs"
	"catalogd/internal/store"
)

// docsBatch loads the docs of a batch's entities: the sites in one statement, every page of
// them in one more when a page list is asked for, and one page by path in one statement per
// distinct path asked for.
type docsBatch struct {
	siteOnce sync.Once
	sites    map[string]*ent.DocSite
	siteErr  error

	pageOnce sync.Once
	pages    map[string][]*DocPage
	pageErr  error

	byPathMu sync.Mutex
	byPath   map[string]*pathLoad
}

type pathLoad struct {
	once  sync.Once
	pages map[string]*DocPage // by entity ref
	err   error
}

func (b *Batch) docsBatch() *docsBatch {
	b.docsOnce.Do(func() { b.docs = &docsBatch{byPath: map[string]*pathLoad{}} })
	return b.docs
}

// Docs is the entity's documentation, or nil.
func (b *Base) Docs() (*Docs, error) {
	d := b.batch.docsBatch()
	d.siteOnce.Do(func() {
		rows, err := b.batch.deps.Client.DocSite.Query().Where(store.RefIn(docsite.FieldEntityRef, b.batch.refs)).All(b.batch.ctx)
		d.siteErr = err
		d.sites = map[string]*ent.DocSite{}
		for _, r := range rows {
			d.sites[r.EntityRef] = r
		}
	})
	if d.siteErr != nil {
		return nil, d.siteErr
	}
	site := d.sites[b.E.Ref]
	if site == nil {
		return nil, nil
	}
	return &Docs{site: site, batch: b.batch, base: siteBase(b.E)}, nil
}

func siteBase(e *ent.Entity) string {
	return "/docs/" + strings.ToLower(e.Namespace) + "/" + strings.ToLower(e.Kind) + "/" + strings.ToLower(e.Name) + "/"
}

// Docs is an entity's documentation site.
type Docs struct {
	site  *ent.DocSite
	batch *Batch
	base  string
}

// SiteName is site_name, or nil.
func (d *Docs) SiteName() *string {
	if d.site.SiteName == "" {
		return nil
	}
	return &d.site.SiteName
}

func (d *Docs) Revision() string     { return d.site.Revision }
func (d *Docs) UpdatedAt() time.Time { return d.site.UpdatedAt }
func (d *Docs) URL() string          { return d.base }

// Nav is the site's nav tree.
func (d *Docs) Nav() []*DocNavItem {
	var items []docs.NavItem
	_ = json.Unmarshal(d.site.Nav, &items)
	return navItems(items, d.base)
}

func navItems(items []docs.NavItem, base string) []*DocNavItem {
	out := make([]*DocNavItem, 0, len(items))
	for _, it := range items {
		n := &DocNavItem{Title: it.Title, Children: navItems(it.Children, base)}
		if it.Title == "" {
			n.Title = it.Path
		}
		if it.Path != "" {
			p := it.Path
			n.Path = &p
			if !strings.Contains(p, "://") {
				u := docs.PageURL(base, p)
				n.URL = &u
			}
		}
		out = append(out, n)
	}
	return out
}

// Pages are the site's pages in order.
func (d *Docs) Pages() ([]*DocPage, error) {
	db := d.batch.docsBatch()
	db.pageOnce.Do(func() {
		refs := make([]string, 0, len(db.sites))
		for ref := range db.sites {
			refs = append(refs, ref)
		}
		rows, err := d.batch.deps.Client.DocPage.Query().Where(store.RefIn(docpage.FieldEntityRef, refs)).
			Order(docpage.ByEntityRef(), docpage.ByPosition(), docpage.ByPath()).All(d.batch.ctx)
		db.pageErr = err
		db.pages = map[string][]*DocPage{}
		for _, r := range rows {
			db.pages[r.EntityRef] = append(db.pages[r.EntityRef], &DocPage{row: r})
		}
	})
	if db.pageErr != nil {
		return nil, db.pageErr
	}
	rows := db.pages[d.site.EntityRef]
	out := make([]*DocPage, len(rows))
	for i, p := range rows {
		out[i] = &DocPage{row: p.row, base: d.base}
	}
	return out, nil
}

// Page is one page by its path, or nil.
func (d *Docs) Page(path string) (*DocPage, error) {
	db := d.batch.docsBatch()
	db.byPathMu.Lock()
	l := db.byPath[path]
	if l == nil {
		l = &pathLoad{}
		db.byPath[path] = l
	}
	db.byPathMu.Unlock()
	l.once.Do(func() {
		refs := make([]string, 0, len(db.sites))
		for ref := range db.sites {
			refs = append(refs, ref)
		}
		rows, err := d.batch.deps.Client.DocPage.Query().Where(store.RefIn(docpage.FieldEntityRef, refs), docpage.Path(path)).All(d.batch.ctx)
		l.err = err
		l.pages = map[string]*DocPage{}
		for _, r := range rows {
			l.pages[r.EntityRef] = &DocPage{row: r}
		}
	})
	if l.err != nil {
		return nil, l.err
	}
	if p := l.pages[d.site.EntityRef]; p != nil {
		return &DocPage{row: p.row, base: d.base}, nil
	}
	return nil, nil
}

// DocPage is a rendered page.
type DocPage struct {
	row  *ent.DocPage
	base string
}

func (p *DocPage) Path() string         { return p.row.Path }
func (p *DocPage) Title() string        { return p.row.Title }
func (p *DocPage) HTML() string         { return p.row.HTML }
func (p *DocPage) UpdatedAt() time.Time { return p.row.UpdatedAt }
func (p *DocPage) URL() string          { return docs.PageURL(p.base, p.row.Path) }

// Headings are the page's headings with their anchors.
func (p *DocPage) Headings() []*DocHeading {
	var hs []*DocHeading
	_ = json.Unmarshal(p.row.Headings, &hs)
	if hs == nil {
		hs = []*DocHeading{}
	}
	return hs
}

// DocHeading is a heading of a page.
type DocHeading struct {
	Level  int    `json:"level"`
	Text   string `json:"text"`
	Anchor string `json:"anchor"`
}

// DocNavItem is an entry of a site's nav.
type DocNavItem struct {
	Title    string
	Path     *string
	URL      *string
	Children []*DocNavItem
}
