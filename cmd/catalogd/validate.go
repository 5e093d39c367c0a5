package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"catalogd/ent/processingerror"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/store"
	"catalogd/schema"
)

func validateCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check descriptor files; print each problem as file:doc: message and exit 1 if there are any",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			v, err := catalog.NewValidator(schema.FS)
			if err != nil {
				return err
			}
			eng := &ingest.Engine{Validator: v}
			problems := 0
			for _, f := range files {
				abs, err := filepath.Abs(f)
				if err != nil {
					return err
				}
				tree := catalog.Tree{
					FS:   os.DirFS("/"),
					Root: strings.TrimPrefix(filepath.ToSlash(abs), "/"),
					URL:  func(string) string { return f },
				}
				for _, e := range eng.Check(cmd.Context(), tree) {
					problems++
					fmt.Fprintf(stdout, "%s:%d: %s\n", f, e.Document, e.Message)
				}
			}
			if problems > 0 {
				fmt.Fprintf(stdout, "%d problem(s)\n", problems)
				return errSilent
			}
			return nil
		},
	}
}

func printErrors(ctx context.Context, st *store.Store, key string, w io.Writer) error {
	errs, err := st.Client.ProcessingError.Query().Where(processingerror.Location(key)).
		Order(processingerror.ByID()).All(ctx)
	if err != nil {
		return err
	}
	for _, e := range errs {
		fmt.Fprintf(w, "  %s:%d: %s\n", e.Source, e.Document, e.Message)
	}
	return nil
}
