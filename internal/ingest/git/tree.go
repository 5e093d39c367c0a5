package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"catalogd/internal/catalog"
)

// index is what one commit's tree holds: every file (blobs and symbolic links, not submodules)
// and every directory, and the listing that shows only the descriptor files the globs match.
type index struct {
	commit  string
	files   map[string]blob
	dirs    map[string]bool
	listing map[string][]fs.DirEntry // directory -> matched files and directories leading to them
	names   []string                 // every file and directory, sorted (for Glob)
	matched []blob                   // the descriptor files, read together on the first read of one
}

type blob struct {
	oid     string
	size    int64
	symlink bool
	exec    bool
}

// buildIndex lists the commit's tree and matches the globs, within the bounds.
func (p *Provider) buildIndex(ctx context.Context, commit string) (*index, error) {
	out, err := p.git(ctx, nil, "ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", commit)
	if err != nil {
		return nil, err
	}
	idx := &index{commit: commit, files: map[string]blob{}, dirs: map[string]bool{".": true}, listing: map[string][]fs.DirEntry{}}
	var total int64
	var matches []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		// <mode> SP <type> SP <oid> SP+ <size> TAB <path>
		meta, name, ok := bytes.Cut(rec, []byte{'\t'})
		fields := strings.Fields(string(meta))
		if !ok || len(fields) != 4 {
			return nil, fmt.Errorf("ls-tree: unexpected line %q", catalog.Excerpt(string(rec), 100))
		}
		if fields[1] != "blob" {
			continue // a submodule: its commit is not here
		}
		size, _ := strconv.ParseInt(fields[3], 10, 64)
		total += size
		if total > p.cfg.MaxTreeBytes {
			return nil, fmt.Errorf("the tree of %s holds more than the limit of %d bytes (maxTreeBytes)", commit, p.cfg.MaxTreeBytes)
		}
		n := string(name)
		if !fs.ValidPath(n) {
			continue
		}
		b := blob{oid: fields[2], size: size, symlink: fields[0] == "120000", exec: fields[0] == "100755"}
		idx.files[n] = b
		for d := path.Dir(n); d != "." && !idx.dirs[d]; d = path.Dir(d) {
			idx.dirs[d] = true
		}
		if !b.symlink && p.matches(n) {
			matches = append(matches, n)
			if len(matches) > p.cfg.MaxFiles {
				return nil, fmt.Errorf("the globs match more than the limit of %d files (maxFiles)", p.cfg.MaxFiles)
			}
		}
	}
	for _, m := range matches {
		idx.matched = append(idx.matched, idx.files[m])
	}
	listed := map[string]bool{}
	for _, m := range matches {
		idx.listing[path.Dir(m)] = append(idx.listing[path.Dir(m)], dirEntry{name: path.Base(m), b: idx.files[m]})
		for d := path.Dir(m); d != "." && !listed[d]; d = path.Dir(d) {
			listed[d] = true
			idx.listing[path.Dir(d)] = append(idx.listing[path.Dir(d)], dirEntry{name: path.Base(d), dir: true})
		}
	}
	for d, l := range idx.listing {
		sort.Slice(l, func(i, j int) bool { return l[i].Name() < l[j].Name() })
		idx.listing[d] = l
	}
	for n := range idx.files {
		idx.names = append(idx.names, n)
	}
	for d := range idx.dirs {
		if d != "." {
			idx.names = append(idx.names, d)
		}
	}
	sort.Strings(idx.names)
	return idx, nil
}

func (p *Provider) matches(name string) bool {
	for _, g := range p.cfg.Globs {
		if ok, _ := doublestar.Match(g, name); ok {
			return true
		}
	}
	return false
}

// ErrSymlink is what the tree answers (wrapping catalog.ErrOutsideTree) for a symbolic link.
var ErrSymlink = fmt.Errorf("%w: a symbolic link (links in a git location are not followed)", catalog.ErrOutsideTree)

// treeFS is one commit's tree. Its directory listings show only the location's descriptor
// files (what the globs match) and the directories leading to them, so the engine's walk of
// the root finds exactly those; every other file of the repository is reachable by its name
// and by Glob, so Location targets and placeholders relative to a descriptor resolve inside
// the repository. Symbolic links are refused, never followed.
type treeFS struct {
	idx     *index
	objects *objectReader
	maxFile int64
}

var (
	_ fs.ReadDirFS = (*treeFS)(nil)
	_ fs.StatFS    = (*treeFS)(nil)
	_ fs.GlobFS    = (*treeFS)(nil)
)

func (t *treeFS) lookup(op, name string) (fs.FileInfo, blob, error) {
	if !fs.ValidPath(name) {
		return nil, blob{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if t.idx.dirs[name] {
		return dirEntry{name: path.Base(name), dir: true}, blob{}, nil
	}
	b, ok := t.idx.files[name]
	if !ok {
		return nil, blob{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if b.symlink {
		return nil, blob{}, &fs.PathError{Op: op, Path: name, Err: ErrSymlink}
	}
	return dirEntry{name: path.Base(name), b: b}, b, nil
}

func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	fi, _, err := t.lookup("stat", name)
	return fi, err
}

func (t *treeFS) Open(name string) (fs.File, error) {
	fi, b, err := t.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return &dirFile{fi: fi, entries: t.idx.listing[name]}, nil
	}
	return &blobFile{fi: fi, b: b, t: t, name: name}, nil
}

func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	fi, _, err := t.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return append([]fs.DirEntry(nil), t.idx.listing[name]...), nil
}

// Glob matches pattern against every file and directory of the tree (not only the listed
// descriptors), as fs.Glob would on a checkout; symbolic links are left out.
func (t *treeFS) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range t.idx.names {
		if b, ok := t.idx.files[n]; ok && b.symlink {
			continue
		}
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

type dirEntry struct {
	name string
	dir  bool
	b    blob
}

func (d dirEntry) Name() string { return d.name }
func (d dirEntry) IsDir() bool  { return d.dir }
func (d dirEntry) Type() fs.FileMode {
	return d.Mode().Type()
}
func (d dirEntry) Info() (fs.FileInfo, error) { return d, nil }
func (d dirEntry) Size() int64                { return d.b.size }
func (d dirEntry) Mode() fs.FileMode {
	switch {
	case d.dir:
		return fs.ModeDir | 0o555
	case d.b.exec:
		return 0o555
	}
	return 0o444
}
func (d dirEntry) ModTime() time.Time { return time.Time{} }
func (d dirEntry) Sys() any           { return nil }

type dirFile struct {
	fi      fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.Name(), Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
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

// blobFile reads its content from the object store on the first Read, so a Stat that shows the
// file is too large costs nothing.
type blobFile struct {
	fi   fs.FileInfo
	b    blob
	t    *treeFS
	name string
	r    *bytes.Reader
}

func (f *blobFile) Stat() (fs.FileInfo, error) { return f.fi, nil }
func (f *blobFile) Close() error               { return nil }
func (f *blobFile) Read(p []byte) (int, error) {
	if f.r == nil {
		if f.b.size > f.t.maxFile {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: fmt.Errorf("file is larger than the limit of %d bytes (maxFileBytes)", f.t.maxFile)}
		}
		data, err := f.t.objects.read(f.b.oid, f.b.size, f.t.idx.matched)
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		f.r = bytes.NewReader(data)
	}
	return f.r.Read(p)
}

// objectReader reads blobs through one `git cat-file --batch`, started on the first read and
// stopped by close (the tree's release function).
type objectReader struct {
	p  *Provider
	mu sync.Mutex
	// descriptors holds the descriptor files, read in one stream on the first read (one
	// request and answer per file through the pipe costs far more).
	descriptors map[string][]byte
	cmd         *exec.Cmd
	in          io.WriteCloser
	out         *bufio.Reader
	closed      bool
	err         error
}

func (o *objectReader) read(oid string, size int64, prefetch []blob) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errors.New("the tree was released")
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.descriptors == nil {
		o.descriptors = map[string][]byte{}
		if err := o.prefetch(prefetch); err != nil {
			o.err = err
			return nil, err
		}
	}
	if data, ok := o.descriptors[oid]; ok {
		return data, nil
	}
	if o.cmd == nil {
		if err := o.start(); err != nil {
			o.err = err
			return nil, err
		}
	}
	data, err := o.readLocked(oid, size)
	if err != nil {
		o.err = err
		o.stop()
	}
	return data, err
}

// prefetchBudget bounds what the descriptor prefetch holds in memory; larger files are read
// one by one when opened.
const prefetchBudget = 256 << 20

// prefetch reads the given blobs through one `git cat-file --batch`, writing the requests
// while it reads the answers.
func (o *objectReader) prefetch(blobs []blob) error {
	var want []blob
	var total int64
	seen := map[string]bool{}
	for _, b := range blobs {
		if b.size > o.p.cfg.MaxFileBytes || seen[b.oid] || total+b.size > prefetchBudget {
			continue
		}
		seen[b.oid] = true
		total += b.size
		want = append(want, b)
	}
	if len(want) == 0 {
		return nil
	}
	cmd := exec.Command("git", "--git-dir="+o.p.repoDir, "cat-file", "--batch")
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	go func() {
		w := bufio.NewWriterSize(in, 64<<10)
		for _, b := range want {
			if _, err := w.WriteString(b.oid + "\n"); err != nil {
				break
			}
		}
		w.Flush()
		in.Close()
	}()
	r := &objectReader{out: bufio.NewReaderSize(out, 256<<10)}
	for _, b := range want {
		data, err := r.readAnswer(b.oid, b.size)
		if err != nil {
			return err
		}
		o.descriptors[b.oid] = data
	}
	return nil
}

func (o *objectReader) start() error {
	cmd := exec.Command("git", "--git-dir="+o.p.repoDir, "cat-file", "--batch")
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	o.cmd, o.in, o.out = cmd, in, bufio.NewReaderSize(out, 64<<10)
	return nil
}

func (o *objectReader) readLocked(oid string, size int64) ([]byte, error) {
	if _, err := io.WriteString(o.in, oid+"\n"); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	return o.readAnswer(oid, size)
}

// readAnswer reads cat-file's answer for one blob: a header line, the content and a newline.
func (o *objectReader) readAnswer(oid string, size int64) ([]byte, error) {
	header, err := o.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[0] != oid || f[1] != "blob" {
		return nil, fmt.Errorf("git cat-file: unexpected answer %q", catalog.Excerpt(header, 100))
	}
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || n != size {
		return nil, fmt.Errorf("git cat-file: object %s has size %s, the tree said %d", oid, f[2], size)
	}
	data := make([]byte, n+1) // content and its trailing newline
	if _, err := io.ReadFull(o.out, data); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	return data[:n], nil
}

func (o *objectReader) stop() {
	if o.cmd != nil {
		o.in.Close()
		syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
		o.cmd.Wait()
		o.cmd = nil
	}
}

func (o *objectReader) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.stop()
}
