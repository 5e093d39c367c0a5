// Package webhook receives push notifications from source hosts and turns them into refresh
// requests. It verifies and parses; what to refresh is the injected callback's business, so a
// handler here touches no database and refreshes nothing itself.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"catalogd/internal/catalog"
)

// RefreshFunc is called (asynchronously) for a push: the repository's full name
// ("owner/repo"), its clone URLs (https, ssh, git) and the pushed branch ("main"). Its ctx
// carries the request's values but no deadline: the callee bounds its own work.
type RefreshFunc func(ctx context.Context, repoFullName string, cloneURLs []string, branch string)

// GitHubConfig configures the GitHub push webhook.
type GitHubConfig struct {
	// Secret is the webhook's secret, as set in GitHub's webhook settings (required).
	Secret string `yaml:"secret"`
	// MaxBodyBytes bounds a delivery's body (default 1 MiB; GitHub caps payloads at 25 MiB,
	// but a push payload is far smaller unless it lists thousands of commits).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// ReplayWindow is how long a delivery (its X-GitHub-Delivery id, and its signed body) is
	// remembered: a delivery seen again within it is acknowledged without acting (default 1h).
	ReplayWindow time.Duration `yaml:"replayWindow"`
	// Log receives one line per delivery acted on or refused (never the body or the secret).
	Log *slog.Logger `yaml:"-"`
}

// GitHub is the http.Handler for POST /webhooks/github.
type GitHub struct {
	cfg     GitHubConfig
	refresh RefreshFunc
	now     func() time.Time

	mu      sync.Mutex
	seen    map[string]time.Time // delivery ids and body signatures -> when first seen
	running map[string]*run      // repo#branch -> its refresh, while one runs
	wg      sync.WaitGroup
}

type run struct{ again bool }

// maxSeen bounds the replay memory; past it, the oldest entries are dropped first.
const maxSeen = 100_000

// NewGitHub returns the handler. refresh is called for each new push, never more than once
// at a time for one repository and branch (pushes arriving meanwhile are coalesced into one
// more call).
func NewGitHub(cfg GitHubConfig, refresh RefreshFunc) (*GitHub, error) {
	if cfg.Secret == "" {
		return nil, errors.New("webhook secret: required (set the same secret in GitHub's webhook settings)")
	}
	if refresh == nil {
		return nil, errors.New("webhook: no refresh function")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &GitHub{cfg: cfg, refresh: refresh, now: time.Now, seen: map[string]time.Time{}, running: map[string]*run{}}, nil
}

// Wait waits for the refreshes started so far (for a graceful shutdown, and tests).
func (h *GitHub) Wait() { h.wg.Wait() }

func (h *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: deliveries are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBodyBytes))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "cannot read the body")
		return
	}
	sig, ok := h.verify(r.Header.Get("X-Hub-Signature-256"), body)
	if !ok {
		h.refuse(w, r, http.StatusUnauthorized, "missing or bad X-Hub-Signature-256")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	switch event {
	case "ping":
		writeText(w, http.StatusOK, "pong")
		return
	case "push":
	default:
		writeText(w, http.StatusAccepted, fmt.Sprintf("ignored: event %q (only push is acted on)", catalog.Excerpt(event, 50)))
		return
	}
	if h.replayed(delivery, sig) {
		writeText(w, http.StatusOK, "already received")
		return
	}
	payload, err := pushPayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	branch, isBranch := strings.CutPrefix(payload.Ref, "refs/heads/")
	if !isBranch || branch == "" {
		writeText(w, http.StatusAccepted, fmt.Sprintf("ignored: %q is not a branch", catalog.Excerpt(payload.Ref, 100)))
		return
	}
	repo := payload.Repository
	var urls []string
	for _, u := range []string{repo.CloneURL, repo.SSHURL, repo.GitURL, repo.HTMLURL} {
		if u != "" {
			urls = append(urls, u)
		}
	}
	h.cfg.Log.InfoContext(r.Context(), "github push", "delivery", catalog.Excerpt(delivery, 64), "repository", catalog.Excerpt(repo.FullName, 200), "branch", catalog.Excerpt(branch, 200))
	h.start(context.WithoutCancel(r.Context()), repo.FullName, urls, branch)
	writeText(w, http.StatusAccepted, "refresh queued")
}

// verify checks the body's HMAC-SHA256 against the header "sha256=<hex>" in constant time.
func (h *GitHub) verify(header string, body []byte) (string, bool) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return "", false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return "", false
	}
	mac := hmac.New(sha256.New, []byte(h.cfg.Secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "", false
	}
	return hexSig, true
}

// replayed records a verified delivery and reports whether its id or its signed body was
// seen within the replay window (the delivery id is not signed, so a copy of a signed body
// under a new id is a replay too).
func (h *GitHub) replayed(delivery, sig string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if len(h.seen) >= maxSeen {
		for k, t := range h.seen {
			if now.Sub(t) > h.cfg.ReplayWindow {
				delete(h.seen, k)
			}
		}
		for k := range h.seen {
			if len(h.seen) < maxSeen {
				break
			}
			delete(h.seen, k)
		}
	}
	keys := []string{"sig:" + sig}
	if delivery != "" {
		keys = append(keys, "id:"+delivery)
	}
	replay := false
	for _, k := range keys {
		if t, ok := h.seen[k]; ok && now.Sub(t) <= h.cfg.ReplayWindow {
			replay = true
		}
	}
	if !replay {
		for _, k := range keys {
			h.seen[k] = now
		}
	}
	return replay
}

// start runs the refresh in the background, one at a time per repository and branch.
func (h *GitHub) start(ctx context.Context, repo string, urls []string, branch string) {
	key := repo + "#" + branch
	h.mu.Lock()
	if r, ok := h.running[key]; ok {
		r.again = true
		h.mu.Unlock()
		return
	}
	r := &run{}
	h.running[key] = r
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			h.refresh(ctx, repo, urls, branch)
			h.mu.Lock()
			if !r.again {
				delete(h.running, key)
				h.mu.Unlock()
				return
			}
			r.again = false
			h.mu.Unlock()
		}
	}()
}

func (h *GitHub) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.cfg.Log.WarnContext(r.Context(), "github webhook refused", "status", status, "reason", msg,
		"delivery", catalog.Excerpt(r.Header.Get("X-GitHub-Delivery"), 64), "remote", r.RemoteAddr)
	writeText(w, status, msg)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// push is the part of GitHub's push event payload used here.
type push struct {
	Ref        string `json:"ref"`
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		GitURL   string `json:"git_url"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
}

// pushPayload decodes a push event sent as application/json or, as GitHub also offers, as a
// form with the JSON in its payload field.
func pushPayload(contentType string, body []byte) (*push, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return nil, errors.New("a form delivery without a payload field")
		}
		body = []byte(form.Get("payload"))
	}
	var p push
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("not a push event payload: %s", catalog.Excerpt(err.Error(), 200))
	}
	if p.Repository.FullName == "" || p.Ref == "" {
		return nil, errors.New("not a push event payload: no repository.full_name or ref")
	}
	return &p, nil
}
