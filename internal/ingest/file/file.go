// Package file is the provider for locations on the local file system (or any fs.FS, such as
// the embedded demo catalog): a descriptor file, or a directory of them.
package file

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"catalogd/internal/catalog"
)

// Provider reads one file-system location.
type Provider struct {
	loc  catalog.LocationSpec
	fsys fs.FS
	root string
	url  func(string) string
}

// New returns a provider for a path on the local file system.
func New(path string) (*Provider, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("location %s: %w", path, err)
	}
	abs = filepath.ToSlash(abs)
	return &Provider{
		loc:  catalog.LocationSpec{Key: "file:" + abs, Provider: "file", Target: abs},
		fsys: os.DirFS("/"),
		root: strings.TrimPrefix(abs, "/"),
		url:  func(p string) string { return "file:/" + p },
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
	if _, err := fs.Stat(p.fsys, p.root); err != nil {
		var pe *fs.PathError
		if ok := asPathError(err, &pe); ok {
			err = pe.Err
		}
		return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.url(p.root), err)
	}
	return catalog.Tree{FS: p.fsys, Root: p.root, URL: p.url}, func() {}, nil
}

func asPathError(err error, target **fs.PathError) bool {
	pe, ok := err.(*fs.PathError)
	if ok {
		*target = pe
	}
	return ok
}
