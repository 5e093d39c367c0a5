package scaffold

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"catalogd/internal/catalog"
)

// source is a folder to copy from: a directory on disk (opened as an os.Root, so neither ".."
// nor a symbolic link leads out of it) or a shallow git checkout.
type source struct {
	fsys    fs.FS
	cleanup func()
	shown   string
}

// resolveURL resolves a fetch URL against the template's base: absolute URLs stay as they are.
func resolveURL(raw, base string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, catalog.Errorf(catalog.EINVALID, "url %q: %s", excerpt(raw, 100), excerpt(err.Error(), 100))
	}
	if u.IsAbs() {
		return u, nil
	}
	if base == "" {
		return nil, catalog.Errorf(catalog.EINVALID, "url %q is relative, and the template's location is not known", excerpt(raw, 100))
	}
	b, err := url.Parse(base)
	if err != nil {
		return nil, catalog.Errorf(catalog.EINVALID, "template base %q: %s", excerpt(base, 100), excerpt(err.Error(), 100))
	}
	return b.ResolveReference(u), nil
}

// allowedDir returns the allowed directory holding p (absolute) and p relative to it. A path
// whose existing part resolves, through symbolic links, out of every allowed directory is
// refused too.
func (e *Engine) allowedDir(p string) (string, string, error) {
	p = filepath.Clean(p)
	dir, rel, ok := e.under(p)
	if ok {
		// Resolve the longest existing prefix: a link inside an allowed dir must not lead out.
		existing, rest := p, ""
		for {
			if real, err := filepath.EvalSymlinks(existing); err == nil {
				if _, _, ok := e.under(filepath.Join(real, rest)); !ok {
					break
				}
				return dir, rel, nil
			}
			parent := filepath.Dir(existing)
			if parent == existing {
				return dir, rel, nil
			}
			rest = filepath.Join(filepath.Base(existing), rest)
			existing = parent
		}
	}
	return "", "", catalog.Errorf(catalog.EFORBIDDEN, "%s is outside the allowed directories (--read-allow-dir)", excerpt(p, 120))
}

func (e *Engine) under(p string) (string, string, bool) {
	for _, d := range e.allowDirs {
		if rel, err := filepath.Rel(d, p); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return d, rel, true
		}
	}
	return "", "", false
}

// openSource opens the folder a fetch action reads.
func (e *Engine) openSource(ctx context.Context, ac *actionContext, raw string) (*source, error) {
	u, err := resolveURL(raw, ac.task.Template.BaseURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, catalog.Errorf(catalog.EINVALID, "url %q: a file URL names no host", excerpt(raw, 100))
		}
		dir, rel, err := e.allowedDir(filepath.FromSlash(u.Path))
		if err != nil {
			return nil, err
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "skeleton %s: %s", excerpt(u.Path, 120), excerpt(err.Error(), 120))
		}
		sub, err := root.OpenRoot(rel)
		root.Close()
		if err != nil {
			return nil, catalog.Errorf(catalog.EINVALID, "skeleton %s cannot be opened: %s", excerpt(u.Path, 120), excerpt(err.Error(), 120))
		}
		return &source{fsys: sub.FS(), cleanup: func() { sub.Close() }, shown: u.Path}, nil
	case "http", "https":
		return e.gitSource(ctx, ac, u)
	}
	return nil, catalog.Errorf(catalog.EINVALID, "url %q: only file, http and https skeleton URLs are read", excerpt(raw, 100))
}

// fileLimits are checked as files are written.
type written struct {
	files int
}

// copyTree copies (and, unless plain, renders) src into the workspace under target.
func (e *Engine) copyTree(ac *actionContext, src fs.FS, target string, plain bool, values map[string]any, noTemplating []string, ext string) (int, error) {
	ws, err := os.OpenRoot(ac.workspace)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	target, err = workspacePath(target)
	if err != nil {
		return 0, err
	}
	vars := map[string]any{"values": values}
	lim := e.opts.Limits
	var w written
	made := map[string]bool{} // folders already created
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return catalog.Errorf(catalog.EINVALID, "skeleton entry %s is a symbolic link; links are not copied", excerpt(p, 120))
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return catalog.Errorf(catalog.EINVALID, "skeleton entry %s is not a regular file", excerpt(p, 120))
		}
		copyOnly := plain
		for _, g := range noTemplating {
			if ok, _ := doublestar.Match(strings.TrimPrefix(path.Clean(g), "./"), p); ok {
				copyOnly = true
			}
		}
		// A name is rendered unless the file is copied as it is; a name that renders empty
		// leaves the file (or folder) out, as Backstage does.
		name := p
		if !plain {
			if name, err = renderString(p, vars, lim.MaxRender); err != nil {
				return fmt.Errorf("file name %q: %w", excerpt(p, 120), err)
			}
		}
		if ext != "" && !d.IsDir() {
			if strings.HasSuffix(name, ext) {
				name = strings.TrimSuffix(name, ext)
			} else {
				copyOnly = true
			}
		}
		if name == "" || strings.HasSuffix(name, "/") || path.Base(name) == "" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		dest, err := workspacePath(path.Join(target, name))
		if err != nil {
			return catalog.Errorf(catalog.EINVALID, "file %s renders to %q, which is refused: %s", excerpt(p, 120), excerpt(name, 120), err.Error())
		}
		if d.IsDir() {
			made[dest] = true
			return ws.MkdirAll(dest, 0o755)
		}
		w.files++
		if w.files > lim.MaxFiles {
			return catalog.Errorf(catalog.EINVALID, "the skeleton has more than %d files", lim.MaxFiles)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > lim.MaxFileBytes {
			return catalog.Errorf(catalog.EINVALID, "skeleton file %s is larger than %d bytes", excerpt(p, 120), lim.MaxFileBytes)
		}
		content, err := readBounded(src, p, lim.MaxFileBytes)
		if err != nil {
			return err
		}
		if !copyOnly && !isBinary(content) {
			out, err := renderString(string(content), vars, int(min(lim.MaxFileBytes, int64(lim.MaxRender))))
			if err != nil {
				return fmt.Errorf("file %s: %w", excerpt(p, 120), err)
			}
			content = []byte(out)
		}
		ac.budget.bytes -= int64(len(content))
		if ac.budget.bytes < 0 {
			return catalog.Errorf(catalog.EINVALID, "the task writes more than %d bytes", lim.MaxTotalBytes)
		}
		if dir := path.Dir(dest); !made[dir] {
			if err := ws.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			made[dir] = true
		}
		if info.Mode()&0o111 == 0 {
			return ws.WriteFile(dest, content, 0o644)
		}
		if err := ws.WriteFile(dest, content, 0o755); err != nil {
			return err
		}
		return ws.Chmod(dest, 0o755) // whatever the umask took away
	})
	if err != nil {
		var le *langError
		if errors.As(err, &le) {
			return w.files, catalog.Errorf(catalog.EINVALID, "%s", err.Error())
		}
		var ce *catalog.Error
		if errors.As(err, &ce) {
			return w.files, err
		}
		return w.files, catalog.Errorf(catalog.EINVALID, "%s", excerpt(err.Error(), 300))
	}
	return w.files, nil
}

// workspacePath cleans a slash path relative to the workspace and refuses one that leaves it.
func workspacePath(p string) (string, error) {
	c := path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	rel := strings.TrimPrefix(c, "/")
	if rel == "" {
		return ".", nil
	}
	if strings.Contains(p, "..") {
		// ".." that stays inside after cleaning is still refused: a template has no reason for it.
		for _, seg := range strings.Split(strings.ReplaceAll(p, "\\", "/"), "/") {
			if seg == ".." {
				return "", catalog.Errorf(catalog.EINVALID, "path %q leaves the workspace", excerpt(p, 120))
			}
		}
	}
	if !filepath.IsLocal(rel) || strings.HasPrefix(p, "/") {
		return "", catalog.Errorf(catalog.EINVALID, "path %q leaves the workspace", excerpt(p, 120))
	}
	for _, seg := range strings.Split(rel, "/") {
		// A .git file or folder in the work tree would make git read another repository
		// (a "gitdir:" pointer) when the workspace is committed.
		if strings.EqualFold(seg, ".git") {
			return "", catalog.Errorf(catalog.EINVALID, "path %q names a .git entry, which a workspace may not hold", excerpt(p, 120))
		}
	}
	return rel, nil
}

func readBounded(fsys fs.FS, p string, max int64) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, catalog.Errorf(catalog.EINVALID, "skeleton file %s is larger than %d bytes", excerpt(p, 120), max)
	}
	return b, nil
}

// isBinary reports content that is not text: a NUL byte early on, or invalid UTF-8.
func isBinary(b []byte) bool {
	head := b[:min(len(b), 8000)]
	return bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(b)
}

// listFiles returns the files of a workspace (for a dry run).
func (e *Engine) listFiles(ws string) ([]DryRunFile, error) {
	var out []DryRunFile
	err := filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ws, p)
		f := DryRunFile{Path: filepath.ToSlash(rel), Executable: info.Mode()&0o111 != 0}
		if isBinary(b) {
			f.Content, f.Base64 = base64.StdEncoding.EncodeToString(b), true
		} else {
			f.Content = string(b)
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

func stringsOf(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func str(m map[string]any, k, def string) string {
	if s, ok := m[k].(string); ok && s != "" {
		return s
	}
	return def
}

func fetchTemplate(ctx context.Context, ac *actionContext) (map[string]any, error) {
	src, err := ac.e.openSource(ctx, ac, str(ac.input, "url", ""))
	if err != nil {
		return nil, err
	}
	defer src.cleanup()
	values, _ := ac.input["values"].(map[string]any)
	if values == nil {
		values = map[string]any{}
	}
	globs := append(stringsOf(ac.input["copyWithoutTemplating"]), stringsOf(ac.input["copyWithoutRender"])...)
	ext := ""
	switch x := ac.input["templateFileExtension"].(type) {
	case bool:
		if x {
			ext = ".njk"
		}
	case string:
		ext = "." + strings.TrimPrefix(x, ".")
	}
	n, err := ac.e.copyTree(ac, src.fsys, str(ac.input, "targetPath", "."), false, values, globs, ext)
	if err != nil {
		return nil, err
	}
	ac.logf("rendered %d files from %s", n, src.shown)
	return map[string]any{}, nil
}

func fetchPlain(ctx context.Context, ac *actionContext) (map[string]any, error) {
	src, err := ac.e.openSource(ctx, ac, str(ac.input, "url", ""))
	if err != nil {
		return nil, err
	}
	defer src.cleanup()
	n, err := ac.e.copyTree(ac, src.fsys, str(ac.input, "targetPath", "."), true, nil, nil, "")
	if err != nil {
		return nil, err
	}
	ac.logf("copied %d files from %s", n, src.shown)
	return map[string]any{}, nil
}
