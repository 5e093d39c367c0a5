package git_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest/git"
)

// repo is a real repository made in the test, with a bare copy that servers export.
type repo struct {
	t    *testing.T
	dir  string // work tree
	root string // directory holding the bare repository served
	bare string // root/r.git
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	base := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(base, "work"), root: filepath.Join(base, "srv")}
	r.bare = filepath.Join(r.root, "r.git")
	run(t, "", "init", "-q", "-b", "main", r.dir)
	run(t, "", "init", "-q", "-b", "main", "--bare", r.bare)
	run(t, r.bare, "config", "http.receivepack", "true")
	return r
}

func run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	// No automatic gc: a detached one would outlive the test.
	cmd := exec.Command("git", append([]string{"-c", "gc.auto=0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (removing those whose content is ""), commits and pushes the branch.
func (r *repo) commit(files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	run(r.t, r.dir, "add", "-A")
	run(r.t, r.dir, "commit", "-q", "--allow-empty", "-m", "change")
	r.push("main")
	return run(r.t, r.dir, "rev-parse", "HEAD")
}

func (r *repo) push(refs ...string) {
	r.t.Helper()
	run(r.t, r.dir, append([]string{"push", "-q", "-f", r.bare}, refs...)...)
}

func (r *repo) fileURL() string { return "file://" + r.bare }

// daemon serves the repository with git daemon on 127.0.0.1 in its own process group.
func (r *repo) daemon() (url string, stop func()) {
	r.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port="+strconv.Itoa(port),
		"--base-path="+r.root, "--export-all", r.root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}
	r.t.Cleanup(stop)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			r.t.Fatalf("git daemon did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "git://" + addr + "/r.git", stop
}

// httpBackend serves the repository with git http-backend behind net/http/cgi on 127.0.0.1.
func (r *repo) httpBackend(wrap func(http.Handler) http.Handler) *httptest.Server {
	r.t.Helper()
	exe := filepath.Join(run(r.t, "", "--exec-path"), "git-http-backend")
	var h http.Handler = &cgi.Handler{Path: exe, Stderr: io.Discard, Env: []string{"GIT_PROJECT_ROOT=" + r.root, "GIT_HTTP_EXPORT_ALL=1"}}
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	r.t.Cleanup(srv.Close)
	return srv
}

func newProvider(t *testing.T, cfg git.Config) *git.Provider {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	p, err := git.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot reads the location and returns the descriptor files the engine would walk, with
// their content.
func snapshot(t *testing.T, p *git.Provider) (map[string]string, string) {
	t.Helper()
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer release()
	files := map[string]string{}
	err = fs.WalkDir(tree.FS, tree.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := fs.ReadFile(tree.FS, p)
			if err != nil {
				return err
			}
			files[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, tree.Revision
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestReadFollowsPushesOverEveryTransport(t *testing.T) {
	for _, transport := range []string{"file", "daemon", "http"} {
		t.Run(transport, func(t *testing.T) {
			r := newRepo(t)
			first := r.commit(map[string]string{
				"a/catalog-info.yaml":          "a: 1\n",
				"b/catalog-info.yaml":          "b: 1\n",
				"catalog-info.yaml":            "top: 1\n",
				"charts/values.yaml":           "not: a descriptor\n",
				"a/api.yaml":                   "openapi: 3.0.0\n",
				"deep/x/y/z/catalog-info.yaml": "z: 1\n",
			})
			var url string
			switch transport {
			case "file":
				url = r.fileURL()
			case "daemon":
				url, _ = r.daemon()
			case "http":
				url = r.httpBackend(nil).URL + "/r.git"
			}
			p := newProvider(t, git.Config{Target: url})
			files, rev := snapshot(t, p)
			if rev != first {
				t.Errorf("revision %s, want the commit %s", rev, first)
			}
			if got, want := keys(files), []string{"a/catalog-info.yaml", "b/catalog-info.yaml", "catalog-info.yaml", "deep/x/y/z/catalog-info.yaml"}; !slices.Equal(got, want) {
				t.Errorf("descriptor files %v, want %v", got, want)
			}

			_, again := snapshot(t, p)
			if again != first {
				t.Errorf("an unchanged remote gave revision %s, want %s", again, first)
			}

			second := r.commit(map[string]string{
				"a/catalog-info.yaml": "a: 2\n", // edited
				"b/catalog-info.yaml": "",       // deleted
				"c/catalog-info.yaml": "c: 1\n", // added
			})
			files2, rev2 := snapshot(t, p)
			if rev2 != second || rev2 == first {
				t.Errorf("revision after a push %s, want %s", rev2, second)
			}
			want := map[string]string{"a/catalog-info.yaml": "a: 2\n", "c/catalog-info.yaml": "c: 1\n",
				"catalog-info.yaml": "top: 1\n", "deep/x/y/z/catalog-info.yaml": "z: 1\n"}
			if fmt.Sprint(files2) != fmt.Sprint(want) {
				t.Errorf("after the push: %v, want %v", files2, want)
			}
		})
	}
}

func TestRefsSelectBranchTagAndCommit(t *testing.T) {
	r := newRepo(t)
	c1 := r.commit(map[string]string{"catalog-info.yaml": "v: 1\n"})
	run(t, r.dir, "tag", "-a", "v1", "-m", "v1")
	run(t, r.dir, "checkout", "-q", "-b", "dev")
	r.commit(map[string]string{"catalog-info.yaml": "v: dev\n"})
	r.push("dev", "v1")
	run(t, r.dir, "checkout", "-q", "main")
	c3 := r.commit(map[string]string{"catalog-info.yaml": "v: 3\n"})

	for _, tc := range []struct{ ref, want, rev string }{
		{"", "v: 3\n", c3},
		{"main", "v: 3\n", c3},
		{"dev", "v: dev\n", ""},
		{"v1", "v: 1\n", c1},
		{"refs/tags/v1", "v: 1\n", c1},
		{c1, "v: 1\n", c1},
	} {
		t.Run("ref "+tc.ref, func(t *testing.T) {
			p := newProvider(t, git.Config{Target: r.fileURL(), Ref: tc.ref})
			files, rev := snapshot(t, p)
			if files["catalog-info.yaml"] != tc.want {
				t.Errorf("content %q, want %q", files["catalog-info.yaml"], tc.want)
			}
			if tc.rev != "" && rev != tc.rev {
				t.Errorf("revision %s, want %s", rev, tc.rev)
			}
		})
	}
}

func TestSymbolicLinksAreNotFollowed(t *testing.T) {
	r := newRepo(t)
	r.commit(map[string]string{"a/catalog-info.yaml": "a: 1\n"})
	if err := os.Symlink("/etc/passwd", filepath.Join(r.dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(r.dir, "evil"), 0o755)
	if err := os.Symlink("/etc/passwd", filepath.Join(r.dir, "evil", "catalog-info.yaml")); err != nil {
		t.Fatal(err)
	}
	r.commit(nil)
	p := newProvider(t, git.Config{Target: r.fileURL()})
	files, _ := snapshot(t, p)
	if got := keys(files); !slices.Equal(got, []string{"a/catalog-info.yaml"}) {
		t.Errorf("descriptor files %v: a link to /etc/passwd is listed", got)
	}
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, name := range []string{"passwd", "evil/catalog-info.yaml"} {
		data, err := fs.ReadFile(tree.FS, name)
		if !errors.Is(err, catalog.ErrOutsideTree) {
			t.Errorf("read %s: %v (%d bytes), want a refusal", name, err, len(data))
		}
		if strings.Contains(string(data), "root:") {
			t.Errorf("read /etc/passwd through %s", name)
		}
	}
	if m, _ := fs.Glob(tree.FS, "*"); slices.Contains(m, "passwd") {
		t.Errorf("glob lists the link: %v", m)
	}
}

func TestRefusesDangerousRefsAndURLs(t *testing.T) {
	for _, ref := range []string{"--upload-pack=touch /tmp/pwned", "-x", "main:refs/heads/x", "a..b", "+main", "ma in", "x\n"} {
		if _, err := git.New(git.Config{Target: "https://example.com/r.git", Ref: ref}); err == nil {
			t.Errorf("ref %q accepted", ref)
		}
	}
	for _, u := range []string{"", "-uhttps://x", "ext::sh -c touch% /tmp/pwned", "ext::sh", "fd::3", "/srv/repo", "ftp://x/r.git", "ssh://-oProxyCommand=touch%20x/r.git", "ssh://-u@host/r.git"} {
		if _, err := git.New(git.Config{Target: u}); err == nil {
			t.Errorf("target %q accepted", u)
		}
	}
	for _, u := range []string{"https://example.com/r.git", "ssh://git@example.com/r.git", "git@github.com:org/r.git", "git://127.0.0.1/r.git", "file:///srv/r.git"} {
		if _, err := git.New(git.Config{Target: u}); err != nil {
			t.Errorf("target %q refused: %v", u, err)
		}
	}
}

func TestAFailedFetchFailsTheRead(t *testing.T) {
	r := newRepo(t)
	r.commit(map[string]string{"catalog-info.yaml": "a: 1\n"})
	url, stop := r.daemon()
	p := newProvider(t, git.Config{Target: url, Timeout: 10 * time.Second})
	if files, _ := snapshot(t, p); len(files) != 1 {
		t.Fatalf("first read: %v", files)
	}
	stop()
	tree, _, err := p.Read(context.Background())
	if err == nil {
		t.Fatalf("read from a dead server gave a tree (revision %q), want an error", tree.Revision)
	}

	t.Run("a server answering 500", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 500) }))
		defer srv.Close()
		p := newProvider(t, git.Config{Target: srv.URL + "/r.git"})
		if _, _, err := p.Read(context.Background()); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("an unknown branch", func(t *testing.T) {
		p := newProvider(t, git.Config{Target: r.fileURL(), Ref: "nope"})
		if _, _, err := p.Read(context.Background()); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("a server that hangs times out", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		p := newProvider(t, git.Config{Target: "git://" + l.Addr().String() + "/r.git", Timeout: 500 * time.Millisecond})
		t0 := time.Now()
		_, _, err = p.Read(context.Background())
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})
}

func TestBoundsFailTheRead(t *testing.T) {
	r := newRepo(t)
	r.commit(map[string]string{"a/catalog-info.yaml": "a\n", "b/catalog-info.yaml": "b\n", "big.bin": strings.Repeat("x", 5000)})
	for _, tc := range []struct {
		name string
		cfg  git.Config
		want string
	}{
		{"too many files", git.Config{MaxFiles: 1}, "maxFiles"},
		{"tree too large", git.Config{MaxTreeBytes: 1000}, "maxTreeBytes"},
		{"repository too large", git.Config{MaxRepoBytes: 1}, "maxRepoBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Target = r.fileURL()
			p := newProvider(t, tc.cfg)
			// Twice: a read after one over a bound must not find the fetch up to date and use it.
			for i := range 2 {
				_, _, err := p.Read(context.Background())
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("read %d: err = %v, want one naming %s", i+1, err, tc.want)
				}
			}
		})
	}
}

func TestTokenIsSentAndNeverShown(t *testing.T) {
	r := newRepo(t)
	r.commit(map[string]string{"catalog-info.yaml": "a: 1\n"})
	const token = "s3cr3t-token-value"
	var sawAuth atomic.Bool
	srv := r.httpBackend(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			user, pass, ok := req.BasicAuth()
			if !ok || user != "x-access-token" || pass != token {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "no "+token, http.StatusUnauthorized)
				return
			}
			sawAuth.Store(true)
			h.ServeHTTP(w, req)
		})
	})
	p := newProvider(t, git.Config{Target: srv.URL + "/r.git", Token: token})
	if files, _ := snapshot(t, p); len(files) != 1 || !sawAuth.Load() {
		t.Fatalf("files %v, authenticated %v", files, sawAuth.Load())
	}
	bad := newProvider(t, git.Config{Target: "http://user:" + token + "@" + strings.TrimPrefix(srv.URL, "http://") + "/nope.git", Token: token})
	_, _, err := bad.Read(context.Background())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, shown := range []string{err.Error(), bad.Location().Key, bad.URL("x")} {
		if strings.Contains(shown, token) {
			t.Errorf("the token is shown: %s", shown)
		}
	}
}

func TestDecodeNamesTheKey(t *testing.T) {
	cfg, err := git.Decode(map[string]any{"type": "git", "target": "https://x/r.git", "glob": []any{"a/*.yaml", "**/c.yaml"}, "timeout": "30s", "maxFiles": 10})
	if err != nil || cfg.Target != "https://x/r.git" || len(cfg.Globs) != 2 || cfg.Timeout != 30*time.Second || cfg.MaxFiles != 10 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"target": 3}, "target: want a string"},
		{map[string]any{"tagret": "x"}, "tagret: unknown key"},
		{map[string]any{"timeout": "soon"}, "timeout: want a positive duration"},
		{map[string]any{"maxFiles": 1.5}, "maxFiles: want an integer"},
		{map[string]any{"glob": []any{"a", 2}}, "glob: item 1"},
	} {
		if _, err := git.Decode(tc.opts); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestMatchesPush(t *testing.T) {
	local, err := git.New(git.Config{Target: "file:///srv/git/r.git"})
	if err != nil {
		t.Fatal(err)
	}
	if !local.MatchesPush([]string{"file:///srv/git/r.git"}, "main") || local.MatchesPush([]string{"file:///srv/git/other.git"}, "main") {
		t.Error("file URLs are not matched by their path")
	}
	urls := []string{"https://github.com/Acme/Payments.git", "git@github.com:Acme/Payments.git", "git://github.com/Acme/Payments.git"}
	for _, tc := range []struct {
		target, ref, branch string
		want                bool
	}{
		{"https://github.com/acme/payments", "", "main", true},
		{"git@github.com:acme/payments.git", "main", "main", true},
		{"ssh://git@github.com/acme/payments.git", "refs/heads/main", "main", true},
		{"https://github.com/acme/payments.git", "dev", "main", false},
		{"https://github.com/acme/payments-ui.git", "", "main", false},
		{"https://gitlab.com/acme/payments.git", "", "main", false},
	} {
		p, err := git.New(git.Config{Target: tc.target, Ref: tc.ref})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.MatchesPush(urls, tc.branch); got != tc.want {
			t.Errorf("%s@%s, push to %s: %v, want %v", tc.target, tc.ref, tc.branch, got, tc.want)
		}
	}
}

// TestRedirectsAreNotFollowed: a location's URL is what was configured or admitted at run
// time; a server there that redirects elsewhere (here to a real repository) fails the read,
// and the other server is not asked.
func TestRedirectsAreNotFollowed(t *testing.T) {
	r := newRepo(t)
	r.commit(map[string]string{"catalog-info.yaml": "a: 1\n"})
	var reached atomic.Bool
	target := r.httpBackend(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			reached.Store(true)
			h.ServeHTTP(w, req)
		})
	})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, target.URL+req.URL.RequestURI(), http.StatusFound)
	}))
	defer redirect.Close()
	_, _, err := newProvider(t, git.Config{Target: redirect.URL + "/r.git"}).Read(context.Background())
	if err == nil {
		t.Fatal("a read through a redirect succeeded")
	}
	if reached.Load() {
		t.Fatal("git followed the redirect to the other server")
	}
}
