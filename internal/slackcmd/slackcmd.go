// Package slackcmd serves the Slack slash command (/catalog who-owns payments): requests are
// verified with the app's signing secret (slack-go's v0 HMAC-SHA256 verifier, constant time,
// timestamps more than five minutes off refused, each signature accepted once), the Slack user
// is mapped to a catalog User for the policy, and answers are Block Kit with a plain-text
// fallback, within Slack's 3 s deadline or later through response_url. The answers come from
// the same functions as the MCP tools, which run GraphQL in process.
package slackcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/mcpserver"
	"catalogd/internal/reading"
)

// UserIDAnnotation on a User entity names its Slack user.
const UserIDAnnotation = "slack.com/user-id"

// Options configure the handler.
type Options struct {
	SigningSecret string
	// GraphQL is the GraphQL handler the answers are computed through (as for MCP).
	GraphQL http.Handler
	// Auth maps the Slack user to a principal (nil: every caller is the local admin).
	Auth *auth.Authenticator
	// Responder posts late answers to response_url: the server's URL allow-list and dialer,
	// which must admit hooks.slack.com.
	Responder *reading.Reader
	// BotToken, when set, lets a Slack user without the slack.com/user-id annotation be found
	// by the email of their Slack profile (users.info, which needs the users:read.email scope),
	// through Responder (the allow-list must admit slack.com).
	BotToken string
	// SlackAPIURL is Slack's Web API base (tests; "": https://slack.com/api/).
	SlackAPIURL string
	// Deadline is how long an answer may take before it goes through response_url instead
	// (0: 2.5 s, inside Slack's 3 s).
	Deadline time.Duration
	Log      *slog.Logger
	// Now is the clock of the replay and email caches (tests); nil: time.Now.
	Now func() time.Time
}

// Handler is the POST /slack/commands handler.
type Handler struct {
	o    Options
	mu   sync.Mutex
	seen map[string]time.Time // signatures accepted in the last window: a replay is refused
	wg   sync.WaitGroup
	api  *slack.Client
	// emails remembers Slack users' profile emails (users.info), for emailTTL.
	emails map[string]cachedEmail
}

type cachedEmail struct {
	email string
	at    time.Time
}

const (
	emailTTL   = 10 * time.Minute
	maxEmails  = 10_000
	apiTimeout = time.Second
)

const (
	maxBody     = 64 << 10
	replayTTL   = 6 * time.Minute // longer than the timestamp window
	maxSeen     = 100_000
	lateTimeout = 30 * time.Second
)

// New returns the handler.
func New(o Options) *Handler {
	if o.Deadline <= 0 {
		o.Deadline = 2500 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, seen: map[string]time.Time{}, emails: map[string]cachedEmail{}}
	if o.BotToken != "" && o.Responder != nil {
		opts := []slack.Option{slack.OptionHTTPClient(o.Responder)}
		if o.SlackAPIURL != "" {
			opts = append(opts, slack.OptionAPIURL(o.SlackAPIURL))
		}
		h.api = slack.New(o.BotToken, opts...)
	}
	return h
}

// principal maps the Slack user to a catalog User: by the slack.com/user-id annotation, else
// (with a bot token) by their profile email.
func (h *Handler) principal(ctx context.Context, userID string) (*auth.Principal, error) {
	p, err := h.o.Auth.ExternalUser(ctx, "slack", "annotation:"+UserIDAnnotation, userID)
	if err != nil || p.Ref != "" || h.api == nil || p.Kind == auth.KindLocal {
		return p, err
	}
	email := h.email(ctx, userID)
	if email == "" {
		return p, nil
	}
	q, err := h.o.Auth.ExternalUser(ctx, "slack", "email", email)
	if err != nil || q.Ref == "" {
		return p, err
	}
	return q, nil
}

// email returns the profile email of a Slack user ("" when it cannot be had), remembered for
// emailTTL.
func (h *Handler) email(ctx context.Context, userID string) string {
	now := h.o.Now()
	h.mu.Lock()
	c, ok := h.emails[userID]
	h.mu.Unlock()
	if ok && now.Sub(c.at) < emailTTL {
		return c.email
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	u, err := h.api.GetUserInfoContext(ctx, userID)
	email := ""
	if err != nil {
		h.o.Log.Warn("slack command: users.info failed", "user", excerpt(userID), "err", err)
	} else {
		email = u.Profile.Email
	}
	h.mu.Lock()
	if len(h.emails) >= maxEmails {
		clear(h.emails)
	}
	h.emails[userID] = cachedEmail{email, now}
	h.mu.Unlock()
	return email
}

// Wait waits for answers still being posted to response_url.
func (h *Handler) Wait() { h.wg.Wait() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		h.o.Log.Info("slack command refused", "remote", r.RemoteAddr, "reason", err.Error())
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	p, err := h.principal(r.Context(), cmd.UserID)
	if err != nil {
		writeMsg(w, textMsg("The catalog cannot answer now: "+err.Error()))
		return
	}
	// The work goes on after this request if it is late: a context of its own, bounded.
	ctx, cancel := context.WithTimeout(auth.WithPrincipal(context.WithoutCancel(r.Context()), p), lateTimeout)
	done := make(chan *slack.Msg, 1)
	go func() {
		defer cancel()
		done <- h.answer(ctx, cmd)
	}()
	select {
	case m := <-done:
		writeMsg(w, m)
	case <-time.After(h.o.Deadline):
		writeMsg(w, textMsg("Working on it…"))
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.respondLate(cmd.ResponseURL, <-done)
		}()
	}
}

// verify checks Slack's signature over v0:timestamp:body, the timestamp's age, and that the
// signature was not accepted before (a replay within the window).
func (h *Handler) verify(header http.Header, body []byte) error {
	if h.o.SigningSecret == "" {
		return errors.New("no signing secret configured")
	}
	sv, err := slack.NewSecretsVerifier(header, h.o.SigningSecret)
	if err != nil {
		return err
	}
	sv.Write(body)
	if err := sv.Ensure(); err != nil {
		return err
	}
	sig := header.Get("X-Slack-Signature")
	now := h.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.seen[sig]; ok {
		return errors.New("replayed signature")
	}
	if len(h.seen) >= maxSeen {
		for k, at := range h.seen {
			if now.Sub(at) > replayTTL {
				delete(h.seen, k)
			}
		}
		if len(h.seen) >= maxSeen {
			return errors.New("too many requests to remember")
		}
	}
	h.seen[sig] = now
	return nil
}

func (h *Handler) respondLate(responseURL string, m *slack.Msg) {
	if m == nil {
		return
	}
	u, err := url.Parse(responseURL)
	if err != nil || responseURL == "" {
		h.o.Log.Warn("slack command: no usable response_url")
		return
	}
	m.ResponseType = slack.ResponseTypeEphemeral
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), lateTimeout)
	defer cancel()
	status, err := h.o.Responder.Post(ctx, u.String(), http.Header{"Content-Type": {"application/json"}}, b)
	if err != nil || status/100 != 2 {
		h.o.Log.Warn("slack command: posting the late answer failed", "status", status, "err", err)
	}
}

func writeMsg(w http.ResponseWriter, m *slack.Msg) {
	if m.ResponseType == "" {
		m.ResponseType = slack.ResponseTypeEphemeral
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(m)
}

func textMsg(s string) *slack.Msg { return &slack.Msg{Text: s} }

// answer runs one command and returns its message.
func (h *Handler) answer(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	verb, arg, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	arg = strings.TrimSpace(arg)
	gh := h.o.GraphQL
	need := func(what string) *slack.Msg {
		return blocks(fmt.Sprintf("Usage: %s %s %s", cmd.Command, verb, what))
	}
	switch strings.ToLower(verb) {
	case "", "help":
		return blocks(help(cmd.Command))
	case "whoami":
		p := auth.FromContext(ctx)
		who := "not a User of the catalog"
		if p.Ref != "" {
			who = p.Ref
		}
		return blocks(fmt.Sprintf("You are *%s* (%s); roles: %s", who, excerpt(p.Name), strings.Join(p.Roles, ", ")))
	case "who-owns":
		if arg == "" {
			return need("<ref or name>")
		}
		ref, err := mcpserver.Resolve(ctx, gh, arg)
		if err != nil {
			return failure(err)
		}
		_, o, err := mcpserver.WhoOwns(ctx, gh, ref)
		if err != nil {
			return failure(err)
		}
		return blocks(whoOwnsText(o))
	case "impact":
		if arg == "" {
			return need("<ref or name>")
		}
		_, o, err := mcpserver.Impact(ctx, gh, mcpserver.ImpactIn{Ref: arg})
		if err != nil {
			return failure(err)
		}
		return blocks(impactText(o))
	case "deps":
		if arg == "" {
			return need("<ref or name>")
		}
		_, o, err := mcpserver.Dependencies(ctx, gh, mcpserver.DepsIn{Ref: arg})
		if err != nil {
			return failure(err)
		}
		return blocks(depsText(o))
	case "search":
		if arg == "" {
			return need("<words>")
		}
		_, o, err := mcpserver.Search(ctx, gh, mcpserver.SearchIn{Query: arg, First: 10})
		if err != nil {
			return failure(err)
		}
		return blocks(searchText(o))
	}
	return blocks(fmt.Sprintf("Unknown command %q.\n%s", excerpt(verb), help(cmd.Command)))
}

func help(command string) string {
	if command == "" {
		command = "/catalog"
	}
	return fmt.Sprintf("*%[1]s who-owns <ref or name>* — owner, escalation path and contacts\n"+
		"*%[1]s impact <ref or name>* — what breaks if it is down, by owner\n"+
		"*%[1]s deps <ref or name>* — what it depends on\n"+
		"*%[1]s search <words>* — find entities\n"+
		"*%[1]s whoami* — the catalog User you are taken for\n"+
		"A bare name works when it names one entity; refs are kind:namespace/name.", command)
}

func failure(err error) *slack.Msg {
	var amb *mcpserver.AmbiguousError
	if errors.As(err, &amb) {
		head := fmt.Sprintf("%q names several entities; say which:", excerpt(amb.Name))
		if !amb.Found {
			head = fmt.Sprintf("Nothing is named %q. Did you mean:", excerpt(amb.Name))
		}
		return blocks(head + "\n• " + strings.Join(amb.Candidates, "\n• "))
	}
	return blocks("Sorry: " + excerpt(err.Error()))
}

// blocks is a message of one section holding text (mrkdwn), with the same text as the
// plain-text fallback Slack shows in notifications.
func blocks(text string) *slack.Msg {
	const maxSection = 2900 // Slack's section text limit is 3,000 characters
	var bs []slack.Block
	rest := text
	for len(rest) > 0 && len(bs) < 10 {
		part := rest
		if len(part) > maxSection {
			cut := strings.LastIndexByte(part[:maxSection], '\n')
			if cut <= 0 {
				cut = maxSection
			}
			part = rest[:cut]
		}
		rest = strings.TrimPrefix(rest[len(part):], "\n")
		bs = append(bs, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
	}
	fallback := text
	if len(fallback) > 3000 {
		fallback = fallback[:3000] + "…"
	}
	return &slack.Msg{Text: fallback, Blocks: slack.Blocks{BlockSet: bs}}
}

// excerpt cuts s for an answer, on a rune boundary.
func excerpt(s string) string { return catalog.Excerpt(s, 200) }

func contacts(cs []mcpserver.Contact) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type+": "+c.Value)
	}
	return strings.Join(out, ", ")
}

func whoOwnsText(o mcpserver.WhoOwnsOut) string {
	if o.Owner == "" {
		return fmt.Sprintf("*%s* has no owner.", o.Ref)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* is owned by *%s*", o.Ref, o.Owner)
	if !o.OwnerResolved {
		b.WriteString(" (not in the catalog)")
	}
	if c := contacts(o.Contacts); c != "" {
		fmt.Fprintf(&b, "\nContacts: %s", c)
	}
	if c := contacts(o.OnCall); c != "" {
		fmt.Fprintf(&b, "\nOn call: %s", c)
	}
	if len(o.Escalation) > 0 {
		b.WriteString("\nEscalation:")
		for _, e := range o.Escalation {
			fmt.Fprintf(&b, "\n• %s", e.Ref)
			if c := contacts(e.Contacts); c != "" {
				fmt.Fprintf(&b, " (%s)", c)
			}
		}
	}
	return b.String()
}

func impactText(o mcpserver.ImpactOut) string {
	var b strings.Builder
	fmt.Fprintf(&b, "If *%s* is down, %d entities of %d owners are affected.", o.Ref, o.TotalAffected, o.TotalOwners)
	for i, ow := range o.Owners {
		if i == 15 {
			fmt.Fprintf(&b, "\n…and %d more owners.", o.TotalOwners-15)
			break
		}
		fmt.Fprintf(&b, "\n• *%s*: %d", ow.Ref, ow.EntityCount)
		if c := contacts(ow.Contacts); c != "" {
			fmt.Fprintf(&b, " — %s", c)
		}
	}
	return b.String()
}

func depsText(o mcpserver.DepsOut) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* depends on %d entities.", o.Ref, o.Total)
	for i, d := range o.Entities {
		if i == 30 {
			fmt.Fprintf(&b, "\n…and %d more.", o.Total-30)
			break
		}
		fmt.Fprintf(&b, "\n• %s (depth %d)", d.Ref, d.Depth)
	}
	return b.String()
}

func searchText(o mcpserver.SearchOut) string {
	if len(o.Hits) == 0 {
		return "No entity matches."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d matches:", o.Total)
	for _, h := range o.Hits {
		fmt.Fprintf(&b, "\n• *%s*", h.Ref)
		if h.Title != nil {
			fmt.Fprintf(&b, " — %s", *h.Title)
		}
	}
	return b.String()
}
