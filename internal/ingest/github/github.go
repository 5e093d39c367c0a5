// Package github is the provider for GitHub: the catalog-info.yaml of an organisation's
// repositories (or of a list of repositories), read through GitHub's REST API, and — when
// switched on — the organisation's teams as Group entities and their members as User
// entities. It works against github.com and GitHub Enterprise Server (baseUrl).
//
// A read is all or nothing: any failed request (after retries), truncated or invalid JSON, or
// an exceeded bound fails the whole read, so the engine changes nothing. Unchanged data costs
// little: every GET is conditional on the ETag of its last answer (a 304 costs no rate limit),
// and a repository whose pushed_at did not move since the last read is not asked again.
//
// Files a descriptor names relative to itself (Location targets, $text/$json/$yaml
// placeholders) are fetched from the same repository and branch through the contents API
// when the engine opens them, at most MaxExtraFiles per read; directories cannot be listed,
// so a glob in a Location target matches nothing. The revision covers every repository's
// pushed_at, so a push that changes only such a file still makes the engine read again.
package github

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"catalogd/internal/catalog"
)

// Config is one github location. The yaml keys are the location's keys in the configuration
// file.
type Config struct {
	// Target is an organisation (or user) whose repositories are read, or one repository as
	// owner/repo.
	Target string `yaml:"target"`
	// Repos, when set, are the repositories read (owner/repo, or repo of the target's owner)
	// instead of every repository of the target organisation.
	Repos []string `yaml:"repos"`
	// Path of the descriptor in each repository (default catalog-info.yaml); Branch the branch
	// read (default each repository's default branch).
	Path   string `yaml:"path"`
	Branch string `yaml:"branch"`
	// Teams switches on the organisation's teams as Group entities and their members as User
	// entities; UserProfiles also asks each user's name and public email (one request per user).
	Teams        bool `yaml:"teams"`
	UserProfiles bool `yaml:"userProfiles"`
	// IncludeArchived reads archived repositories too; IncludeForks forks.
	IncludeArchived bool `yaml:"includeArchived"`
	IncludeForks    bool `yaml:"includeForks"`
	// BaseURL is the API's address: https://api.github.com (default) or
	// https://ghe.example.com/api/v3.
	BaseURL string `yaml:"baseUrl"`
	// Token authenticates as a user or with a fine-grained token. Or a GitHub App:
	// AppID with PrivateKey (PEM) or PrivateKeyFile, and InstallationID (default: the
	// installation on the target).
	Token          string `yaml:"token"`
	AppID          int64  `yaml:"appId"`
	PrivateKey     string `yaml:"privateKey"`
	PrivateKeyFile string `yaml:"privateKeyFile"`
	InstallationID int64  `yaml:"installationId"`
	// Bounds and retries.
	RequestTimeout   time.Duration `yaml:"requestTimeout"`   // one HTTP request (default 30s)
	Retries          int           `yaml:"retries"`          // on network errors, 5xx and 429 (default 4)
	RetryWaitMin     time.Duration `yaml:"retryWaitMin"`     // default 1s
	RetryWaitMax     time.Duration `yaml:"retryWaitMax"`     // default 30s
	MaxRateLimitWait time.Duration `yaml:"maxRateLimitWait"` // longest wait for a rate limit's reset (default 2m)
	MaxPages         int           `yaml:"maxPages"`         // pages of one list (default 100, of 100 items)
	MaxRepos         int           `yaml:"maxRepos"`         // default 5,000
	MaxFileBytes     int64         `yaml:"maxFileBytes"`     // one file read (default 1 MiB)
	MaxExtraFiles    int           `yaml:"maxExtraFiles"`    // files fetched for placeholders and targets per read (default 200)
	MaxResponseBytes int64         `yaml:"maxResponseBytes"` // one API answer (default 16 MiB)

	owner, repo string // parsed from Target
}

// Provider reads one github location.
type Provider struct {
	cfg Config
	loc catalog.LocationSpec
	c   *client

	mu sync.Mutex // one read at a time: the caches are the last read's
	// repos is what the last read found, owner/repo -> state; swapped whole at its end, so
	// MatchesPush (a webhook) never waits for a read in progress, which may be sleeping on
	// GitHub's rate limit.
	repos atomic.Pointer[map[string]repoState]
}

// repoState is what a read found in a repository, reused while its pushed_at does not move.
type repoState struct {
	pushedAt string
	branch   string
	htmlURL  string
	content  []byte // nil: no descriptor
	problem  string // the descriptor is there but cannot be used (too large, not a file, …)
}

// contentError is a descriptor that is there but cannot be used: a problem of that
// repository's data, recorded against its file (its entities kept), not a failed read.
type contentError struct{ msg string }

func (e *contentError) Error() string { return e.msg }

var namePart = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// New checks the configuration and returns a provider. Nothing is read yet.
func New(cfg Config) (*Provider, error) {
	cfg.Target = strings.Trim(strings.TrimSpace(cfg.Target), "/")
	owner, repo, _ := strings.Cut(cfg.Target, "/")
	if !namePart.MatchString(owner) || owner == "." || owner == ".." || repo == "." || repo == ".." || repo != "" && !namePart.MatchString(repo) || strings.Count(cfg.Target, "/") > 1 {
		return nil, fmt.Errorf("target %q: want an organisation or owner/repo", catalog.Excerpt(cfg.Target, 100))
	}
	cfg.owner, cfg.repo = owner, repo
	for i, r := range cfg.Repos {
		o, n, ok := strings.Cut(r, "/")
		if !ok {
			o, n = owner, r
		}
		if !namePart.MatchString(o) || !namePart.MatchString(n) || n == "." || n == ".." || o == "." || o == ".." {
			return nil, fmt.Errorf("repos[%d] %q: want owner/repo or repo", i, catalog.Excerpt(r, 100))
		}
		cfg.Repos[i] = o + "/" + n
	}
	if cfg.Path == "" {
		cfg.Path = "catalog-info.yaml"
	}
	cfg.Path = strings.TrimPrefix(cfg.Path, "/")
	if !fs.ValidPath(cfg.Path) || cfg.Path == "." {
		return nil, fmt.Errorf("path %q: want a file path relative to the repository's top", catalog.Excerpt(cfg.Path, 100))
	}
	if cfg.Branch != "" && (strings.HasPrefix(cfg.Branch, "-") || strings.ContainsAny(cfg.Branch, " ~^:?*[\\\x00\n")) {
		return nil, fmt.Errorf("branch %q: not a branch name", catalog.Excerpt(cfg.Branch, 100))
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.github.com"
	}
	if cfg.Token != "" && cfg.AppID != 0 {
		return nil, errors.New("token and appId: choose one way to authenticate")
	}
	if cfg.AppID != 0 {
		if cfg.PrivateKey == "" && cfg.PrivateKeyFile != "" {
			b, err := os.ReadFile(cfg.PrivateKeyFile)
			if err != nil {
				return nil, fmt.Errorf("privateKeyFile: %w", err)
			}
			cfg.PrivateKey = string(b)
		}
		if cfg.PrivateKey == "" {
			return nil, errors.New("appId: needs privateKey or privateKeyFile")
		}
	}
	if cfg.UserProfiles && !cfg.Teams {
		return nil, errors.New("userProfiles: needs teams")
	}
	if cfg.Teams && cfg.repo != "" {
		return nil, errors.New("teams: needs an organisation as target, not a repository")
	}
	defaults := []struct {
		v *time.Duration
		d time.Duration
	}{{&cfg.RequestTimeout, 30 * time.Second}, {&cfg.RetryWaitMin, time.Second}, {&cfg.RetryWaitMax, 30 * time.Second}, {&cfg.MaxRateLimitWait, 2 * time.Minute}}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if cfg.Retries == 0 {
		cfg.Retries = 4
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 100
	}
	if cfg.MaxRepos <= 0 {
		cfg.MaxRepos = 5000
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 1 << 20
	}
	if cfg.MaxExtraFiles <= 0 {
		cfg.MaxExtraFiles = 200
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 16 << 20
	}
	c, err := newClient(&cfg)
	if err != nil {
		return nil, err
	}
	key := "github:" + cfg.Target
	if c.base.Host != "api.github.com" {
		key = "github:" + c.base.Host + "/" + cfg.Target
	}
	return &Provider{cfg: cfg, c: c, loc: catalog.LocationSpec{Key: key, Provider: "github", Target: cfg.Target}}, nil
}

// Location implements ingest.Provider: its key is github:<target> (github:<host>/<target> for
// GitHub Enterprise).
func (p *Provider) Location() catalog.LocationSpec { return p.loc }

// ghRepo is the part of GitHub's repository object used here.
type ghRepo struct {
	FullName      string `json:"full_name"`
	HTMLURL       string `json:"html_url"`
	DefaultBranch string `json:"default_branch"`
	PushedAt      string `json:"pushed_at"`
	Archived      bool   `json:"archived"`
	Fork          bool   `json:"fork"`
}

// Read implements ingest.Provider.
func (p *Provider) Read(ctx context.Context) (catalog.Tree, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.c.startRead()
	t, err := p.read(ctx)
	if err != nil {
		return catalog.Tree{}, nil, fmt.Errorf("%s: %w", p.loc.Key, err)
	}
	p.c.endRead()
	return t, func() {}, nil
}

func (p *Provider) read(ctx context.Context) (catalog.Tree, error) {
	repos, err := p.listRepos(ctx)
	if err != nil {
		return catalog.Tree{}, err
	}
	fsys := newMemFS()
	fsys.ctx = ctx
	urls := map[string]string{} // descriptor path -> html URL
	states := map[string]repoState{}
	rev := sha256.New()
	for _, r := range repos {
		st, err := p.readRepo(ctx, r)
		if err != nil {
			return catalog.Tree{}, err
		}
		states[r.FullName] = st
		fmt.Fprintf(rev, "repo %s %s %s %x %q\n", r.FullName, st.branch, st.pushedAt, sha256.Sum256(st.content), st.problem)
		if st.content == nil && st.problem == "" {
			continue
		}
		dir := "repos/" + r.FullName
		if st.problem != "" {
			fsys.broken[dir+"/"+p.cfg.Path] = errors.New(st.problem)
		} else {
			fsys.files[dir+"/"+p.cfg.Path] = st.content
		}
		fsys.repos[dir] = repoRef{fullName: r.FullName, branch: st.branch, htmlURL: st.htmlURL}
		urls[dir] = st.htmlURL + "/blob/" + escapePath(st.branch) + "/"
	}
	if p.cfg.Teams {
		groups, users, err := p.readOrg(ctx)
		if err != nil {
			return catalog.Tree{}, err
		}
		fsys.files["org/groups.yaml"] = groups
		fsys.files["org/users.yaml"] = users
		fmt.Fprintf(rev, "groups %x\nusers %x\n", sha256.Sum256(groups), sha256.Sum256(users))
	}
	p.repos.Store(&states)
	fsys.fetch = p.fetchFile
	fsys.maxExtra = p.cfg.MaxExtraFiles
	fsys.index()
	key := p.loc.Key
	return catalog.Tree{
		FS:       fsys,
		Root:     ".",
		Revision: hex.EncodeToString(rev.Sum(nil)),
		URL: func(name string) string {
			if strings.HasPrefix(name, "repos/") {
				parts := strings.SplitN(name, "/", 4)
				if len(parts) == 4 {
					if base, ok := urls["repos/"+parts[1]+"/"+parts[2]]; ok {
						return base + escapePath(parts[3])
					}
				}
			}
			return key + ":" + name
		},
	}, nil
}

// listRepos lists the repositories the location reads, sorted by name.
func (p *Provider) listRepos(ctx context.Context) ([]ghRepo, error) {
	var out []ghRepo
	names := p.cfg.Repos
	if len(names) == 0 && p.cfg.repo != "" {
		names = []string{p.cfg.owner + "/" + p.cfg.repo}
	}
	if len(names) > 0 {
		for _, n := range names {
			var r ghRepo
			o, name, _ := strings.Cut(n, "/")
			if _, err := p.c.getJSON(ctx, p.c.resolve("/repos/"+url.PathEscape(o)+"/"+url.PathEscape(name)), &r); err != nil {
				return nil, err
			}
			if r.FullName == "" || r.DefaultBranch == "" {
				return nil, fmt.Errorf("repository %s: an answer without full_name or default_branch", n)
			}
			out = append(out, r)
		}
	} else {
		// An organisation's repositories; a user's when the target is not an organisation.
		u := p.c.resolve("/orgs/" + url.PathEscape(p.cfg.owner) + "/repos?per_page=100&type=all&sort=full_name")
		add := func(items []ghRepo) error {
			for _, r := range items {
				if r.FullName == "" || r.DefaultBranch == "" && r.PushedAt != "" {
					return errors.New("a repository without full_name or default_branch in the list")
				}
				if r.Archived && !p.cfg.IncludeArchived || r.Fork && !p.cfg.IncludeForks || r.DefaultBranch == "" {
					continue // an empty repository has no default branch
				}
				out = append(out, r)
				if len(out) > p.cfg.MaxRepos {
					return fmt.Errorf("more than %d repositories (maxRepos)", p.cfg.MaxRepos)
				}
			}
			return nil
		}
		err := pages(ctx, p.c, u, add)
		if isNotFound(err) {
			out = nil
			err = pages(ctx, p.c, p.c.resolve("/users/"+url.PathEscape(p.cfg.owner)+"/repos?per_page=100&type=owner&sort=full_name"), add)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, r := range out {
		if o, n, ok := strings.Cut(r.FullName, "/"); !ok || !namePart.MatchString(o) || !namePart.MatchString(n) || n == "." || n == ".." || o == "." || o == ".." {
			return nil, fmt.Errorf("a repository named %q", catalog.Excerpt(r.FullName, 100))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullName < out[j].FullName })
	return out, nil
}

// readRepo reads a repository's descriptor, unless its pushed_at says nothing was pushed
// since the last read.
func (p *Provider) readRepo(ctx context.Context, r ghRepo) (repoState, error) {
	branch := p.cfg.Branch
	if branch == "" {
		branch = r.DefaultBranch
	}
	if prev, ok := p.lastRepos()[r.FullName]; ok && r.PushedAt != "" && prev.pushedAt == r.PushedAt && prev.branch == branch {
		return prev, nil
	}
	st := repoState{pushedAt: r.PushedAt, branch: branch, htmlURL: strings.TrimSuffix(r.HTMLURL, "/")}
	data, err := p.contents(ctx, r.FullName, branch, p.cfg.Path)
	if isNotFound(err) {
		return st, nil // no descriptor in this repository
	}
	var ce *contentError
	if errors.As(err, &ce) {
		st.problem = ce.msg
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.content = data
	return st, nil
}

// contents fetches one file through the contents API.
func (p *Provider) contents(ctx context.Context, fullName, branch, file string) ([]byte, error) {
	o, n, _ := strings.Cut(fullName, "/")
	u := p.c.resolve("/repos/" + url.PathEscape(o) + "/" + url.PathEscape(n) + "/contents/" + escapePath(file) + "?ref=" + url.QueryEscape(branch))
	var c struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
		Content  string `json:"content"`
		Size     int64  `json:"size"`
	}
	if _, err := p.c.getJSON(ctx, u, &c); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error { return &contentError{fmt.Sprintf(format, args...)} }
	switch {
	case c.Type != "file":
		return nil, bad("not a file (%s)", catalog.Excerpt(c.Type, 20))
	case c.Size > p.cfg.MaxFileBytes:
		return nil, bad("file is larger than the limit of %d bytes (maxFileBytes)", p.cfg.MaxFileBytes)
	case c.Encoding != "base64":
		return nil, bad("content encoded as %q, not base64 (too large for the contents API?)", catalog.Excerpt(c.Encoding, 20))
	}
	data, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(c.Content, "\n", ""))
	if err != nil {
		return nil, bad("content is not valid base64")
	}
	if int64(len(data)) != c.Size {
		return nil, bad("content is %d bytes, the answer said %d", len(data), c.Size)
	}
	return data, nil
}

// fetchFile reads a file a descriptor names (a placeholder or a Location target) from the
// repository holding the descriptor.
func (p *Provider) fetchFile(ctx context.Context, r repoRef, file string) ([]byte, error) {
	data, err := p.contents(ctx, r.fullName, r.branch, file)
	if isNotFound(err) {
		return nil, fmt.Errorf("%s: %w", file, errNotExist)
	}
	return data, err
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// MatchesPush reports whether a push to branch of repoFullName ("owner/repo", as a push
// webhook names it) concerns this location: the repository is one it reads (case-insensitive,
// as GitHub's names are) and the branch is the configured one, or — without one — the
// repository's default branch as the last read found it (any branch before a first read).
func (p *Provider) MatchesPush(repoFullName, branch string) bool {
	owner, _, ok := strings.Cut(repoFullName, "/")
	if !ok {
		return false
	}
	switch {
	case len(p.cfg.Repos) > 0:
		if !slices.ContainsFunc(p.cfg.Repos, func(r string) bool { return strings.EqualFold(r, repoFullName) }) {
			return false
		}
	case p.cfg.repo != "":
		if !strings.EqualFold(p.cfg.Target, repoFullName) {
			return false
		}
	default:
		if !strings.EqualFold(p.cfg.owner, owner) {
			return false
		}
	}
	if p.cfg.Branch != "" {
		return branch == p.cfg.Branch
	}
	for name, st := range p.lastRepos() {
		if strings.EqualFold(name, repoFullName) {
			return st.branch == branch
		}
	}
	return true
}

// lastRepos is what the last read found (nil before the first).
func (p *Provider) lastRepos() map[string]repoState {
	if m := p.repos.Load(); m != nil {
		return *m
	}
	return nil
}
