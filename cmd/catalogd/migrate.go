package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"catalogd/internal/store"
)

// Migration modes (--migrate, migrate: in the configuration file).
const (
	migrateAuto = "auto" // serve and ingest apply pending migrations when they start
	migrateOff  = "off"  // they refuse to start while migrations are pending; run `catalogd migrate up`
)

func checkMigrateMode(mode string) error {
	if mode != migrateAuto && mode != migrateOff {
		return fmt.Errorf("--migrate %q: use auto or off", excerpt(mode))
	}
	return nil
}

// openStore opens the database and, in mode auto, brings its schema up to date; in mode off
// it only checks that nothing is pending.
func openStore(ctx context.Context, url string, opts store.Options, mode string, log *slog.Logger) (*store.Store, error) {
	if err := checkMigrateMode(mode); err != nil {
		return nil, err
	}
	st, err := store.OpenWith(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if mode == migrateOff {
		if err := st.CheckMigrated(ctx); err != nil {
			st.Close()
			return nil, err
		}
		return st, nil
	}
	applied, err := st.MigrateUp(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	if len(applied) > 0 && log != nil {
		log.Info("applied database migrations", "migrations", applied)
	}
	return st, nil
}

func migrateCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var database string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Show or apply the database's schema migrations",
	}
	cmd.PersistentFlags().StringVar(&database, "database", envOr(getenv, "CATALOGD_DATABASE_URL", defaultDatabase),
		"database URL: sqlite:PATH or postgres://user@host:port/db (env CATALOGD_DATABASE_URL)")
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Print the applied version and the pending migrations; exit 3 when some are pending",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(cmd.Context(), database)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			current := s.Current
			switch {
			case s.Legacy:
				current = "none (tables made by catalogd's auto-migration: `migrate up` records " + s.Baseline + " as their baseline)"
			case current == "":
				current = "none (empty database)"
			}
			fmt.Fprintf(stdout, "database: %s\ncurrent: %s\n", st.Dialect, current)
			if s.Partial != "" {
				fmt.Fprintf(stdout, "part-applied: %s\n", s.Partial)
			}
			if len(s.Pending) == 0 && s.Partial == "" && !s.Legacy {
				fmt.Fprintln(stdout, "pending: none")
				return nil
			}
			if s.Legacy {
				fmt.Fprintf(stdout, "to adopt: record %s as the baseline\n", s.Baseline)
			}
			fmt.Fprintf(stdout, "pending: %d\n", len(s.Pending))
			for _, p := range s.Pending {
				fmt.Fprintf(stdout, "  %s\n", p)
			}
			return &exitCode{3}
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply the pending migrations (safe to run from several replicas at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(cmd.Context(), database)
			if err != nil {
				return err
			}
			defer st.Close()
			before, err := st.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			applied, err := st.MigrateUp(cmd.Context())
			if err != nil {
				return err
			}
			if before.Legacy {
				fmt.Fprintf(stdout, "adopted the schema made before versioned migrations: recorded %s as its baseline\n", before.Baseline)
			}
			if len(applied) == 0 {
				fmt.Fprintln(stdout, "no pending migrations; the schema is up to date")
				return nil
			}
			fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(applied), strings.Join(applied, ", "))
			return nil
		},
	})
	return cmd
}
