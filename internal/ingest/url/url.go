// Package url is the provider for one descriptor read from an http(s) URL, through the
// operator's URL allow-list (internal/reading). Its revision is a hash of the content, so a
// read that brings the same bytes again costs no parsing.
package url

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/reading"
)

// Provider reads one descriptor URL.
type Provider struct {
	loc    catalog.LocationSpec
	target string
	reader *reading.Reader
}

// New returns the provider of target, an http(s) URL the reader's allow-list must permit.
func New(target string, r *reading.Reader) (*Provider, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", catalog.Excerpt(target, 80))
	}
	if !r.Enabled() {
		return nil, catalog.Errorf(catalog.EFORBIDDEN, "no URL may be read: the operator allowed none (--read-allow, reading.allow)")
	}
	if err := r.Check(u); err != nil {
		return nil, catalog.Errorf(catalog.EFORBIDDEN, "%v", err)
	}
	return &Provider{loc: catalog.LocationSpec{Key: "url:" + target, Provider: "url", Target: target}, target: target, reader: r}, nil
}

// Location implements ingest.Provider.
func (p *Provider) Location() catalog.LocationSpec { return p.loc }

// Read implements ingest.Provider: it fetches the URL whole (a failed fetch is a failed read:
// nothing changes) and hands it over as a tree of one file named by its URL.
func (p *Provider) Read(ctx context.Context) (catalog.Tree, func(), error) {
	data, err := p.reader.Fetch(ctx, p.target)
	if err != nil {
		return catalog.Tree{}, nil, err
	}
	sum := sha256.Sum256(data)
	return catalog.Tree{
		FS:       oneFile{name: p.target, data: data},
		Root:     p.target,
		URL:      func(s string) string { return "url:" + s },
		Revision: "sha256:" + hex.EncodeToString(sum[:]),
	}, func() {}, nil
}

// oneFile is an fs.FS holding one file whose name is a URL (which fs.ValidPath would refuse).
type oneFile struct {
	name string
	data []byte
}

func (o oneFile) Open(name string) (fs.File, error) {
	if name != o.name {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &file{o: o}, nil
}

type file struct {
	o   oneFile
	off int
}

func (f *file) Stat() (fs.FileInfo, error) { return info{f.o}, nil }
func (f *file) Read(b []byte) (int, error) {
	if f.off >= len(f.o.data) {
		return 0, io.EOF
	}
	n := copy(b, f.o.data[f.off:])
	f.off += n
	return n, nil
}
func (f *file) Close() error { return nil }

type info struct{ o oneFile }

func (i info) Name() string       { return i.o.name }
func (i info) Size() int64        { return int64(len(i.o.data)) }
func (i info) Mode() fs.FileMode  { return 0o444 }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return false }
func (i info) Sys() any           { return nil }
