package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/internal/catalog"
)

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestALocalTreeOpensOnlyInsideItsRoots(t *testing.T) {
	top := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(top, "repo", "catalog", "catalog-info.yaml"), "x")
	write(t, filepath.Join(top, "repo", "api", "openapi.yaml"), "api")
	write(t, filepath.Join(top, "secret.txt"), "secret")
	write(t, filepath.Join(outside, "o.txt"), "o")
	for link, target := range map[string]string{
		"repo/catalog/to-api.yaml":     "../api/openapi.yaml", // stays in the repo, leaves catalog/
		"repo/catalog/to-secret.txt":   "../../secret.txt",    // leaves the repo too
		"repo/catalog/to-outside.txt":  filepath.Join(outside, "o.txt"),
		"repo/catalog/dir-out":         outside,
		"repo/catalog/to-self.yaml":    "catalog-info.yaml",
		"repo/catalog/to-etc-passwd":   "/etc/passwd",
		"repo/api/back-to-catalog.txt": "../catalog/catalog-info.yaml",
	} {
		if err := os.Symlink(target, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	name := func(rel string) string { return strings.TrimPrefix(filepath.ToSlash(filepath.Join(top, rel)), "/") }
	read := func(t *testing.T, p *Provider) (catalog.Tree, func()) {
		t.Helper()
		tree, release, err := p.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tree, release
	}

	for _, tc := range []struct {
		allow   []string
		path    string
		want    string // content, or "" for a refusal
		missing bool
	}{
		{nil, "repo/catalog/catalog-info.yaml", "x", false},
		{nil, "repo/catalog/to-self.yaml", "x", false},
		{nil, "repo/catalog/to-api.yaml", "", false},
		{nil, "repo/api/openapi.yaml", "", false},
		{nil, "repo/catalog/to-secret.txt", "", false},
		{nil, "repo/catalog/to-outside.txt", "", false},
		{nil, "repo/catalog/dir-out/o.txt", "", false},
		{nil, "repo/catalog/to-etc-passwd", "", false},
		{nil, "repo/catalog/none.yaml", "", true},
		{[]string{"repo"}, "repo/catalog/to-api.yaml", "api", false},
		{[]string{"repo"}, "repo/api/openapi.yaml", "api", false},
		{[]string{"repo"}, "repo/api/back-to-catalog.txt", "x", false},
		{[]string{"repo"}, "repo/catalog/to-secret.txt", "", false},
		{[]string{"repo"}, "secret.txt", "", false},
		{[]string{"repo"}, "repo/catalog/dir-out/o.txt", "", false},
		{[]string{"repo", "does-not-exist"}, "repo/api/openapi.yaml", "api", false},
	} {
		t.Run(strings.Join(tc.allow, ",")+" "+tc.path, func(t *testing.T) {
			var dirs []string
			for _, d := range tc.allow {
				dirs = append(dirs, filepath.Join(top, d))
			}
			p, err := New(filepath.Join(top, "repo", "catalog", "catalog-info.yaml"), dirs...)
			if err != nil {
				t.Fatal(err)
			}
			tree, release := read(t, p)
			defer release()
			data, err := fs.ReadFile(tree.FS, name(tc.path))
			switch {
			case tc.missing:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("err = %v, want not found", err)
				}
			case tc.want == "":
				if !errors.Is(err, catalog.ErrOutsideTree) {
					t.Errorf("read %q, %v; want a refusal", data, err)
				}
			case err != nil || string(data) != tc.want:
				t.Errorf("read %q, %v; want %q", data, err, tc.want)
			}
		})
	}
}

func TestADirectoryLocationIsItsOwnRoot(t *testing.T) {
	top := t.TempDir()
	write(t, filepath.Join(top, "cat", "a.yaml"), "a")
	write(t, filepath.Join(top, "b.yaml"), "b")
	p, err := New(filepath.Join(top, "cat"))
	if err != nil {
		t.Fatal(err)
	}
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	entries, err := fs.ReadDir(tree.FS, tree.Root)
	if err != nil || len(entries) != 1 || entries[0].Name() != "a.yaml" {
		t.Errorf("ReadDir(root) = %v, %v", entries, err)
	}
	if _, err := fs.ReadDir(tree.FS, strings.TrimPrefix(filepath.ToSlash(top), "/")); !errors.Is(err, catalog.ErrOutsideTree) {
		t.Errorf("ReadDir(parent) err = %v, want a refusal", err)
	}
	if _, err := fs.Stat(tree.FS, "etc/passwd"); !errors.Is(err, catalog.ErrOutsideTree) {
		t.Errorf("Stat(etc/passwd) err = %v, want a refusal", err)
	}
	if _, err := tree.FS.Open("../x"); err == nil {
		t.Error("Open(../x) succeeded")
	}
}

func TestAMissingLocationIsAFailedRead(t *testing.T) {
	p, err := New(filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v", err)
	}
}
