package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"catalogd/demo"
	"catalogd/graph"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/reading"
	"catalogd/internal/server"
	"catalogd/internal/service"
	"catalogd/internal/store"
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
	root.AddCommand(serveCmd(getenv, stdout, stderr), ingestCmd(getenv, stdout, stderr), validateCmd(getenv, stdout))
	err := root.ExecuteContext(ctx)
	if err != nil && err != errSilent {
		return err
	}
	return err
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
	locations []string
	logLevel  string
	read      readFlags
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
	cmd.Flags().StringVar(&c.logLevel, "log-level", envOr(getenv, "CATALOGD_LOG_LEVEL", "info"), "debug, info, warn or error (env CATALOGD_LOG_LEVEL)")
	c.read.add(cmd, getenv)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func newEngine(st *store.Store, log *slog.Logger, rf readFlags) (*ingest.Engine, error) {
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		return nil, err
	}
	eng := &ingest.Engine{Store: st, Validator: v, Log: log}
	// One fetch may bring at most what placeholders may add to one document.
	if eng.URLs, err = rf.reader(ingest.DefaultMaxPlaceholderBytes); err != nil {
		return nil, err
	}
	return eng, nil
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

func openStore(ctx context.Context, url string) (*store.Store, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func serveCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var c commonFlags
	var addr string
	var interval time.Duration
	var demoFlag bool
	var contacts []string
	var requestTimeout time.Duration
	var af authFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the GraphQL API, keeping the configured locations ingested",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := newLogger(c.logLevel, stderr)
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
			return serve(ctx, serveConfig{addr: addr, database: c.database, providers: ps, interval: interval, contacts: contacts,
				read: c.read, requestTimeout: requestTimeout, auth: as, persisted: pq}, log, stdout)
		},
	}
	c.add(cmd, getenv)
	cmd.Flags().StringVar(&addr, "addr", envOr(getenv, "CATALOGD_ADDR", "127.0.0.1:8080"), "listen address (env CATALOGD_ADDR)")
	def := time.Minute
	if v := getenv("CATALOGD_REFRESH_INTERVAL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	cmd.Flags().DurationVar(&interval, "refresh-interval", def, "how often locations are re-read (env CATALOGD_REFRESH_INTERVAL)")
	var envContacts []string
	if v := getenv("CATALOGD_CONTACT_ANNOTATIONS"); v != "" {
		envContacts = strings.Split(v, ",")
	}
	cmd.Flags().StringArrayVar(&contacts, "contact-annotation", envContacts,
		"annotation key reported as an owner contact by impact queries; repeatable (env CATALOGD_CONTACT_ANNOTATIONS, comma-separated; default "+strings.Join(graph.DefaultContactAnnotations, ", ")+")")
	defTimeout := 30 * time.Second
	if v := getenv("CATALOGD_REQUEST_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			defTimeout = d
		}
	}
	cmd.Flags().DurationVar(&requestTimeout, "request-timeout", defTimeout,
		"deadline of one GraphQL request; resolvers stop and answer TIMEOUT when it passes (env CATALOGD_REQUEST_TIMEOUT)")
	af.add(cmd, getenv)
	cmd.Flags().BoolVar(&demoFlag, "demo", false, "also serve the built-in demo catalog (on a temporary database unless --database is given)")
	return cmd
}

type serveConfig struct {
	contacts  []string
	addr      string
	database  string
	providers []ingest.Provider
	interval  time.Duration
	read      readFlags
	// requestTimeout is each GraphQL request's deadline; the server's write timeout leaves
	// room after it for the answer to be written.
	requestTimeout time.Duration
	auth           *authSetup
	persisted      *graph.PersistedQueries
}

func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer) error {
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
	ready := server.NewReadiness(len(cfg.providers))
	// The listener is up before migration so /healthz answers at once; GraphQL waits for the store.
	var gql atomic.Pointer[http.Handler]
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
	srv := &http.Server{
		Handler: server.NewServer(server.Deps{GraphQL: gqlProxy, Readiness: ready, Log: log,
			Auth: authn, CORSOrigins: cfg.auth.flags.corsOrigins}),
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

	st, err := openStore(ctx, cfg.database)
	if err != nil {
		srv.Close()
		return err
	}
	defer st.Close()
	cfg.auth.dir.set(service.NewDirectory(st))
	resolver := graph.NewResolver(st.Client, st, cfg.contacts)
	var h http.Handler = graph.NewHandler(resolver, graph.Options{Log: log, RequestTimeout: cfg.requestTimeout, PersistedQueries: cfg.persisted,
		Websocket: graph.WebsocketOptions{Authenticate: server.WebsocketAuthenticator(authn), Origins: cfg.auth.flags.corsOrigins}})
	gql.Store(&h)
	ready.Migrated()

	// Build the dependency-graph index (and a stale text index) now and after every change
	// this process writes, so questions do not wait for them. (Changes written by other replicas are picked up by the
	// first question after them.)
	warm := make(chan struct{}, 1)
	go func() {
		for {
			if _, err := resolver.Index.Current(ctx); err != nil && ctx.Err() == nil {
				log.Warn("building the dependency graph index", "err", err)
			}
			// A large first ingest leaves SQLite's text index to be built here, after its
			// commit; the text filter scans until then.
			t0 := time.Now()
			if rebuilt, err := st.RebuildTextIndex(ctx); err != nil && ctx.Err() == nil {
				log.Warn("building the text index", "err", err)
			} else if rebuilt {
				log.Info("built the text index", "took", time.Since(t0).Round(time.Millisecond))
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
	eng.Changed = func() {
		select {
		case warm <- struct{}{}:
		default:
		}
	}
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		eng.Run(ctx, cfg.providers, cfg.interval, func(catalog.LocationSpec) { ready.LocationDone() })
	}()

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-runDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func ingestCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var c commonFlags
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest the locations into the database once, print counts and time, and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(c.locations) == 0 {
				return fmt.Errorf("ingest needs at least one --location")
			}
			log, err := newLogger(c.logLevel, stderr)
			if err != nil {
				return err
			}
			start := time.Now()
			st, err := openStore(ctx, c.database)
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
			failed := false
			for _, p := range ps {
				t0 := time.Now()
				res, err := eng.Refresh(ctx, p)
				loc := p.Location()
				if err != nil {
					failed = true
					fmt.Fprintf(stdout, "%s: FAILED: %v\n", loc.Key, err)
					continue
				}
				fmt.Fprintf(stdout, "%s: %s in %s\n", loc.Key, res, time.Since(t0).Round(time.Millisecond))
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
			return nil
		},
	}
	c.add(cmd, getenv)
	return cmd
}
