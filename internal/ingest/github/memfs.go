package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

var errNotExist = fs.ErrNotExist

// repoRef names the repository and branch a descriptor was read from.
type repoRef struct{ fullName, branch, htmlURL string }

// memFS is a read's files: one descriptor per repository (repos/<owner>/<repo>/<path>) and the
// generated org/groups.yaml and org/users.yaml. Any other file under a repository's directory
// is fetched from that repository when first opened (at most maxExtra per read).
type memFS struct {
	ctx      context.Context
	files    map[string][]byte
	broken   map[string]error   // descriptors that are there but cannot be read: opening works, reading fails
	repos    map[string]repoRef // repos/<owner>/<repo> -> where it was read
	listing  map[string][]fs.DirEntry
	dirs     map[string]bool
	fetch    func(context.Context, repoRef, string) ([]byte, error)
	maxExtra int

	mu    sync.Mutex
	extra map[string]extraFile
}

type extraFile struct {
	data []byte
	err  error
}

func newMemFS() *memFS {
	return &memFS{files: map[string][]byte{}, broken: map[string]error{}, repos: map[string]repoRef{}, extra: map[string]extraFile{}}
}

// index builds the directory listings of the files read.
func (m *memFS) index() {
	m.listing = map[string][]fs.DirEntry{}
	m.dirs = map[string]bool{".": true}
	sizes := map[string]int64{}
	for name, data := range m.files {
		sizes[name] = int64(len(data))
	}
	for name := range m.broken {
		sizes[name] = 0
	}
	for name, size := range sizes {
		m.listing[path.Dir(name)] = append(m.listing[path.Dir(name)], info{name: path.Base(name), size: size})
		for d := path.Dir(name); d != "." && !m.dirs[d]; d = path.Dir(d) {
			m.dirs[d] = true
			m.listing[path.Dir(d)] = append(m.listing[path.Dir(d)], info{name: path.Base(d), dir: true})
		}
	}
	for d, l := range m.listing {
		sort.Slice(l, func(i, j int) bool { return l[i].Name() < l[j].Name() })
		m.listing[d] = l
	}
}

// file returns a file's content, fetching it from its repository if it is not one of those read.
func (m *memFS) file(op, name string) ([]byte, error) {
	if data, ok := m.files[name]; ok {
		return data, nil
	}
	parts := strings.SplitN(name, "/", 4)
	if len(parts) < 4 || parts[0] != "repos" || m.fetch == nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	ref, ok := m.repos[strings.Join(parts[:3], "/")]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.extra[name]; ok {
		return f.data, f.err
	}
	if len(m.extra) >= m.maxExtra {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("more than %d files fetched for placeholders and targets in one read (maxExtraFiles)", m.maxExtra)}
	}
	data, err := m.fetch(m.ctx, ref, parts[3])
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			err = &fs.PathError{Op: op, Path: name, Err: err}
		} else {
			err = &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	m.extra[name] = extraFile{data, err}
	return data, err
}

func (m *memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if m.dirs[name] {
		return &dir{info: info{name: path.Base(name), dir: true}, entries: m.listing[name]}, nil
	}
	if err, ok := m.broken[name]; ok {
		return &brokenFile{info: info{name: path.Base(name)}, err: err}, nil
	}
	data, err := m.file("open", name)
	if err != nil {
		return nil, err
	}
	return &file{info: info{name: path.Base(name), size: int64(len(data))}, r: bytes.NewReader(data)}, nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if m.dirs[name] {
		return info{name: path.Base(name), dir: true}, nil
	}
	if _, ok := m.broken[name]; ok {
		return info{name: path.Base(name)}, nil
	}
	data, err := m.file("stat", name)
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(name), size: int64(len(data))}, nil
}

func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) || !m.dirs[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return append([]fs.DirEntry(nil), m.listing[name]...), nil
}

type info struct {
	name string
	size int64
	dir  bool
}

func (i info) Name() string               { return i.name }
func (i info) Size() int64                { return i.size }
func (i info) IsDir() bool                { return i.dir }
func (i info) Type() fs.FileMode          { return i.Mode().Type() }
func (i info) Info() (fs.FileInfo, error) { return i, nil }
func (i info) ModTime() time.Time         { return time.Time{} }
func (i info) Sys() any                   { return nil }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

type file struct {
	info
	r *bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *file) Close() error               { return nil }

// brokenFile is a descriptor whose content could not be used: reading it fails with why, so
// the engine records that against the file and keeps what it held.
type brokenFile struct {
	info
	err error
}

func (f *brokenFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *brokenFile) Read([]byte) (int, error)   { return 0, f.err }
func (f *brokenFile) Close() error               { return nil }

type dir struct {
	info
	entries []fs.DirEntry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Read([]byte) (int, error)   { return 0, errors.New("is a directory") }
func (d *dir) Close() error               { return nil }
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.off += len(rest)
	return rest, nil
}
