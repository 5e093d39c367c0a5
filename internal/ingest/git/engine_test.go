package git_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/internal/ingest/git"
	"catalogd/internal/testdb"
)

func component(name, extra string) string {
	return fmt.Sprintf(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: %s
spec:
  type: service
  lifecycle: production
  owner: team-a
`, name, extra)
}

// The engine ingests a git location end to end: entities appear, change and disappear with
// the pushed commits; Location targets and placeholders resolve relative to each descriptor
// inside the repository, and a placeholder naming a link out of it is refused.
func TestEngineIngestsAGitLocation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		eng := testdb.Engine(t, st)
		r := newRepo(t)
		r.commit(map[string]string{
			"svc/a/catalog-info.yaml": component("a", "first") + `---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: a-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./openapi.yaml
`,
			"svc/a/openapi.yaml":      "openapi: 3.0.0\n",
			"svc/b/catalog-info.yaml": component("b", "first"),
			"catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: more
spec:
  targets: [./extra/*.yaml]
`,
			"extra/c.yaml":     component("c", "found through a Location target"),
			"helm/values.yaml": "replicas: 3\n",
		})
		p := newProvider(t, git.Config{Target: r.fileURL()})
		refs := func() []string {
			t.Helper()
			out, err := st.Client.Entity.Query().Order(ent.Asc("ref")).Select("ref").Strings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		refresh := func() {
			t.Helper()
			if _, err := eng.Refresh(ctx, p); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
		refresh()
		want := []string{"api:default/a-api", "component:default/a", "component:default/b", "component:default/c", "location:default/more"}
		if got := refs(); !slices.Equal(got, want) {
			t.Fatalf("entities %v, want %v", got, want)
		}
		api, err := st.Client.Entity.Query().Where(entity.Ref("api:default/a-api")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(api.Document), "openapi: 3.0.0") {
			t.Errorf("the placeholder was not resolved: %s", api.Document)
		}
		if src := api.Annotations["backstage.io/managed-by-location"]; src != p.URL("svc/a/catalog-info.yaml") {
			t.Errorf("managed-by-location %q", src)
		}

		r.commit(map[string]string{
			"svc/a/catalog-info.yaml": component("a", "second"),
			"svc/b/catalog-info.yaml": "",
			"svc/d/catalog-info.yaml": component("d", "new"),
		})
		refresh()
		want = []string{"component:default/a", "component:default/c", "component:default/d", "location:default/more"}
		if got := refs(); !slices.Equal(got, want) {
			t.Fatalf("after the push: entities %v, want %v", got, want)
		}
		a, err := st.Client.Entity.Query().Where(entity.Ref("component:default/a")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Description != "second" {
			t.Errorf("description %q, want the pushed one", a.Description)
		}

		// A placeholder through a link to /etc/passwd is refused and reported.
		r.commit(map[string]string{"svc/e/catalog-info.yaml": strings.Replace(component("e", "x"), "  owner: team-a\n", "  owner: team-a\n  leak:\n    $text: ../../passwd\n", 1)})
		run(t, r.dir, "rm", "-q", "--cached", "--ignore-unmatch", "passwd")
		lnk := r.dir + "/passwd"
		if err := os.Symlink("/etc/passwd", lnk); err != nil {
			t.Fatal(err)
		}
		r.commit(nil)
		refresh()
		if e, err := st.Client.Entity.Query().Where(entity.Ref("component:default/e")).Only(ctx); err == nil && strings.Contains(string(e.Document), "root:") {
			t.Fatal("/etc/passwd was read through a link")
		}
		errs, err := st.Client.ProcessingError.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Message)
		}
		if !strings.Contains(strings.Join(msgs, "\n"), "symbolic link") {
			t.Errorf("processing errors %q, want the link refused", msgs)
		}
	})
}
