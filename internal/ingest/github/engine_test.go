package github_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"catalogd/ent"
	"catalogd/internal/ingest/github"
	"catalogd/internal/testdb"
)

// The engine ingests a github location end to end: repository descriptors, teams and members
// appear with their relations, follow the organisation's changes, and a failing read removes
// nothing.
func TestEngineIngestsAGitHubOrganisation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		eng := testdb.Engine(t, st)
		f := acme(t)
		p := newProvider(t, f, github.Config{Teams: true, Retries: -1, MaxFileBytes: 4096})
		refs := func() []string {
			t.Helper()
			out, err := st.Client.Entity.Query().Order(ent.Asc("ref")).Select("ref").Strings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if _, err := eng.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
		want := []string{"component:default/billing", "component:default/checkout", "component:default/web",
			"group:default/payments", "group:default/platform", "group:default/web",
			"user:default/alice", "user:default/bob", "user:default/carol", "user:default/dave"}
		if got := refs(); !slices.Equal(got, want) {
			t.Fatalf("entities %v, want %v", got, want)
		}
		rows, err := st.DB.Query(`SELECT source_ref, type, target_ref FROM relations WHERE source_ref IN ('group:default/payments', 'user:default/bob') ORDER BY 1, 2, 3`)
		if err != nil {
			t.Fatal(err)
		}
		var rels []string
		for rows.Next() {
			var s, ty, tg string
			rows.Scan(&s, &ty, &tg)
			rels = append(rels, s+" "+ty+" "+tg)
		}
		rows.Close()
		for _, r := range []string{"group:default/payments childOf group:default/platform", "group:default/payments hasMember user:default/bob",
			"user:default/bob memberOf group:default/payments"} {
			if !slices.Contains(rels, r) {
				t.Errorf("relation %q missing from %v", r, rels)
			}
		}

		// A descriptor that cannot be used is an error of its file: its entities stay, the
		// rest of the organisation is read.
		f.setRepo("billing", false, map[string]string{"catalog-info.yaml": component("billing") + "# " + strings.Repeat("x", 5000) + "\n"})
		f.setRepo("web", false, map[string]string{"catalog-info.yaml": ""})
		if _, err := eng.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := refs(); !slices.Contains(got, "component:default/billing") || slices.Contains(got, "component:default/web") {
			t.Fatalf("after an oversized descriptor: entities %v", got)
		}
		perrs, err := st.Client.ProcessingError.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(perrs) != 1 || !strings.Contains(perrs[0].Message, "maxFileBytes") || !strings.Contains(perrs[0].Source, "/acme/billing/blob/main/catalog-info.yaml") {
			t.Errorf("processing errors: %+v", perrs)
		}
		f.setRepo("billing", false, map[string]string{"catalog-info.yaml": component("billing")})
		f.setRepo("web", false, map[string]string{"catalog-info.yaml": component("web")})
		if _, err := eng.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}

		// A failing read changes nothing.
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/teams") {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		}
		f.setRepo("billing", false, map[string]string{"catalog-info.yaml": ""})
		if _, err := eng.Refresh(ctx, p); err == nil {
			t.Fatal("a read with failing requests succeeded")
		}
		if got := refs(); !slices.Equal(got, want) {
			t.Fatalf("after a failed read: entities %v, want %v", got, want)
		}

		// Once GitHub answers again, the removed descriptor's entity goes.
		f.fault = nil
		f.teams = f.teams[:1]
		if _, err := eng.Refresh(ctx, p); err != nil {
			t.Fatal(err)
		}
		want = []string{"component:default/checkout", "component:default/web", "group:default/platform",
			"user:default/alice", "user:default/bob", "user:default/carol", "user:default/dave"}
		if got := refs(); !slices.Equal(got, want) {
			t.Fatalf("after the changes: entities %v, want %v", got, want)
		}
	})
}
