package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"catalogd/graph"
	"catalogd/internal/auth"
	"catalogd/internal/service"
)

// authFlags are serve's authentication, authorization and browser/bot settings.
type authFlags struct {
	issuers, audiences      []string
	userClaim, userMatch    string
	groupsClaim             string
	servicePrincipals       []string
	apiKeyFile              string
	roles, roleBindings     []string
	anonymousRead, insecure bool
	corsOrigins             []string
	persistedFile           string
	onlyPersisted           bool
}

func envList(getenv func(string) string, key, sep string) []string {
	var out []string
	for _, v := range strings.Split(getenv(key), sep) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envBool(getenv func(string) string, key string) bool {
	switch strings.ToLower(getenv(key)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func (f *authFlags) add(cmd *cobra.Command, getenv func(string) string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.issuers, "oidc-issuer", envList(getenv, "CATALOGD_OIDC_ISSUER", ","),
		"OIDC issuer URL whose bearer tokens are accepted; repeatable (env CATALOGD_OIDC_ISSUER, comma-separated)")
	fl.StringArrayVar(&f.audiences, "oidc-audience", envList(getenv, "CATALOGD_OIDC_AUDIENCE", ","),
		"audience a token must name (one of them); repeatable (env CATALOGD_OIDC_AUDIENCE, comma-separated)")
	fl.StringVar(&f.userClaim, "oidc-user-claim", envOr(getenv, "CATALOGD_OIDC_USER_CLAIM", "email"),
		"claim that identifies a person (env CATALOGD_OIDC_USER_CLAIM)")
	fl.StringVar(&f.userMatch, "oidc-user-match", envOr(getenv, "CATALOGD_OIDC_USER_MATCH", "email"),
		"which User entity the claim names: email (spec.profile.email), name or annotation:KEY (env CATALOGD_OIDC_USER_MATCH)")
	fl.StringVar(&f.groupsClaim, "oidc-groups-claim", getenv("CATALOGD_OIDC_GROUPS_CLAIM"),
		"claim listing group names added to the user's catalog groups (env CATALOGD_OIDC_GROUPS_CLAIM)")
	fl.StringArrayVar(&f.servicePrincipals, "oidc-service-principal", envList(getenv, "CATALOGD_OIDC_SERVICE_PRINCIPALS", " "),
		"CLIENT_ID=role[,role]: a client-credentials client admitted as a bot; repeatable (env CATALOGD_OIDC_SERVICE_PRINCIPALS, space-separated)")
	fl.StringVar(&f.apiKeyFile, "api-key-file", getenv("CATALOGD_API_KEY_FILE"),
		"file of static API keys, one name:role[,role]:sha256hex line each (env CATALOGD_API_KEY_FILE)")
	fl.StringArrayVar(&f.roles, "role", envList(getenv, "CATALOGD_ROLES", " "),
		"custom role NAME=action[,action]; repeatable (env CATALOGD_ROLES, space-separated)")
	fl.StringArrayVar(&f.roleBindings, "role-binding", envList(getenv, "CATALOGD_ROLE_BINDINGS", " "),
		"ROLE=SUBJECT gives a role to * (every signed-in user), a user or a group ref; repeatable (env CATALOGD_ROLE_BINDINGS, space-separated)")
	fl.BoolVar(&f.anonymousRead, "allow-anonymous-read", envBool(getenv, "CATALOGD_ALLOW_ANONYMOUS_READ"),
		"let callers without credentials read (env CATALOGD_ALLOW_ANONYMOUS_READ)")
	fl.BoolVar(&f.insecure, "insecure-no-auth", envBool(getenv, "CATALOGD_INSECURE_NO_AUTH"),
		"serve on a non-loopback address without authentication, every caller an admin (env CATALOGD_INSECURE_NO_AUTH)")
	fl.StringArrayVar(&f.corsOrigins, "cors-origin", envList(getenv, "CATALOGD_CORS_ORIGINS", ","),
		"browser origin allowed to call /graphql, e.g. https://catalog-ui.example.com; repeatable (env CATALOGD_CORS_ORIGINS, comma-separated)")
	fl.StringVar(&f.persistedFile, "persisted-queries", getenv("CATALOGD_PERSISTED_QUERIES"),
		"JSON file of sha256 hex → query: registered queries callers may name by hash (env CATALOGD_PERSISTED_QUERIES)")
	fl.BoolVar(&f.onlyPersisted, "only-persisted-queries", envBool(getenv, "CATALOGD_ONLY_PERSISTED_QUERIES"),
		"run only the queries in --persisted-queries (env CATALOGD_ONLY_PERSISTED_QUERIES)")
}

// config builds auth.Config from the flags.
func (f *authFlags) config() (auth.Config, error) {
	c := auth.Config{UserClaim: f.userClaim, UserMatch: f.userMatch, GroupsClaim: f.groupsClaim, AllowAnonymousRead: f.anonymousRead}
	if len(f.audiences) > 0 && len(f.issuers) == 0 {
		return c, fmt.Errorf("--oidc-audience needs --oidc-issuer")
	}
	for _, is := range f.issuers {
		c.Issuers = append(c.Issuers, auth.Issuer{URL: strings.TrimSpace(is), Audiences: f.audiences})
	}
	for _, s := range f.servicePrincipals {
		sp, err := auth.ParseServicePrincipal(s)
		if err != nil {
			return c, fmt.Errorf("--oidc-service-principal: %w", err)
		}
		c.ServicePrincipals = append(c.ServicePrincipals, sp)
	}
	if f.apiKeyFile != "" {
		fh, err := os.Open(f.apiKeyFile)
		if err != nil {
			return c, fmt.Errorf("--api-key-file: %w", err)
		}
		c.APIKeys, err = auth.ParseAPIKeys(fh, f.apiKeyFile)
		fh.Close()
		if err != nil {
			return c, fmt.Errorf("--api-key-file: %w", err)
		}
		if len(c.APIKeys) == 0 {
			return c, fmt.Errorf("--api-key-file %s: holds no keys", f.apiKeyFile)
		}
	}
	for _, s := range f.roles {
		name, acts, err := auth.ParseRole(s)
		if err != nil {
			return c, fmt.Errorf("--role: %w", err)
		}
		if c.Roles == nil {
			c.Roles = map[string][]auth.Action{}
		}
		c.Roles[name] = acts
	}
	for _, s := range f.roleBindings {
		b, err := auth.ParseRoleBinding(s)
		if err != nil {
			return c, fmt.Errorf("--role-binding: %w", err)
		}
		c.RoleBindings = append(c.RoleBindings, b)
	}
	if f.insecure && c.Enabled() {
		return c, fmt.Errorf("--insecure-no-auth contradicts the authentication configured (--oidc-issuer or --api-key-file)")
	}
	return c, nil
}

func (f *authFlags) persisted() (*graph.PersistedQueries, error) {
	if f.persistedFile == "" {
		if f.onlyPersisted {
			return nil, fmt.Errorf("--only-persisted-queries needs --persisted-queries FILE")
		}
		return nil, nil
	}
	fh, err := os.Open(f.persistedFile)
	if err != nil {
		return nil, fmt.Errorf("--persisted-queries: %w", err)
	}
	defer fh.Close()
	qs, err := graph.LoadPersistedQueries(fh, f.persistedFile)
	if err != nil {
		return nil, fmt.Errorf("--persisted-queries: %w", err)
	}
	return &graph.PersistedQueries{Queries: qs, Only: f.onlyPersisted}, nil
}

// authSetup is what serve needs from the flags: the authenticator (built before listening, so
// a wrong issuer stops the start) and the directory it looks users up in, which is connected
// once the database is open.
type authSetup struct {
	flags *authFlags
	cfg   auth.Config
	dir   *lateDirectory
}

func newAuthSetup(f *authFlags) (*authSetup, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return &authSetup{flags: f, cfg: cfg, dir: &lateDirectory{}}, nil
}

// checkExposure refuses to serve a non-loopback address without authentication.
func (s *authSetup) checkExposure(addr string, log *slog.Logger) error {
	if s.cfg.Enabled() {
		issuers := make([]string, len(s.cfg.Issuers))
		for i, is := range s.cfg.Issuers {
			issuers[i] = is.URL
		}
		log.Info("authentication required", "oidc_issuers", issuers, "api_keys", len(s.cfg.APIKeys),
			"service_principals", len(s.cfg.ServicePrincipals), "anonymous_read", s.cfg.AllowAnonymousRead)
		return nil
	}
	if s.flags.insecure {
		log.Warn("--insecure-no-auth: no authentication; every caller who can reach " + addr + " is an admin")
		return nil
	}
	if !isLoopback(addr) {
		return fmt.Errorf("refusing to serve on %s without authentication: configure --oidc-issuer and --oidc-audience (or --api-key-file), "+
			"serve on a loopback address such as 127.0.0.1:8080, or pass --insecure-no-auth to let every caller act as admin", addr)
	}
	log.Info("no authentication configured: serving on loopback only, every caller is a local admin")
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *authSetup) authenticator(ctx context.Context, log *slog.Logger) (*auth.Authenticator, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	return auth.New(ctx, s.cfg, s.dir, hc, log)
}

// lateDirectory is the user directory, connected when the database is open. Until then it
// matches nobody (and GraphQL answers 503 anyway).
type lateDirectory struct {
	d atomic.Pointer[service.Directory]
}

func (l *lateDirectory) set(d *service.Directory) { l.d.Store(d) }

func (l *lateDirectory) LookupUser(ctx context.Context, match, value string) (string, []string, error) {
	d := l.d.Load()
	if d == nil {
		return "", nil, nil
	}
	return d.LookupUser(ctx, match, value)
}
