package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/spf13/cobra"

	"catalogd/graph"
	"catalogd/internal/auth"
	"catalogd/internal/scaffold"
	"catalogd/internal/scaffolder"
	"catalogd/internal/service"
	"catalogd/internal/store"
)

// scaffolderFlags are the scaffolder's settings (serve): flags, environment, and the
// configuration file's scaffolder keys.
type scaffolderFlags struct {
	workers       int
	lease         time.Duration
	githubAPI     string
	secretKeyFile string
	getenv        func(string) string
	envErr        error
	// embedded are the read-only file systems templates may read skeletons from, by
	// location type (serve --demo: the demo catalog).
	embedded map[string]fs.FS
}

const defaultGitHubAPI = "https://api.github.com"

func (f *scaffolderFlags) add(cmd *cobra.Command, getenv func(string) string) {
	f.getenv = getenv
	workers := 2
	if v := getenv("CATALOGD_SCAFFOLDER_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.envErr = fmt.Errorf("CATALOGD_SCAFFOLDER_WORKERS=%q is not a number", excerpt(v))
		}
		workers = n
	}
	lease, err := envDuration(getenv, "CATALOGD_SCAFFOLDER_LEASE", 30*time.Second)
	if err != nil {
		f.envErr = err
	}
	cmd.Flags().IntVar(&f.workers, "scaffolder-workers", workers,
		"scaffolder tasks this process runs at a time; 0 runs none here (other replicas do) (env CATALOGD_SCAFFOLDER_WORKERS)")
	cmd.Flags().DurationVar(&f.lease, "scaffolder-lease", lease,
		"how long a task stays with a worker that stopped heartbeating before another takes it over (env CATALOGD_SCAFFOLDER_LEASE)")
	cmd.Flags().StringVar(&f.githubAPI, "scaffolder-github-api", envOr(getenv, "CATALOGD_SCAFFOLDER_GITHUB_API", defaultGitHubAPI),
		"GitHub REST API base URL for publish:github, e.g. https://ghe.example.com/api/v3 (env CATALOGD_SCAFFOLDER_GITHUB_API)")
	cmd.Flags().StringVar(&f.secretKeyFile, "scaffolder-secret-key-file", getenv("CATALOGD_SCAFFOLDER_SECRET_KEY_FILE"),
		"file holding the key that seals tasks' secrets (32 bytes, hex or base64); or set CATALOGD_SCAFFOLDER_SECRET_KEY (env CATALOGD_SCAFFOLDER_SECRET_KEY_FILE)")
}

func (f *scaffolderFlags) check() error {
	if f.envErr != nil {
		return f.envErr
	}
	if f.workers < 0 || f.workers > 64 {
		return fmt.Errorf("--scaffolder-workers must be between 0 and 64, got %d", f.workers)
	}
	if f.lease < time.Second {
		return fmt.Errorf("--scaffolder-lease must be at least 1s, got %s", f.lease)
	}
	return nil
}

// keys returns the keyring sealing secrets: the configured key, or a random one (logged).
func (f *scaffolderFlags) keys(log *slog.Logger) (*scaffolder.Keyring, error) {
	raw := f.getenv("CATALOGD_SCAFFOLDER_SECRET_KEY")
	if raw == "" && f.secretKeyFile != "" {
		b, err := os.ReadFile(f.secretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("scaffolder secret key file: %w", err)
		}
		raw = strings.TrimSpace(string(b))
	}
	if raw == "" {
		log.Warn("no scaffolder secret key configured (CATALOGD_SCAFFOLDER_SECRET_KEY or scaffolder.secretKeyFile): " +
			"tasks' secrets are sealed with a random key, so only this process can run tasks given secrets")
		return scaffolder.NewKeyring(nil)
	}
	key, err := scaffolder.ParseKey(raw)
	if err != nil {
		return nil, err
	}
	return scaffolder.NewKeyring(key)
}

// startScaffolder builds the engine and the task service, sets them on the resolver and
// starts this process's workers. Stop the returned pool on shutdown.
func startScaffolder(ctx context.Context, st *store.Store, resolver *graph.Resolver, policy *auth.Policy,
	cat *service.Catalog, read readFlags, f scaffolderFlags, log *slog.Logger) (*scaffolder.Pool, error) {
	reader, err := read.reader(0)
	if err != nil {
		return nil, err
	}
	keys, err := f.keys(log)
	if err != nil {
		return nil, err
	}
	eng, err := scaffold.New(scaffold.Options{
		AllowDirs:  read.allowDirs,
		Reader:     reader,
		GitHubAPI:  f.githubAPI,
		HTTPClient: &http.Client{Timeout: 60 * time.Second},
		Logger:     log.With("component", "scaffolder"),
		Embedded:   f.embedded,
		// catalog:register registers through the same path as registerLocation, as the
		// principal that ran the task (the worker puts it in ctx).
		Register: func(ctx context.Context, target string) ([]string, error) {
			res, err := cat.RegisterLocation(ctx, auth.FromContext(ctx), target, false)
			if err != nil {
				return nil, err
			}
			return res.EntityRefs, nil
		},
	})
	if err != nil {
		return nil, err
	}
	svc, err := scaffolder.New(scaffolder.Options{Client: st.Client, Policy: policy, Engine: eng, Keys: keys,
		Lease: f.lease, Logger: log.With("component", "scaffolder")})
	if err != nil {
		return nil, err
	}
	resolver.Scaffolder = svc
	pool := scaffolder.NewPool(svc, scaffolder.PoolOptions{Workers: f.workers, Postgres: st.Dialect == dialect.Postgres})
	if f.workers > 0 {
		pool.Start(ctx)
	}
	return pool, nil
}
