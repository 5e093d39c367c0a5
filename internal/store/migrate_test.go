package store_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"catalogd/ent/migrate/migrations"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// openBare opens dbURL without migrating it; it is closed when the test ends.
func openBare(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// inspect returns the schema of st's database as atlas sees it, without the revisions table.
func inspect(t *testing.T, st *store.Store) (*schema.Schema, migrate.Driver) {
	t.Helper()
	var drv migrate.Driver
	var err error
	if st.Dialect == dialect.Postgres {
		drv, err = postgres.Open(st.DB)
	} else {
		drv, err = sqlite.Open(st.DB)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := drv.InspectSchema(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Tables = slices.DeleteFunc(s.Tables, func(tb *schema.Table) bool { return tb.Name == "catalogd_schema_revisions" })
	return s, drv
}

// sqliteObjects lists SQLite's schema objects as their statements, which atlas does not
// inspect all of (triggers, virtual tables' definitions).
func sqliteObjects(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.DB.Query("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE tbl_name <> 'catalogd_schema_revisions' ORDER BY type, name")
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
		// SQLite writes a table renamed by ALTER TABLE (a migration's table rebuild) with its
		// name in double quotes; the quoting is not the schema.
		out = append(out, renamedTable.ReplaceAllString(strings.Join(strings.Fields(s), " "), "CREATE TABLE `$1`"))
	}
	return out
}

var renamedTable = regexp.MustCompile(`CREATE TABLE "([^"]+)"`)

func entityRefs(t *testing.T, st *store.Store) []string {
	t.Helper()
	refs, err := st.Client.Entity.Query().Order().Select("ref").Strings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(refs)
	return refs
}

func TestMigrationsMakeTheAutoMigrationsSchema(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		legacy := openBare(t, dbURL)
		if err := legacy.AutoMigrate(ctx); err != nil {
			t.Fatal(err)
		}
		var other string
		if legacy.Dialect == dialect.Postgres {
			other = testdb.Postgres(t)
		} else {
			other = testdb.SQLite(t)
		}
		versioned := openBare(t, other)
		if err := versioned.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		want, drv := inspect(t, legacy)
		got, _ := inspect(t, versioned)
		got.Name = want.Name
		changes, err := drv.SchemaDiff(want, got)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) > 0 {
			for _, c := range changes {
				t.Errorf("the versioned schema differs from the auto-migration's: %T %+v", c, c)
			}
		}
		if legacy.Dialect == dialect.SQLite && !slices.Equal(sqliteObjects(t, legacy), sqliteObjects(t, versioned)) {
			t.Errorf("SQLite objects differ:\nauto-migration: %q\nversioned:      %q", sqliteObjects(t, legacy), sqliteObjects(t, versioned))
		}
	})
}

func TestALegacyDatabaseIsAdoptedWithItsData(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openBare(t, dbURL)
		if err := st.MakeLegacySchema(ctx); err != nil {
			t.Fatal(err)
		}
		// Rows as the catalogd of the baseline wrote them (today's Apply writes columns later
		// migrations add), in a table a later migration rebuilds on SQLite (changes) too.
		insertLegacyRows(t, st, 50)
		before := entityRefs(t, st)
		changesBefore := changeRefs(t, st)
		status, err := st.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !status.Legacy || status.Current != "" {
			t.Fatalf("status of a legacy database: %+v", status)
		}
		if err := st.CheckMigrated(ctx); err == nil || !strings.Contains(err.Error(), "migrate up") {
			t.Fatalf("CheckMigrated on a legacy database = %v, want an error naming migrate up", err)
		}
		applied, err := st.MigrateUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := status.Pending; !slices.Equal(applied, want) {
			t.Errorf("adopting applied %v; want the baseline recorded and %v applied", applied, want)
		}
		status, err = st.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.Legacy || status.Current == "" || len(status.Pending) != 0 {
			t.Errorf("status after adoption: %+v", status)
		}
		if err := st.CheckMigrated(ctx); err != nil {
			t.Errorf("CheckMigrated after adoption: %v", err)
		}
		if after := entityRefs(t, st); !slices.Equal(before, after) || len(after) != 50 {
			t.Errorf("entities after adoption: %d, want the %d from before", len(after), len(before))
		}
		if after := changeRefs(t, st); !slices.Equal(changesBefore, after) || len(after) != 50 {
			t.Errorf("change log after adoption: %d entries, want the %d from before", len(after), len(changesBefore))
		}
		gen, err := st.Generation(ctx)
		if err != nil || gen != 7 {
			t.Errorf("generation after adoption = %d, %v; want the 7 the legacy catalog had", gen, err)
		}
	})
}

// withMigration returns the embedded migrations of dia plus one more file, with atlas.sum
// written again, as the next migration set catalogd ships would be.
func withMigration(t *testing.T, dia, name, body string) migrate.Dir {
	t.Helper()
	dir, err := migrations.Dir(dia)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteFile(name, []byte(body)); err != nil {
		t.Fatal(err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(dir, sum); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAnUpgradeKeepsTheData(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openBare(t, dbURL)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		recs := records(120, "up")
		if _, err := st.Apply(ctx, locSpec("up"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatal(err)
		}
		before := entityRefs(t, st)
		next := withMigration(t, st.Dialect, "29991231000000_next.sql",
			"ALTER TABLE entities ADD COLUMN note text NOT NULL DEFAULT 'kept';\nCREATE TABLE widgets (id integer PRIMARY KEY, name text NOT NULL);\n")
		status, err := store.MigrationStatusOf(st, ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"29991231000000_next.sql"}; !slices.Equal(status.Pending, want) {
			t.Fatalf("pending = %v, want %v", status.Pending, want)
		}
		applied, err := store.MigrateDir(st, ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"29991231000000_next.sql"}; !slices.Equal(applied, want) {
			t.Errorf("applied = %v, want %v", applied, want)
		}
		if after := entityRefs(t, st); !slices.Equal(before, after) {
			t.Errorf("entities after the upgrade: %d, want the %d from before", len(after), len(before))
		}
		var kept int
		if err := st.DB.QueryRow("SELECT count(*) FROM entities WHERE note = 'kept'").Scan(&kept); err != nil || kept != len(before) {
			t.Errorf("rows with the new column's default: %d (%v), want %d", kept, err, len(before))
		}
		// Running it again applies nothing; the text filter and search still answer.
		if applied, err := store.MigrateDir(st, ctx, next); err != nil || len(applied) != 0 {
			t.Errorf("second run applied %v, %v", applied, err)
		}
		if _, err := st.RebuildTextIndex(ctx); err != nil {
			t.Fatal(err)
		}
		hits, err := st.Search(ctx, store.SearchQuery{Text: "up 00007", First: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits.Hits) == 0 {
			t.Errorf("search after the upgrade found nothing")
		}
	})
}

func TestAFailedMigrationChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openBare(t, dbURL)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		bad := withMigration(t, st.Dialect, "29991231000000_bad.sql",
			"CREATE TABLE half_done (id integer PRIMARY KEY);\nALTER TABLE no_such_table ADD COLUMN x text;\n")
		if _, err := store.MigrateDir(st, ctx, bad); err == nil {
			t.Fatal("a migration with a failing statement was applied")
		}
		var n int
		q := "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"
		if st.Dialect == dialect.Postgres {
			q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half_done'"
		}
		if err := st.DB.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Errorf("the failed migration's first statement stayed (%d tables, %v)", n, err)
		}
		status, err := store.MigrationStatusOf(st, ctx, bad)
		if err != nil || len(status.Pending) != 1 || status.Partial != "" {
			t.Errorf("status after a failed run: %+v, %v", status, err)
		}
	})
}

// insertLegacyRows writes n entities, their change-log entries and the catalog generation
// with the columns of the baseline migration only.
func insertLegacyRows(t *testing.T, st *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	ph := func(i int) string {
		if st.Dialect == dialect.Postgres {
			return fmt.Sprintf("$%d", i)
		}
		return "?"
	}
	now := time.Now().UTC()
	entityCols := []string{"ref", "kind", "namespace", "name", "api_version", "tags", "labels", "annotations", "document", "hash", "location", "source", "created_at", "updated_at"}
	changeCols := []string{"at", "type", "ref", "location"}
	insert := func(table string, cols []string, args ...any) {
		ps := make([]string, len(cols))
		for i := range cols {
			ps[i] = ph(i + 1)
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "), strings.Join(ps, ", "))
		if _, err := st.DB.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("legacy-%03d", i)
		doc := fmt.Sprintf(`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":%q},"spec":{"type":"service","lifecycle":"production","owner":"team-a"}}`, name)
		insert("entities", entityCols, "component:default/"+name, "Component", "default", name, "backstage.io/v1alpha1",
			"[]", "{}", "{}", doc, fmt.Sprintf("h%d", i), "file:/legacy", "file:/legacy/catalog-info.yaml", now, now)
		insert("changes", changeCols, now, "added", "component:default/"+name, "file:/legacy")
	}
	if _, err := st.DB.ExecContext(ctx, "DELETE FROM catalog_state"); err != nil {
		t.Fatal(err)
	}
	insert("catalog_state", []string{"generation"}, 7)
}

func changeRefs(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.DB.QueryContext(context.Background(), "SELECT ref FROM changes ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// A database last started by an older catalogd, before versioned migrations, lacks what later
// builds' auto-migration would have added (here entities.observed_at): adopting it must bring
// its schema up to the baseline it records, not only record it, or the first write fails.
func TestAnOlderLegacyDatabaseIsBroughtUpToTheBaseline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openBare(t, dbURL)
		if err := st.MakeLegacySchema(ctx); err != nil {
			t.Fatal(err)
		}
		insertLegacyRows(t, st, 20)
		if _, err := st.DB.ExecContext(ctx, "ALTER TABLE entities DROP COLUMN observed_at"); err != nil {
			t.Fatal(err)
		}
		before := entityRefs(t, st)
		if _, err := st.MigrateUp(ctx); err != nil {
			t.Fatal(err)
		}
		if got := entityRefs(t, st); !slices.Equal(got, before) {
			t.Fatalf("entities after adoption: %d, before: %d", len(got), len(before))
		}
		recs := records(21, "older")
		for i := range recs {
			recs[i].Relations = nil
		}
		if _, err := st.Apply(ctx, locSpec("older"), &store.Batch{Parts: parts(recs)}); err != nil {
			t.Fatalf("a write after adopting an older legacy database: %v", err)
		}
		status, err := st.MigrationStatus(ctx)
		if err != nil || status.Legacy || len(status.Pending) != 0 || status.Partial != "" {
			t.Fatalf("status after adoption: %+v, %v", status, err)
		}
	})
}
