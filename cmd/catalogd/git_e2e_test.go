package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitIn runs git in dir with a fixed identity and no system or user configuration.
func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "gc.auto=0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// gitRepo makes a bare repository with a work tree that pushes to it; push commits files.
type gitRepo struct {
	t          *testing.T
	work, bare string
}

func newGitRepo(t *testing.T) *gitRepo {
	root := t.TempDir()
	r := &gitRepo{t: t, work: filepath.Join(root, "work"), bare: filepath.Join(root, "catalog.git")}
	gitIn(t, "", "init", "-q", "-b", "main", r.work)
	gitIn(t, "", "init", "-q", "-b", "main", "--bare", r.bare)
	return r
}

func (r *gitRepo) push(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		writeFile(r.t, filepath.Join(r.work, name), content)
	}
	gitIn(r.t, r.work, "add", "-A")
	gitIn(r.t, r.work, "commit", "-qm", "change")
	gitIn(r.t, r.work, "push", "-q", r.bare, "main")
}

// hasEntity asks the server whether ref exists.
func (s *testServer) hasEntity(ref string) bool {
	s.t.Helper()
	r := s.query(`query($ref: String!) { entity(ref: $ref) { ref } }`, map[string]any{"ref": ref})
	var d struct{ Entity *struct{ Ref string } }
	if err := json.Unmarshal(r.Data, &d); err != nil {
		s.t.Fatal(err)
	}
	return d.Entity != nil
}

func signedPush(t *testing.T, base, secret, delivery, cloneURL string) *http.Response {
	t.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","repository":{"full_name":"acme/catalog","clone_url":%q}}`, cloneURL)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/github", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestAPushWebhookRefreshesAGitLocation: a git location from the configuration file, read
// hourly, picks up a pushed change as soon as GitHub's signed push delivery arrives; a
// delivery with the wrong signature changes nothing.
func TestAPushWebhookRefreshesAGitLocation(t *testing.T) {
	repo := newGitRepo(t)
	repo.push(map[string]string{"catalog-info.yaml": group("alpha")})
	cfg := filepath.Join(t.TempDir(), "catalogd.yaml")
	writeFile(t, cfg, fmt.Sprintf("locations:\n  - type: git\n    target: file://%s\n    ref: main\n    cacheDir: %s\n    interval: 1h\nwebhooks:\n  github:\n    secret: s3cret\n",
		repo.bare, filepath.Join(t.TempDir(), "cache")))
	s := startServer(t, "--config", cfg)
	if !s.hasEntity("group:alpha") {
		t.Fatal("the git location's first read did not bring group:alpha")
	}

	repo.push(map[string]string{"teams/beta/catalog-info.yaml": group("beta")})
	if resp := signedPush(t, s.base, "wrong secret", "d-1", "file://"+repo.bare); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a badly signed delivery: status %d, want 401", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond)
	if s.hasEntity("group:beta") {
		t.Fatal("a badly signed delivery refreshed the location")
	}
	if resp := signedPush(t, s.base, "s3cret", "d-2", "file://"+repo.bare); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a signed push: status %d, want 202", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.hasEntity("group:beta") {
		if time.Now().After(deadline) {
			t.Fatalf("group:beta did not appear after the push webhook; log:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGitLocationsRegisteredAtRunTimeStayInsideWhatTheOperatorAllowed: git connects by itself,
// past the URL reader's dialer, so at run time only file:// repositories under --read-allow-dir
// and http(s) ones admitted by --read-allow on public addresses are accepted.
func TestGitLocationsRegisteredAtRunTimeStayInsideWhatTheOperatorAllowed(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	keys, bearer := apiKeys(t)
	repo := newGitRepo(t)
	repo.push(map[string]string{"catalog-info.yaml": group("gamma")})
	allowed := filepath.Dir(repo.bare)
	s := startServer(t, "--api-key-file", keys, "--read-allow-dir", allowed, "--read-allow", "127.0.0.1:9", "--read-allow", "localhost:9")
	register := func(target string) authAnswer {
		return s.postAs(bearer["admin"], `mutation { registerLocation(target: "`+target+`") { target entityRefs } }`, nil)
	}
	for _, target := range []string{
		"file://" + t.TempDir() + "/other.git",  // not under an allowed directory
		"https://localhost:9/acme/catalog.git",  // admitted by name, resolves to loopback
		"https://github.com/acme/catalog.git",   // not admitted by --read-allow
		"ssh://git@github.com/acme/catalog.git", // ssh: configuration file only
		"git://127.0.0.1/acme/catalog.git",      // git://: configuration file only
	} {
		if a := register(target); code(a) != "FORBIDDEN" {
			t.Errorf("registering %s: %s, want FORBIDDEN", target, a.raw)
		}
	}
	if a := register("file://" + repo.bare); len(a.body.Errors) > 0 || !strings.Contains(a.raw, "group:default/gamma") {
		t.Fatalf("registering a repository under the allowed directory: %s", a.raw)
	}
	if a := s.postAs(bearer["reader"], `{ entity(ref: "group:gamma") { ref } }`, nil); !strings.Contains(a.raw, "group:default/gamma") {
		t.Fatalf("group:gamma is not in the catalog after registering its repository: %s", a.raw)
	}
}
