package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"catalogd/internal/testdb"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestValidatePrintsFileDocMessageAndFailsOnProblems(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n")
	writeFile(t, bad, "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: ok}\nspec: {type: team, children: []}\n---\n"+
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x, tags: [Not_Valid]}\nspec: {type: service, lifecycle: production}\n---\n: broken\n")

	out, err := runCLI(t, "validate", good)
	if err != nil || out != "" {
		t.Errorf("valid file: err %v, output %q", err, out)
	}
	out, err = runCLI(t, "validate", good, bad)
	if err == nil {
		t.Error("invalid file: want a non-nil error (exit status 1)")
	}
	for _, want := range []string{
		bad + ":2: /metadata/tags/0: 'Not_Valid' does not match pattern",
		bad + ":2: /spec: missing property 'owner'",
		bad + ":3: invalid YAML",
		"3 problem(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, good) {
		t.Errorf("the valid file is reported:\n%s", out)
	}
}

func TestIngestPrintsCountsAndIsIdempotent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		loc, _ := filepath.Abs(filepath.Join("..", "..", "internal", "ingest", "testdata", "backstage", "create-app", "catalog-info.yaml"))
		out, err := runCLI(t, "ingest", "--database", dbURL, "--location", loc)
		if err != nil {
			t.Fatalf("ingest: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`7 added, 0 updated, 0 removed, 0 unchanged, 0 kept, 0 conflicts, 0 errors in \S+`).MatchString(out) ||
			!strings.Contains(out, "7 entities in the catalog; took ") {
			t.Errorf("first ingest output:\n%s", out)
		}
		out, err = runCLI(t, "ingest", "--database", dbURL, "--location", loc)
		if err != nil || !strings.Contains(out, "0 added, 0 updated, 0 removed, 7 unchanged") {
			t.Errorf("second ingest: %v\n%s", err, out)
		}
		out, err = runCLI(t, "ingest", "--database", dbURL, "--location", filepath.Join(t.TempDir(), "missing.yaml"))
		if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "7 entities in the catalog") {
			t.Errorf("missing location: %v\n%s", err, out)
		}
	})
}

func TestBadConfigurationIsReportedClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", "--database", "mysql://x"}, "needs at least one --location"},
		{[]string{"ingest", "--database", "mysql://x", "--location", "x"}, `database URL "mysql://x" is not supported`},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
