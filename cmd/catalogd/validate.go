package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"catalogd/ent/processingerror"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/store"
	"catalogd/schema"
)

func validateCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check descriptor files (a directory: every .yaml/.yml file below it); print each problem as file:doc: message and exit 1 if there are any",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			v, err := catalog.NewValidator(schema.FS)
			if err != nil {
				return err
			}
			eng := &ingest.Engine{Validator: v}
			if eng.URLs, err = rf.reader(ingest.DefaultMaxPlaceholderBytes); err != nil {
				return err
			}
			problems := 0
			files, err = expandDirs(files)
			if err != nil {
				return err
			}
			for _, f := range files {
				p, err := file.New(f, rf.allowDirs...)
				if err != nil {
					return err
				}
				tree, release, err := p.Read(cmd.Context())
				if err != nil {
					problems++
					fmt.Fprintf(stdout, "%s: %v\n", f, err)
					continue
				}
				tree.URL = func(string) string { return f }
				for _, e := range eng.Check(cmd.Context(), tree) {
					problems++
					fmt.Fprintf(stdout, "%s:%d: %s\n", f, e.Document, e.Message)
				}
				release()
			}
			if problems > 0 {
				fmt.Fprintf(stdout, "%d problem(s)\n", problems)
				return errSilent
			}
			return nil
		},
	}
	rf.add(cmd, getenv)
	return cmd
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

// expandDirs replaces each directory by the .yaml and .yml files below it (hidden directories
// skipped, as ingestion skips them), sorted.
func expandDirs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a) // reported when read
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != a && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
