package service_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"catalogd/ent/locationstate"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/internal/service"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

const org = `apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice, annotations: {example.com/employee-id: "1001"}}
spec: {profile: {email: Alice@Example.com}, memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {profile: {email: bob@example.com}, memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: twin-1}
spec: {profile: {email: twin@example.com}, memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: twin-2}
spec: {profile: {email: twin@example.com}, memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: service, lifecycle: production, owner: group:default/team-b}
`

type fixture struct {
	svc  *service.Catalog
	dir  *service.Directory
	st   *store.Store
	prov ingest.Provider
	eng  *ingest.Engine
	path string
}

func setup(t *testing.T, dbURL string, policy *auth.Policy) fixture {
	t.Helper()
	st := testdb.Open(t, dbURL)
	eng := testdb.Engine(t, st)
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(org), 0o644); err != nil {
		t.Fatal(err)
	}
	prov, err := file.New(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Refresh(context.Background(), prov); err != nil {
		t.Fatal(err)
	}
	return fixture{svc: service.NewCatalog(policy, eng, []ingest.Provider{prov}), dir: service.NewDirectory(st), st: st, prov: prov, eng: eng, path: path}
}

func TestDirectoryFindsUsersAndTheirGroups(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := setup(t, dbURL, auth.NewPolicy(nil, false))
		for _, tc := range []struct{ match, value, ref, groups string }{
			{"email", "alice@example.com", "user:default/alice", "group:default/team-a"},
			{"email", "ALICE@EXAMPLE.COM", "user:default/alice", "group:default/team-a"},
			{"email", "bob@example.com", "user:default/bob", "group:default/team-b"},
			{"email", "twin@example.com", "", ""}, // two Users claim it: neither is chosen
			{"email", "nobody@example.com", "", ""},
			{"email", "' OR 1=1 --", "", ""},
			{"name", "Bob", "user:default/bob", "group:default/team-b"},
			{"name", "team-a", "", ""}, // a Group is not a User
			{"annotation:example.com/employee-id", "1001", "user:default/alice", "group:default/team-a"},
			{"annotation:example.com/employee-id", "1002", "", ""},
		} {
			ref, groups, err := f.dir.LookupUser(context.Background(), tc.match, tc.value)
			if err != nil || ref != tc.ref || (tc.groups == "") != (len(groups) == 0) || (tc.groups != "" && !slices.Equal(groups, []string{tc.groups})) {
				t.Errorf("LookupUser(%s, %q) = %q, %v, %v; want %q, [%s]", tc.match, tc.value, ref, groups, err, tc.ref, tc.groups)
			}
		}
		// A change to the catalog is seen by the next lookup.
		changed := strings.Replace(org, "Alice@Example.com}, memberOf: [team-a]", "alice@new.example}, memberOf: [team-a, team-b]", 1)
		if err := os.WriteFile(f.path, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := f.eng.Refresh(context.Background(), f.prov); err != nil {
			t.Fatal(err)
		}
		if ref, _, _ := f.dir.LookupUser(context.Background(), "email", "alice@example.com"); ref != "" {
			t.Errorf("the old email still finds %s", ref)
		}
		ref, groups, err := f.dir.LookupUser(context.Background(), "email", "alice@new.example")
		if ref != "user:default/alice" || !slices.Equal(groups, []string{"group:default/team-a", "group:default/team-b"}) {
			t.Errorf("after the change: %q %v %v", ref, groups, err)
		}
	})
}

// TestPolicyDecidesEveryWrite is the table of principals × operations: each operation goes
// through the service, which asks the policy before it touches storage.
func TestPolicyDecidesEveryWrite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		roles := auth.DefaultRoles()
		roles["refresher"] = []auth.Action{auth.ActionLocationRefresh}
		f := setup(t, dbURL, auth.NewPolicy(roles, true))
		ctx := context.Background()
		user := func(email string, roles ...string) *auth.Principal {
			ref, groups, err := f.dir.LookupUser(ctx, "email", email)
			if err != nil || ref == "" {
				t.Fatalf("lookup %s: %q %v", email, ref, err)
			}
			return &auth.Principal{Kind: auth.KindUser, Name: email, Ref: ref, Groups: groups, Roles: append([]string{auth.RoleReader}, roles...)}
		}
		principals := map[string]*auth.Principal{
			"nobody":                 nil,
			"anonymous":              auth.Anonymous(),
			"local admin":            auth.Local(),
			"alice of team-a":        user("alice@example.com"),
			"bob of team-b":          user("bob@example.com"),
			"bob as editor":          user("bob@example.com", auth.RoleEditor),
			"a user without entity":  {Kind: auth.KindUser, Name: "eve@example.com", Roles: []string{auth.RoleReader}},
			"a user claiming team-a": {Kind: auth.KindUser, Name: "mallory", Groups: []string{"group:default/team-a"}, Roles: []string{auth.RoleReader}},
			"refresher bot":          {Kind: auth.KindService, Name: "ci", Roles: []string{"refresher"}},
			"reader key":             {Kind: auth.KindService, Name: "dash", Roles: []string{auth.RoleReader}},
			"admin key":              {Kind: auth.KindService, Name: "ops", Roles: []string{auth.RoleAdmin}},
		}
		key := f.prov.Location().Key
		ops := []struct {
			name string
			do   func(*auth.Principal) error
		}{
			{"refresh svc-a", func(p *auth.Principal) error { _, err := f.svc.RefreshEntity(ctx, p, "svc-a"); return err }},
			{"refresh svc-b", func(p *auth.Principal) error { _, err := f.svc.RefreshEntity(ctx, p, "component:svc-b"); return err }},
			{"refresh a missing entity", func(p *auth.Principal) error { _, err := f.svc.RefreshEntity(ctx, p, "svc-none"); return err }},
			{"refresh the location", func(p *auth.Principal) error { _, err := f.svc.RefreshLocation(ctx, p, key); return err }},
		}
		const (
			ok     = ""
			denied = catalog.EFORBIDDEN
			unauth = catalog.EUNAUTHENTICATED
			absent = catalog.ENOTFOUND
		)
		want := map[string][4]string{ // per principal, per op in order
			"nobody":                 {unauth, unauth, unauth, unauth},
			"anonymous":              {unauth, unauth, absent, unauth}, // may read, so may learn what exists
			"local admin":            {ok, ok, absent, ok},
			"alice of team-a":        {ok, denied, absent, denied},
			"bob of team-b":          {denied, ok, absent, denied},
			"bob as editor":          {ok, ok, absent, ok},
			"a user without entity":  {denied, denied, absent, denied},
			"a user claiming team-a": {ok, denied, absent, denied},
			"refresher bot":          {denied, denied, absent, ok},
			"reader key":             {denied, denied, absent, denied},
			"admin key":              {ok, ok, absent, ok},
		}
		for name, p := range principals {
			for i, op := range ops {
				before := lastRead(t, f)
				err := op.do(p)
				if got := catalog.ErrorCode(err); got != want[name][i] {
					t.Errorf("%s: %s: got %q (%v), want %q", name, op.name, got, err, want[name][i])
					continue
				}
				// Allowed refreshes happened; refused ones left storage alone.
				if after := lastRead(t, f); (err == nil) != after.After(before) {
					t.Errorf("%s: %s: err %v but last read moved from %v to %v", name, op.name, err, before, after)
				}
			}
		}
	})
}

func lastRead(t *testing.T, f fixture) time.Time {
	t.Helper()
	ls, err := f.eng.Store.Client.LocationState.Query().Where(locationstate.KeyEQ(f.prov.Location().Key)).Only(context.Background())
	if err != nil || ls.LastReadAt == nil {
		t.Fatalf("location state: %v", err)
	}
	return *ls.LastReadAt
}

// A directory narrowed to some annotation keys finds users by those, refuses a lookup by
// another key (rather than finding nobody), and still matches email and name.
func TestDirectoryIndexesOnlyTheAnnotationsAsked(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		f := setup(t, dbURL, auth.NewPolicy(nil, false))
		ctx := context.Background()
		dir := service.NewDirectory(f.st).OnlyAnnotations("example.com/employee-id")
		if ref, _, err := dir.LookupUser(ctx, "annotation:example.com/employee-id", "1001"); err != nil || ref != "user:default/alice" {
			t.Errorf("by the indexed annotation: %q, %v", ref, err)
		}
		if ref, _, err := dir.LookupUser(ctx, "email", "bob@example.com"); err != nil || ref != "user:default/bob" {
			t.Errorf("by email: %q, %v", ref, err)
		}
		if ref, _, err := dir.LookupUser(ctx, "annotation:backstage.io/managed-by-location", "x"); err == nil || ref != "" {
			t.Errorf("by an annotation not indexed: %q, %v; want an error", ref, err)
		}
		none := service.NewDirectory(f.st).OnlyAnnotations()
		if _, _, err := none.LookupUser(ctx, "annotation:example.com/employee-id", "1001"); err == nil {
			t.Error("a directory of no annotations answered a lookup by one")
		}
	})
}
