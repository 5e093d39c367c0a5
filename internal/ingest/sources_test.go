package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"catalogd/ent/change"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	urlprov "catalogd/internal/ingest/url"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// components returns a file of n components named prefix-0 … prefix-(n-1).
func components(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(doc(component, fmt.Sprintf("%s-%d", prefix, i), "team"))
	}
	return b.String()
}

func (e *env) changes() []string {
	e.t.Helper()
	rows, err := e.st.Client.Change.Query().Order(change.ByID()).All(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Type+" "+r.Ref)
	}
	return out
}

func TestGuardsRefuseEmptyAndHalvedSnapshotsUntilForced(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": components("svc", 10)})
		if res := e.refresh("c.yaml"); res.Added != 10 {
			t.Fatalf("first read: %+v", res)
		}
		for name, content := range map[string]string{
			"empty":  "# nothing here any more\n",
			"halved": components("svc", 4),
		} {
			t.Run(name+" snapshot is refused", func(t *testing.T) {
				e.write(map[string]string{"c.yaml": content})
				_, err := e.eng.Refresh(ctx, e.provider("c.yaml"))
				var guard *store.GuardError
				if !errors.As(err, &guard) {
					t.Fatalf("err = %v, want the guard's refusal", err)
				}
				if n := len(e.refs()); n != 10 {
					t.Errorf("%d entities left, want all 10", n)
				}
				st, _ := e.st.GetLocation(ctx, e.provider("c.yaml").Location().Key)
				if st == nil || !strings.Contains(st.LastError, "refused") {
					t.Errorf("refusal not recorded on the location: %+v", st)
				}
				if errs := e.errors(); len(errs) != 1 || !strings.Contains(errs[0], "refused") {
					t.Errorf("processing errors = %v", errs)
				}
			})
		}
		// Half exactly is allowed (the share is "more than").
		e.write(map[string]string{"c.yaml": components("svc", 5)})
		if res, err := e.eng.Refresh(ctx, e.provider("c.yaml")); err != nil || res.Removed != 5 {
			t.Fatalf("removing half: %+v, %v", res, err)
		}
		e.write(map[string]string{"c.yaml": "# empty\n"})
		res, err := e.eng.RefreshWith(ctx, e.provider("c.yaml"), ingest.RefreshOptions{Force: true})
		if err != nil || res.Removed != 5 || len(e.refs()) != 0 {
			t.Fatalf("forced: %+v, %v, entities %v", res, err, e.refs())
		}
		removed := 0
		for _, c := range e.changes() {
			if strings.HasPrefix(c, "removed ") {
				removed++
			}
		}
		if removed != 10 {
			t.Errorf("%d removals in the change log, want 10: %v", removed, e.changes())
		}
	})
}

func TestTheChangeLogRecordsAdditionsChangesAndRemovalsInOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": doc(component, "a", "team") + "---\n" + doc(component, "b", "team")})
		e.refresh("c.yaml")
		e.write(map[string]string{"c.yaml": doc(component, "a", "other-team")})
		e.refresh("c.yaml")
		e.refresh("c.yaml") // unchanged: nothing recorded
		want := []string{"added component:default/a", "added component:default/b", "changed component:default/a", "owner_changed component:default/a", "removed component:default/b"}
		got := e.changes()
		slices.Sort(got[:2])
		if !slices.Equal(got, want) {
			t.Errorf("changes = %v, want %v", got, want)
		}
		row, err := e.st.Client.Change.Query().Where(change.Type("removed")).Only(context.Background())
		if err != nil || row.Location != e.provider("c.yaml").Location().Key || row.Reason == "" {
			t.Errorf("removal entry = %+v, %v", row, err)
		}
	})
}

func TestAnEntityThatMovesToAnotherLocationIsAdopted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{"a/catalog-info.yaml": components("svc", 3)})
		first, err := file.New(filepath.Join(e.dir, "a"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.Refresh(ctx, first); err != nil {
			t.Fatal(err)
		}
		before := e.entity("component:default/svc-0")
		// mv a b, and serve b instead of a.
		if err := os.Rename(filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")); err != nil {
			t.Fatal(err)
		}
		second, err := file.New(filepath.Join(e.dir, "b"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.RetireUnconfigured(ctx, []string{second.Location().Key}); err != nil {
			t.Fatal(err)
		}
		res, err := e.eng.Refresh(ctx, second)
		if err != nil || res.Conflicts != 0 || res.Adopted != 3 {
			t.Fatalf("read of the new location: %+v, %v; errors %v", res, err, e.errors())
		}
		after := e.entity("component:default/svc-0")
		if after.Location != second.Location().Key || after.ID != before.ID || !after.CreatedAt.Equal(before.CreatedAt) {
			t.Errorf("entity after the move: location %s id %d (was %d)", after.Location, after.ID, before.ID)
		}
		// The old location goes, with nothing left to remove.
		if res, err := e.st.RemoveLocation(ctx, first.Location().Key, "no longer configured", false); err != nil || res.Removed != 0 {
			t.Errorf("removing the old location: %+v, %v", res, err)
		}
		if n := len(e.refs()); n != 3 {
			t.Errorf("%d entities, want 3", n)
		}
		// The same when ./catalog-info.yaml becomes its directory.
		file3, _ := file.New(filepath.Join(e.dir, "b", "catalog-info.yaml"))
		e.st.RetireUnconfigured(ctx, []string{file3.Location().Key})
		if res, err := e.eng.Refresh(ctx, file3); err != nil || res.Adopted != 3 {
			t.Errorf("file instead of its directory: %+v, %v", res, err)
		}
	})
}

func TestARemovedLocationTakesItsEntitiesThroughTheGuard(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": components("svc", 4)})
		p := e.provider("c.yaml")
		e.refresh("c.yaml")
		retired, err := e.st.RetireUnconfigured(ctx, nil)
		if err != nil || !slices.Equal(retired, []string{p.Location().Key}) {
			t.Fatalf("retired %v, %v", retired, err)
		}
		if _, err := e.st.RemoveLocation(ctx, p.Location().Key, "no longer configured", false); err == nil {
			t.Error("removing every entity of a location was not refused")
		}
		if n := len(e.refs()); n != 4 {
			t.Errorf("%d entities after the refusal", n)
		}
		res, err := e.st.RemoveLocation(ctx, p.Location().Key, "no longer configured", true)
		if err != nil || res.Removed != 4 || len(e.refs()) != 0 {
			t.Errorf("forced: %+v, %v", res, err)
		}
		if st, _ := e.st.GetLocation(ctx, p.Location().Key); st != nil {
			t.Errorf("location row left: %+v", st)
		}
	})
}

func TestDeletedTargetsLoseTheirEntitiesAndOnlyRequiredOnesAreErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		loc := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: %s}\nspec:\n  presence: %s\n  targets: [./%s]\n"
		e.write(map[string]string{
			"root.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./opt.yaml, ./req.yaml]\n",
			"opt.yaml":  doc(loc, "opt", "optional", "o.yaml"),
			"req.yaml":  doc(loc, "req", "required", "r.yaml"),
			"o.yaml":    doc(component, "o", "team"),
			"r.yaml":    doc(component, "r", "team"),
		})
		e.refresh("root.yaml")
		if e.entity("component:default/o") == nil || e.entity("component:default/r") == nil {
			t.Fatalf("entities = %v", e.refs())
		}
		e.write(map[string]string{"o.yaml": "", "r.yaml": ""})
		e.refresh("root.yaml")
		if e.entity("component:default/o") != nil {
			t.Error("the entity of a deleted optional target is still there")
		}
		if e.entity("component:default/r") != nil {
			t.Error("the entity of a deleted required target is still there")
		}
		errs := e.errors()
		if len(errs) != 1 || !strings.HasPrefix(errs[0], "r.yaml") {
			t.Errorf("errors = %v, want one for the required target only", errs)
		}
	})
}

// revisionProvider wraps a provider and reports a fixed revision, counting reads.
type revisionProvider struct {
	ingest.Provider
	rev string
}

func (r *revisionProvider) Read(ctx context.Context) (tr catalog.Tree, release func(), err error) {
	tr, release, err = r.Provider.Read(ctx)
	tr.Revision = r.rev
	return tr, release, err
}

func TestAReadOfTheLastAppliedRevisionCostsNoProcessing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": components("svc", 3)})
		p := &revisionProvider{Provider: e.provider("c.yaml"), rev: "r1"}
		if res, err := e.eng.Refresh(ctx, p); err != nil || res.Added != 3 {
			t.Fatalf("%+v, %v", res, err)
		}
		st1, _ := e.st.GetLocation(ctx, p.Location().Key)
		// Same revision, different bytes: the engine trusts the revision and does not parse.
		e.write(map[string]string{"c.yaml": "key: [broken\n"})
		time.Sleep(5 * time.Millisecond)
		res, err := e.eng.Refresh(ctx, p)
		if err != nil || res.Unchanged != 3 || len(e.errors()) != 0 {
			t.Fatalf("same revision: %+v, %v, errors %v", res, err, e.errors())
		}
		st2, _ := e.st.GetLocation(ctx, p.Location().Key)
		if !st2.LastObservedAt.After(*st1.LastObservedAt) || st2.Revision != "r1" {
			t.Errorf("observation not recorded: %v -> %v", st1.LastObservedAt, st2.LastObservedAt)
		}
		p.rev = "r2"
		if _, err := e.eng.Refresh(ctx, p); err == nil && len(e.errors()) == 0 {
			t.Error("a new revision was not processed")
		}
	})
}

func TestTheURLProviderReadsOneDescriptorThroughTheAllowList(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		var hits atomic.Int32
		body := doc(component, "remote", "team")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Write([]byte(body))
		}))
		defer srv.Close()
		e := newEnv(t, dbURL)
		e.eng.URLs = urlReader(t, strings.TrimPrefix(srv.URL, "http://"))
		if _, err := urlprov.New(srv.URL+"/c.yaml", urlReader(t, "example.com")); err == nil {
			t.Error("a URL outside the allow-list was accepted")
		}
		p, err := urlprov.New(srv.URL+"/c.yaml", e.eng.URLs)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := e.eng.Refresh(ctx, p); err != nil || res.Added != 1 {
			t.Fatalf("%+v, %v, %v", res, err, e.errors())
		}
		got := e.entity("component:default/remote")
		if got == nil || got.Source != "url:"+srv.URL+"/c.yaml" {
			t.Fatalf("entity = %+v", got)
		}
		if res, err := e.eng.Refresh(ctx, p); err != nil || res.Unchanged != 1 {
			t.Errorf("re-read: %+v, %v", res, err)
		}
		if hits.Load() != 2 {
			t.Errorf("%d fetches, want one per read", hits.Load())
		}
	})
}

func TestTheRegistryRoutesTargets(t *testing.T) {
	r := ingest.NewRegistry()
	r.Register("file", func(ingest.LocationConfig) (ingest.Provider, error) { return nil, nil })
	r.Register("url", func(ingest.LocationConfig) (ingest.Provider, error) { return nil, nil })
	r.Register("git", func(ingest.LocationConfig) (ingest.Provider, error) { return nil, nil })
	r.Route("git", func(s string) (string, bool) { return s, ingest.GitURL(s) })
	for in, want := range map[string]string{
		"file:/srv/catalog":                     "file /srv/catalog",
		"url:https://example.com/c.yaml":        "url https://example.com/c.yaml",
		"https://github.com/acme/x.git":         "git https://github.com/acme/x.git",
		"ssh://git@example.com/x":               "git ssh://git@example.com/x",
		"git@github.com:acme/x.git":             "git git@github.com:acme/x.git",
		"file:///srv/repo.git":                  "git file:///srv/repo.git",
		"https://example.com/catalog-info.yaml": "",
		"ftp:x":                                 "",
	} {
		cfg, err := r.ParseTarget(in)
		got := ""
		if err == nil {
			got = cfg.Type + " " + cfg.Target
		}
		if got != want {
			t.Errorf("ParseTarget(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}

func TestRefreshWhereTriggersMatchingLocationsAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"a.yaml": doc(component, "a", "team"), "b.yaml": doc(component, "b", "team")})
		e.eng.Interval = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		defer func() { cancel(); e.eng.Wait() }()
		first := make(chan struct{}, 2)
		for _, n := range []string{"a.yaml", "b.yaml"} {
			e.eng.Add(ingest.LocationConfig{Type: "file", Target: n}, e.provider(n), func(error) { first <- struct{}{} })
		}
		e.eng.Start(ctx)
		<-first
		<-first
		e.write(map[string]string{"a.yaml": doc(component, "a2", "team"), "b.yaml": doc(component, "b2", "team")})
		keys := e.eng.RefreshWhere(ctx, func(c ingest.LocationConfig, _ ingest.Provider) bool { return c.Target == "a.yaml" })
		if len(keys) != 1 {
			t.Fatalf("triggered %v", keys)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.entity("component:default/a2") == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if e.entity("component:default/a2") == nil {
			t.Fatal("the triggered location was not re-read")
		}
		if e.entity("component:default/b2") != nil {
			t.Error("a location that did not match was re-read")
		}
	})
}

func TestFreshnessIsTheLocationsUnlessAReadKeptTheEntityUnconfirmed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{
			"root.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./a.yaml, ./b.yaml]\n",
			"a.yaml":    doc(component, "a", "team"),
			"b.yaml":    doc(component, "b", "team"),
		})
		e.refresh("root.yaml")
		key := e.provider("root.yaml").Location().Key
		st1, _ := e.st.GetLocation(ctx, key)
		if b := e.entity("component:default/b"); b.ObservedAt != nil {
			t.Fatalf("a confirmed entity carries its own observation: %v", b.ObservedAt)
		}
		e.write(map[string]string{"b.yaml": "key: [broken\n"})
		time.Sleep(5 * time.Millisecond)
		e.refresh("root.yaml")
		b := e.entity("component:default/b")
		if b == nil || b.ObservedAt == nil || !b.ObservedAt.Equal(*st1.LastObservedAt) {
			t.Fatalf("kept entity: observed %v, want the read before (%v)", b.ObservedAt, st1.LastObservedAt)
		}
		if a := e.entity("component:default/a"); a.ObservedAt != nil {
			t.Errorf("a confirmed entity carries its own observation: %v", a.ObservedAt)
		}
		e.write(map[string]string{"b.yaml": doc(component, "b", "team")})
		e.refresh("root.yaml")
		if b := e.entity("component:default/b"); b.ObservedAt != nil {
			t.Errorf("confirmed again but still marked: %v", b.ObservedAt)
		}
	})
}

func TestUnchangedFilesAreNotParsedAgainButTheStoreIsTrusted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.write(map[string]string{
			"root.yaml":    "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./teams/*.yaml, ./c.yaml]\n",
			"teams/a.yaml": doc(group, "a"),
			"c.yaml":       doc(component, "svc", "a"),
		})
		e.refresh("root.yaml")
		if res := e.refresh("root.yaml"); res.Unchanged != 3 || res.Changed() {
			t.Fatalf("unchanged re-read: %+v", res)
		}
		// Another writer changed the stored row: the unchanged file is processed again.
		if _, err := e.st.Client.Entity.Update().SetHash("tampered").Save(ctx); err != nil {
			t.Fatal(err)
		}
		if res := e.refresh("root.yaml"); res.Updated != 3 {
			t.Errorf("after the store changed underneath: %+v", res)
		}
		if got := e.entity("component:default/svc"); got.Hash == "tampered" {
			t.Error("the stale row was kept")
		}
		// A file a glob now matches is read although the Location's file did not change.
		e.write(map[string]string{"teams/b.yaml": doc(group, "b")})
		if res := e.refresh("root.yaml"); res.Added != 1 || e.entity("group:default/b") == nil {
			t.Errorf("new file under a glob: %+v", res)
		}
		// A file whose bytes changed is parsed again.
		e.write(map[string]string{"c.yaml": doc(component, "svc", "b")})
		if res := e.refresh("root.yaml"); res.Updated != 1 || e.entity("component:default/svc").OwnerRef != "group:default/b" {
			t.Errorf("changed file: %+v", res)
		}
	})
}

func TestAReReadFetchesPlaceholdersBeforeTheWriteTransactionOpens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		var underLock atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Is a write transaction open? A write of our own must wait for it.
			ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
			defer cancel()
			if e.st.Dialect == "postgres" {
				// PostgreSQL: the apply lock (store's applyLockKey) is free.
				var free bool
				if err := e.st.DB.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", 0x63617461).Scan(&free); err != nil || !free {
					underLock.Add(1)
				} else {
					e.st.DB.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", 0x63617461)
				}
			} else if err := e.st.Client.CatalogState.Update().AddGeneration(0).Exec(ctx); err != nil {
				underLock.Add(1)
			}
			w.Write([]byte("openapi: 3.0.0\n"))
		}))
		defer srv.Close()
		e.eng.URLs = urlReader(t, strings.TrimPrefix(srv.URL, "http://"))
		api := "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: %s}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team\n  definition:\n    $text: " + srv.URL + "/%s.yaml\n"
		e.write(map[string]string{"a.yaml": doc(api, "a", "a"), "b.yaml": doc(component, "b", "team")})
		e.write(map[string]string{"root.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./a.yaml, ./b.yaml]\n"})
		e.refresh("root.yaml")
		underLock.Store(0)
		e.write(map[string]string{"b.yaml": doc(component, "b", "other-team")})
		if res := e.refresh("root.yaml"); res.Updated != 1 {
			t.Fatalf("re-read: %+v, errors %v", res, e.errors())
		}
		if n := underLock.Load(); n != 0 {
			t.Errorf("%d placeholder fetches happened while the write transaction was open", n)
		}
	})
}
