package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"catalogd/internal/ingest"
	"catalogd/internal/obs"
	"catalogd/internal/store"
)

// opsFlags are serve's operational settings: metrics, tracing and shutdown.
type opsFlags struct {
	metricsTokenFile string
	otlpEndpoint     string
	shutdownTimeout  time.Duration
	pprof            bool
	envErr           error
}

const defaultShutdownTimeout = 20 * time.Second

func (o *opsFlags) add(cmd *cobra.Command, getenv func(string) string) {
	cmd.Flags().StringVar(&o.metricsTokenFile, "metrics-token-file", getenv("CATALOGD_METRICS_TOKEN_FILE"),
		"file holding the bearer token GET /metrics requires (env CATALOGD_METRICS_TOKEN_FILE, or the token itself in CATALOGD_METRICS_TOKEN); none: /metrics is open")
	cmd.Flags().StringVar(&o.otlpEndpoint, "otlp-endpoint", getenv("CATALOGD_OTLP_ENDPOINT"),
		"OTLP/HTTP endpoint traces are exported to, e.g. http://otel-collector:4318 (env CATALOGD_OTLP_ENDPOINT; OTEL_EXPORTER_OTLP_ENDPOINT also works); none: no tracing")
	cmd.Flags().BoolVar(&o.pprof, "pprof", getenv("CATALOGD_PPROF") == "true",
		"serve Go's profiles on GET /debug/pprof/, behind the metrics token, which it requires (env CATALOGD_PPROF=true)")
	def, err := envDuration(getenv, "CATALOGD_SHUTDOWN_TIMEOUT", defaultShutdownTimeout)
	o.envErr = err
	cmd.Flags().DurationVar(&o.shutdownTimeout, "shutdown-timeout", def,
		"on SIGTERM or SIGINT, how long in-flight requests and shutdown hooks may take before catalogd exits anyway (env CATALOGD_SHUTDOWN_TIMEOUT)")
}

// minMetricsToken is the shortest metrics token accepted, from the environment or a file.
const minMetricsToken = 16

// metricsToken reads the metrics token: from CATALOGD_METRICS_TOKEN, else the token file.
func (o *opsFlags) metricsToken(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("CATALOGD_METRICS_TOKEN")); t != "" {
		if len(t) < minMetricsToken {
			return "", fmt.Errorf("CATALOGD_METRICS_TOKEN: the token must be at least %d characters", minMetricsToken)
		}
		return t, nil
	}
	if o.metricsTokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(o.metricsTokenFile)
	if err != nil {
		return "", fmt.Errorf("--metrics-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < minMetricsToken {
		return "", fmt.Errorf("--metrics-token-file %s: the token must be at least %d characters", o.metricsTokenFile, minMetricsToken)
	}
	return t, nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("--log-format %q: use text or json", excerpt(format))
	}
	log, err := obs.NewLogger(format, level, w)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", excerpt(level))
	}
	return log, nil
}

// shutdownHooks are what serve runs after the HTTP server drained, before it exits: each
// component that holds something another replica needs (ingestion and task leases, locks)
// registers a hook releasing it. They run in reverse order of registration, each with what
// is left of the shutdown deadline; errors are logged, and the next hook still runs.
type shutdownHooks struct {
	mu    sync.Mutex
	hooks []namedHook
}

type namedHook struct {
	name string
	fn   func(context.Context) error
}

// Register adds a hook named name (for the log).
func (h *shutdownHooks) Register(name string, fn func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, namedHook{name, fn})
}

// Run runs the hooks, last registered first.
func (h *shutdownHooks) Run(ctx context.Context, log *slog.Logger) error {
	h.mu.Lock()
	hooks := append([]namedHook(nil), h.hooks...)
	h.mu.Unlock()
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i].fn(ctx); err != nil {
			log.Warn("shutdown hook failed", "hook", hooks[i].name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", hooks[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// stoppedWhileStarting is serve's answer to err, an error of a start-up step: when SIGTERM or
// SIGINT (ctx) ended that step, e.g. while waiting for another replica's migration lock, it is
// a shutdown with nothing in flight (status 0), not a failure; the migration, in one
// transaction, left nothing half done.
func stoppedWhileStarting(ctx context.Context, err error, log *slog.Logger) error {
	if ctx.Err() == nil {
		return err
	}
	log.Info("shut down while starting", "err", err)
	return nil
}

// ingestMetrics reports the engine's reads to the metrics.
type ingestMetrics struct{ m *obs.Metrics }

var _ ingest.Metrics = ingestMetrics{}

func (im ingestMetrics) ObserveRead(provider string, took time.Duration, res store.ApplyResult, err error) {
	im.m.IngestRead(provider, took, res.Added, res.Updated, res.Removed, res.Unchanged, res.Errors, err != nil)
}
