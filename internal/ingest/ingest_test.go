package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// Backstage's example catalogs (our fixtures modelled on them) must give exactly the entities
// and relation sets Backstage gives, entity by entity.
func TestBackstageExampleCatalogsIngestAsBackstageDoes(t *testing.T) {
	for _, name := range []string{"create-app", "catalog-model"} {
		t.Run(name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, dbURL string) {
				e := newEnv(t, dbURL)
				dir, _ := filepath.Abs(filepath.Join("testdata", "backstage", name))
				e.dir = dir
				res := e.refresh("catalog-info.yaml")
				if res.Errors != 0 {
					t.Errorf("processing errors: %v", e.errors())
				}
				diff(t, "entities", readLines(t, filepath.Join(dir, "expected-entities.txt")), e.refs())
				diff(t, "relations", readLines(t, filepath.Join(dir, "expected-relations.txt")), e.relations())
			})
		})
	}
}

const (
	group = `apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: %s
spec:
  type: team
  children: []
`
	component = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: service
  lifecycle: production
  owner: %s
`
)

func doc(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func TestOneBadDocumentNeverBlocksTheValidOnesBesideIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"catalog.yaml": strings.Join([]string{
			doc(component, "first", "team-a"),
			"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: [broken\n",
			doc(component, "second", "team-a"),
			"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: 123\nspec: {type: x, lifecycle: y, owner: z}\n",
			"- just\n- a list\n",
			"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: no-owner\nspec: {type: x, lifecycle: y}\n",
			"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: bad-dep\nspec: {type: x, lifecycle: y, owner: a, dependsOn: [other]}\n",
			doc(component, "third", "team-a"),
		}, "---\n")})
		res := e.refresh("catalog.yaml")
		if want := []string{"component:default/first", "component:default/second", "component:default/third"}; !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want %v", e.refs(), want)
		}
		if res.Added != 3 || res.Errors != 5 {
			t.Errorf("result = %+v, want 3 added and 5 errors", res)
		}
		errs := strings.Join(e.errors(), "\n")
		for _, want := range []string{
			"catalog.yaml#2  invalid YAML: yaml: line 11:",
			"catalog.yaml#4  /metadata/name: got number, want string",
			"catalog.yaml#5  document is a YAML sequence",
			"catalog.yaml#6 component:default/no-owner /spec: missing property 'owner'",
			`catalog.yaml#7 component:default/bad-dep /spec/dependsOn/0: entity ref "other" has no kind`,
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("errors lack %q; got:\n%s", want, errs)
			}
		}
	})
}

func TestARejectedNewVersionKeepsTheLastGoodOne(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": doc(component, "svc", "team-a")})
		e.refresh("c.yaml")
		e.write(map[string]string{"c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\nspec: {type: service, lifecycle: production}\n"})
		res := e.refresh("c.yaml")
		if res.Kept != 1 || res.Removed != 0 {
			t.Errorf("result = %+v, want the entity kept", res)
		}
		if got := e.entity("component:default/svc"); got == nil || got.OwnerRef != "group:default/team-a" {
			t.Fatalf("entity = %+v, want the last good version (owner team-a)", got)
		}
		if errs := e.errors(); len(errs) != 1 || !strings.Contains(errs[0], "component:default/svc /spec: missing property 'owner'") {
			t.Errorf("errors = %v", errs)
		}
		e.write(map[string]string{"c.yaml": doc(component, "svc", "team-b")})
		res = e.refresh("c.yaml")
		if res.Updated != 1 || len(e.errors()) != 0 || e.entity("component:default/svc").OwnerRef != "group:default/team-b" {
			t.Errorf("after the fix: result %+v, errors %v", res, e.errors())
		}
	})
}

// A file that cannot be parsed keeps its entities (stale is better than wrong) until it is no
// longer referenced; a file that was deleted loses them, with an error when a Location names
// it as required.
func TestAnUnreadableFileKeepsItsEntitiesAndADeletedOneLosesThem(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{
			"root.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./a.yaml, ./b.yaml]\n",
			"a.yaml":    doc(component, "a1", "team"),
			"b.yaml":    doc(component, "b1", "team") + "---\n" + doc(component, "b2", "team"),
		})
		e.refresh("root.yaml")
		want := []string{"component:default/a1", "component:default/b1", "component:default/b2", "location:default/root"}
		if !slices.Equal(e.refs(), want) {
			t.Fatalf("entities = %v", e.refs())
		}
		for _, tc := range []struct{ name, broken string }{
			{"invalid UTF-8", doc(component, "b1", "team") + "---\n" + "\xff\xfe" + doc(component, "b2", "team")},
			{"broken YAML", "key: [unclosed\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.write(map[string]string{"b.yaml": tc.broken, "a.yaml": doc(component, "a1", "team-new")})
				res := e.refresh("root.yaml")
				if !slices.Equal(e.refs(), want) {
					t.Errorf("entities = %v, want all kept (%+v)", e.refs(), res)
				}
				if len(e.errors()) == 0 {
					t.Error("no processing error recorded")
				}
				if e.entity("component:default/a1").OwnerRef != "group:default/team-new" {
					t.Error("the readable file was not applied")
				}
				e.write(map[string]string{"a.yaml": doc(component, "a1", "team")})
			})
		}
		t.Run("deleted file", func(t *testing.T) {
			e.write(map[string]string{"b.yaml": ""})
			res := e.refresh("root.yaml")
			if want := []string{"component:default/a1", "location:default/root"}; !slices.Equal(e.refs(), want) || res.Removed != 2 {
				t.Errorf("entities = %v (%+v), want the deleted file's two gone", e.refs(), res)
			}
			if errs := e.errors(); len(errs) != 1 || !strings.Contains(errs[0], "spec.presence is required") {
				t.Errorf("errors = %v, want one saying the required target is missing", errs)
			}
		})
		e.write(map[string]string{"root.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./a.yaml]\n"})
		e.refresh("root.yaml")
		if want := []string{"component:default/a1", "location:default/root"}; !slices.Equal(e.refs(), want) || len(e.errors()) != 0 {
			t.Errorf("after dropping the target: entities %v, errors %v", e.refs(), e.errors())
		}
	})
}

func TestAMissingRootChangesNothingAndIsReported(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"c.yaml": doc(component, "svc", "team")})
		e.refresh("c.yaml")
		e.write(map[string]string{"c.yaml": ""})
		_, err := e.eng.Refresh(context.Background(), e.provider("c.yaml"))
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("err = %v, want a read failure", err)
		}
		if refs := e.refs(); len(refs) != 1 {
			t.Errorf("entities = %v, want the last good catalog kept", refs)
		}
		st, err := e.st.Client.LocationState.Query().Only(context.Background())
		if err != nil || !strings.Contains(st.LastError, "no such file") || st.LastSuccessAt == nil {
			t.Errorf("location state = %+v, %v", st, err)
		}
	})
}

func TestUnchangedEntitiesAreNotRewrittenAndVanishedOnesGoWithTheirRelations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		ctx := context.Background()
		e.write(map[string]string{"c.yaml": doc(component, "a", "team") + "---\n" + doc(component, "b", "team") + "---\n" + doc(group, "team")})
		e.refresh("c.yaml")
		gen, _ := e.st.Generation(ctx)
		before := e.entity("component:default/a").UpdatedAt
		time.Sleep(10 * time.Millisecond)
		res := e.refresh("c.yaml")
		if res.Unchanged != 3 || res.Changed() {
			t.Errorf("second read: %+v, want 3 unchanged", res)
		}
		if after := e.entity("component:default/a").UpdatedAt; !after.Equal(before) {
			t.Errorf("updated_at moved from %v to %v", before, after)
		}
		if gen2, _ := e.st.Generation(ctx); gen2 != gen {
			t.Errorf("generation moved from %d to %d without a change", gen, gen2)
		}
		e.write(map[string]string{"c.yaml": doc(component, "a", "team") + "---\n" + doc(group, "team")})
		res = e.refresh("c.yaml")
		if res.Removed != 1 || res.Unchanged != 2 {
			t.Errorf("after removing b: %+v", res)
		}
		for _, r := range e.relations() {
			if strings.Contains(r, "component:default/b") {
				t.Errorf("relation of the removed entity left behind: %s", r)
			}
		}
		if n, _ := e.st.Client.Relation.Query().Count(ctx); n != 2 {
			t.Errorf("%d relation rows, want 2 (a ownedBy team, team ownerOf a)", n)
		}
		if gen3, _ := e.st.Generation(ctx); gen3 != gen+1 {
			t.Errorf("generation = %d, want %d", gen3, gen+1)
		}
	})
}

func TestTwoLocationsClaimingOneEntityTheFirstKeepsIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.write(map[string]string{"one.yaml": doc(component, "svc", "team-one"), "two.yaml": doc(component, "svc", "team-two") + "---\n" + doc(component, "other", "x")})
		e.refresh("one.yaml")
		res := e.refresh("two.yaml")
		if res.Conflicts != 1 || res.Added != 1 {
			t.Errorf("result = %+v", res)
		}
		if got := e.entity("component:default/svc"); got.OwnerRef != "group:default/team-one" {
			t.Errorf("owner = %s, want the first location's", got.OwnerRef)
		}
		errs := e.errors()
		if len(errs) != 1 || !strings.Contains(errs[0], "two.yaml#1 component:default/svc entity component:default/svc is already managed by location file:") {
			t.Errorf("errors = %v", errs)
		}
		// The second read of the first location changes nothing.
		if res := e.refresh("one.yaml"); res.Unchanged != 1 {
			t.Errorf("first location re-read: %+v", res)
		}
		// Once the first location drops it, the second one takes it over.
		e.write(map[string]string{"one.yaml": doc(group, "placeholder")})
		e.refresh("one.yaml")
		e.refresh("two.yaml")
		if got := e.entity("component:default/svc"); got == nil || got.OwnerRef != "group:default/team-two" {
			t.Errorf("after the handover: %+v", got)
		}
	})
}

func TestLocationsFollowTargetsGlobsAndDirectoriesAndIgnoreCycles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		loc := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: %s}\nspec:\n  targets: [%s]\n"
		e.write(map[string]string{
			"root.yaml":              doc(loc, "root", "./teams/*.yaml, ./nested/loc.yaml"),
			"teams/a.yaml":           doc(group, "a"),
			"teams/b.yml":            doc(group, "not-matched"),
			"teams/c.yaml":           doc(group, "c"),
			"nested/loc.yaml":        doc(loc, "nested", "../root.yaml, ./deeper/svc.yaml"),
			"nested/deeper/svc.yaml": doc(component, "svc", "a"),
		})
		e.refresh("root.yaml")
		want := []string{"component:default/svc", "group:default/a", "group:default/c", "location:default/nested", "location:default/root"}
		if !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want %v", e.refs(), want)
		}
		if errs := e.errors(); len(errs) != 0 {
			t.Errorf("errors = %v", errs)
		}
		svc := e.entity("component:default/svc")
		if got := svc.Annotations[catalog.AnnotationManagedByLocation]; got != "file:"+filepath.ToSlash(e.dir)+"/nested/deeper/svc.yaml" {
			t.Errorf("managed-by-location = %s", got)
		}
		if got := svc.Annotations[catalog.AnnotationManagedByOriginLocation]; got != "file:"+filepath.ToSlash(e.dir)+"/root.yaml" {
			t.Errorf("managed-by-origin-location = %s", got)
		}
		// A directory location reads every .yaml/.yml file under it.
		e2 := newEnv(t, testdb.SQLite(t))
		e2.dir = filepath.Join(e.dir, "teams")
		e2.refresh(".")
		if want := []string{"group:default/a", "group:default/c", "group:default/not-matched"}; !slices.Equal(e2.refs(), want) {
			t.Errorf("directory location: %v", e2.refs())
		}
	})
}

func TestPlaceholdersAreResolvedRelativeToTheFileOrFromURLs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/spec.json" {
			w.Write([]byte(`{"openapi": "3.0.0", "n": 1}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.eng.URLs = urlReader(t, strings.TrimPrefix(srv.URL, "http://"))
		api := "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: %s}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team\n  definition:\n    %s\n"
		e.write(map[string]string{
			"apis/defs/petstore.yaml": "openapi: 3.0.0\ninfo: {title: Petstore}\n",
			"apis/catalog.yaml": strings.Join([]string{
				doc(api, "text", "$text: ./defs/petstore.yaml"),
				doc(api, "url", "$text: "+srv.URL+"/spec.json"),
				doc(api, "missing", "$text: ./defs/none.yaml"),
				doc(api, "escape", "$text: ../../../../../../etc/passwd"),
				doc(api, "gone", "$text: "+srv.URL+"/gone"),
			}, "---\n"),
		})
		e.refresh("apis/catalog.yaml")
		if want := []string{"api:default/text", "api:default/url"}; !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v, want %v", e.refs(), want)
		}
		if got := definition(t, e.entity("api:default/text").Document); got != "openapi: 3.0.0\ninfo: {title: Petstore}\n" {
			t.Errorf("definition not resolved: %q", got)
		}
		if got := definition(t, e.entity("api:default/url").Document); got != `{"openapi": "3.0.0", "n": 1}` {
			t.Errorf("URL definition not resolved: %q", got)
		}
		errs := strings.Join(e.errors(), "\n")
		for _, want := range []string{"api:default/missing /spec/definition: placeholder $text ./defs/none.yaml: no such file or directory",
			"api:default/escape /spec/definition: placeholder $text ../../../../../../etc/passwd",
			"api:default/gone /spec/definition: placeholder $text " + srv.URL + "/gone: GET"} {
			if !strings.Contains(errs, want) {
				t.Errorf("errors lack %q:\n%s", want, errs)
			}
		}
	})
}

func definition(t *testing.T, doc []byte) string {
	t.Helper()
	var d struct {
		Spec struct{ Definition string } `json:"spec"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Definition
}

func TestOversizedAndNonUTF8DocumentsAreRecordedNotDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		big := doc(component, "big", "team") + "  notes: \"" + strings.Repeat("x", 10<<20) + "\"\n"
		e.write(map[string]string{"c.yaml": doc(component, "small", "team") + "---\n" + big + "---\n" + "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: caf\xe9\n"})
		e.refresh("c.yaml")
		if want := []string{"component:default/small"}; !slices.Equal(e.refs(), want) {
			t.Errorf("entities = %v", e.refs())
		}
		errs := strings.Join(e.errors(), "\n")
		if !strings.Contains(errs, "c.yaml#2  document is 10.0 MiB, larger than the limit of 1.0 MiB") ||
			!strings.Contains(errs, "c.yaml#3  document is not valid UTF-8 (invalid byte 0xe9 on line") {
			t.Errorf("errors:\n%s", errs)
		}
	})
}

// TestTheSyntheticCatalogIngestsWithoutErrors: the benchmarks' catalog (internal/synth) is
// valid as the engine sees it, so scripts/bench (whose ingest exits 2 on any processing
// error) measures ingestion, not a failure.
func TestTheSyntheticCatalogIngestsWithoutErrors(t *testing.T) {
	for _, cfg := range []synth.Config{{Shape: synth.ShapeDefault}, {Shape: synth.ShapeDense}, {Docs: true}} {
		t.Run(fmt.Sprintf("shape %q, docs %v", cfg.Shape, cfg.Docs), func(t *testing.T) {
			dir := t.TempDir()
			cfg.N, cfg.Seed = 2000, 9
			stats, err := synth.Write(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			st := testdb.Open(t, testdb.SQLite(t))
			p, err := file.New(stats.Root)
			if err != nil {
				t.Fatal(err)
			}
			res, err := testdb.Engine(t, st).Refresh(context.Background(), p)
			if err != nil || res.Errors != 0 || res.Added != stats.Entities {
				t.Fatalf("result %+v, %v; want all %d entities and no error", res, err, stats.Entities)
			}
			if cfg.Docs && stats.DocPages < stats.Entities/3 {
				t.Fatalf("%d doc pages for %d entities", stats.DocPages, stats.Entities)
			}
			var pages int
			if err := st.DB.QueryRow("SELECT count(*) FROM doc_pages").Scan(&pages); err != nil || pages != stats.DocPages {
				t.Fatalf("%d doc pages stored (%v), want the %d written", pages, err, stats.DocPages)
			}
		})
	}
}
