package docs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"catalogd/internal/catalog"
)

// NavItem is an entry of a site's navigation: a page (Path set) or a section (Children).
type NavItem struct {
	Title    string    `json:"title"`
	Path     string    `json:"path,omitempty"`
	Children []NavItem `json:"children,omitempty"`
}

// Config is the subset of mkdocs.yml catalogd reads.
type Config struct {
	SiteName string
	DocsDir  string
	Nav      []NavItem
}

// ParseConfig reads mkdocs.yml: site_name, docs_dir (default docs) and nav, whose entries are
// `Title: path.md`, `path.md`, or `Title: [entries]` nested.
func ParseConfig(data []byte) (*Config, error) {
	var raw struct {
		SiteName string    `yaml:"site_name"`
		DocsDir  string    `yaml:"docs_dir"`
		Nav      yaml.Node `yaml:"nav"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("mkdocs.yml: %s", catalog.Excerpt(err.Error(), catalog.MaxExcerpt))
	}
	c := &Config{SiteName: raw.SiteName, DocsDir: raw.DocsDir}
	if c.DocsDir == "" {
		c.DocsDir = "docs"
	}
	if path.IsAbs(c.DocsDir) || !fs.ValidPath(path.Clean(c.DocsDir)) {
		return nil, fmt.Errorf("mkdocs.yml: docs_dir %s must be a path inside the docs folder", catalog.Excerpt(c.DocsDir, catalog.MaxExcerpt))
	}
	c.DocsDir = path.Clean(c.DocsDir)
	if raw.Nav.Kind != 0 {
		nav, err := parseNav(&raw.Nav, 0)
		if err != nil {
			return nil, err
		}
		c.Nav = nav
	}
	return c, nil
}

const maxNavDepth = 8

func parseNav(n *yaml.Node, depth int) ([]NavItem, error) {
	if depth > maxNavDepth {
		return nil, fmt.Errorf("mkdocs.yml: nav is nested deeper than %d levels", maxNavDepth)
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("mkdocs.yml: line %d: nav must be a list", n.Line)
	}
	var out []NavItem
	for _, it := range n.Content {
		switch it.Kind {
		case yaml.ScalarNode:
			out = append(out, NavItem{Path: it.Value})
		case yaml.MappingNode:
			if len(it.Content) != 2 {
				return nil, fmt.Errorf("mkdocs.yml: line %d: a nav entry is one `Title: path` or `Title: [entries]`", it.Line)
			}
			title, val := it.Content[0].Value, it.Content[1]
			switch val.Kind {
			case yaml.ScalarNode:
				out = append(out, NavItem{Title: title, Path: val.Value})
			case yaml.SequenceNode:
				children, err := parseNav(val, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, NavItem{Title: title, Children: children})
			default:
				return nil, fmt.Errorf("mkdocs.yml: line %d: a nav entry is one `Title: path` or `Title: [entries]`", val.Line)
			}
		default:
			return nil, fmt.Errorf("mkdocs.yml: line %d: a nav entry is one `Title: path` or `Title: [entries]`", it.Line)
		}
	}
	return out, nil
}

// Limits bound what one site may hold.
type Limits struct {
	MaxPages      int   // pages per site
	MaxPageBytes  int64 // Markdown bytes per page
	MaxAssetBytes int64 // bytes per asset
	MaxTotalBytes int64 // pages and assets of a site together
}

// DefaultLimits are the limits when none are given.
var DefaultLimits = Limits{MaxPages: 2000, MaxPageBytes: 1 << 20, MaxAssetBytes: 5 << 20, MaxTotalBytes: 64 << 20}

// Page is a page of a site. Stub pages (Markdown unchanged since the stored rendering) carry
// only Path, Hash and Position.
type Page struct {
	Path     string
	Title    string
	HTML     string
	Text     string
	Headings []Heading
	Hash     string
	Position int
	Stub     bool
}

// Asset is a file under docs_dir that is served as is (an image, say).
type Asset struct {
	Path        string
	ContentType string
	Data        []byte
	Hash        string
}

// Site is an entity's documentation as read.
type Site struct {
	Name   string
	Nav    []NavItem
	Hash   string // of everything read: equal hashes, equal sites
	Pages  []Page
	Assets []Asset
	// Problems are what is wrong but did not stop the site (a nav entry naming no page).
	Problems []string
}

// Previous is what is stored of a site: its hash and its pages' hashes by path.
type Previous struct {
	Hash  string
	Pages map[string]string
}

// ContentTypes are the asset types served, by extension; other files are not stored.
var ContentTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".pdf": "application/pdf",
	".txt": "text/plain; charset=utf-8", ".json": "application/json", ".yaml": "text/plain; charset=utf-8",
	".yml": "text/plain; charset=utf-8", ".csv": "text/csv; charset=utf-8",
}

// Reader reads sites.
type Reader struct {
	Renderer *Renderer
	Limits   Limits
	// Rendered, when set, is called once per page rendered (pages whose Markdown did not
	// change are not).
	Rendered func()
}

// ErrUnchanged is Read's answer for a site whose hash is prev's.
var ErrUnchanged = errors.New("docs unchanged")

// Read reads the site whose mkdocs.yml is in dir of fsys. base is the site's URL prefix. With
// prev, pages whose Markdown (and title) did not change are returned as stubs, and a site
// that did not change at all is ErrUnchanged.
func (r *Reader) Read(fsys fs.FS, dir, base string, prev *Previous) (*Site, error) {
	lim := r.Limits
	if lim.MaxPages == 0 {
		lim = DefaultLimits
	}
	cfgData, err := readFile(fsys, path.Join(dir, "mkdocs.yml"), 1<<20)
	if err != nil {
		return nil, fmt.Errorf("mkdocs.yml: %w", err)
	}
	cfg, err := ParseConfig(cfgData)
	if err != nil {
		return nil, err
	}
	root := path.Join(dir, cfg.DocsDir)
	site := &Site{Name: cfg.SiteName}
	type file struct {
		rel  string
		data []byte
	}
	var pages, assets []file
	var total int64
	files, err := listFiles(fsys, root)
	if err == nil {
		err = func() error {
			for _, p := range files {
				rel := strings.TrimPrefix(p, root+"/")
				ext := strings.ToLower(path.Ext(rel))
				switch {
				case ext == ".md" || ext == ".markdown":
					if len(pages) >= lim.MaxPages {
						return fmt.Errorf("more than %d pages", lim.MaxPages)
					}
					data, err := readFile(fsys, p, lim.MaxPageBytes)
					if err != nil {
						return fmt.Errorf("%s: %w", catalog.Excerpt(rel, catalog.MaxExcerpt), err)
					}
					pages = append(pages, file{rel, data})
					total += int64(len(data))
				case ContentTypes[ext] != "":
					data, err := readFile(fsys, p, lim.MaxAssetBytes)
					if err != nil {
						return fmt.Errorf("%s: %w", catalog.Excerpt(rel, catalog.MaxExcerpt), err)
					}
					assets = append(assets, file{rel, data})
					total += int64(len(data))
				default:
					continue
				}
				if total > lim.MaxTotalBytes {
					return fmt.Errorf("pages and assets are larger than the limit of %d bytes", lim.MaxTotalBytes)
				}
			}
			return nil
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("docs_dir %s: %w", catalog.Excerpt(cfg.DocsDir, catalog.MaxExcerpt), unwrapPath(err))
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("docs_dir %s holds no Markdown pages", catalog.Excerpt(cfg.DocsDir, catalog.MaxExcerpt))
	}
	// Titles and order come from nav; pages nav does not name follow, by path.
	titles := map[string]string{}
	order := map[string]int{}
	have := map[string]bool{}
	for _, p := range pages {
		have[p.rel] = true
	}
	var walkNav func(items []NavItem)
	walkNav = func(items []NavItem) {
		for i := range items {
			it := &items[i]
			if it.Path != "" {
				if strings.Contains(it.Path, "://") {
					continue // an external link in the nav
				}
				p := path.Clean(it.Path)
				if !have[p] {
					site.Problems = append(site.Problems, fmt.Sprintf("mkdocs.yml: nav entry %s names no page under docs_dir", catalog.Excerpt(it.Path, catalog.MaxExcerpt)))
					continue
				}
				if it.Title != "" {
					titles[p] = it.Title
				}
				if _, ok := order[p]; !ok {
					order[p] = len(order)
				}
			}
			walkNav(it.Children)
		}
	}
	walkNav(cfg.Nav)
	sort.SliceStable(pages, func(i, j int) bool {
		oi, iok := order[pages[i].rel]
		oj, jok := order[pages[j].rel]
		if iok != jok {
			return iok
		}
		if iok {
			return oi < oj
		}
		return pages[i].rel < pages[j].rel
	})
	site.Nav = cfg.Nav
	var siteParts [][]byte
	siteParts = append(siteParts, cfgData, []byte(base))
	for i, f := range pages {
		h := hashOf([]byte(f.rel), f.data, []byte(titles[f.rel]), []byte(base))
		siteParts = append(siteParts, []byte(f.rel), []byte(h))
		pg := Page{Path: f.rel, Hash: h, Position: i}
		if prev != nil && prev.Pages[f.rel] == h {
			pg.Stub = true
		}
		site.Pages = append(site.Pages, pg)
	}
	for _, f := range assets {
		h := hashOf([]byte(f.rel), f.data)
		siteParts = append(siteParts, []byte(f.rel), []byte(h))
		site.Assets = append(site.Assets, Asset{Path: f.rel, ContentType: ContentTypes[strings.ToLower(path.Ext(f.rel))], Data: f.data, Hash: h})
	}
	site.Hash = hashOf(siteParts...)
	if prev != nil && prev.Hash == site.Hash {
		return site, ErrUnchanged
	}
	for i := range site.Pages {
		pg := &site.Pages[i]
		if pg.Stub {
			continue
		}
		out := r.Renderer.Render(pages[i].data, pg.Path, base)
		if r.Rendered != nil {
			r.Rendered()
		}
		pg.HTML, pg.Text, pg.Headings = out.HTML, out.Text, out.Headings
		pg.Title = titles[pg.Path]
		if pg.Title == "" {
			pg.Title = out.Title
		}
		if pg.Title == "" {
			pg.Title = strings.TrimSuffix(path.Base(pg.Path), path.Ext(pg.Path))
		}
	}
	return site, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", catalog.Excerpt(pe.Path, catalog.MaxExcerpt), pe.Err)
	}
	return err
}

func readFile(fsys fs.FS, p string, limit int64) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// maxDirDepth bounds how deep under docs_dir files are found.
const maxDirDepth = 8

// listFiles lists the files under root, sorted, skipping hidden ones. It lists by fs.Glob,
// level by level, rather than by ReadDir: a git tree lists in its directories only the
// descriptor files its globs select, but globs over everything it holds.
func listFiles(fsys fs.FS, root string) ([]string, error) {
	st, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("not a directory")
	}
	var out []string
	level := []string{root}
	for depth := 0; depth < maxDirDepth && len(level) > 0; depth++ {
		var next []string
		for _, dir := range level {
			matches, err := fs.Glob(fsys, escapeGlob(dir)+"/*")
			if err != nil {
				return nil, err
			}
			for _, m := range matches {
				if strings.HasPrefix(path.Base(m), ".") {
					continue
				}
				st, err := fs.Stat(fsys, m)
				if err != nil {
					continue // a link the tree refuses, say
				}
				if st.IsDir() {
					next = append(next, m)
				} else {
					out = append(out, m)
				}
			}
		}
		level = next
	}
	sort.Strings(out)
	return out, nil
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
