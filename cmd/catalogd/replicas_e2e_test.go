package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"catalogd/internal/ingest/file"
	"catalogd/internal/testdb"
)

// replica is one `catalogd serve` process of the replica tests.
type replica struct {
	name string
	cmd  *exec.Cmd
	base string
	log  *syncBuffer
	done chan struct{}
}

// buildCatalogd builds the binary once per test, into the test's temp dir.
func buildCatalogd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "catalogd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// withAppName sets the application_name of a database URL, so the test can tell the sessions
// of each replica apart in pg_stat_activity.
func withAppName(t *testing.T, dbURL, name string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// startReplica starts `catalogd serve` on a free loopback port and waits for /readyz.
func startReplica(t *testing.T, bin, name string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, log: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	baseCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				baseCh <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case r.base = <-baseCh:
	case <-r.done:
		t.Fatalf("%s exited early: %s", name, r.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start: %s", name, r.log.String())
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %s", name, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *replica) query(t *testing.T, q string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(r.base+"/graphql", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return out
}

var refreshedLine = regexp.MustCompile(`time=(\S+) level=INFO msg=refreshed location=(\S+)`)

// reads counts the reads this replica logged, by location key.
func (r *replica) reads() map[string]int {
	return r.readsBetween(time.Time{}, time.Now().Add(time.Hour))
}

// readsBetween counts the reads this replica logged from t0 to t1, by location key.
func (r *replica) readsBetween(t0, t1 time.Time) map[string]int {
	out := map[string]int{}
	for _, m := range refreshedLine.FindAllStringSubmatch(r.log.String(), -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err == nil && !at.Before(t0) && !at.After(t1) {
			out[m[2]]++
		}
	}
	return out
}

// writeLocation writes a location directory of n components, each depending on the
// location's resource, with description desc.
func writeLocation(t *testing.T, dir, name string, n int, desc string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: %s-db}\nspec: {type: database, owner: group:default/team}\n", name)
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: %s-c%d, description: %q}\nspec: {type: service, lifecycle: production, owner: group:default/team, dependsOn: [resource:%s-db]}\n", name, i, desc, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".catalog-info.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "catalog-info.yaml")); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func openSchema(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Three replicas on one PostgreSQL database: reads of the locations spread over them, none is
// read by several replicas per interval, a replica killed with SIGKILL in the middle of a read
// loses nothing (another reads its location, and every entity, relation and change is in the
// database exactly once), and a change one replica applies is in the graph answers of the others.
func TestReplicasShareLocationsAndSurviveAKill(t *testing.T) {
	dbURL := testdb.Postgres(t)
	bin := buildCatalogd(t)
	root := t.TempDir()
	const nLocs, perLoc = 6, 400
	const interval = 3 * time.Second
	var locArgs []string
	for i := range nLocs {
		dir := filepath.Join(root, fmt.Sprintf("loc%d", i))
		writeLocation(t, dir, fmt.Sprintf("l%d", i), perLoc, "first")
		locArgs = append(locArgs, "--location", dir)
	}
	// The team, in a location of its own.
	teamDir := filepath.Join(root, "team")
	os.MkdirAll(teamDir, 0o755)
	os.WriteFile(filepath.Join(teamDir, "catalog-info.yaml"), []byte("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n"), 0o644)
	locArgs = append(locArgs, "--location", teamDir)
	totalLocs := nLocs + 1
	tag := fmt.Sprintf("catalogd-test-%d", os.Getpid())
	var reps []*replica
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("%s-r%d", tag, i)
			args := append([]string{"--database", withAppName(t, dbURL, name), "--refresh-interval", interval.String()}, locArgs...)
			r := startReplica(t, bin, name, args...)
			mu.Lock()
			reps = append(reps, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.SortFunc(reps, func(a, b *replica) int { return strings.Compare(a.name, b.name) })
	db := openSchema(t, dbURL)

	// Let several intervals pass.
	t0 := time.Now()
	time.Sleep(5 * interval)
	t1 := time.Now()
	window := t1.Sub(t0)

	t.Run("reads spread over the replicas, each location once per interval", func(t *testing.T) {
		total := map[string]int{}
		for _, r := range reps {
			rd := r.readsBetween(t0, t1)
			n := 0
			for k, c := range rd {
				total[k] += c
				n += c
			}
			t.Logf("%s read %d times: %v", r.name, n, rd)
			if n == 0 {
				t.Errorf("%s read nothing", r.name)
			}
		}
		if len(total) != totalLocs {
			t.Errorf("%d locations read, want %d: %v", len(total), totalLocs, total)
		}
		// At most one read per interval (less a tenth, the jitter), whichever replica did it;
		// three replicas reading on their own would read each three times as often.
		limit := int(window/(interval*9/10)) + 1 // one at the start of the window
		for k, c := range total {
			if c > limit {
				t.Errorf("%s was read %d times in %v, more than once per interval (limit %d)", k, c, window.Round(time.Second), limit)
			}
		}
	})

	t.Run("a replica killed in the middle of a read loses nothing", func(t *testing.T) {
		// Make every location's next read a change, then kill the replica seen holding a
		// location's lock (that is, reading it).
		for i := range nLocs {
			writeLocation(t, filepath.Join(root, fmt.Sprintf("loc%d", i)), fmt.Sprintf("l%d", i), perLoc, "second")
		}
		var victim *replica
		deadline := time.Now().Add(60 * time.Second)
		for victim == nil {
			var app string
			err := db.QueryRow(`SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
				WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted AND a.application_name LIKE $2 LIMIT 1`,
				0x636c6f63, tag+"-%").Scan(&app)
			if err == nil {
				for _, r := range reps {
					if r.name == app {
						victim = r
					}
				}
			} else if err != sql.ErrNoRows {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("never saw a replica holding a location lock")
			}
			time.Sleep(5 * time.Millisecond)
		}
		before := victim.reads()
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.done
		killedAt := time.Now()
		t.Logf("killed %s (its reads so far: %v)", victim.name, before)
		var alive []*replica
		for _, r := range reps {
			if r != victim {
				alive = append(alive, r)
			}
		}
		// Every location ends up with the second version, read by the survivors.
		deadline = time.Now().Add(90 * time.Second)
		for {
			n := count(t, db, `SELECT count(*) FROM entities WHERE kind = 'component' AND description = 'second'`)
			if n == nLocs*perLoc {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d components have their second version %v after the kill", n, nLocs*perLoc, time.Since(killedAt).Round(time.Second))
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("every location read again %v after the kill", time.Since(killedAt).Round(time.Millisecond))
		want := nLocs*(perLoc+1) + 1
		if n := count(t, db, `SELECT count(*) FROM entities`); n != want {
			t.Errorf("%d entities, want %d", n, want)
		}
		if n := count(t, db, `SELECT count(*) FROM relations WHERE type = 'dependsOn'`); n != nLocs*perLoc {
			t.Errorf("%d dependsOn relations, want %d", n, nLocs*perLoc)
		}
		if n := count(t, db, `SELECT count(*) FROM (SELECT source_ref, type, target_ref FROM relations GROUP BY 1, 2, 3 HAVING count(*) > 1) d`); n != 0 {
			t.Errorf("%d relations stored twice", n)
		}
		// Each entity was added once and (its description) changed once: no read was
		// applied twice, none lost.
		if n := count(t, db, `SELECT count(*) FROM changes WHERE type = 'added'`); n != want {
			t.Errorf("%d additions in the change log, want %d", n, want)
		}
		if n := count(t, db, `SELECT count(*) FROM changes WHERE type = 'changed'`); n != nLocs*perLoc {
			t.Errorf("%d changes in the change log, want %d", n, nLocs*perLoc)
		}
		if n := count(t, db, `SELECT count(*) FROM changes WHERE type = 'removed'`); n != 0 {
			t.Errorf("%d removals in the change log, want none", n)
		}
		// The victim's locations are read by the others from now on.
		time.Sleep(2 * interval)
		after := map[string]bool{}
		for _, r := range alive {
			for k := range r.reads() {
				after[k] = true
			}
		}
		for k := range before {
			if !after[k] {
				t.Errorf("%s, read by the killed replica, was not read by another", k)
			}
		}

		t.Run("a write through one replica is in the next answer of another, cached or not", func(t *testing.T) {
			if len(alive) < 2 {
				t.Skip("fewer than two replicas alive")
			}
			q := `query($ref: String!) { entity(ref: $ref) { ref description } }`
			vars := map[string]any{"ref": "component:default/l3-c0"}
			before := alive[1].query(t, q, vars)
			alive[1].query(t, q, vars) // kept by the answer cache now
			dir := filepath.Join(root, "loc3")
			writeLocation(t, dir, "l3", perLoc, "rewritten")
			res := alive[0].query(t, `mutation($t: String!) { refreshLocation(target: $t) { key } }`, map[string]any{"t": "file:" + dir})
			if len(res.Errors) > 0 {
				t.Fatalf("refreshLocation: %v", res.Errors)
			}
			after := alive[1].query(t, q, vars)
			if len(after.Errors) > 0 || string(after.Data) == string(before.Data) || !strings.Contains(string(after.Data), "rewritten") {
				t.Errorf("%s after %s wrote: %s (before: %s)", alive[1].name, alive[0].name, after.Data, before.Data)
			}
		})

		t.Run("a change applied by one replica is in the graph answers of the others", func(t *testing.T) {
			// A new component depending on loc0's resource, read by whichever replica.
			dir := filepath.Join(root, "loc0")
			os.WriteFile(filepath.Join(dir, "new.yaml"), []byte("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: newcomer}\nspec: {type: service, lifecycle: production, owner: group:default/team, dependsOn: [resource:l0-db]}\n"), 0o644)
			changed := time.Now()
			for _, r := range alive {
				deadline := time.Now().Add(30 * time.Second)
				for {
					res := r.query(t, `{ impact(ref: "resource:default/l0-db") { totalAffected affected { ref } } }`, nil)
					if len(res.Errors) > 0 {
						t.Fatalf("%s: %v", r.name, res.Errors)
					}
					if strings.Contains(string(res.Data), "component:default/newcomer") {
						t.Logf("%s answers with the new component %v after the file changed", r.name, time.Since(changed).Round(time.Millisecond))
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: impact still without the new component: %s", r.name, res.Data)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	})
}

// A replica whose LISTEN connection is cut reconnects and hears of the next change at once,
// without waiting for its periodic generation check.
func TestReplicaReconnectsItsChangeListener(t *testing.T) {
	dbURL := testdb.Postgres(t)
	name := fmt.Sprintf("catalogd-listen-%d", os.Getpid())
	srv, log := startServerEnv(t, map[string]string{"CATALOGD_DATABASE_URL": withAppName(t, dbURL, name),
		"CATALOGD_LOG_LEVEL": "debug", "CATALOGD_CHANGE_CHECK_INTERVAL": "1h"})
	_ = srv
	db := openSchema(t, dbURL)
	waitLog := func(what string, re *regexp.Regexp) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !re.MatchString(log.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the log:\n%s", what, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The listener is up once its session shows in pg_stat_activity.
	listeners := func() int {
		return count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND application_name = $1 AND datname = current_database()`, name)
	}
	deadline := time.Now().Add(20 * time.Second)
	for listeners() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no LISTEN session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(t, db, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND application_name = $1 AND datname = current_database()) k`, name); n != 1 {
		t.Fatalf("terminated %d listeners, want 1", n)
	}
	waitLog("reconnection", regexp.MustCompile(`change listener reconnected`))
	// Another writer (this test, as a replica would) changes the catalog.
	st := testdb.Open(t, dbURL)
	eng := testdb.Engine(t, st)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "catalog-info.yaml"), []byte("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n"), 0o644)
	p, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Refresh(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	gen, err := st.Generation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitLog("change heard", regexp.MustCompile(fmt.Sprintf(`msg="catalog changed" generation=%d`, gen)))
}

// SIGTERM while serve still waits for the migration lock (another replica is migrating, or
// building the search indexes under it) ends it with status 0, as after draining: there is
// nothing in flight yet, and a rolling deploy that stops a starting replica must not see it fail.
func TestSIGTERMWhileWaitingToMigrateExitsZero(t *testing.T) {
	dbURL := testdb.Postgres(t)
	bin := buildCatalogd(t)
	ctx := context.Background()
	holder, err := openSchema(t, dbURL).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	const migrateLockKey = 0x6361746d // store.migrateLockKey
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrateLockKey)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database", dbURL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(listening)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("catalogd did not start:\n%s", logs.String())
	}
	time.Sleep(300 * time.Millisecond) // waiting for the migration lock by now
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 15*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM while waiting to migrate; want 0\n%s", code, logs.String())
	}
}
