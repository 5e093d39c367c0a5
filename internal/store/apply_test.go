package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"catalogd/internal/catalog"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// tricky values go through COPY's text format on PostgreSQL and bound parameters on SQLite.
var tricky = []string{"tab\there", "line\nbreak", `back\slash`, "carriage\rreturn", `"quoted"`, "ünïcødé ✓", "<&>", `\N`, `\.`, ""}

// records makes n entities of one location, each declaring relations in both directions to
// the next one, with awkward text in every free-form field. More than 5,000 of them take the
// paths a large first apply takes (indexes built at the end on SQLite, several COPY batches
// on PostgreSQL).
func records(n int, loc string) []store.EntityRecord {
	recs := make([]store.EntityRecord, n)
	for i := range recs {
		ref := fmt.Sprintf("component:default/%s-%05d", loc, i)
		next := fmt.Sprintf("component:default/%s-%05d", loc, (i+1)%n)
		w := tricky[i%len(tricky)]
		doc, _ := json.Marshal(map[string]any{"kind": "Component", "metadata": map[string]any{"name": ref, "description": w}})
		recs[i] = store.EntityRecord{
			Ref: ref, Kind: "component", Namespace: "default", Name: fmt.Sprintf("%s-%05d", loc, i), APIVersion: "backstage.io/v1alpha1",
			Title: w, Description: "about " + w, Type: "service", Lifecycle: "production",
			OwnerRef: "group:default/team-" + fmt.Sprint(i%7), SystemRef: "system:default/s" + fmt.Sprint(i%3),
			Tags:        []string{"t" + fmt.Sprint(i%5), w},
			Labels:      map[string]string{"l": w},
			Annotations: map[string]string{"a/" + w: w, "b": "c"},
			Document:    doc, Hash: fmt.Sprintf("h%d", i), Source: "file:/catalog/" + loc + ".yaml",
			Relations: []catalog.Relation{
				{Source: ref, Type: "dependsOn", Target: next},
				{Source: next, Type: "dependencyOf", Target: ref},
				{Source: ref, Type: "ownedBy", Target: "group:default/team-" + fmt.Sprint(i%7)},
			},
		}
	}
	if n > 0 {
		recs[0].Tags, recs[0].Labels, recs[0].Annotations = nil, nil, nil
	}
	return recs
}

// parts cuts records into parts of uneven sizes, so that chunks and batches end mid-part.
func parts(recs []store.EntityRecord) func(yield func([]store.EntityRecord) bool) {
	return func(yield func([]store.EntityRecord) bool) {
		for i, size := 0, 1; i < len(recs); size = size*3%1013 + 1 {
			j := min(i+size, len(recs))
			if !yield(recs[i:j]) {
				return
			}
			i = j
		}
	}
}

func locSpec(name string) catalog.LocationSpec {
	return catalog.LocationSpec{Key: "file:/catalog/" + name + ".yaml", Provider: "file", Target: "/catalog/" + name + ".yaml"}
}

// indexes lists the indexes of the entity and relation tables as the database describes them.
func indexes(t *testing.T, st *store.Store) []string {
	t.Helper()
	q := "SELECT name || ': ' || sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('entities', 'relations') AND sql IS NOT NULL"
	if st.Dialect == dialect.Postgres {
		q = "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('entities', 'relations')"
	}
	rows, err := st.DB.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	if len(out) < 7 {
		t.Fatalf("expected the migration's indexes, found %q", out)
	}
	return out
}

func count(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkStored compares what the database holds for loc with recs, field by field.
func checkStored(t *testing.T, st *store.Store, loc catalog.LocationSpec, recs []store.EntityRecord) {
	t.Helper()
	ctx := context.Background()
	ents, err := st.Client.Entity.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byRef := map[string]int{}
	refByID := map[int]string{}
	for _, e := range ents {
		byRef[e.Ref] = len(byRef)
		refByID[e.ID] = e.Ref
	}
	if len(ents) != len(recs) {
		t.Fatalf("%d entities stored, want %d", len(ents), len(recs))
	}
	for _, r := range recs {
		i, ok := byRef[r.Ref]
		if !ok {
			t.Fatalf("%s not stored", r.Ref)
		}
		e := ents[i]
		got := []string{e.Kind, e.Namespace, e.Name, e.APIVersion, e.Title, e.Description, e.Type, e.Lifecycle, e.OwnerRef, e.SystemRef, e.Hash, e.Location, e.Source}
		want := []string{r.Kind, r.Namespace, r.Name, r.APIVersion, r.Title, r.Description, r.Type, r.Lifecycle, r.OwnerRef, r.SystemRef, r.Hash, loc.Key, r.Source}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: stored %q, want %q", r.Ref, got, want)
		}
		if len(e.Tags) != len(r.Tags) || (len(r.Tags) > 0 && !slices.Equal(e.Tags, r.Tags)) ||
			len(e.Labels) != len(r.Labels) || (len(r.Labels) > 0 && !reflect.DeepEqual(e.Labels, r.Labels)) ||
			len(e.Annotations) != len(r.Annotations) || (len(r.Annotations) > 0 && !reflect.DeepEqual(e.Annotations, r.Annotations)) {
			t.Fatalf("%s: stored %q %q %q, want %q %q %q", r.Ref, e.Tags, e.Labels, e.Annotations, r.Tags, r.Labels, r.Annotations)
		}
		var gotDoc, wantDoc any
		if err := json.Unmarshal(e.Document, &gotDoc); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(r.Document, &wantDoc)
		if !reflect.DeepEqual(gotDoc, wantDoc) {
			t.Fatalf("%s: stored document %s, want %s", r.Ref, e.Document, r.Document)
		}
		if e.CreatedAt.IsZero() || !e.CreatedAt.Equal(e.UpdatedAt) {
			t.Fatalf("%s: created %v, updated %v", r.Ref, e.CreatedAt, e.UpdatedAt)
		}
	}
	rels, err := st.Client.Relation.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range rels {
		got = append(got, refByID[r.EntityID]+" "+r.SourceRef+" "+r.Type+" "+r.TargetRef)
	}
	for _, e := range recs {
		for _, r := range e.Relations {
			want = append(want, e.Ref+" "+r.Source+" "+r.Type+" "+r.Target)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%d relation rows stored (first %q), want %d (first %q)", len(got), got[:min(3, len(got))], len(want), want[:min(3, len(want))])
	}
}

// checkCacheSizes checks that every pooled SQLite connection has the page cache Open gave it,
// whatever an Apply did on it.
func checkCacheSizes(t *testing.T, st *store.Store) {
	t.Helper()
	if st.Dialect != dialect.SQLite {
		return
	}
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range store.SQLiteConns {
		c, err := st.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var size int
		if err := c.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&size); err != nil || size != -store.DefaultSQLiteCacheSize>>10 {
			t.Fatalf("connection %d: cache_size %d, %v", len(conns), size, err)
		}
	}
}

func TestALargeFirstApplyStoresEverythingAndKeepsTheIndexes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		before := indexes(t, st)
		loc := locSpec("a")
		recs := records(6123, "a")
		res, err := st.Apply(ctx, loc, &store.Batch{Parts: parts(recs)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != len(recs) || res.Changed() != true || res.Conflicts != 0 {
			t.Fatalf("first apply: %v", res)
		}
		checkStored(t, st, loc, recs)
		if after := indexes(t, st); !slices.Equal(after, before) {
			t.Fatalf("indexes after the apply:\n%q\nbefore:\n%q", after, before)
		}
		if st.Dialect == dialect.SQLite {
			// JSON is stored as ent stores it (a BLOB), so rows ent updates later look the same.
			var kinds string
			if err := st.DB.QueryRow("SELECT group_concat(DISTINCT typeof(tags) || typeof(labels) || typeof(annotations) || typeof(document)) FROM entities").Scan(&kinds); err != nil {
				t.Fatal(err)
			}
			if kinds != "blobblobblobblob" {
				t.Fatalf("JSON columns stored as %s", kinds)
			}
		}
		checkCacheSizes(t, st)
		gen, _ := st.Generation(ctx)

		// The same again changes nothing.
		res, err = st.Apply(ctx, loc, &store.Batch{Parts: parts(recs)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Unchanged != len(recs) || res.Changed() {
			t.Fatalf("second apply: %v", res)
		}
		if g, _ := st.Generation(ctx); g != gen {
			t.Fatalf("generation %d after an apply that changed nothing, was %d", g, gen)
		}

		// A second location into tables that are no longer empty: its refs that the first
		// one holds are conflicts, the rest is added.
		loc2 := locSpec("b")
		recs2 := records(5500, "b")
		recs2 = append(recs2, recs[17], recs[4000])
		res, err = st.Apply(ctx, loc2, &store.Batch{Parts: parts(recs2)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 5500 || res.Conflicts != 2 || res.Errors != 2 {
			t.Fatalf("second location: %v", res)
		}
		if after := indexes(t, st); !slices.Equal(after, before) {
			t.Fatalf("indexes after the second location:\n%q\nbefore:\n%q", after, before)
		}
		if n := count(t, st, "entities"); n != len(recs)+5500 {
			t.Fatalf("%d entities", n)
		}
		if n := count(t, st, "relations"); n != 3*(len(recs)+5500) {
			t.Fatalf("%d relation rows", n)
		}
	})
}

func TestReadersDuringAFirstApplySeeTheTablesAsTheyWere(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		before := indexes(t, st)
		recs := records(8000, "a")
		checked := false
		relReader := make(chan int, 1)
		seq := func(yield func([]store.EntityRecord) bool) {
			if !yield(recs[:7000]) {
				return
			}
			// Past the point where SQLite builds the indexes at the end: another connection
			// still sees the empty tables with their indexes, and is not kept waiting.
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var n int
			if st.Dialect == dialect.Postgres {
				// PostgreSQL has dropped the relation indexes, to build them at the end
				// (bulkdefer.go): a reader of relations waits for the commit and then
				// sees every row; entities are read at once.
				if err := st.DB.QueryRowContext(rctx, "SELECT count(*) FROM entities").Scan(&n); err != nil || n != 0 {
					t.Errorf("reader during the apply: %d entities, %v", n, err)
				}
				go func() {
					var n int
					err := st.DB.QueryRowContext(ctx, "SELECT count(*) FROM relations WHERE source_ref = 'component:default/a-00001'").Scan(&n)
					if err != nil {
						n = -1
					}
					relReader <- n
				}()
				// It waits on the lock (not merely runs after the commit).
				waiting := false
				for deadline := time.Now().Add(5 * time.Second); !waiting && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if err := st.DB.QueryRowContext(rctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
						WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT count(*) FROM relations WHERE source_ref%')`).Scan(&waiting); err != nil {
						t.Errorf("pg_stat_activity: %v", err)
						break
					}
				}
				if !waiting {
					t.Error("the reader of relations did not wait for the apply's lock")
				}
				checked = true
				yield(recs[7000:])
				return
			}
			if err := st.DB.QueryRowContext(rctx, "SELECT count(*) FROM relations WHERE source_ref = 'component:default/a-00001'").Scan(&n); err != nil || n != 0 {
				t.Errorf("reader during the apply: %d relation rows, %v", n, err)
			}
			if err := st.DB.QueryRowContext(rctx, "SELECT count(*) FROM entities").Scan(&n); err != nil || n != 0 {
				t.Errorf("reader during the apply: %d entities, %v", n, err)
			}
			if got := indexes(t, st); !slices.Equal(got, before) {
				t.Errorf("reader during the apply sees indexes\n%q\nwant\n%q", got, before)
			}
			checked = true
			yield(recs[7000:])
		}
		if _, err := st.Apply(ctx, locSpec("a"), &store.Batch{Parts: seq}); err != nil {
			t.Fatal(err)
		}
		if !checked {
			t.Fatal("the apply stopped early")
		}
		checkStored(t, st, locSpec("a"), recs)
		if st.Dialect == dialect.Postgres {
			if n := <-relReader; n != 3 {
				t.Fatalf("the reader that waited for the commit counted %d relation rows, want 3", n)
			}
		}
	})
}

func TestAFailedFirstApplyLeavesTheSchemaAsItWas(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		before := indexes(t, st)
		recs := records(9000, "a")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		seq := func(yield func([]store.EntityRecord) bool) {
			if !yield(recs[:7000]) || !yield(recs[7000:8000]) {
				return
			}
			cancel() // the read is interrupted after the indexes were dropped (SQLite, PostgreSQL's relations)
			yield(recs[8000:])
		}
		_, err := st.Apply(ctx, locSpec("a"), &store.Batch{Parts: seq})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("apply: %v, want cancellation", err)
		}
		if after := indexes(t, st); !slices.Equal(after, before) {
			t.Fatalf("indexes after a failed apply:\n%q\nbefore:\n%q", after, before)
		}
		if n := count(t, st, "entities") + count(t, st, "relations"); n != 0 {
			t.Fatalf("%d rows after a failed apply", n)
		}
		if g, _ := st.Generation(context.Background()); g != 0 {
			t.Fatalf("generation %d after a failed apply", g)
		}
		if st.Dialect == dialect.Postgres {
			if s := tagTriggerEnabled(t, st); s != "O" {
				t.Fatalf("tag insert trigger %q after a failed apply, want O (enabled)", s)
			}
		}
		checkCacheSizes(t, st)
		// And the next apply works.
		if res, err := st.Apply(context.Background(), locSpec("a"), &store.Batch{Parts: parts(recs)}); err != nil || res.Added != len(recs) {
			t.Fatalf("apply after a failed one: %v, %v", res, err)
		}
		checkStored(t, st, locSpec("a"), recs)
	})
}
