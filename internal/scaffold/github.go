package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"catalogd/internal/catalog"
)

// github is a small client of GitHub's REST API: the calls publish:github makes. Requests go
// through go-retryablehttp (retries on network errors and 5xx), never follow redirects (the
// token would go along), and read at most maxAPIBody bytes of an answer.
type github struct {
	base  string
	token string
	hc    *retryablehttp.Client
	red   *redactor
}

const maxAPIBody = 1 << 20

func (e *Engine) github(token string, red *redactor) *github {
	hc := &http.Client{Timeout: 30 * time.Second}
	if e.opts.HTTPClient != nil {
		c := *e.opts.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rc := retryablehttp.NewClient()
	rc.HTTPClient = hc
	rc.Logger = nil
	rc.RetryMax = 2
	rc.RetryWaitMin = 200 * time.Millisecond
	rc.RetryWaitMax = 2 * time.Second
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &github{base: e.opts.GitHubAPI, token: token, hc: rc, red: red}
}

// call sends one request and decodes a JSON answer into out (when not nil). It returns the
// status; statuses other than 2xx are returned with the API's message, not as errors, so the
// caller decides (422 "name already exists" is an answer, not a failure).
func (g *github) call(ctx context.Context, method, path string, body, out any) (int, string, error) {
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rdr = bytes.NewReader(b)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, g.base+path, rdr)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if g.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.token)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, "", catalog.Errorf(EUNAVAILABLE, "GitHub %s %s: %s", method, path, excerpt(g.red.redact(err.Error()), 200))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody+1))
	if err != nil {
		return resp.StatusCode, "", catalog.Errorf(EUNAVAILABLE, "GitHub %s %s: %s", method, path, excerpt(err.Error(), 200))
	}
	if len(b) > maxAPIBody {
		return resp.StatusCode, "", catalog.Errorf(EUNAVAILABLE, "GitHub %s %s: the answer is larger than %d bytes", method, path, maxAPIBody)
	}
	if resp.StatusCode/100 != 2 {
		var msg struct {
			Message string `json:"message"`
			Errors  []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		_ = json.Unmarshal(b, &msg)
		m := msg.Message
		for _, e := range msg.Errors {
			m += "; " + e.Message
		}
		return resp.StatusCode, g.red.redact(excerpt(m, 200)), nil
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, "", catalog.Errorf(EUNAVAILABLE, "GitHub %s %s: the answer is not JSON: %s", method, path, excerpt(err.Error(), 100))
		}
	}
	return resp.StatusCode, "", nil
}

// statusError turns an unexpected status into an error with a code.
func statusError(what string, status int, msg string) error {
	code := EUNAVAILABLE
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		code = catalog.EFORBIDDEN
	case status == http.StatusNotFound:
		code = catalog.ENOTFOUND
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		code = catalog.EINVALID
	}
	return catalog.Errorf(code, "GitHub %s: %d %s", what, status, msg)
}

type ghRepo struct {
	Name          string    `json:"name"`
	FullName      string    `json:"full_name"`
	HTMLURL       string    `json:"html_url"`
	CloneURL      string    `json:"clone_url"`
	DefaultBranch string    `json:"default_branch"`
	Description   string    `json:"description"`
	CreatedAt     time.Time `json:"created_at"`
}

// repoTarget reads owner and repo of a publish:github input.
func repoTarget(ac *actionContext) (host, owner, repo string, err error) {
	r, err := parseRepoURL(ac.input["repoUrl"])
	if err != nil {
		return "", "", "", catalog.Errorf(catalog.EINVALID, "repoUrl: %s", err.Error())
	}
	host, _ = r["host"].(string)
	owner, _ = r["owner"].(string)
	repo, _ = r["repo"].(string)
	if owner == "" {
		return "", "", "", catalog.Errorf(catalog.EINVALID, "repoUrl %q names no owner", excerpt(str(ac.input, "repoUrl", ""), 100))
	}
	for _, s := range []string{owner, repo} {
		if strings.ContainsAny(s, "/?#%\\ ") || s == "." || s == ".." {
			return "", "", "", catalog.Errorf(catalog.EINVALID, "repoUrl: %q is not a GitHub name", excerpt(s, 60))
		}
	}
	if hosts := stringsOf(ac.input["allowedHosts"]); len(hosts) > 0 {
		ok := false
		for _, h := range hosts {
			ok = ok || h == host
		}
		if !ok {
			return "", "", "", catalog.Errorf(catalog.EFORBIDDEN, "repoUrl: host %q is not in allowedHosts", excerpt(host, 60))
		}
	}
	return host, owner, repo, nil
}

func publishGitHub(ctx context.Context, ac *actionContext) (map[string]any, error) {
	_, owner, name, err := repoTarget(ac)
	if err != nil {
		return nil, err
	}
	token := inputToken(ac)
	if token == "" {
		return nil, catalog.Errorf(catalog.EINVALID, "publish:github needs a token (the input token, or the secret token)")
	}
	g := ac.e.github(token, ac.red)
	branch := str(ac.input, "defaultBranch", "main")
	description := str(ac.input, "description", "")
	visibility := str(ac.input, "repoVisibility", "private")

	var who struct {
		Type string `json:"type"`
	}
	status, msg, err := g.call(ctx, http.MethodGet, "/users/"+url.PathEscape(owner), nil, &who)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError("looking up owner "+owner, status, msg)
	}
	create := map[string]any{
		"name": name, "description": description, "private": visibility != "public",
		"auto_init": false,
	}
	if visibility == "internal" {
		create["visibility"] = "internal"
	}
	for _, k := range []string{"homepage"} {
		if v := str(ac.input, k, ""); v != "" {
			create[k] = v
		}
	}
	path := "/user/repos"
	if who.Type == "Organization" {
		path = "/orgs/" + url.PathEscape(owner) + "/repos"
	}
	var repo ghRepo
	created := true
	status, msg, err = g.call(ctx, http.MethodPost, path, create, &repo)
	if err != nil {
		return nil, err
	}
	switch {
	case status == http.StatusCreated:
		ac.logf("created repository %s/%s", owner, name)
	case status == http.StatusUnprocessableEntity && strings.Contains(msg, "already exists"):
		// Idempotence: a run that died after creating the repository finds it again. The
		// repository is this task's when it has the task's description and was created after
		// the task was; another one of that name is used as it is but never deleted.
		st, m, err := g.call(ctx, http.MethodGet, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), nil, &repo)
		if err != nil {
			return nil, err
		}
		if st != http.StatusOK {
			return nil, statusError("reading repository "+owner+"/"+name, st, m)
		}
		created = repo.Description == description && !ac.task.CreatedAt.IsZero() && !repo.CreatedAt.Before(ac.task.CreatedAt.Add(-time.Minute))
		if created {
			ac.logf("found repository %s/%s created earlier by this task", owner, name)
		} else {
			ac.logf("repository %s/%s already exists: pushing to it", owner, name)
		}
	default:
		return nil, statusError("creating repository "+owner+"/"+name, status, msg)
	}
	repoPath := "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
	if topics := stringsOf(ac.input["topics"]); len(topics) > 0 {
		st, m, err := g.call(ctx, http.MethodPut, repoPath+"/topics", map[string]any{"names": topics}, nil)
		if err != nil {
			return nil, err
		}
		if st/100 != 2 {
			return nil, statusError("setting topics", st, m)
		}
	}
	if access := str(ac.input, "access", ""); access != "" {
		var st int
		var m string
		if org, team, ok := strings.Cut(access, "/"); ok {
			st, m, err = g.call(ctx, http.MethodPut, "/orgs/"+url.PathEscape(org)+"/teams/"+url.PathEscape(team)+repoPath, map[string]any{"permission": "admin"}, nil)
		} else {
			st, m, err = g.call(ctx, http.MethodPut, repoPath+"/collaborators/"+url.PathEscape(access), map[string]any{"permission": "admin"}, nil)
		}
		if err != nil {
			return nil, err
		}
		if st/100 != 2 {
			return nil, statusError("granting access to "+access, st, m)
		}
	}
	cu, err := url.Parse(repo.CloneURL)
	if err != nil || (cu.Scheme != "https" && cu.Scheme != "http") || cu.User != nil {
		return nil, catalog.Errorf(EUNAVAILABLE, "GitHub gave no usable clone URL for %s/%s", owner, name)
	}
	res, err := ac.e.commitAndPush(ctx, ac, repo.CloneURL, branch, str(ac.input, "sourcePath", "."),
		str(ac.input, "gitCommitMessage", "Initial commit"), str(ac.input, "gitAuthorName", "Scaffolder"),
		str(ac.input, "gitAuthorEmail", "scaffolder@catalogd.invalid"), gitAuth{token: token})
	if err != nil {
		return nil, err
	}
	if repo.DefaultBranch != branch {
		st, m, err := g.call(ctx, http.MethodPatch, repoPath, map[string]any{"default_branch": branch}, nil)
		if err != nil {
			return nil, err
		}
		if st/100 != 2 {
			return nil, statusError("setting the default branch", st, m)
		}
	}
	html := strings.TrimSuffix(repo.HTMLURL, "/")
	return map[string]any{
		"remoteUrl":       repo.CloneURL,
		"repoContentsUrl": html + "/blob/" + branch,
		"commitHash":      res.commit,
		"created":         created,
	}, nil
}

func undoPublishGitHub(ctx context.Context, ac *actionContext, out map[string]any) error {
	if created, _ := out["created"].(bool); !created {
		ac.logf("the repository was not created by this task: left as it is")
		return nil
	}
	_, owner, name, err := repoTarget(ac)
	if err != nil {
		return err
	}
	g := ac.e.github(inputToken(ac), ac.red)
	st, m, err := g.call(ctx, http.MethodDelete, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), nil, nil)
	if err != nil {
		return err
	}
	if st != http.StatusNoContent && st != http.StatusNotFound {
		return statusError(fmt.Sprintf("deleting repository %s/%s", owner, name), st, m)
	}
	ac.logf("deleted repository %s/%s", owner, name)
	return nil
}
