package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest/git"
	"catalogd/internal/reading"
)

// Docs named by url:<forge folder URL> (backstage.io/techdocs-ref) are read from the git
// repository the URL names, at the commit its ref names, through the git provider (git CLI,
// bare cache, redirects never followed, refs checked, bounded, tokens never used). The
// repository must be admitted as a git location registered at run time would be: an http(s)
// URL the --read-allow list admits whose host resolves to public addresses only (or that an
// entry names literally), or a file:// repository under a --read-allow-dir directory.

// forgeRef is a url: techdocs-ref taken apart: the repository's URL, the ref and the folder
// (holding mkdocs.yml) inside it.
type forgeRef struct {
	repo, ref, dir string
}

// parseForgeURL reads the folder URLs forges show: <repo>/tree/<ref>/<path> (GitHub, Gitea),
// <repo>/-/tree/<ref>/<path> (GitLab), and the same with blob/ naming <path>/mkdocs.yml.
func parseForgeURL(raw string) (forgeRef, error) {
	bad := func(why string) (forgeRef, error) {
		return forgeRef{}, errors.New(why)
	}
	u, err := url.Parse(raw)
	if err != nil || raw == "" || strings.ContainsAny(raw, "\x00\r\n\t \\") {
		return bad("not a URL")
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" {
			return bad("a URL without a host")
		}
	case "file":
		if u.Host != "" {
			return bad("a file URL names no host")
		}
	default:
		return bad("only https, http and file URLs name docs folders")
	}
	if u.User != nil {
		return bad("a URL with user information (credentials belong in the configuration, not in descriptors)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("a folder URL has no query or fragment")
	}
	segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1] // a trailing slash
	}
	for i, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\\x00") {
			return bad("the path may not hold empty, '.' or '..' segments or escaped slashes")
		}
		segs[i] = v
	}
	at, gitlab := -1, false
	for i := 1; i+1 < len(segs); i++ {
		if segs[i] == "-" && (segs[i+1] == "tree" || segs[i+1] == "blob") && i >= 1 {
			at, gitlab = i+1, true
			break
		}
	}
	if at < 0 {
		for i := 1; i < len(segs); i++ {
			if segs[i] == "tree" || segs[i] == "blob" {
				at = i
				break
			}
		}
	}
	if at < 0 || at+1 >= len(segs) {
		return bad("not a forge folder URL (<repository>/tree/<ref>/<path>, <repository>/-/tree/<ref>/<path> or …/blob/<ref>/<path>/mkdocs.yml)")
	}
	repoSegs := segs[:at]
	if gitlab {
		repoSegs = segs[:at-1]
	}
	ref, rest := segs[at+1], segs[at+2:]
	if err := git.CheckRef(ref); err != nil {
		return forgeRef{}, err
	}
	if segs[at] == "blob" {
		if len(rest) == 0 || rest[len(rest)-1] != "mkdocs.yml" {
			return bad("a blob URL must name a mkdocs.yml")
		}
		rest = rest[:len(rest)-1]
	}
	dir := "."
	if len(rest) > 0 {
		dir = strings.Join(rest, "/")
	}
	repo := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + strings.Join(repoSegs, "/")}
	return forgeRef{repo: repo.String(), ref: ref, dir: dir}, nil
}

// admitDocsRepo refuses a repository a run-time git location could not name.
func (e *Engine) admitDocsRepo(ctx context.Context, repo string) error {
	u, err := url.Parse(repo)
	if err != nil {
		return err
	}
	if u.Scheme == "file" {
		return e.admitDocsDir(u.Path)
	}
	if e.URLs == nil {
		return fmt.Errorf("%w: reading URLs is off (no --read-allow entries)", reading.ErrNotAllowed)
	}
	return e.URLs.CheckResolved(ctx, u)
}

// admitDocsDir allows a path under one of DocsAllowDirs, symbolic links resolved (a link
// inside cannot lead out).
func (e *Engine) admitDocsDir(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%w: a file URL needs an absolute path", reading.ErrNotAllowed)
	}
	resolved := resolveExisting(filepath.Clean(p))
	for _, d := range e.DocsAllowDirs {
		dir := resolveExisting(filepath.Clean(d))
		if resolved == dir || strings.HasPrefix(resolved, dir+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%w: a file repository is read only under a --read-allow-dir directory", reading.ErrNotAllowed)
}

// resolveExisting resolves symbolic links in the longest existing prefix of p.
func resolveExisting(p string) string {
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// docsFetch is one repository+ref fetched for a read's url: docs, shared by every entity
// naming it.
type docsFetch struct {
	once    sync.Once
	tree    catalog.Tree
	release func()
	err     error
}

// maxDocsProviders bounds the git providers kept between reads (each remembers the index of
// the last commit it read).
const maxDocsProviders = 256

// docsTree fetches the repository+ref at most once per read.
func (e *Engine) docsTree(ctx context.Context, rd *read, f forgeRef) (catalog.Tree, error) {
	key := f.repo + "#" + f.ref
	rd.docsFetchMu.Lock()
	if rd.docsFetches == nil {
		rd.docsFetches = map[string]*docsFetch{}
	}
	df := rd.docsFetches[key]
	if df == nil {
		df = &docsFetch{}
		rd.docsFetches[key] = df
	}
	rd.docsFetchMu.Unlock()
	df.once.Do(func() {
		var p *git.Provider
		p, df.err = e.docsProvider(key, f)
		if df.err == nil {
			df.tree, df.release, df.err = p.Read(ctx)
		}
	})
	return df.tree, df.err
}

func (e *Engine) docsProvider(key string, f forgeRef) (*git.Provider, error) {
	e.docsProvMu.Lock()
	defer e.docsProvMu.Unlock()
	if p := e.docsProviders[key]; p != nil {
		return p, nil
	}
	timeout := e.DocsGitTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	// A cache of its own: the git locations' cache holds what their tokens fetched, and a
	// commit found there is not fetched again (nor its access checked).
	cache := e.DocsGitCache
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cache = filepath.Join(base, "catalogd", "git-docs")
	}
	// The globs match nothing: the docs reader finds its files by name and by Glob.
	p, err := git.New(git.Config{Target: f.repo, Ref: f.ref, CacheDir: cache, Timeout: timeout,
		Globs: []string{"catalogd-docs-no-descriptors"}})
	if err != nil {
		return nil, err
	}
	if e.docsProviders == nil {
		e.docsProviders = map[string]*git.Provider{}
	}
	if len(e.docsProviders) < maxDocsProviders {
		e.docsProviders[key] = p
	}
	return p, nil
}

// releaseDocs stops the object readers of the read's docs trees.
func (rd *read) releaseDocs() {
	rd.docsFetchMu.Lock()
	defer rd.docsFetchMu.Unlock()
	for _, df := range rd.docsFetches {
		df.once.Do(func() {}) // none is running: processing is over
		if df.release != nil {
			df.release()
		}
	}
	rd.docsFetches = nil
}

// urlDocsIn reports whether the last applied read of a location had entities whose docs come
// from a url: ref: those docs change without the location's revision changing.
func (e *Engine) urlDocsIn(key string) bool {
	for _, m := range e.memoOf(key) {
		for _, ent := range m.entities {
			if strings.HasPrefix(ent.techdocs, "url:") {
				return true
			}
		}
	}
	return false
}

// quoteDocsRef is what an error quotes of a techdocs-ref: an excerpt, without a password.
func quoteDocsRef(ref string) string {
	if target, ok := strings.CutPrefix(ref, "url:"); ok {
		if u, err := url.Parse(target); err == nil && u.User != nil {
			ref = "url:" + u.Redacted()
		}
	}
	return catalog.Excerpt(ref, catalog.MaxExcerpt)
}

// readURLDocsTree resolves a url: techdocs-ref to a tree, its folder and its revision.
func (e *Engine) readURLDocsTree(ctx context.Context, rd *read, target string) (catalog.Tree, string, error) {
	f, err := parseForgeURL(target)
	if err != nil {
		return catalog.Tree{}, "", err
	}
	if err := e.admitDocsRepo(ctx, f.repo); err != nil {
		return catalog.Tree{}, "", err
	}
	tree, err := e.docsTree(ctx, rd, f)
	if err != nil {
		return catalog.Tree{}, "", err
	}
	if !fs.ValidPath(f.dir) {
		return catalog.Tree{}, "", catalog.ErrOutsideTree
	}
	// The folder and every folder above it must be folders of the repository, not links
	// (the tree refuses a link by its own name, but a path through one just does not exist).
	for d := f.dir; d != "."; d = path.Dir(d) {
		if _, err := fs.Stat(tree.FS, d); errors.Is(err, catalog.ErrOutsideTree) {
			return catalog.Tree{}, "", err
		}
	}
	return tree, f.dir, nil
}
