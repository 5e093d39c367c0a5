package scaffold

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"catalogd/internal/catalog"
)

// git runs the git command-line tool as internal/ingest/git does: no shell, no prompts, only the
// transports below (ext:: would run a command), no system or global configuration, redirects
// never followed (they would carry the token along), credentials in GIT_CONFIG_* variables and
// never on the command line, and a killed process group on cancel.

const allowedProtocols = "file:git:http:https:ssh"

var (
	scpLike   = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)
	branchRef = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// gitAuth is how a command authenticates to a remote: basic auth over http(s).
type gitAuth struct {
	username, token string
}

func (a gitAuth) env() []string {
	cfg := [][2]string{{"http.followRedirects", "false"}, {"credential.helper", ""}}
	if a.token != "" {
		user := a.username
		if user == "" {
			user = "x-access-token"
		}
		basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + a.token))
		cfg = append(cfg, [2]string{"http.extraHeader", "Authorization: Basic " + basic})
	}
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(cfg))}
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes -o StrictHostKeyChecking=yes", "GIT_SSH_VARIANT=ssh")
}

// runGit runs git in dir with env added; on failure its error quotes the end of git's stderr.
func runGit(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return runGitIn(ctx, dir, env, nil, args...)
}

// runGitIn is runGit with stdin.
func runGitIn(ctx context.Context, dir string, env []string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null", "-c", "advice.pushUpdateRejected=false"}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL="+allowedProtocols,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second
	var stderr boundedBuffer
	stderr.max = 4096
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.b.String())
		if len(msg) > 300 {
			msg = "…" + msg[len(msg)-300:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return strings.TrimSpace(string(out)), nil
}

type boundedBuffer struct {
	b   strings.Builder
	max int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if rest := w.max - w.b.Len(); rest > 0 {
		w.b.Write(p[:min(len(p), rest)])
	}
	return len(p), nil
}

// checkRemote admits a git remote URL: file:// only under the allowed directories; http(s)
// only where the read allow-list admits it (and its addresses are public unless named
// literally); ssh, git:// and scp-like remotes only on a host the allow-list names. It returns
// the URL as it may be shown (no password).
func (e *Engine) checkRemote(ctx context.Context, raw string) (string, error) {
	if raw == "" || strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, "\x00\r\n\t ") {
		return "", catalog.Errorf(catalog.EINVALID, "remote %q is not a git URL", excerpt(raw, 100))
	}
	if scpLike.MatchString(raw) && !strings.Contains(raw, "://") {
		host := raw[strings.IndexByte(raw, '@')+1 : strings.IndexByte(raw, ':')]
		return raw, e.checkHost(ctx, &url.URL{Scheme: "https", Host: host, Path: "/" + raw[strings.IndexByte(raw, ':')+1:]}, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", catalog.Errorf(catalog.EINVALID, "remote %q is not a git URL", excerpt(raw, 100))
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", catalog.Errorf(catalog.EINVALID, "remote %q: a file URL names no host", excerpt(raw, 100))
		}
		if _, _, err := e.allowedDir(filepath.FromSlash(u.Path)); err != nil {
			return "", err
		}
		if strings.Contains(u.Path, "..") {
			return "", catalog.Errorf(catalog.EFORBIDDEN, "remote %q: '..' is not allowed in a file remote", excerpt(raw, 100))
		}
		return u.String(), nil
	case "http", "https":
		shown := u.Redacted()
		check := *u
		check.User = nil
		return shown, e.checkHost(ctx, &check, shown)
	case "ssh", "git":
		if strings.HasPrefix(u.Host, "-") || strings.HasPrefix(u.User.Username(), "-") {
			return "", catalog.Errorf(catalog.EINVALID, "remote %q: a host or user may not start with '-'", excerpt(raw, 100))
		}
		return u.Redacted(), e.checkHost(ctx, &url.URL{Scheme: "https", Host: u.Hostname(), Path: u.Path}, u.Redacted())
	}
	return "", catalog.Errorf(catalog.EINVALID, "remote %q: scheme %q is not pushed to (file, http, https, ssh and git are)", excerpt(raw, 100), u.Scheme)
}

func (e *Engine) checkHost(ctx context.Context, u *url.URL, shown string) error {
	if e.opts.Reader == nil {
		return catalog.Errorf(catalog.EFORBIDDEN, "remote %s: no --read-allow entry admits it", excerpt(shown, 120))
	}
	if err := e.opts.Reader.CheckResolved(ctx, u); err != nil {
		return catalog.Errorf(catalog.EFORBIDDEN, "remote %s: %s", excerpt(shown, 120), excerpt(err.Error(), 200))
	}
	return nil
}

// treeURL matches a folder URL of a forge: https://host/owner/repo/(tree|blob)/ref/path.
var treeURL = regexp.MustCompile(`^(https?://[^/]+/[^/]+/[^/]+?)(?:\.git)?/(?:tree|blob|src/branch)/([^/]+)(/.*)?$`)

// gitSource checks out the folder a forge URL names (shallow, one branch, without
// credentials) into a temporary directory.
func (e *Engine) gitSource(ctx context.Context, ac *actionContext, u *url.URL) (*source, error) {
	m := treeURL.FindStringSubmatch(u.String())
	if m == nil {
		return nil, catalog.Errorf(catalog.EINVALID, "url %s: a remote skeleton is read from a forge folder URL (https://host/owner/repo/tree/<branch>/<path>)", excerpt(u.Redacted(), 120))
	}
	repo, ref, sub := m[1], m[2], strings.Trim(m[3], "/")
	if !branchRef.MatchString(ref) || strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") {
		return nil, catalog.Errorf(catalog.EINVALID, "url %s: bad branch %q", excerpt(u.Redacted(), 120), excerpt(ref, 60))
	}
	shown, err := e.checkRemote(ctx, repo)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.opts.WorkDir, "skeleton-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	// No token: the user's token is meant for where they publish, and a skeleton may live on
	// another host. A skeleton repository is one the server can read as it is.
	auth := gitAuth{}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := runGit(cctx, dir, auth.env(), "clone", "-q", "--depth=1", "--single-branch", "--no-tags", "--branch", ref, "--", repo, "co"); err != nil {
		cleanup()
		return nil, catalog.Errorf(EUNAVAILABLE, "fetching %s: %s", excerpt(shown, 120), ac.red.redact(err.Error()))
	}
	root, err := os.OpenRoot(filepath.Join(dir, "co"))
	if err != nil {
		cleanup()
		return nil, err
	}
	if sub != "" {
		r2, err := root.OpenRoot(sub)
		root.Close()
		if err != nil {
			cleanup()
			return nil, catalog.Errorf(catalog.EINVALID, "url %s: folder %q cannot be opened: %s", excerpt(shown, 120), excerpt(sub, 120), excerpt(err.Error(), 120))
		}
		root = r2
	}
	return &source{fsys: root.FS(), cleanup: func() { root.Close(); cleanup() }, shown: u.Redacted()}, nil
}

// pushResult is what a push did.
type pushResult struct {
	commit        string
	branchCreated bool
}

// commitAndPush commits the workspace folder sourcePath (as one root commit whose author and
// committer dates are the task's creation time, so a re-run makes the same commit) and pushes it
// to branch of remote, never forcing. A remote branch already at that commit is success.
func (e *Engine) commitAndPush(ctx context.Context, ac *actionContext, remote, branch, sourcePath, message, authorName, authorEmail string, auth gitAuth) (*pushResult, error) {
	if !branchRef.MatchString(branch) || strings.HasPrefix(branch, "-") || strings.Contains(branch, "..") {
		return nil, catalog.Errorf(catalog.EINVALID, "branch %q is not a valid branch name", excerpt(branch, 60))
	}
	src, err := workspacePath(sourcePath)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(ac.workspace, filepath.FromSlash(src))
	if fi, err := os.Stat(work); err != nil || !fi.IsDir() {
		return nil, catalog.Errorf(catalog.EINVALID, "sourcePath %q is not a folder of the workspace", excerpt(sourcePath, 100))
	}
	gitDir, err := os.MkdirTemp(e.opts.WorkDir, "push-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(gitDir)
	when := ac.task.CreatedAt.UTC()
	if when.IsZero() {
		when = time.Unix(0, 0).UTC()
	}
	date := strconv.FormatInt(when.Unix(), 10) + " +0000"
	if strings.ContainsAny(authorName+authorEmail, "<>\n\x00") {
		return nil, catalog.Errorf(catalog.EINVALID, "the commit's author %q <%q> may not hold <, > or a line break", excerpt(authorName, 60), excerpt(authorEmail, 60))
	}
	if _, err := runGit(ctx, gitDir, nil, "init", "-q", "--bare", "repo.git"); err != nil {
		return nil, err
	}
	env := append(auth.env(), "GIT_DIR="+filepath.Join(gitDir, "repo.git"))
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	git := func(args ...string) (string, error) {
		out, err := runGit(cctx, gitDir, env, args...)
		if err != nil {
			return "", errors.New(ac.red.redact(err.Error()))
		}
		return out, nil
	}
	// The files to commit are what `git add -A` would take (.gitignore files honoured), listed
	// against an empty index; they are then streamed into git fast-import, which writes one
	// pack instead of a loose object file per blob and tree.
	list, err := runGit(cctx, work, append(env, "GIT_WORK_TREE="+work), "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, errors.New(ac.red.redact(err.Error()))
	}
	var paths []string
	for _, p := range strings.Split(list, "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := checkImportPath(p); err != nil {
			return nil, err
		}
	}
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := writeFastImport(pw, work, "refs/heads/"+branch, authorName, authorEmail, date, message, paths)
		pw.CloseWithError(err)
		werr <- err
	}()
	_, err = runGitIn(cctx, gitDir, env, pr, "fast-import", "--quiet", "--done")
	pr.CloseWithError(io.ErrClosedPipe)
	if wErr := <-werr; wErr != nil && !errors.Is(wErr, io.ErrClosedPipe) {
		return nil, wErr
	}
	if err != nil {
		return nil, errors.New(ac.red.redact(err.Error()))
	}
	commit, err := git("rev-parse", "refs/heads/"+branch)
	if err != nil {
		return nil, err
	}
	ref := "refs/heads/" + branch
	remoteHead, err := git("ls-remote", "--", remote, ref)
	if err != nil {
		return nil, catalog.Errorf(EUNAVAILABLE, "%s", err.Error())
	}
	existing, _, _ := strings.Cut(remoteHead, "\t")
	if existing == commit {
		ac.logf("the remote's %s is already at %s", branch, commit)
		return &pushResult{commit: commit}, nil
	}
	if _, err := git("push", "-q", "--no-verify", "--", remote, ref+":"+ref); err != nil {
		if strings.Contains(err.Error(), "[rejected]") || strings.Contains(err.Error(), "non-fast-forward") || strings.Contains(err.Error(), "fetch first") {
			// The branch holds other commits: never forced, and retrying will not help.
			return nil, catalog.Errorf(catalog.ECONFLICT, "branch %s of %s holds other commits: %s", branch, excerpt(ac.red.redact(remote), 120), err.Error())
		}
		return nil, catalog.Errorf(EUNAVAILABLE, "%s", err.Error())
	}
	ac.logf("pushed %s to %s", commit, branch)
	return &pushResult{commit: commit, branchCreated: existing == ""}, nil
}

// writeFastImport writes one root commit of the files at paths (relative to work) to ref in git
// fast-import's format. Contents are length-prefixed; paths with a quote, a backslash or a
// control character are refused rather than quoted.
func writeFastImport(w io.Writer, work, ref, name, email, date, message string, paths []string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	fmt.Fprintf(bw, "commit %s\nauthor %s <%s> %s\ncommitter %s <%s> %s\ndata %d\n%s", ref, name, email, date, name, email, date, len(message), message)
	for _, p := range paths {
		if err := checkImportPath(p); err != nil {
			return err
		}
		full := filepath.Join(work, filepath.FromSlash(p))
		info, err := os.Lstat(full)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return catalog.Errorf(catalog.EINVALID, "%s is not a regular file", excerpt(p, 120))
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return err
		}
		mode := "100644"
		if info.Mode()&0o111 != 0 {
			mode = "100755"
		}
		fmt.Fprintf(bw, "M %s inline %s\ndata %d\n", mode, p, len(b))
		bw.Write(b)
		bw.WriteByte('\n')
	}
	bw.WriteString("done\n")
	return bw.Flush()
}

// checkImportPath refuses a path fast-import would need quoted.
func checkImportPath(p string) error {
	if strings.ContainsAny(p, "\"\\") || strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 || strings.HasPrefix(p, " ") {
		return catalog.Errorf(catalog.EINVALID, "file name %q cannot be committed (no quotes, backslashes or control characters)", excerpt(p, 120))
	}
	return nil
}

// deleteBranch deletes branch on remote if it is still at commit.
func (e *Engine) deleteBranch(ctx context.Context, ac *actionContext, remote, branch, commit string, auth gitAuth) error {
	dir, err := os.MkdirTemp(e.opts.WorkDir, "undo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(auth.env(), "GIT_DIR="+dir)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := runGit(cctx, dir, env, "init", "-q", "--bare", dir); err != nil {
		return err
	}
	ref := "refs/heads/" + branch
	if _, err := runGit(cctx, dir, env, "push", "-q", "--no-verify", "--force-with-lease="+ref+":"+commit, "--", remote, ":"+ref); err != nil {
		return catalog.Errorf(EUNAVAILABLE, "%s", ac.red.redact(err.Error()))
	}
	return nil
}

func publishGit(ctx context.Context, ac *actionContext) (map[string]any, error) {
	raw := str(ac.input, "remoteUrl", "")
	shown, err := ac.e.checkRemote(ctx, raw)
	if err != nil {
		return nil, err
	}
	res, err := ac.e.commitAndPush(ctx, ac, raw, str(ac.input, "branch", "main"), str(ac.input, "sourcePath", "."),
		str(ac.input, "commitMessage", "Initial commit"), str(ac.input, "gitAuthorName", "Scaffolder"),
		str(ac.input, "gitAuthorEmail", "scaffolder@catalogd.invalid"), gitAuth{username: str(ac.input, "username", ""), token: inputToken(ac)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"remoteUrl": shown, "commitHash": res.commit, "branchCreated": res.branchCreated}, nil
}

func undoPublishGit(ctx context.Context, ac *actionContext, out map[string]any) error {
	if created, _ := out["branchCreated"].(bool); !created {
		ac.logf("the branch existed before this task: left as it is")
		return nil
	}
	raw := str(ac.input, "remoteUrl", "")
	if _, err := ac.e.checkRemote(ctx, raw); err != nil {
		return err
	}
	commit, _ := out["commitHash"].(string)
	return ac.e.deleteBranch(ctx, ac, raw, str(ac.input, "branch", "main"), commit, gitAuth{username: str(ac.input, "username", ""), token: inputToken(ac)})
}

// inputToken is the token a publish step uses: its input's token, or the task's secret "token".
func inputToken(ac *actionContext) string {
	if t := str(ac.input, "token", ""); t != "" {
		return t
	}
	return ac.task.Secrets["token"]
}
