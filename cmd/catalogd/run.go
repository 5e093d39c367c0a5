package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gqlgraphql "github.com/99designs/gqlgen/graphql"
	"github.com/spf13/cobra"

	"catalogd/demo"
	"catalogd/graph"
	"catalogd/internal/catalog"
	"catalogd/internal/depgraph"
	"catalogd/internal/feed"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/ingest/git"
	"catalogd/internal/ingest/github"
	urlprov "catalogd/internal/ingest/url"
	"catalogd/internal/mcpserver"
	"catalogd/internal/obs"
	"catalogd/internal/reading"
	"catalogd/internal/server"
	"catalogd/internal/service"
	"catalogd/internal/slackcmd"
	"catalogd/internal/store"
	"catalogd/internal/webhook"
	"catalogd/schema"
)

// run is the whole program: it parses args, reads configuration through getenv, and writes
// only to stdout and stderr, so tests can call it as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "catalogd",
		Short:         "catalogd is a software catalog: Backstage descriptors in, a GraphQL entity graph out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(getenv, stdout, stderr), ingestCmd(getenv, stdout, stderr), validateCmd(getenv, stdout), configCmd(getenv, stdout))
	// --- ops: migrate, version (cmd/catalogd/migrate.go, version.go) ---
	root.AddCommand(migrateCmd(getenv, stdout), versionCmd(stdout))
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	// --- end ops ---
	err := root.ExecuteContext(ctx)
	if err != nil && err != errSilent {
		return err
	}
	return err
}

// envDuration reads a duration from the environment: unset gives def, a value that is not a
// positive duration is an error (never a silent default).
func envDuration(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q is not a duration (write e.g. 30s, 5m, 1h)", key, excerpt(v))
	}
	if d <= 0 {
		return def, fmt.Errorf("%s=%s: must be positive", key, d)
	}
	return d, nil
}

func excerpt(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

const defaultDatabase = "sqlite:catalogd.db"

type commonFlags struct {
	database  string
	migrate   string // migrateAuto or migrateOff
	locations []string
	logLevel  string
	logFormat string // json or text
	read      readFlags
	mem       memoryFlags
}

// readFlags say what descriptors may read beyond their own location's directory.
type readFlags struct {
	allowDirs []string // --read-allow-dir
	allow     []string // --read-allow
}

func (r *readFlags) add(cmd *cobra.Command, getenv func(string) string) {
	cmd.Flags().StringArrayVar(&r.allowDirs, "read-allow-dir", splitEnv(getenv, "CATALOGD_READ_ALLOW_DIRS"),
		"directory descriptors may also read from, beside their location's own (e.g. a monorepo's top); repeatable (env CATALOGD_READ_ALLOW_DIRS, comma-separated)")
	cmd.Flags().StringArrayVar(&r.allow, "read-allow", splitEnv(getenv, "CATALOGD_READ_ALLOW"),
		"HOST[:PORT][/PATH-PREFIX] descriptors may fetch http(s) URLs from, for placeholders and url Locations (none: no URL is fetched); repeatable (env CATALOGD_READ_ALLOW, comma-separated)")
}

// reader returns the URL reader the flags allow (nil when they allow none).
func (r *readFlags) reader(maxBytes int64) (*reading.Reader, error) {
	allow, err := reading.ParseAllowList(r.allow)
	if err != nil {
		return nil, fmt.Errorf("--read-allow: %w", err)
	}
	if len(allow) == 0 {
		return nil, nil
	}
	return reading.New(reading.Options{Allow: allow, MaxBytes: maxBytes}), nil
}

func splitEnv(getenv func(string) string, key string) []string {
	if v := getenv(key); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

func (c *commonFlags) add(cmd *cobra.Command, getenv func(string) string) {
	cmd.Flags().StringVar(&c.database, "database", envOr(getenv, "CATALOGD_DATABASE_URL", defaultDatabase),
		"database URL: sqlite:PATH or postgres://user@host:port/db (env CATALOGD_DATABASE_URL)")
	var envLocs []string
	if v := getenv("CATALOGD_LOCATIONS"); v != "" {
		envLocs = strings.Split(v, ",")
	}
	cmd.Flags().StringArrayVar(&c.locations, "location", envLocs,
		"descriptor file or directory to ingest; repeatable (env CATALOGD_LOCATIONS, comma-separated)")
	cmd.Flags().StringVar(&c.migrate, "migrate", envOr(getenv, "CATALOGD_MIGRATE", migrateAuto),
		"auto: apply pending schema migrations at start; off: refuse to start while any are pending (run catalogd migrate up) (env CATALOGD_MIGRATE)")
	cmd.Flags().StringVar(&c.logLevel, "log-level", envOr(getenv, "CATALOGD_LOG_LEVEL", "info"), "debug, info, warn or error (env CATALOGD_LOG_LEVEL)")
	cmd.Flags().StringVar(&c.logFormat, "log-format", envOr(getenv, "CATALOGD_LOG_FORMAT", "text"), "text or json: structured lines on stderr, each naming the request it was logged for (env CATALOGD_LOG_FORMAT)")
	c.read.add(cmd, getenv)
}

func newEngine(st *store.Store, log *slog.Logger, rf readFlags) (*ingest.Engine, error) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		return nil, err
	}
	eng := &ingest.Engine{Store: st, Validator: v, Log: log, DocsAllowDirs: rf.allowDirs} // file:// repositories of url: techdocs-refs
	// One fetch may bring at most what placeholders may add to one document.
	if eng.URLs, err = rf.reader(ingest.DefaultMaxPlaceholderBytes); err != nil {
		return nil, err
	}
	return eng, nil
}

// newRegistry is what catalogd can read: the provider factories by type, and the routes
// that send runtime target strings to them.
func newRegistry(eng *ingest.Engine, allowDirs []string) *ingest.Registry {
	reg := ingest.NewRegistry()
	reg.Register("file", func(cfg ingest.LocationConfig) (ingest.Provider, error) {
		if len(cfg.Options) > 0 {
			return nil, fmt.Errorf("the file provider has no options")
		}
		return file.New(cfg.Target, allowDirs...)
	})
	reg.Register("url", func(cfg ingest.LocationConfig) (ingest.Provider, error) {
		if len(cfg.Options) > 0 {
			return nil, fmt.Errorf("the url provider has no options")
		}
		return urlprov.New(cfg.Target, eng.URLs)
	})
	reg.Register("git", func(cfg ingest.LocationConfig) (ingest.Provider, error) {
		gc, err := git.Decode(cfg.Options)
		if err != nil {
			return nil, err
		}
		gc.Target = cfg.Target
		return git.New(gc)
	})
	reg.Route("git", func(s string) (string, bool) { return s, ingest.GitURL(s) })
	reg.Register("github", func(cfg ingest.LocationConfig) (ingest.Provider, error) {
		gc, err := github.Decode(cfg.Options)
		if err != nil {
			return nil, err
		}
		gc.Target = cfg.Target
		return github.New(gc)
	})
	return reg
}

func providers(paths, allowDirs []string) ([]ingest.Provider, error) {
	var ps []ingest.Provider
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		fp, err := file.New(p, allowDirs...)
		if err != nil {
			return nil, err
		}
		ps = append(ps, fp)
	}
	return ps, nil
}

func serveCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var c commonFlags
	var addr string
	var interval time.Duration
	var demoFlag bool
	var contacts []string
	var requestTimeout time.Duration
	var af authFlags
	var envErr, envErr2, envErr3, envErr4, envErr5 error // environment values that are not what they must be
	var configPath string
	var maxShare float64
	var of opsFlags // --- ops: metrics, tracing, shutdown (ops.go) ---
	var changeCheck time.Duration
	var sf scaffolderFlags
	var slackSecret string
	var answerCache byteSize
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the GraphQL API, keeping the configured locations ingested",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var fc *fileConfig
			if configPath != "" {
				var problems []string
				var err error
				if fc, problems, err = loadConfig(configPath, getenv, nil); err != nil {
					return err
				}
				if len(problems) > 0 {
					return fmt.Errorf("config %s:\n  %s", configPath, strings.Join(problems, "\n  "))
				}
				if err := applyConfig(cmd, fc, getenv); err != nil {
					return err
				}
			} else {
				fc = &fileConfig{}
			}
			c.mem.auto = true
			if err := errors.Join(envErr, envErr2, envErr3, envErr4, envErr5, of.envErr, sf.check(), c.mem.apply()); err != nil {
				c.mem.stop()
				return err
			}
			defer c.mem.stop()
			if !cmd.Flags().Changed("max-removal-share") && getenv("CATALOGD_MAX_REMOVAL_SHARE") == "" && fc.Guards.MaxRemovalShare != nil {
				maxShare = *fc.Guards.MaxRemovalShare
			}
			if maxShare <= 0 || maxShare > 1 {
				return fmt.Errorf("--max-removal-share must be above 0 and at most 1, got %v", maxShare)
			}
			webhookSecret := envOr(getenv, "CATALOGD_GITHUB_WEBHOOK_SECRET", fc.Webhooks.GitHub.Secret)
			if interval <= 0 {
				return fmt.Errorf("--refresh-interval must be positive, got %s (a location is re-read every interval)", interval)
			}
			log, err := newLogger(c.logFormat, c.logLevel, stderr)
			if err != nil {
				return err
			}
			ps, err := providers(c.locations, c.read.allowDirs)
			if err != nil {
				return err
			}
			if _, err := c.read.reader(0); err != nil {
				return err
			}
			if demoFlag {
				ps = append(ps, file.NewFS("demo", demo.FS, demo.Root))
				// The demo's templates read their skeletons from the same embedded files.
				sf.embedded = map[string]fs.FS{"demo": demo.FS}
				if !cmd.Flags().Changed("database") && getenv("CATALOGD_DATABASE_URL") == "" {
					dir, err := os.MkdirTemp("", "catalogd-demo-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					c.database = "sqlite:" + filepath.Join(dir, "demo.db")
					log.Info("demo: using a temporary database", "database", c.database)
				}
			}
			if !cmd.Flags().Changed("contact-annotation") && getenv("CATALOGD_CONTACT_ANNOTATIONS") == "" {
				contacts = nil // the defaults
			}
			if requestTimeout <= 0 {
				return fmt.Errorf("--request-timeout must be positive, got %s", requestTimeout)
			}
			as, err := newAuthSetup(&af)
			if err != nil {
				return err
			}
			pq, err := af.persisted()
			if err != nil {
				return err
			}
			// --- ops ---
			if err := checkMigrateMode(c.migrate); err != nil {
				return err
			}
			metricsToken, err := of.metricsToken(getenv)
			if err != nil {
				return err
			}
			if of.pprof && metricsToken == "" {
				return fmt.Errorf("--pprof needs a metrics token (--metrics-token-file or CATALOGD_METRICS_TOKEN): profiles are not served openly")
			}
			if of.shutdownTimeout <= 0 {
				return fmt.Errorf("--shutdown-timeout must be positive, got %s", of.shutdownTimeout)
			}
			tracing, err := obs.NewTracing(ctx, of.otlpEndpoint, versionString(), getenv)
			if err != nil {
				return err
			}
			// --- end ops ---
			// Change feed (issue 13): webhooks and retention.
			fcfg, err := feedConfig(fc.Feed)
			if err != nil {
				return err
			}
			if slackSecret == "" {
				slackSecret = fc.Slack.SigningSecret
			}
			slackToken := envOr(getenv, "CATALOGD_SLACK_BOT_TOKEN", fc.Slack.BotToken)
			return serve(ctx, serveConfig{addr: addr, database: c.database, storeOptions: c.mem.storeOptions(), providers: ps, interval: interval, contacts: contacts,
				maxRemovalShare: maxShare, locations: fc.Locations, githubWebhookSecret: webhookSecret,
				read: c.read, requestTimeout: requestTimeout, answerCacheBytes: int64(answerCache), auth: as, persisted: pq, changeCheck: changeCheck, scaffolder: sf,
				feed: fcfg, slackSecret: slackSecret, slackToken: slackToken, slackAPIURL: getenv("CATALOGD_SLACK_API_URL"),
				// --- ops ---
				migrate: c.migrate, metricsToken: metricsToken, pprof: of.pprof, tracing: tracing, shutdownTimeout: of.shutdownTimeout, shutdown: &shutdownHooks{},
			}, log, stdout)
		},
	}
	c.add(cmd, getenv)
	c.mem.add(cmd, getenv, store.DefaultSQLiteApplyCacheSize)
	cmd.Flags().StringVar(&addr, "addr", envOr(getenv, "CATALOGD_ADDR", "127.0.0.1:8080"), "listen address (env CATALOGD_ADDR)")
	def, err := envDuration(getenv, "CATALOGD_REFRESH_INTERVAL", ingest.DefaultInterval)
	envErr = err
	cmd.Flags().DurationVar(&interval, "refresh-interval", def, "how often locations are re-read (env CATALOGD_REFRESH_INTERVAL)")
	var envContacts []string
	if v := getenv("CATALOGD_CONTACT_ANNOTATIONS"); v != "" {
		envContacts = strings.Split(v, ",")
	}
	cmd.Flags().StringArrayVar(&contacts, "contact-annotation", envContacts,
		"annotation key reported as an owner contact by impact queries; repeatable (env CATALOGD_CONTACT_ANNOTATIONS, comma-separated; default "+strings.Join(graph.DefaultContactAnnotations, ", ")+")")
	defTimeout, err := envDuration(getenv, "CATALOGD_REQUEST_TIMEOUT", 30*time.Second)
	envErr2 = err
	cmd.Flags().DurationVar(&requestTimeout, "request-timeout", defTimeout,
		"deadline of one GraphQL request; resolvers stop and answer TIMEOUT when it passes (env CATALOGD_REQUEST_TIMEOUT)")
	answerCache, envErr5 = envByteSize(getenv, "CATALOGD_ANSWER_CACHE_SIZE", graph.DefaultAnswerCacheBytes)
	cmd.Flags().Var(&answerCache, "answer-cache-size",
		"memory for whole answers to queries that read only the catalog, kept until it changes, e.g. 64MiB; 0: none (env CATALOGD_ANSWER_CACHE_SIZE)")
	af.add(cmd, getenv)
	sf.add(cmd, getenv)
	cmd.Flags().StringVar(&configPath, "config", getenv("CATALOGD_CONFIG"),
		"YAML configuration file (see catalogd.example.yaml); flags and environment override it (env CATALOGD_CONFIG)")
	defShare := store.DefaultMaxRemovalShare
	if v := getenv("CATALOGD_MAX_REMOVAL_SHARE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			envErr3 = fmt.Errorf("CATALOGD_MAX_REMOVAL_SHARE=%q is not a number", excerpt(v))
		}
		defShare = f
	}
	cmd.Flags().Float64Var(&maxShare, "max-removal-share", defShare,
		"share of a location's entities one read may remove before the guard refuses it until forced (env CATALOGD_MAX_REMOVAL_SHARE)")
	of.add(cmd, getenv)
	defCheck, err := envDuration(getenv, "CATALOGD_CHANGE_CHECK_INTERVAL", defaultChangeCheck)
	envErr4 = err
	cmd.Flags().DurationVar(&changeCheck, "change-check-interval", defCheck,
		"how often the catalog generation is read to notice other replicas' changes, behind PostgreSQL's change notifications (env CATALOGD_CHANGE_CHECK_INTERVAL)")
	cmd.Flags().StringVar(&slackSecret, "slack-signing-secret", getenv("CATALOGD_SLACK_SIGNING_SECRET"),
		"signing secret of the Slack app whose slash command posts to /slack/commands (env CATALOGD_SLACK_SIGNING_SECRET; none: no /slack/commands)")
	cmd.Flags().BoolVar(&demoFlag, "demo", false, "also serve the built-in demo catalog (on a temporary database unless --database is given)")
	return cmd
}

type serveConfig struct {
	contacts []string
	migrate  string // migrateAuto or migrateOff
	addr     string
	database string
	// storeOptions size the database connections' memory (SQLite's cache and memory map).
	storeOptions store.Options
	providers    []ingest.Provider
	interval     time.Duration
	// maxRemovalShare is the guard's share (0: the default).
	maxRemovalShare float64
	// locations are those of the configuration file (built once the engine exists).
	locations []ingest.LocationConfig
	// githubWebhookSecret verifies POST /webhooks/github (webhooks.github.secret).
	githubWebhookSecret string
	read                readFlags
	// requestTimeout is each GraphQL request's deadline; the server's write timeout leaves
	// room after it for the answer to be written.
	requestTimeout time.Duration
	// answerCacheBytes bounds the GraphQL answer cache (0: none).
	answerCacheBytes int64
	auth             *authSetup
	persisted        *graph.PersistedQueries

	// --- ops (ops.go) ---
	metricsToken    string        // bearer token GET /metrics requires ("": open)
	pprof           bool          // serve /debug/pprof/ behind metricsToken
	tracing         *obs.Tracing  // spans go here (a no-op provider when tracing is off)
	shutdownTimeout time.Duration // draining requests and running shutdown hooks
	// shutdown are the hooks run after the HTTP server drained: components holding leases
	// or locks register their release here.
	shutdown *shutdownHooks

	// changeCheck is how often the catalog generation is read, behind the change
	// notifications of other replicas (0: defaultChangeCheck).
	changeCheck time.Duration
	scaffolder  scaffolderFlags
	// feed configures the change feed's webhooks and retention (its Client is set in serve).
	feed feed.Config
	// slackSecret, when set, serves the Slack slash command at /slack/commands; slackToken
	// (a bot token) lets it find users by their Slack profile email.
	slackSecret, slackToken string
	slackAPIURL             string // Slack's Web API base ("": https://slack.com/api/)
}

// defaultChangeCheck is how often serve reads the catalog generation when no notification came
// (PostgreSQL notifications sent while the listening connection was down are lost).
const defaultChangeCheck = 10 * time.Second

func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer) error {
	if cfg.changeCheck <= 0 {
		cfg.changeCheck = defaultChangeCheck
	}
	if err := cfg.auth.checkExposure(cfg.addr, log); err != nil {
		return err
	}
	authn, err := cfg.auth.authenticator(ctx, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	ready := server.NewReadiness(len(cfg.providers) + len(cfg.locations))
	// --- ops: metrics and tracing ---
	metrics := obs.NewMetrics()
	var tracing *obs.Tracing
	if cfg.tracing != nil && cfg.tracing.Enabled() {
		tracing = cfg.tracing
	}
	defer func() {
		if cfg.tracing != nil {
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cfg.tracing.Shutdown(fctx)
		}
	}()
	// --- end ops ---
	// The listener is up before migration so /healthz answers at once; GraphQL waits for the store.
	var gql atomic.Pointer[http.Handler]
	var docStore atomic.Pointer[store.Store] // set once migrated, like gql
	wsCtx, endWebsockets := context.WithCancel(context.Background())
	defer endWebsockets()
	gqlProxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := gql.Load()
		if h == nil {
			server.WriteError(w, http.StatusServiceUnavailable, server.CodeUnavailable, "starting: database migration has not finished")
			return
		}
		if r.Header.Get("Upgrade") != "" {
			// A websocket outlives Shutdown, which does not wait for hijacked connections:
			// it ends with it.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer context.AfterFunc(wsCtx, cancel)()
			r = r.WithContext(ctx)
		}
		(*h).ServeHTTP(w, r)
	})
	// The push webhook refreshes the locations of the pushed repository and branch; pushes
	// that arrive before the engine runs need nothing (every location is read at start).
	var engRef atomic.Pointer[ingest.Engine]
	var hook *webhook.GitHub
	var hookHandler http.Handler
	if cfg.githubWebhookSecret != "" {
		hook, err = webhook.NewGitHub(webhook.GitHubConfig{Secret: cfg.githubWebhookSecret, Log: log},
			func(ctx context.Context, repo string, cloneURLs []string, branch string) {
				if eng := engRef.Load(); eng != nil {
					keys := eng.RefreshWhere(ctx, pushMatches(repo, cloneURLs, branch))
					log.Info("push webhook", "repository", repo, "branch", branch, "refreshing", keys)
				}
			})
		if err != nil {
			ln.Close()
			return err
		}
		hookHandler = hook
	}
	// MCP (issue 13): its tools run GraphQL operations in process, through gqlProxy.
	var issuers []string
	for _, is := range cfg.auth.cfg.Issuers {
		issuers = append(issuers, is.URL)
	}
	mcpHandler := mcpserver.NewHandler(mcpserver.Options{GraphQL: gqlProxy, Policy: authn.Policy(),
		RelationTypes: depgraph.ForwardTypes, Version: "catalogd", Log: log, Authenticated: authn.Enabled()})
	var slackHandler http.Handler
	var slackLate *slackcmd.Handler // waited for at shutdown, before the store closes
	if cfg.slackSecret != "" {
		// Late answers go to Slack's response_url through the read allow-list (hooks.slack.com).
		allow, _ := reading.ParseAllowList(cfg.read.allow)
		sh := slackcmd.New(slackcmd.Options{SigningSecret: cfg.slackSecret, BotToken: cfg.slackToken,
			SlackAPIURL: cfg.slackAPIURL, GraphQL: gqlProxy, Auth: authn,
			Responder: reading.New(reading.Options{Allow: allow}), Log: log})
		slackHandler, slackLate = sh, sh
	}
	srv := &http.Server{
		Handler: server.NewServer(server.Deps{GraphQL: gqlProxy, Readiness: ready, Log: log,
			MCP: mcpHandler, MCPIssuers: issuers, SlackCommands: slackHandler,
			Auth: authn, CORSOrigins: cfg.auth.flags.corsOrigins, GitHubWebhook: hookHandler,
			Docs: func(ctx context.Context, ref, path string) (*store.DocFile, error) {
				if st := docStore.Load(); st != nil {
					return st.DocFile(ctx, ref, path)
				}
				return nil, nil
			},
			Metrics: metrics, MetricsToken: cfg.metricsToken, Pprof: cfg.pprof, Tracing: tracing}),
		ReadHeaderTimeout: 10 * time.Second,
		// A body of at most 1 MiB has this long to arrive; an answer this long to be written
		// after its deadline; an idle keep-alive connection is closed after IdleTimeout.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: cfg.requestTimeout + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	srv.RegisterOnShutdown(endWebsockets)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "catalogd listening on http://%s (GraphiQL at /graphql)\n", ln.Addr())

	st, err := openStore(ctx, cfg.database, cfg.storeOptions, cfg.migrate, log)
	if err != nil {
		srv.Close()
		return stoppedWhileStarting(ctx, err, log)
	}
	defer st.Close()
	logMemory(log, st, cfg.storeOptions)
	// --- ops ---
	metrics.ObserveDB("catalogd", st.DB)
	if tracing != nil {
		st.Trace(tracing.Tracer())
	}
	// --- end ops ---
	// Users are looked up by the OIDC user match and by the Slack command (by its user ID
	// annotation, or email): the directory indexes those annotations only, and is built only
	// when authentication is on (without it nothing looks users up).
	userAnnotations := []string{slackcmd.UserIDAnnotation}
	if key, ok := strings.CutPrefix(cfg.auth.cfg.UserMatch, "annotation:"); ok {
		userAnnotations = append(userAnnotations, key)
	}
	directory := service.NewDirectory(st).OnlyAnnotations(userAnnotations...)
	cfg.auth.dir.set(directory)
	resolver := graph.NewResolver(st.Client, st, cfg.contacts)

	// Build the dependency-graph index, the user directory, search's index (and a stale text index) now and after every change,
	// in the background, so questions do not wait for them (they get the previous snapshot
	// meanwhile). Changes come from this process (eng.Changed) and from other replicas
	// (watchChanges, below).
	resolver.Index.SetLogger(log)
	warm := make(chan struct{}, 1)
	go func() {
		for {
			if _, err := resolver.Index.Fresh(ctx); err != nil && ctx.Err() == nil {
				log.Warn("building the dependency graph index", "err", err)
			}
			if cfg.auth.cfg.Enabled() { // without authentication nothing looks users up
				if err := directory.Warm(ctx); err != nil && ctx.Err() == nil {
					log.Warn("building the user directory", "err", err)
				}
			}
			// A large first ingest leaves SQLite's text index to be built here, after its
			// commit; the text filter scans until then.
			t0 := time.Now()
			if rebuilt, err := st.RebuildTextIndex(ctx); err != nil && ctx.Err() == nil {
				log.Warn("building the text index", "err", err)
			} else if rebuilt {
				log.Info("built the text index", "took", time.Since(t0).Round(time.Millisecond))
			}
			// Search's in-memory index: built at start, then brought up to each change.
			t0 = time.Now()
			if err := st.WarmSearchIndex(ctx); err != nil && ctx.Err() == nil {
				log.Warn("building the search index", "err", err)
			} else if took := time.Since(t0); took > time.Second {
				log.Info("built the search index", "took", took.Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
				return
			case <-warm:
			}
		}
	}()

	eng, err := newEngine(st, log, cfg.read)
	if err != nil {
		srv.Close()
		return err
	}
	engRef.Store(eng)
	eng.Metrics = ingestMetrics{metrics} // --- ops ---
	eng.Interval = cfg.interval
	eng.MaxRemovalShare = cfg.maxRemovalShare
	eng.Changed = func() {
		select {
		case warm <- struct{}{}:
		default:
		}
	}
	reg := newRegistry(eng, cfg.read.allowDirs)
	configured := make([]configuredLocation, 0, len(cfg.providers)+len(cfg.locations))
	for _, p := range cfg.providers {
		configured = append(configured, configuredLocation{ingest.LocationConfig{Type: p.Location().Provider, Target: p.Location().Target}, p})
	}
	for i, lc := range cfg.locations {
		p, err := reg.New(lc)
		if err != nil {
			srv.Close()
			return fmt.Errorf("config: locations[%d]: %w", i, err)
		}
		configured = append(configured, configuredLocation{lc, p})
	}
	// A location counts as read for /readyz once the graph index caught up with its first read
	// (questions are answered from the snapshot at hand, which must not be one from before it).
	firstDone := func() {
		if _, err := resolver.Index.Fresh(ctx); err != nil && ctx.Err() == nil {
			log.Warn("building the dependency graph index", "err", err)
		}
		ready.LocationDone()
	}
	retired, err := startLocations(ctx, st, eng, reg, configured, ready, firstDone, log)
	if err != nil {
		srv.Close()
		return stoppedWhileStarting(ctx, err, log)
	}
	// Change feed (issue 13): subscriptions poll at the feed's interval; webhook cursors are
	// created before the engine starts, so a new webhook misses nothing of this run.
	resolver.FeedPoll = cfg.feed.Poll
	feedAllow, _ := reading.ParseAllowList(cfg.read.allow) // checked by the caller
	cfg.feed.Client, cfg.feed.Log = feedClient(feedAllow), log
	feedCtx, endFeed := context.WithCancel(ctx)
	defer endFeed()
	waitFeed, err := feed.Start(feedCtx, st, cfg.feed)
	if err != nil {
		srv.Close()
		return err
	}
	defer waitFeed()
	defer endFeed() // before waitFeed

	resolver.Catalog = service.NewCatalog(authn.Policy(), eng, nil).WithSources(reg, cfg.read.allowDirs)

	// Scaffolder: the engine, the task service and this process's workers (scaffolder.go).
	// Stopping the workers hands their tasks back, for another process to resume at once.
	pool, err := startScaffolder(ctx, st, resolver, authn.Policy(), resolver.Catalog, cfg.read, cfg.scaffolder, log)
	if err != nil {
		srv.Close()
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pool.Stop(stopCtx); err != nil {
			log.Warn("scaffolder: releasing tasks on shutdown", "err", err)
		}
	}()
	if cfg.shutdown != nil {
		cfg.shutdown.Register("scaffolder tasks", pool.Stop) // idempotent; the defer covers early returns
	}
	metrics.SetTaskCounter(func() map[string]int {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		counts, err := resolver.Scaffolder.CountByState(cctx)
		if err != nil {
			log.Warn("scaffolder: counting tasks for /metrics", "err", err)
			return nil
		}
		return counts
	})

	var h http.Handler = graph.NewHandler(resolver, graph.Options{Log: log, RequestTimeout: cfg.requestTimeout, PersistedQueries: cfg.persisted, AnswerCacheBytes: answerCacheOption(cfg.answerCacheBytes),
		Websocket:  graph.WebsocketOptions{Authenticate: server.WebsocketAuthenticator(authn), Origins: cfg.auth.flags.corsOrigins},
		Extensions: []gqlgraphql.HandlerExtension{obs.GraphQL{Metrics: metrics, Tracing: tracing}}})
	gql.Store(&h)
	docStore.Store(st)
	ready.Migrated()

	// ---- Several replicas (see README, "Running several replicas") ----
	// On PostgreSQL the replicas of one database share the scheduled reads through advisory
	// locks held in a session of this process (eng.Locks), and learn of each other's changes
	// through LISTEN/NOTIFY with a periodic generation check behind it (watchChanges): the
	// graph index and text index are rebuilt in the background, and locations registered at
	// run time by another replica are read here too once that replica is gone.
	locks := st.NewLocationLocks(log)
	eng.Locks = locks
	// Close releases this replica's location locks (ending their session) so another replica
	// reads its locations at once; it runs after every read stopped (eng.Wait, deferred
	// below, runs first). A shutdown hook may call it earlier; it is idempotent.
	defer locks.Close()
	if cfg.shutdown != nil {
		cfg.shutdown.Register("location locks", func(context.Context) error { return locks.Close() })
	}
	go st.WatchGeneration(ctx, cfg.changeCheck, log, func(gen int64) {
		log.Debug("catalog changed", "generation", gen)
		select {
		case warm <- struct{}{}:
		default:
		}
		if err := syncRuntimeLocations(ctx, st, eng, reg, configured); err != nil && ctx.Err() == nil {
			log.Warn("following locations registered by other replicas", "err", err)
		}
	})
	// ---- end of several replicas ----

	eng.Start(ctx)
	go removeRetired(ctx, st, eng, retired, ready, log)
	defer eng.Wait()

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		return err
	}
	// --- ops: graceful shutdown ---
	// ctx ended (SIGTERM or SIGINT): the listener closes at once, requests in flight finish
	// within the deadline (their contexts do not derive from ctx), websockets end; the
	// engine's loops stop with ctx. Then the hooks release what other replicas need.
	log.Info("shutting down: draining requests", "deadline", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if hook != nil {
		hook.Wait()
	}
	if slackLate != nil {
		slackLate.Wait()
	}
	engDone := make(chan struct{})
	go func() { eng.Wait(); close(engDone) }()
	select {
	case <-engDone:
	case <-shutdownCtx.Done():
		log.Warn("shutdown deadline passed while a location read was still stopping")
	}
	if cfg.shutdown != nil {
		cfg.shutdown.Run(shutdownCtx, log)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown deadline passed with requests in flight", "err", err)
		return err
	}
	log.Info("shut down")
	return nil
	// --- end ops ---
}

func ingestCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var c commonFlags
	var progressMode string            // --- ops: progress (progress.go) ---
	var progressInterval time.Duration // --- ops ---
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest the locations into the database once, print counts and time, and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(c.locations) == 0 {
				return fmt.Errorf("ingest needs at least one --location")
			}
			log, err := newLogger(c.logFormat, c.logLevel, stderr)
			if err != nil {
				return err
			}
			if err := c.mem.apply(); err != nil {
				return err
			}
			if getenv("GOGC") == "" {
				// Most of what an ingest allocates is garbage at once (parsed YAML, validation,
				// rows formatted for the database): collecting it less often saves a tenth of its
				// CPU for more memory. --memory-limit still bounds the heap.
				defer debug.SetGCPercent(debug.SetGCPercent(ingestGCPercent))
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			start := time.Now()
			st, err := openStore(ctx, c.database, c.mem.storeOptions(), c.migrate, log)
			if err != nil {
				return err
			}
			defer st.Close()
			eng, err := newEngine(st, log, c.read)
			if err != nil {
				return err
			}
			ps, err := providers(c.locations, c.read.allowDirs)
			if err != nil {
				return err
			}
			// --- ops: progress on stderr ---
			progress, err := newProgress(progressMode, progressInterval, stderr)
			if err != nil {
				return err
			}
			if progress != nil {
				eng.Progress = progress.update
			}
			// --- end ops ---
			failed := false
			rejected := 0
			for _, p := range ps {
				t0 := time.Now()
				if progress != nil {
					progress.start(p.Location().Key)
				}
				res, err := eng.Refresh(ctx, p)
				if progress != nil {
					progress.finish()
				}
				loc := p.Location()
				if err != nil {
					failed = true
					fmt.Fprintf(stdout, "%s: FAILED: %v\n", loc.Key, err)
					continue
				}
				fmt.Fprintf(stdout, "%s: %s in %s\n", loc.Key, res, time.Since(t0).Round(time.Millisecond))
				rejected += res.Errors
				if res.Errors > 0 {
					if err := printErrors(ctx, st, loc.Key, stdout); err != nil {
						return err
					}
				}
			}
			total, err := st.Client.Entity.Query().Count(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%d entities in the catalog; took %s\n", total, time.Since(start).Round(time.Millisecond))
			if failed {
				return errSilent
			}
			if rejected > 0 {
				fmt.Fprintf(stdout, "%d processing error(s): documents were rejected\n", rejected)
				return errRejected
			}
			return nil
		},
	}
	c.add(cmd, getenv)
	c.mem.add(cmd, getenv, ingestApplyCache)
	cmd.Flags().StringVar(&progressMode, "progress", envOr(getenv, "CATALOGD_PROGRESS", progressAuto),
		"auto (a bar when stderr is a terminal, else lines), bar, lines or off: how a read's progress is shown on stderr (env CATALOGD_PROGRESS)")
	cmd.Flags().DurationVar(&progressInterval, "progress-interval", 5*time.Second, "how often a progress line is printed when stderr is not a terminal")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the ingest to this file (for go tool pprof)")
	cmd.Flags().MarkHidden("cpuprofile")
	return cmd
}

// startLocations makes the locations table what the configuration says: every configured
// location recorded (origin config), those no longer configured retired (their entities may
// be adopted; removeRetired removes the rest), and the locations registered at run time
// built again. It adds them all to the engine and returns the retired keys.
// configuredLocation is a location of the flags or the configuration file.
type configuredLocation struct {
	cfg ingest.LocationConfig
	p   ingest.Provider
}

func startLocations(ctx context.Context, st *store.Store, eng *ingest.Engine, reg *ingest.Registry,
	configured []configuredLocation, ready *server.Readiness, firstDone func(), log *slog.Logger) ([]string, error) {
	keys := make([]string, 0, len(configured))
	isConfigured := map[string]bool{}
	for _, c := range configured {
		loc := c.p.Location()
		if err := st.UpsertLocation(ctx, store.LocationRecord{Spec: loc, Options: c.cfg.Options, Origin: store.OriginConfig}); err != nil {
			return nil, fmt.Errorf("record location %s: %w", loc.Key, err)
		}
		keys = append(keys, loc.Key)
		isConfigured[loc.Key] = true
	}
	retired, err := st.RetireUnconfigured(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("retire locations: %w", err)
	}
	eng.OnRead = func(key string, err error) {
		var guard *store.GuardError
		if isConfigured[key] && !errors.As(err, &guard) {
			ready.LocationRead(key, err)
		}
	}
	for _, c := range configured {
		eng.Add(c.cfg, c.p, func(error) { firstDone() })
	}
	runtime, err := st.RuntimeLocations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read registered locations: %w", err)
	}
	for _, r := range runtime {
		if isConfigured[r.Spec.Key] {
			continue
		}
		cfg := ingest.LocationConfig{Type: r.Spec.Provider, Target: r.Spec.Target, Options: r.Options}
		p, err := reg.New(cfg)
		if err != nil {
			// Say so, and keep what it holds: an operator may have narrowed the allow-lists.
			log.Error("a location registered at run time cannot be read any more; its entities stay", "location", r.Spec.Key, "err", err)
			continue
		}
		eng.Add(cfg, p, nil)
	}
	return retired, nil
}

// removeRetired removes the locations no longer configured once every configured location
// was read once (so a location that took over their entities has adopted them first). The
// removal goes through the guard: one that still holds entities is refused and recorded
// until an operator forces it (refreshLocation(target, force: true)).
func removeRetired(ctx context.Context, st *store.Store, eng *ingest.Engine, retired []string, ready *server.Readiness, log *slog.Logger) {
	if len(retired) == 0 {
		return
	}
	for !ready.FirstReadsDone() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, key := range retired {
		var res store.ApplyResult
		err := eng.Exclusive(func() (err error) {
			res, err = st.RemoveLocation(ctx, key, "location no longer configured", false)
			return err
		})
		if err != nil {
			log.Warn("a location no longer configured keeps its entities", "location", key, "err", err)
			continue
		}
		log.Info("removed a location no longer configured", "location", key, "removed", res.Removed)
		if res.Changed() && eng.Changed != nil {
			eng.Changed()
		}
	}
}

// pushMatches recognises the locations a push concerns: git locations of one of the pushed
// repository's clone URLs and its branch, github locations of the repository.
func pushMatches(repo string, cloneURLs []string, branch string) func(ingest.LocationConfig, ingest.Provider) bool {
	return func(_ ingest.LocationConfig, p ingest.Provider) bool {
		switch p := p.(type) {
		case *git.Provider:
			return p.MatchesPush(cloneURLs, branch)
		case *github.Provider:
			return p.MatchesPush(repo, branch)
		}
		return false
	}
}

// syncRuntimeLocations makes the engine read the locations registered at run time that the
// registry holds, and stop reading those it no longer holds: a location registered or
// unregistered through another replica is followed here (its entities are that replica's
// write, seen through the catalog generation).
func syncRuntimeLocations(ctx context.Context, st *store.Store, eng *ingest.Engine, reg *ingest.Registry, configured []configuredLocation) error {
	runtime, err := st.RuntimeLocations(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, c := range configured {
		keep[c.p.Location().Key] = true
	}
	for _, r := range runtime {
		if keep[r.Spec.Key] {
			continue
		}
		keep[r.Spec.Key] = true
		if _, _, ok := eng.Lookup(r.Spec.Key); ok {
			continue
		}
		cfg := ingest.LocationConfig{Type: r.Spec.Provider, Target: r.Spec.Target, Options: r.Options}
		p, err := reg.New(cfg)
		if err != nil {
			continue // startLocations said so at start; its entities stay
		}
		eng.Add(cfg, p, nil)
	}
	for _, k := range eng.Keys() {
		if !keep[k] {
			eng.Remove(k)
		}
	}
	return nil
}

// answerCacheOption is graph.Options.AnswerCacheBytes for --answer-cache-size (0: none).
func answerCacheOption(n int64) int {
	if n <= 0 {
		return -1
	}
	return int(min(n, 1<<40))
}
