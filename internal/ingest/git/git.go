// Package git is the provider for locations in git repositories: any git URL (https, http,
// ssh, git://, file://) and ref. It fetches into a cache directory (one bare repository per
// URL, reused across reads) and presents the tree of the fetched commit, read straight from
// git's object store, as a catalog.Tree whose revision is the commit hash.
//
// It drives the git command-line tool rather than a Go implementation: git fetches only what
// changed into a shallow repository, speaks every transport (ssh with the system's ssh and
// known_hosts), and reads objects through one long-lived `git cat-file --batch`. Arguments are
// passed without a shell, refs are checked before they reach git, and only the transports above
// are allowed (GIT_ALLOW_PROTOCOL), so a URL cannot run a command (ext::).
//
// Nothing is checked out: symbolic links are never followed (the tree refuses them), and a
// repository's size is bounded by what its tree lists, not by what a checkout would write.
package git

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"catalogd/internal/catalog"
)

// Config is one git location. The yaml keys are the location's keys in the configuration file.
type Config struct {
	// Target is the repository's URL: https://, http://, ssh://, git://, file:// or scp-like
	// user@host:path.
	Target string `yaml:"target"`
	// Ref is a branch, a tag or a full commit hash; "" reads the remote's HEAD.
	Ref string `yaml:"ref"`
	// Globs select the descriptor files (doublestar patterns, relative to the repository's
	// top); default **/catalog-info.yaml.
	Globs []string `yaml:"glob"`
	// CacheDir holds the bare repositories; default $XDG_CACHE_HOME/catalogd/git (or the
	// system temp dir).
	CacheDir string `yaml:"cacheDir"`
	// Token authenticates https fetches (sent as basic auth with Username, default
	// x-access-token, as GitHub and GitLab accept). It is never logged nor shown.
	Token    string `yaml:"token"`
	Username string `yaml:"username"`
	// SSHKey is the path of a private key for ssh URLs; KnownHosts a known_hosts file (default:
	// ssh's own). Host keys are always checked.
	SSHKey     string `yaml:"sshKey"`
	KnownHosts string `yaml:"knownHosts"`
	// Timeout bounds one fetch (default 2m). Depth is the depth of the first fetch (default 1).
	Timeout time.Duration `yaml:"timeout"`
	Depth   int           `yaml:"depth"`
	// Bounds: the bare repository's packed size after a fetch (default 2 GiB), the total size
	// of the commit's tree (default 4 GiB), the number of descriptor files matched (default
	// 50,000) and the size of one file read (default 32 MiB). Over a bound, the read fails.
	MaxRepoBytes int64 `yaml:"maxRepoBytes"`
	MaxTreeBytes int64 `yaml:"maxTreeBytes"`
	MaxFiles     int   `yaml:"maxFiles"`
	MaxFileBytes int64 `yaml:"maxFileBytes"`
}

// DefaultGlob selects descriptor files when Config.Globs is empty.
const DefaultGlob = "**/catalog-info.yaml"

// Provider reads one git location.
type Provider struct {
	cfg     Config
	loc     catalog.LocationSpec
	shown   string // the URL without credentials
	repoDir string // the bare repository in the cache
	refName string // the local ref the fetch updates

	mu   sync.Mutex
	last *index // the index of the last commit read
}

// allowedProtocols are the transports git may use (ext:: and fd:: would run commands).
const allowedProtocols = "file:git:http:https:ssh"

var (
	scpLike    = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)
	fullCommit = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// New checks the configuration and returns a provider. Nothing is fetched yet.
func New(cfg Config) (*Provider, error) {
	cfg.Target = strings.TrimSpace(cfg.Target)
	shown, err := checkURL(cfg.Target)
	if err != nil {
		return nil, err
	}
	if err := CheckRef(cfg.Ref); err != nil {
		return nil, err
	}
	if len(cfg.Globs) == 0 {
		cfg.Globs = []string{DefaultGlob}
	}
	for _, g := range cfg.Globs {
		if !doublestar.ValidatePattern(g) || strings.HasPrefix(g, "/") {
			return nil, fmt.Errorf("glob %q: not a valid pattern relative to the repository's top", catalog.Excerpt(g, 100))
		}
	}
	if cfg.SSHKey != "" && strings.ContainsAny(cfg.SSHKey, "\x00\n") {
		return nil, fmt.Errorf("sshKey: not a file path")
	}
	if cfg.KnownHosts != "" && strings.ContainsAny(cfg.KnownHosts, "\x00\n") {
		return nil, fmt.Errorf("knownHosts: not a file path")
	}
	if cfg.Token != "" && strings.ContainsAny(cfg.Token, "\r\n") {
		return nil, fmt.Errorf("token: contains a line break")
	}
	if cfg.Username == "" {
		cfg.Username = "x-access-token"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 1
	}
	if cfg.MaxRepoBytes <= 0 {
		cfg.MaxRepoBytes = 2 << 30
	}
	if cfg.MaxTreeBytes <= 0 {
		cfg.MaxTreeBytes = 4 << 30
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 50_000
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 32 << 20
	}
	if cfg.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cfg.CacheDir = filepath.Join(base, "catalogd", "git")
	}
	if cfg.CacheDir, err = filepath.Abs(cfg.CacheDir); err != nil {
		return nil, fmt.Errorf("cacheDir: %w", err)
	}
	ref := cfg.Ref
	if ref == "" {
		ref = "HEAD"
	}
	sum := sha256.Sum256([]byte(cfg.Target))
	refSum := sha256.Sum256([]byte(ref))
	key := "git:" + shown + "#" + ref
	return &Provider{
		cfg:     cfg,
		loc:     catalog.LocationSpec{Key: key, Provider: "git", Target: shown},
		shown:   shown,
		repoDir: filepath.Join(cfg.CacheDir, hex.EncodeToString(sum[:12])+".git"),
		refName: "refs/catalogd/" + hex.EncodeToString(refSum[:12]),
	}, nil
}

// checkURL admits the transports git may use and returns the URL as it may be shown (without
// a password).
func checkURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("target: a git URL is required")
	}
	if strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, "\x00\r\n\t ") {
		return "", fmt.Errorf("target %q: not a git URL", catalog.Excerpt(raw, 100))
	}
	if scpLike.MatchString(raw) && !strings.Contains(raw, "://") {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Scheme != "file" {
		return "", fmt.Errorf("target %q: not a git URL (https://, http://, ssh://, git://, file:// or user@host:path)", catalog.Excerpt(raw, 100))
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
	default:
		return "", fmt.Errorf("target %q: scheme %q is not read (https, http, ssh, git and file are)", catalog.Excerpt(raw, 100), u.Scheme)
	}
	if strings.HasPrefix(u.Host, "-") || strings.HasPrefix(u.User.Username(), "-") {
		return "", fmt.Errorf("target %q: a host or user may not start with '-'", catalog.Excerpt(raw, 100))
	}
	if u.Scheme == "file" && u.Path == "" {
		return "", fmt.Errorf("target %q: a file URL needs a path", catalog.Excerpt(raw, 100))
	}
	return u.Redacted(), nil
}

// CheckRef refuses refs git could read as an option or a refspec, and names git does not allow.
func CheckRef(ref string) error {
	if ref == "" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("ref %q: %s", catalog.Excerpt(ref, 100), why)
	}
	switch {
	case strings.HasPrefix(ref, "-"):
		return bad("may not start with '-'")
	case len(ref) > 255:
		return bad("longer than 255 bytes")
	case strings.Contains(ref, ".."), strings.Contains(ref, "@{"), strings.Contains(ref, "//"),
		strings.HasPrefix(ref, "/"), strings.HasSuffix(ref, "/"), strings.HasSuffix(ref, "."),
		strings.HasSuffix(ref, ".lock"), strings.HasPrefix(ref, "+"):
		return bad("not a valid branch, tag or commit name")
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return bad("not a valid branch, tag or commit name")
		}
	}
	return nil
}

// Location implements ingest.Provider. Its key is git:<url>#<ref> (HEAD when no ref is set).
func (p *Provider) Location() catalog.LocationSpec { return p.loc }

// URL names a file of the location in annotations and errors: git:<url>#<ref>:<path>. It
// holds no commit, so an entity's annotations change only when the entity does.
func (p *Provider) URL(path string) string {
	return p.loc.Key + ":" + path
}

// Read implements ingest.Provider: it fetches the ref and returns the tree of its commit. A
// failed fetch (a dead server, an unknown ref, a timeout, a bound exceeded) is an error, never
// an empty tree. The release function stops the tree's object reader.
func (p *Provider) Read(ctx context.Context) (catalog.Tree, func(), error) {
	commit, err := p.fetch(ctx)
	if err != nil {
		return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.loc.Key, err)
	}
	p.mu.Lock()
	idx := p.last
	p.mu.Unlock()
	if idx == nil || idx.commit != commit {
		idx, err = p.buildIndex(ctx, commit)
		if err != nil {
			return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.loc.Key, err)
		}
		p.mu.Lock()
		p.last = idx
		p.mu.Unlock()
	}
	t := &treeFS{idx: idx, objects: &objectReader{p: p}, maxFile: p.cfg.MaxFileBytes}
	return catalog.Tree{FS: t, Root: ".", URL: p.URL, Revision: commit}, t.objects.close, nil
}

// fetch brings the ref into the cache and returns its commit.
func (p *Provider) fetch(ctx context.Context) (string, error) {
	if err := os.MkdirAll(p.cfg.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, p.repoDir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := p.ensureRepo(ctx); err != nil {
		return "", err
	}
	if fullCommit.MatchString(p.cfg.Ref) {
		// A commit never changes: once here, it is not fetched again.
		if _, err := p.git(ctx, nil, "cat-file", "-e", p.cfg.Ref+"^{commit}"); err == nil {
			return p.cfg.Ref, nil
		}
	}
	src := p.cfg.Ref
	if src == "" {
		src = "HEAD"
	}
	fctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if commit, ok := p.unchanged(fctx, src); ok {
		return commit, nil
	}
	if fctx.Err() != nil && ctx.Err() == nil {
		return "", fmt.Errorf("ls-remote %s: timed out after %s", src, p.cfg.Timeout)
	}
	args := []string{"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules"}
	if _, err := p.git(ctx, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", p.refName); err != nil {
		// The first fetch is shallow. Later ones are not: a shallow fetch sends the new tip's
		// whole tree again, while a plain one sends only the commits since the last (a
		// rewritten history may bring more, within the timeout and maxRepoBytes).
		args = append(args, "--depth="+strconv.Itoa(p.cfg.Depth))
	}
	args = append(args, "--", p.cfg.Target, "+"+src+":"+p.refName)
	if _, err := p.git(fctx, p.remoteEnv(), args...); err != nil {
		if fctx.Err() != nil && ctx.Err() == nil {
			return "", fmt.Errorf("fetch %s: timed out after %s", src, p.cfg.Timeout)
		}
		return "", fmt.Errorf("fetch %s: %w", src, err)
	}
	out, err := p.git(ctx, nil, "rev-parse", "--verify", "--end-of-options", p.refName+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%s is not a commit: %w", src, err)
	}
	commit := strings.TrimSpace(string(out))
	if size, err := p.packSize(ctx); err != nil {
		return "", err
	} else if size > p.cfg.MaxRepoBytes {
		// Forget the fetched ref, or the next read would find it up to date and use it.
		if _, err := p.git(ctx, nil, "update-ref", "-d", p.refName); err != nil {
			return "", fmt.Errorf("drop the oversized fetch: %w", err)
		}
		return "", fmt.Errorf("the repository takes %d bytes, more than the limit of %d (maxRepoBytes)", size, p.cfg.MaxRepoBytes)
	}
	return commit, nil
}

// unchanged asks the remote (git ls-remote, one round trip) whether the ref still names what
// the last fetch brought, and if so returns its commit: a shallow fetch would send the tip's
// whole tree again even when nothing changed.
func (p *Provider) unchanged(ctx context.Context, src string) (string, bool) {
	local, err := p.git(ctx, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", p.refName)
	if err != nil {
		return "", false
	}
	out, err := p.git(ctx, p.remoteEnv(), "ls-remote", "--", p.cfg.Target, src)
	if err != nil {
		return "", false // the fetch will say what is wrong
	}
	want := strings.TrimSpace(string(local))
	matched := false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		oid, name, ok := strings.Cut(line, "\t")
		if !ok || strings.HasSuffix(name, "^{}") {
			continue
		}
		if oid != want {
			return "", false
		}
		matched = true
	}
	if !matched {
		return "", false
	}
	commit, err := p.git(ctx, nil, "rev-parse", "--verify", "--end-of-options", p.refName+"^{commit}")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(commit)), true
}

// ensureRepo creates the bare repository if it is not there yet (in a temp dir renamed into
// place, so a half-made one is never used).
func (p *Provider) ensureRepo(ctx context.Context) error {
	if st, err := os.Stat(filepath.Join(p.repoDir, "HEAD")); err == nil && st.Mode().IsRegular() {
		return nil
	}
	tmp, err := os.MkdirTemp(p.cfg.CacheDir, "init-")
	if err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := runGit(ctx, "", nil, "init", "--quiet", "--bare", tmp); err != nil {
		return fmt.Errorf("init cache: %w", err)
	}
	os.RemoveAll(p.repoDir)
	if err := os.Rename(tmp, p.repoDir); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	return nil
}

func (p *Provider) packSize(ctx context.Context) (int64, error) {
	out, err := p.git(ctx, nil, "count-objects", "-v")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && (k == "size" || k == "size-pack") {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			total += n << 10
		}
	}
	return total, nil
}

// remoteEnv is the environment of a command that talks to the remote: credentials go through
// GIT_CONFIG_* variables (not the command line, which other users can see), never prompting.
func (p *Provider) remoteEnv() []string {
	// Redirects are never followed: a location's URL is what the operator configured or what
	// the run-time checks (allow-list, public addresses) admitted, and a redirect would lead
	// git, which connects by itself, anywhere; it would also carry the token along.
	cfg := [][2]string{{"http.followRedirects", "false"}}
	if p.cfg.Token != "" {
		basic := base64.StdEncoding.EncodeToString([]byte(p.cfg.Username + ":" + p.cfg.Token))
		cfg = append(cfg, [2]string{"http.extraHeader", "Authorization: Basic " + basic})
	}
	cfg = append(cfg, [2]string{"credential.helper", ""})
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(cfg))}
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	ssh := "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"
	if p.cfg.SSHKey != "" {
		ssh += " -o IdentitiesOnly=yes -i " + shellQuote(p.cfg.SSHKey)
	}
	if p.cfg.KnownHosts != "" {
		ssh += " -o UserKnownHostsFile=" + shellQuote(p.cfg.KnownHosts)
	}
	return append(env, "GIT_SSH_COMMAND="+ssh, "GIT_SSH_VARIANT=ssh")
}

// shellQuote quotes s for the shell git runs GIT_SSH_COMMAND through.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// git runs a git command on the cached repository, with env added to its environment.
func (p *Provider) git(ctx context.Context, env []string, args ...string) ([]byte, error) {
	out, err := runGit(ctx, p.repoDir, env, args...)
	if err != nil {
		return nil, errors.New(p.redact(err.Error()))
	}
	return out, nil
}

// redact removes the token and any password of the URL from a message.
func (p *Provider) redact(s string) string {
	if p.cfg.Token != "" {
		s = strings.ReplaceAll(s, p.cfg.Token, "xxxxx")
	}
	if p.shown != p.cfg.Target {
		s = strings.ReplaceAll(s, p.cfg.Target, p.shown)
	}
	return s
}

// runGit runs git without a shell; on failure its error quotes the end of git's stderr.
func runGit(ctx context.Context, gitDir string, env []string, args ...string) ([]byte, error) {
	full := []string{"-c", "gc.autoDetach=false"}
	if gitDir != "" {
		full = append(full, "--git-dir="+gitDir)
	}
	cmd := exec.CommandContext(ctx, "git", append(full, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL="+allowedProtocols,
		"GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	setProcessGroup(cmd)
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = "…" + msg[len(msg)-300:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", args[0], msg)
	}
	return out, nil
}

// setProcessGroup makes a cancelled command kill its whole group (git's helpers, ssh), and not
// wait long for pipes they may hold open.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second
}

type limitedWriter struct {
	w *strings.Builder
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if rest := l.n - l.w.Len(); rest > 0 {
		l.w.Write(b[:min(len(b), rest)])
	}
	return len(b), nil
}

// lockFile takes an exclusive lock on path (shared with other processes using the cache),
// waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("cache lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the cache lock: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// MatchesPush reports whether a push to branch of the repository known by cloneURLs (as a
// push webhook names them: https, ssh, git) concerns this location: one of the URLs names the
// same repository (host and path, ignoring scheme, user, a trailing .git and case) and the
// branch is the location's ref, or the location follows the remote's HEAD (whose branch is
// not known here: a refresh that finds nothing new costs one ls-remote).
func (p *Provider) MatchesPush(cloneURLs []string, branch string) bool {
	ref := strings.TrimPrefix(p.cfg.Ref, "refs/heads/")
	if ref != "" && ref != branch {
		return false
	}
	mine := repoID(p.cfg.Target)
	if mine == "" {
		return false
	}
	for _, u := range cloneURLs {
		if repoID(u) == mine {
			return true
		}
	}
	return false
}

// repoID reduces a git URL to host/path, lower case, without a trailing .git.
func repoID(raw string) string {
	var host, p string
	if scpLike.MatchString(raw) && !strings.Contains(raw, "://") {
		_, rest, _ := strings.Cut(raw, "@")
		host, p, _ = strings.Cut(rest, ":")
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" && u.Scheme != "file" {
			return ""
		}
		host, p = u.Hostname(), u.Path
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	return strings.ToLower(host + "/" + p)
}
