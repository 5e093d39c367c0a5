package git_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"catalogd/ent/entity"
	"catalogd/internal/ingest/git"
	"catalogd/internal/testdb"
	"catalogd/internal/webhook"
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

// BenchmarkWebhookToVisible: from a signed push delivery to the edited entity being visible
// in the database, for one edited descriptor in a 10,000-descriptor repository (webhook
// handler, git read, the engine's refresh on SQLite).
func BenchmarkWebhookToVisible(b *testing.B) {
	r := bigRepo(b, 10_000)
	st := testdb.Open(b, testdb.SQLite(b))
	eng := testdb.Engine(b, st)
	p, err := git.New(git.Config{Target: r.fileURL(), Ref: "main", CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	const secret = "s"
	h, err := webhook.NewGitHub(webhook.GitHubConfig{Secret: secret}, func(ctx context.Context, _ string, urls []string, branch string) {
		if !p.MatchesPush(urls, branch) {
			done <- fmt.Errorf("the push of %v %s does not match the location", urls, branch)
			return
		}
		_, err := eng.Refresh(ctx, p)
		done <- err
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		edit(b, r, i)
		body := fmt.Sprintf(`{"ref":"refs/heads/main","after":"%d","repository":{"full_name":"acme/r","clone_url":%q}}`, i, r.fileURL())
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		b.StartTimer()
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("delivery: %v %v", err, resp)
		}
		resp.Body.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		desc, err := st.Client.Entity.Query().Where(entity.Ref("component:default/s00042")).Only(context.Background())
		if err != nil || desc.Description != fmt.Sprintf("v%d", i+1) {
			b.Fatalf("the edit is not visible: %v %v", desc, err)
		}
		b.StartTimer()
	}
}
