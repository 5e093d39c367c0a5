package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"catalogd/internal/auth"
	"catalogd/internal/auth/oidctest"
	"catalogd/internal/testdb"
)

func group(name string) string {
	return "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: " + name + "}\nspec: {type: team, children: []}\n"
}

func groups(names ...string) string {
	var docs []string
	for _, n := range names {
		docs = append(docs, group(n))
	}
	return strings.Join(docs, "---\n")
}

func TestDurationsThatAreNotPositiveAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"zero interval flag", nil, []string{"--refresh-interval", "0s"}, "--refresh-interval must be positive"},
		{"negative interval flag", nil, []string{"--refresh-interval", "-1m"}, "--refresh-interval must be positive"},
		{"banana in the environment", map[string]string{"CATALOGD_REFRESH_INTERVAL": "banana"}, nil, `CATALOGD_REFRESH_INTERVAL="banana" is not a duration`},
		{"zero in the environment", map[string]string{"CATALOGD_REFRESH_INTERVAL": "0s"}, nil, "CATALOGD_REFRESH_INTERVAL=0s: must be positive"},
		{"request timeout banana", map[string]string{"CATALOGD_REQUEST_TIMEOUT": "banana"}, nil, `CATALOGD_REQUEST_TIMEOUT="banana" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t)}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out, errOut syncBuffer
			err := run(ctx, args, func(k string) string { return tc.env[k] }, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadyzSaysWhichConfiguredLocationCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nowhere", "catalog-info.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", testdb.SQLite(t), "--location", missing},
			func(string) string { return "" }, &out, &errOut)
	}()
	defer func() { cancel(); <-done }()
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("server did not start: %s", errOut.String())
	}
	var status int
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status, body = resp.StatusCode, string(b)
			if strings.Contains(body, "cannot be read") || status == http.StatusOK {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "nowhere/catalog-info.yaml") {
		t.Errorf("readyz: %d %q, want 503 naming the missing location", status, body)
	}
	// Once the location exists, the next read makes the server ready.
	writeFile(t, missing, group("late"))
}

func TestAMovedLocationIsAdoptedAndTheOldOneRemoved(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		a := filepath.Join(dir, "a")
		writeFile(t, filepath.Join(a, "catalog-info.yaml"), groups("one", "two", "three"))
		countQ := `{ entities(first: 10) { totalCount } locations { key } processingErrors { totalCount edges { node { message } } } }`
		type answer struct {
			Entities         struct{ TotalCount int }
			Locations        []struct{ Key string }
			ProcessingErrors struct {
				TotalCount int
				Edges      []struct{ Node struct{ Message string } }
			}
		}
		func() {
			s := startServer(t, "--database", dbURL, "--location", a)
			var got answer
			s.data(countQ, nil, &got)
			if got.Entities.TotalCount != 3 {
				t.Fatalf("first serve: %+v", got)
			}
			s.stop()
		}()
		b := filepath.Join(dir, "b")
		if err := os.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, "--database", dbURL, "--location", b)
		var got answer
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.data(countQ, nil, &got)
			if len(got.Locations) == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got.Entities.TotalCount != 3 || got.ProcessingErrors.TotalCount != 0 {
			t.Errorf("after the move: %+v", got)
		}
		if len(got.Locations) != 1 || got.Locations[0].Key != "file:"+filepath.ToSlash(b) {
			t.Errorf("locations = %+v, want only the new one", got.Locations)
		}
	})
}

// apiKeys writes a key file with an admin, an editor and a reader, and returns the bearer
// header of each.
func apiKeys(t *testing.T) (path string, bearer map[string]string) {
	t.Helper()
	bearer = map[string]string{}
	var lines []string
	for _, role := range []string{"admin", "editor", "reader"} {
		key := "key-of-the-" + role + "-0123456789abcdef"
		lines = append(lines, role+"-bot:"+role+":"+auth.HashAPIKey(key))
		bearer[role] = "Bearer " + key
	}
	path = filepath.Join(t.TempDir(), "keys")
	writeFile(t, path, strings.Join(lines, "\n")+"\n")
	return path, bearer
}

func TestLocationMutationsOverTheServerWithAuth(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		keys, bearer := apiKeys(t)
		allowed := t.TempDir()
		outside := t.TempDir()
		writeFile(t, filepath.Join(allowed, "team", "catalog-info.yaml"), groups("alpha", "beta"))
		writeFile(t, filepath.Join(outside, "catalog-info.yaml"), groups("secret"))
		s := startServer(t, "--database", dbURL, "--api-key-file", keys, "--read-allow-dir", allowed)
		target := "file:" + filepath.Join(allowed, "team")
		code := func(a authAnswer) string {
			if len(a.body.Errors) == 0 {
				return ""
			}
			c, _ := a.body.Errors[0].Extensions["code"].(string)
			return c
		}
		register := func(who, target string, dry bool) authAnswer {
			q := `mutation { registerLocation(target: "` + target + `", dryRun: ` + map[bool]string{true: "true", false: "false"}[dry] +
				`) { target entityRefs processingErrors { message } } }`
			return s.postAs(bearer[who], q, nil)
		}
		countEntities := func() int {
			a := s.postAs(bearer["reader"], `{ entities(first: 1) { totalCount } }`, nil)
			var d struct{ Entities struct{ TotalCount int } }
			if err := json.Unmarshal(a.body.Data, &d); err != nil {
				t.Fatal(a.raw)
			}
			return d.Entities.TotalCount
		}

		t.Run("a reader may not register", func(t *testing.T) {
			if a := register("reader", target, false); code(a) != "FORBIDDEN" {
				t.Errorf("reader: %s", a.raw)
			}
			if a := register("", target, false); code(a) != "UNAUTHENTICATED" {
				t.Errorf("anonymous: %s", a.raw)
			}
		})
		t.Run("a dry run returns the entities and stores nothing", func(t *testing.T) {
			a := register("editor", target, true)
			if len(a.body.Errors) > 0 || !strings.Contains(a.raw, "group:default/alpha") || !strings.Contains(a.raw, "group:default/beta") {
				t.Fatalf("dry run: %s", a.raw)
			}
			if n := countEntities(); n != 0 {
				t.Errorf("%d entities stored by a dry run", n)
			}
			l := s.postAs(bearer["reader"], `{ locations { key } }`, nil)
			if strings.Contains(l.raw, "team") {
				t.Errorf("a dry run recorded the location: %s", l.raw)
			}
		})
		t.Run("a path outside the allowed directories is refused", func(t *testing.T) {
			a := register("admin", "file:"+outside, false)
			if code(a) != "FORBIDDEN" || !strings.Contains(a.raw, "not under a directory the operator allowed") {
				t.Errorf("outside: %s", a.raw)
			}
			a = register("admin", "file:"+filepath.Join(allowed, "..", filepath.Base(outside)), false)
			if code(a) != "FORBIDDEN" {
				t.Errorf("dot-dot: %s", a.raw)
			}
			if a := register("admin", "ftp://example.com/x", false); code(a) != "BAD_USER_INPUT" {
				t.Errorf("unknown scheme: %s", a.raw)
			}
		})
		t.Run("an editor registers, and the location persists", func(t *testing.T) {
			a := register("editor", target, false)
			if len(a.body.Errors) > 0 || !strings.Contains(a.raw, "group:default/alpha") {
				t.Fatalf("register: %s", a.raw)
			}
			if n := countEntities(); n != 2 {
				t.Errorf("%d entities, want 2", n)
			}
			l := s.postAs(bearer["reader"], `{ locations { key origin registeredBy } }`, nil)
			if !strings.Contains(l.raw, `"origin":"runtime"`) || !strings.Contains(l.raw, "editor-bot") {
				t.Errorf("locations: %s", l.raw)
			}
		})
		t.Run("refreshLocation refuses an emptied location until forced", func(t *testing.T) {
			writeFile(t, filepath.Join(allowed, "team", "catalog-info.yaml"), "# emptied\n")
			a := s.postAs(bearer["editor"], `mutation { refreshLocation(target: "`+target+`") { key lastError entities } }`, nil)
			if !strings.Contains(a.raw, "refused") || !strings.Contains(a.raw, `"entities":2`) {
				t.Errorf("unforced: %s", a.raw)
			}
			a = s.postAs(bearer["reader"], `mutation { refreshLocation(target: "`+target+`", force: true) { key } }`, nil)
			if code(a) != "FORBIDDEN" {
				t.Errorf("a reader forced: %s", a.raw)
			}
			a = s.postAs(bearer["admin"], `mutation { refreshLocation(target: "`+target+`", force: true) { key lastError entities } }`, nil)
			if !strings.Contains(a.raw, `"entities":0`) || !strings.Contains(a.raw, `"lastError":""`) {
				t.Errorf("forced: %s", a.raw)
			}
			writeFile(t, filepath.Join(allowed, "team", "catalog-info.yaml"), groups("alpha", "beta"))
			s.postAs(bearer["admin"], `mutation { refreshLocation(target: "`+target+`") { key } }`, nil)
		})
		t.Run("refreshEntity", func(t *testing.T) {
			if a := s.postAs(bearer["reader"], `mutation { refreshEntity(ref: "group:alpha") }`, nil); code(a) != "FORBIDDEN" {
				t.Errorf("reader: %s", a.raw)
			}
			if a := s.postAs(bearer["editor"], `mutation { refreshEntity(ref: "group:alpha") }`, nil); !strings.Contains(a.raw, `"refreshEntity":true`) {
				t.Errorf("editor: %s", a.raw)
			}
			if a := s.postAs(bearer["editor"], `mutation { refreshEntity(ref: "group:nobody") }`, nil); code(a) != "NOT_FOUND" {
				t.Errorf("missing entity: %s", a.raw)
			}
		})
		t.Run("unregister removes the entities, recorded", func(t *testing.T) {
			if a := s.postAs(bearer["reader"], `mutation { unregisterLocation(target: "`+target+`") }`, nil); code(a) != "FORBIDDEN" {
				t.Errorf("reader: %s", a.raw)
			}
			a := s.postAs(bearer["editor"], `mutation { unregisterLocation(target: "`+target+`") }`, nil)
			if !strings.Contains(a.raw, `"unregisterLocation":true`) {
				t.Fatalf("unregister: %s", a.raw)
			}
			if n := countEntities(); n != 0 {
				t.Errorf("%d entities left", n)
			}
		})
	})
}

func TestARuntimeLocationSurvivesARestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		allowed := t.TempDir()
		writeFile(t, filepath.Join(allowed, "catalog-info.yaml"), groups("kept"))
		target := "file:" + filepath.Join(allowed, "catalog-info.yaml")
		s := startServer(t, "--database", dbURL, "--read-allow-dir", allowed)
		var reg struct{ RegisterLocation struct{ EntityRefs []string } }
		s.data(`mutation($t: String!) { registerLocation(target: $t) { entityRefs } }`, map[string]any{"t": target}, &reg)
		if !slices.Equal(reg.RegisterLocation.EntityRefs, []string{"group:default/kept"}) {
			t.Fatalf("registered: %+v", reg)
		}
		s.stop()
		writeFile(t, filepath.Join(allowed, "catalog-info.yaml"), groups("kept", "added-later"))
		s = startServer(t, "--database", dbURL, "--read-allow-dir", allowed)
		var got struct{ Entity *struct{ Ref string } }
		deadline := time.Now().Add(10 * time.Second)
		for got.Entity == nil && time.Now().Before(deadline) {
			s.data(`{ entity(ref: "group:added-later") { ref } }`, nil, &got)
			time.Sleep(20 * time.Millisecond)
		}
		if got.Entity == nil {
			t.Error("the runtime location was not read after the restart")
		}
	})
}

func TestIngestExitsWithStatus2WhenDocumentsWereRejected(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c.yaml"), group("good")+"---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: Not Valid}\nspec: {type: team}\n")
	out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--location", filepath.Join(dir, "c.yaml"))
	var ec *exitCode
	if !errors.As(err, &ec) || ec.code != 2 {
		t.Errorf("err = %v, want exit status 2; output:\n%s", err, out)
	}
	writeFile(t, filepath.Join(dir, "c.yaml"), group("good"))
	if out, err := runCLI(t, "ingest", "--database", testdb.SQLite(t), "--location", filepath.Join(dir, "c.yaml")); err != nil {
		t.Errorf("clean ingest: %v\n%s", err, out)
	}
}

func TestValidateChecksTheFilesBelowADirectoryAndCaseDuplicates(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "ok.yaml"), group("fine"))
	writeFile(t, filepath.Join(dir, "b", "twice.yaml"), group("Team-X")+"---\n"+group("team-x"))
	writeFile(t, filepath.Join(dir, ".hidden", "bad.yaml"), ": broken\n")
	out, err := runCLI(t, "validate", dir)
	if err == nil || strings.Contains(out, "is a directory") || !strings.Contains(out, "twice.yaml:2: entity group:default/team-x is defined twice") {
		t.Errorf("validate DIR: %v\n%s", err, out)
	}
	if strings.Contains(out, ".hidden") || strings.Contains(out, "ok.yaml") {
		t.Errorf("validate reported a hidden or a good file:\n%s", out)
	}
	if out, err := runCLI(t, "validate", filepath.Join(dir, "a")); err != nil {
		t.Errorf("a clean directory: %v\n%s", err, out)
	}
}

func TestEntitiesCarryTheirFreshnessAndCanBeFilteredByIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		root := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: root}\nspec:\n  targets: [./a.yaml, ./b.yaml]\n"
		writeFile(t, filepath.Join(dir, "root.yaml"), root)
		writeFile(t, filepath.Join(dir, "a.yaml"), group("a"))
		writeFile(t, filepath.Join(dir, "b.yaml"), group("b"))
		s := startServer(t, "--database", dbURL, "--location", filepath.Join(dir, "root.yaml"), "--refresh-interval", "1h")
		type fresh struct {
			Provider, Location, Revision string
			FirstSeenAt, LastChangedAt   time.Time
			LastObservedAt               *time.Time
		}
		var got struct{ Entity struct{ Freshness fresh } }
		s.data(`{ entity(ref: "group:a") { freshness { provider location revision firstSeenAt lastObservedAt lastChangedAt } } }`, nil, &got)
		f := got.Entity.Freshness
		if f.Provider != "file" || f.Location != "file:"+filepath.ToSlash(filepath.Join(dir, "root.yaml")) || f.LastObservedAt == nil || f.FirstSeenAt.IsZero() {
			t.Fatalf("freshness = %+v", f)
		}
		mark := time.Now()
		time.Sleep(20 * time.Millisecond)
		writeFile(t, filepath.Join(dir, "b.yaml"), "key: [broken\n")
		s.data(`mutation($t: String!) { refreshLocation(target: $t) { key } }`, map[string]any{"t": f.Location}, &struct{}{})
		var stale struct {
			Entities struct {
				Edges []struct{ Node struct{ Ref string } }
			}
		}
		s.data(`query($t: Time!) { entities(filter: {notObservedSince: $t}) { edges { node { ref } } } }`,
			map[string]any{"t": mark.UTC().Format(time.RFC3339Nano)}, &stale)
		if len(stale.Entities.Edges) != 1 || stale.Entities.Edges[0].Node.Ref != "group:default/b" {
			t.Errorf("not observed since the mark: %+v, want only the entity whose file broke", stale)
		}
	})
}

func TestALocationNoLongerConfiguredGoesThroughTheGuardUntilForced(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		writeFile(t, a, groups("one", "two", "three"))
		writeFile(t, b, groups("other"))
		s := startServer(t, "--database", dbURL, "--location", a)
		s.stop()
		s = startServer(t, "--database", dbURL, "--location", b)
		keyA := "file:" + filepath.ToSlash(a)
		type loc struct{ Key, LastError string }
		var got struct{ Locations []loc }
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.data(`{ locations { key lastError } }`, nil, &got)
			refused := slices.ContainsFunc(got.Locations, func(l loc) bool { return l.Key == keyA && strings.Contains(l.LastError, "refused") })
			if refused || time.Now().After(deadline) {
				if !refused {
					t.Fatalf("the old location's removal was not refused: %+v", got)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		var one struct{ Entity *struct{ Ref string } }
		s.data(`{ entity(ref: "group:one") { ref } }`, nil, &one)
		if one.Entity == nil {
			t.Fatal("the old location's entities were removed without force")
		}
		s.data(`mutation($t: String!) { refreshLocation(target: $t, force: true) { key } }`, map[string]any{"t": keyA}, &struct{}{})
		s.data(`{ entity(ref: "group:one") { ref } }`, nil, &one)
		s.data(`{ locations { key lastError } }`, nil, &got)
		if one.Entity != nil || len(got.Locations) != 1 {
			t.Errorf("after forcing: entity %+v, locations %+v", one.Entity, got.Locations)
		}
	})
}

func TestOwnersMayRefreshTheirEntitiesAndNothingElse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		iss := oidctest.Start(t)
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "c.yaml"), groups("team-a", "team-b")+`---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {profile: {email: bob@example.com}, memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-a}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-b}
spec: {type: service, lifecycle: production, owner: team-b}
`)
		s, _ := startServerEnv(t, nil, "--database", dbURL, "--location", filepath.Join(dir, "c.yaml"),
			"--oidc-issuer", iss.URL, "--oidc-audience", "catalogd", "--read-allow-dir", dir)
		bob := "Bearer " + iss.Sign(t, map[string]any{"sub": "b", "email": "bob@example.com", "aud": "catalogd"})
		for _, tc := range []struct{ q, want string }{
			{`mutation { refreshEntity(ref: "svc-b") }`, ""},
			{`mutation { refreshEntity(ref: "svc-a") }`, "FORBIDDEN"},
			{`mutation { refreshLocation(target: "file:` + filepath.Join(dir, "c.yaml") + `") { key } }`, "FORBIDDEN"},
			{`mutation { registerLocation(target: "file:` + filepath.Join(dir, "c.yaml") + `", dryRun: true) { target } }`, "FORBIDDEN"},
			{`mutation { unregisterLocation(target: "file:` + filepath.Join(dir, "c.yaml") + `") }`, "FORBIDDEN"},
		} {
			a := s.postAs(bob, tc.q, nil)
			got := ""
			if len(a.body.Errors) > 0 {
				got, _ = a.body.Errors[0].Extensions["code"].(string)
			}
			if got != tc.want {
				t.Errorf("%s: code %q, want %q: %s", tc.q, got, tc.want, a.raw)
			}
		}
	})
}
