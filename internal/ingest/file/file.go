// Package file is the provider for locations on the local file system (or any fs.FS, such as
// the embedded demo catalog): a descriptor file, or a directory of them.
//
// A local location reads only inside its own directory (the directory it names, or the one
// holding the file it names) and the directories the operator allows beside it: every path is
// opened through an os.Root, so neither "..", an absolute path nor a symbolic link leads out.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"catalogd/internal/catalog"
)

// Provider reads one file-system location.
type Provider struct {
	loc       catalog.LocationSpec
	fsys      fs.FS  // set for NewFS; nil for the local file system
	abs       string // local: the location's absolute path
	allowDirs []string
	root      string
	url       func(string) string
}

// New returns a provider for a path on the local file system. Its reads stay inside the
// location's directory and allowDirs (e.g. a monorepo's top, when its descriptors reference
// ../api/x.yaml).
func New(path string, allowDirs ...string) (*Provider, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("location %s: %w", path, err)
	}
	var dirs []string
	for _, d := range allowDirs {
		if strings.TrimSpace(d) == "" {
			continue
		}
		a, err := filepath.Abs(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("read-allow-dir %s: %w", d, err)
		}
		dirs = append(dirs, a)
	}
	slash := filepath.ToSlash(abs)
	return &Provider{
		loc:       catalog.LocationSpec{Key: "file:" + slash, Provider: "file", Target: slash},
		abs:       abs,
		allowDirs: dirs,
		root:      strings.TrimPrefix(slash, "/"),
		url:       func(p string) string { return "file:/" + p },
	}, nil
}

// NewFS returns a provider for root inside fsys; scheme names it in keys and annotations
// (e.g. "embedded" gives embedded:catalog-info.yaml).
func NewFS(scheme string, fsys fs.FS, root string) *Provider {
	return &Provider{
		loc:  catalog.LocationSpec{Key: scheme + ":" + root, Provider: scheme, Target: root},
		fsys: fsys,
		root: root,
		url:  func(p string) string { return scheme + ":" + p },
	}
}

// Location implements ingest.Provider.
func (p *Provider) Location() catalog.LocationSpec { return p.loc }

// Read implements ingest.Provider. A root that does not exist is a failed read: the entities
// it held stay until it is back or its location is removed.
func (p *Provider) Read(ctx context.Context) (catalog.Tree, func(), error) {
	fsys, release := p.fsys, func() {}
	if fsys == nil {
		dir := p.abs
		st, err := os.Stat(p.abs)
		if err != nil {
			return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.url(p.root), unwrapPathError(err))
		}
		if !st.IsDir() {
			dir = filepath.Dir(p.abs)
		}
		rfs, err := openRoots(append([]string{dir}, p.allowDirs...))
		if err != nil {
			return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.url(p.root), err)
		}
		fsys, release = rfs, rfs.close
	}
	if _, err := fs.Stat(fsys, p.root); err != nil {
		release()
		return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.url(p.root), unwrapPathError(err))
	}
	return catalog.Tree{FS: fsys, Root: p.root, URL: p.url}, release, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// rootedFS names files by their absolute path (without the leading slash, as os.DirFS("/")
// does) but opens each through the os.Root of an allowed directory that contains it, the
// deepest first; a path under none of them, or one that leads out of every root that
// contains it (through "..", or a symbolic link), is refused with catalog.ErrOutsideTree.
type rootedFS struct {
	roots []dirRoot
}

type dirRoot struct {
	dir  string // slash-separated, no leading slash; "" for /
	root *os.Root
	fsys fs.FS
}

func openRoots(dirs []string) (*rootedFS, error) {
	r := &rootedFS{}
	seen := map[string]bool{}
	for i, d := range dirs {
		rt, err := os.OpenRoot(d)
		if err != nil {
			if i == 0 {
				r.close()
				return nil, unwrapPathError(err)
			}
			continue // an allowed directory that is not there allows nothing
		}
		name := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(d)), "/")
		if seen[name] {
			rt.Close()
			continue
		}
		seen[name] = true
		r.roots = append(r.roots, dirRoot{dir: name, root: rt, fsys: rt.FS()})
	}
	sort.SliceStable(r.roots, func(i, j int) bool { return len(r.roots[i].dir) > len(r.roots[j].dir) })
	return r, nil
}

func (r *rootedFS) close() {
	for _, rt := range r.roots {
		rt.root.Close()
	}
}

// relTo returns name relative to dir, if dir contains it.
func relTo(dir, name string) (string, bool) {
	switch {
	case dir == "":
		return name, true
	case name == dir:
		return ".", true
	case strings.HasPrefix(name, dir+"/"):
		return name[len(dir)+1:], true
	}
	return "", false
}

func within[T any](r *rootedFS, op, name string, f func(fs.FS, string) (T, error)) (T, error) {
	var zero T
	if !fs.ValidPath(name) {
		return zero, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	for _, rt := range r.roots {
		rel, ok := relTo(rt.dir, name)
		if !ok {
			continue
		}
		v, err := f(rt.fsys, rel)
		if err == nil {
			return v, nil
		}
		// os.Root says only in words that a path left it; a wider root may still hold it.
		if inner := unwrapPathError(err); inner == nil || inner.Error() != "path escapes from parent" {
			return zero, &fs.PathError{Op: op, Path: name, Err: inner}
		}
	}
	return zero, &fs.PathError{Op: op, Path: name, Err: catalog.ErrOutsideTree}
}

func (r *rootedFS) Open(name string) (fs.File, error) {
	return within(r, "open", name, func(f fs.FS, p string) (fs.File, error) { return f.Open(p) })
}

func (r *rootedFS) Stat(name string) (fs.FileInfo, error) {
	return within(r, "stat", name, fs.Stat)
}

func (r *rootedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return within(r, "readdir", name, fs.ReadDir)
}
