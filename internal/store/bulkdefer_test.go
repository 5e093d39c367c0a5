package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// relationIndexOIDs identifies the relation table's secondary indexes by OID: an index
// dropped and built again has a new one.
func relationIndexOIDs(t *testing.T, st *store.Store) string {
	t.Helper()
	var s string
	if err := st.DB.QueryRow(`SELECT string_agg(c.relname || '=' || c.oid::text, ' ' ORDER BY c.relname)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'relations'::regclass AND NOT i.indisprimary`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if strings.Count(s, "=") < 2 {
		t.Fatalf("relation indexes: %q", s)
	}
	return s
}

func tagTriggerEnabled(t *testing.T, st *store.Store) string {
	t.Helper()
	var state string
	if err := st.DB.QueryRow(`SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'entities'::regclass AND tgname = 'entity_tags_insert'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// checkTagTable compares entity_tags with the tags of the stored records.
func checkTagTable(t *testing.T, st *store.Store, recs ...[]store.EntityRecord) {
	t.Helper()
	rows, err := st.DB.Query(`SELECT e.ref, t.tag FROM entity_tags t JOIN entities e ON e.id = t.entity_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got, want []string
	for rows.Next() {
		var ref, tag string
		if err := rows.Scan(&ref, &tag); err != nil {
			t.Fatal(err)
		}
		got = append(got, ref+" "+tag)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, rs := range recs {
		for _, r := range rs {
			for _, tag := range r.Tags {
				want = append(want, r.Ref+" "+tag)
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("entity_tags holds %d rows (first %q), want %d (first %q)", len(got), got[:min(3, len(got))], len(want), want[:min(3, len(want))])
	}
}

// On PostgreSQL the first large Apply into an empty catalog builds the relation indexes at
// the end and fills the tag table in one statement (bulkdefer.go): what it leaves is what
// writing the usual way leaves, and the next Apply, into a catalog with entities, writes
// the usual way.
func TestAFirstLargeApplyOnPostgresDefersIndexesAndTags(t *testing.T) {
	ctx := context.Background()
	st := testdb.Open(t, testdb.Postgres(t))
	before, oids := indexes(t, st), relationIndexOIDs(t, st)
	recs := records(7000, "a") // 21,000 relation rows
	if _, err := st.Apply(ctx, locSpec("a"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	checkStored(t, st, locSpec("a"), recs)
	checkTagTable(t, st, recs)
	if got := indexes(t, st); !slices.Equal(got, before) {
		t.Fatalf("indexes after the apply:\n%q\nbefore:\n%q", got, before)
	}
	rebuilt := relationIndexOIDs(t, st)
	if rebuilt == oids {
		t.Fatalf("relation indexes %s were not built again", oids)
	}
	if s := tagTriggerEnabled(t, st); s != "O" {
		t.Fatalf("tag insert trigger %q after the apply, want O (enabled)", s)
	}

	recs2 := records(6000, "b")
	if _, err := st.Apply(ctx, locSpec("b"), &store.Batch{Parts: parts(recs2)}); err != nil {
		t.Fatal(err)
	}
	if got := relationIndexOIDs(t, st); got != rebuilt {
		t.Fatalf("relation indexes %s were dropped for an apply into a catalog with entities (were %s)", got, rebuilt)
	}
	checkTagTable(t, st, recs, recs2)
}

// A role that may write the tables but does not own them cannot drop their indexes or
// disable their triggers: its first large Apply writes the usual way, and succeeds.
func TestAFirstLargeApplyByARoleThatDoesNotOwnTheTables(t *testing.T) {
	ctx := context.Background()
	dbURL := testdb.Postgres(t)
	owner := testdb.Open(t, dbURL)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	role := fmt.Sprintf("catalogd_writer_%08x", rand.Uint32())
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := owner.DB.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := owner.DB.Exec(q); err != nil {
				t.Logf("%s: %v", q, err)
			}
		}
	})
	u.User = url.User(role)
	st, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var who string
	if err := st.DB.QueryRow("SELECT current_user").Scan(&who); err != nil || who != role {
		t.Fatalf("connected as %q (%v), want %s", who, err, role)
	}
	before, oids := indexes(t, owner), relationIndexOIDs(t, owner)
	recs := records(7000, "a")
	if _, err := st.Apply(ctx, locSpec("a"), &store.Batch{Parts: parts(recs)}); err != nil {
		t.Fatal(err)
	}
	checkStored(t, owner, locSpec("a"), recs)
	checkTagTable(t, owner, recs)
	if got := indexes(t, owner); !slices.Equal(got, before) {
		t.Fatalf("indexes after the apply:\n%q\nbefore:\n%q", got, before)
	}
	if got := relationIndexOIDs(t, owner); got != oids {
		t.Fatalf("relation indexes %s changed to %s under a role that does not own them", oids, got)
	}
}
