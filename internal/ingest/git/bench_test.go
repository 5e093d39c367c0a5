package git_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"catalogd/internal/ingest/git"
	"catalogd/internal/testdb"
)

// bigRepo makes a repository of n descriptors (one component each) and pushes it.
func bigRepo(b *testing.B, n int) *repo {
	b.Helper()
	base := b.TempDir()
	r := &repo{dir: filepath.Join(base, "work"), root: filepath.Join(base, "srv")}
	r.bare = filepath.Join(r.root, "r.git")
	run(b, "", "init", "-q", "-b", "main", r.dir)
	run(b, "", "init", "-q", "-b", "main", "--bare", r.bare)
	for i := range n {
		p := filepath.Join(r.dir, "svc", fmt.Sprintf("s%05d", i), "catalog-info.yaml")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(component(fmt.Sprintf("s%05d", i), "v0")), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run(b, r.dir, "add", "-A")
	run(b, r.dir, "commit", "-q", "-m", "init")
	run(b, r.dir, "push", "-q", r.bare, "main")
	return r
}

// edit changes one descriptor and pushes the commit.
func edit(b *testing.B, r *repo, i int) {
	b.Helper()
	p := filepath.Join(r.dir, "svc", "s00042", "catalog-info.yaml")
	if err := os.WriteFile(p, []byte(component("s00042", fmt.Sprintf("v%d", i+1))), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b, r.dir, "commit", "-q", "-a", "-m", "edit")
	run(b, r.dir, "push", "-q", r.bare, "main")
}

// BenchmarkReadAfterOneEdit: a Read of a 10,000-descriptor repository after one descriptor
// changed (fetch, listing, and reading every descriptor as the engine does).
func BenchmarkReadAfterOneEdit(b *testing.B) {
	r := bigRepo(b, 10_000)
	p, err := git.New(git.Config{Target: r.fileURL(), CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	readAll := func() {
		tree, release, err := p.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer release()
		n := 0
		fs.WalkDir(tree.FS, tree.Root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if _, err := fs.ReadFile(tree.FS, path); err != nil {
					b.Fatal(err)
				}
				n++
			}
			return err
		})
		if n != 10_000 {
			b.Fatalf("%d descriptors", n)
		}
	}
	readAll()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		edit(b, r, i)
		b.StartTimer()
		readAll()
	}
}

// BenchmarkFetchUnchanged: a Read when the remote has no new commit (what a poll costs).
func BenchmarkFetchUnchanged(b *testing.B) {
	r := bigRepo(b, 10_000)
	p, err := git.New(git.Config{Target: r.fileURL(), CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, release, err := p.Read(context.Background()); err == nil {
		release()
	}
	b.ResetTimer()
	for range b.N {
		_, release, err := p.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// BenchmarkRefreshAfterOneEdit: the engine's refresh (read, process, apply on SQLite) of a
// 10,000-descriptor repository after one descriptor changed.
func BenchmarkRefreshAfterOneEdit(b *testing.B) {
	r := bigRepo(b, 10_000)
	st := testdb.Open(b, testdb.SQLite(b))
	eng := testdb.Engine(b, st)
	p, err := git.New(git.Config{Target: r.fileURL(), CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		edit(b, r, i)
		b.StartTimer()
		if _, err := eng.Refresh(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}
