package github_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub replays the shapes of GitHub's REST API (as documented at
// docs.github.com/rest) for one organisation: repositories listed in pages with Link headers,
// the contents API with base64 content wrapped at 60 columns, teams with their parent, team
// and organisation members, rate-limit headers, ETags and 304 on a matching If-None-Match.
// It stands in for github.com, which tests cannot reach.
type fakeGitHub struct {
	t        *testing.T
	srv      *httptest.Server
	pageSize int

	mu       sync.Mutex
	repos    map[string]*fakeRepo // name -> repo
	teams    []fakeTeam
	members  []string
	profiles map[string][2]string // login -> name, email
	// fault, when set, may answer a request itself (return true).
	fault func(w http.ResponseWriter, r *http.Request) bool
	// auth, when set, is the Authorization header every API request must carry.
	auth string
	// counts
	requests, notModified, contents int
	paths                           []string
}

type fakeRepo struct {
	files    map[string]string // path -> content (in the default branch)
	pushedAt time.Time
	archived bool
}

type fakeTeam struct {
	slug, name, parent string
	members            []string // as GitHub lists them: including child teams' members
}

func newFake(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{t: t, pageSize: 2, repos: map[string]*fakeRepo{}, profiles: map[string][2]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) setRepo(name string, archived bool, files map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repos[name]
	if r == nil {
		r = &fakeRepo{files: map[string]string{}}
		f.repos[name] = r
	}
	for p, c := range files {
		if c == "" {
			delete(r.files, p)
		} else {
			r.files[p] = c
		}
	}
	r.archived = archived
	r.pushedAt = time.Now().Add(time.Duration(len(f.paths)) * time.Second) // a push moves pushed_at
}

func (f *fakeGitHub) counts() (requests, notModified, contents int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.notModified, f.contents
}

func (f *fakeGitHub) resetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests, f.notModified, f.contents, f.paths = 0, 0, 0, nil
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.paths = append(f.paths, r.URL.Path)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	defer func() {
		if sw.status == http.StatusNotModified {
			f.notModified++
		}
	}()
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		writeJSON(w, r, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"}, "")
		return
	}
	if r.Header.Get("X-GitHub-Api-Version") == "" || !strings.Contains(r.Header.Get("Accept"), "application/vnd.github") {
		f.t.Errorf("%s without GitHub's headers", r.URL.Path)
	}
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", "4999")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	notFound := func() {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, "")
	}
	switch {
	case len(parts) == 3 && parts[0] == "orgs" && parts[1] == "acme" && parts[2] == "repos":
		var names []string
		for n := range f.repos {
			names = append(names, n)
		}
		sort.Strings(names)
		var items []any
		for _, n := range names {
			items = append(items, f.repoJSON(n))
		}
		f.page(w, r, items)
	case len(parts) == 3 && parts[0] == "repos" && parts[1] == "acme":
		if _, ok := f.repos[parts[2]]; !ok {
			notFound()
			return
		}
		writeJSON(w, r, http.StatusOK, f.repoJSON(parts[2]), "")
	case len(parts) >= 5 && parts[0] == "repos" && parts[1] == "acme" && parts[3] == "contents":
		f.contents++
		repo, ok := f.repos[parts[2]]
		p := strings.Join(parts[4:], "/")
		content, found := "", false
		if ok {
			content, found = repo.files[p]
		}
		if !found {
			notFound()
			return
		}
		enc := base64.StdEncoding.EncodeToString([]byte(content))
		var wrapped strings.Builder
		for len(enc) > 60 {
			wrapped.WriteString(enc[:60] + "\n")
			enc = enc[60:]
		}
		wrapped.WriteString(enc + "\n")
		sum := sha256.Sum256([]byte(content))
		writeJSON(w, r, http.StatusOK, map[string]any{
			"type": "file", "encoding": "base64", "size": len(content), "name": p[strings.LastIndex(p, "/")+1:], "path": p,
			"content": wrapped.String(), "sha": fmt.Sprintf("%x", sum[:20]),
			"html_url": f.srv.URL + "/acme/" + parts[2] + "/blob/main/" + p,
		}, "")
	case len(parts) == 3 && parts[0] == "orgs" && parts[1] == "acme" && parts[2] == "teams":
		var items []any
		for _, t := range f.teams {
			team := map[string]any{"id": len(t.slug), "slug": t.slug, "name": t.name, "description": "", "privacy": "closed",
				"html_url": "https://github.com/orgs/acme/teams/" + t.slug, "parent": nil}
			if t.parent != "" {
				team["parent"] = map[string]any{"slug": t.parent, "name": t.parent}
			}
			items = append(items, team)
		}
		f.page(w, r, items)
	case len(parts) == 5 && parts[0] == "orgs" && parts[2] == "teams" && parts[4] == "members":
		for _, t := range f.teams {
			if t.slug == parts[3] {
				f.page(w, r, users(t.members))
				return
			}
		}
		notFound()
	case len(parts) == 3 && parts[0] == "orgs" && parts[2] == "members":
		f.page(w, r, users(f.members))
	case len(parts) == 2 && parts[0] == "users":
		p := f.profiles[parts[1]]
		writeJSON(w, r, http.StatusOK, map[string]any{"login": parts[1], "name": p[0], "email": p[1], "type": "User"}, "")
	default:
		notFound()
	}
}

func users(logins []string) []any {
	var out []any
	for _, l := range logins {
		out = append(out, map[string]any{"login": l, "id": len(l), "type": "User",
			"avatar_url": "https://avatars.githubusercontent.com/" + l, "html_url": "https://github.com/" + l})
	}
	return out
}

func (f *fakeGitHub) repoJSON(name string) map[string]any {
	r := f.repos[name]
	return map[string]any{"id": len(name), "name": name, "full_name": "acme/" + name, "private": false, "fork": false,
		"archived": r.archived, "default_branch": "main", "html_url": f.srv.URL + "/acme/" + name,
		"pushed_at": r.pushedAt.UTC().Format(time.RFC3339Nano)}
}

// page answers one page of items with GitHub's Link header.
func (f *fakeGitHub) page(w http.ResponseWriter, r *http.Request, items []any) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	last := max(1, (len(items)+f.pageSize-1)/f.pageSize)
	lo, hi := min((page-1)*f.pageSize, len(items)), min(page*f.pageSize, len(items))
	link := func(p int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>`, f.srv.URL, r.URL.Path, q.Encode())
	}
	var links []string
	if page < last {
		links = append(links, link(page+1)+`; rel="next"`, link(last)+`; rel="last"`)
	}
	if page > 1 {
		links = append(links, link(1)+`; rel="first"`, link(page-1)+`; rel="prev"`)
	}
	out := items[lo:hi]
	if out == nil {
		out = []any{}
	}
	writeJSON(w, r, http.StatusOK, out, strings.Join(links, ", "))
}

// writeJSON answers with an ETag, and 304 when the request's If-None-Match holds it.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any, link string) {
	body, _ := json.Marshal(v)
	if link != "" {
		w.Header().Set("Link", link)
	}
	if status == http.StatusOK {
		sum := sha256.Sum256(append(body, link...))
		etag := fmt.Sprintf(`W/"%x"`, sum[:16])
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
