package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// A location's lock is held by one replica at a time, within one catalog (schema): another
// replica's TryLock fails until the holder unlocks or closes, and the holder itself does not
// take it twice (a read of it is in flight).
func TestLocationLocksAreExclusiveAcrossReplicas(t *testing.T) {
	dbURL := testdb.Postgres(t)
	ctx := context.Background()
	a := testdb.Open(t, dbURL).NewLocationLocks(nil)
	b := testdb.Open(t, dbURL).NewLocationLocks(nil)
	other := testdb.Open(t, testdb.Postgres(t)).NewLocationLocks(nil) // another catalog
	t.Cleanup(func() { a.Close(); b.Close(); other.Close() })
	try := func(name string, l interface {
		TryLock(context.Context, string) (bool, error)
	}, key string, want bool) {
		t.Helper()
		got, err := l.TryLock(ctx, key)
		if err != nil || got != want {
			t.Fatalf("%s: TryLock(%s) = %v, %v; want %v", name, key, got, err, want)
		}
	}
	try("a", a, "file:/x", true)
	try("a again", a, "file:/x", false)
	try("b", b, "file:/x", false)
	try("b, another location", b, "file:/y", true)
	try("a replica of another catalog", other, "file:/x", true)
	a.Unlock("file:/x")
	try("b after a unlocked", b, "file:/x", true)
	b.Close() // as on shutdown, or when the process dies
	try("a after b closed", a, "file:/x", true)
	try("a, b's other location", a, "file:/y", true)
}

// On SQLite (one process) every lock is granted.
func TestLocationLocksOnSQLiteAlwaysGrant(t *testing.T) {
	l := testdb.Open(t, testdb.SQLite(t)).NewLocationLocks(nil)
	for range 2 {
		if ok, err := l.TryLock(context.Background(), "file:/x"); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
	}
	if l.Coordinated() {
		t.Error("SQLite locks say they are coordinated")
	}
}

// LastRead answers when any replica last read a location, failed reads included.
func TestLastReadFollowsEveryRead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		st := testdb.Open(t, dbURL)
		other := testdb.Open(t, dbURL) // another replica's connection to the same catalog
		ctx := context.Background()
		loc := catalog.LocationSpec{Key: "file:/x", Provider: "file", Target: "/x"}
		if _, ok, err := st.LastRead(ctx, loc.Key); ok || err != nil {
			t.Fatalf("a location never read: %v, %v", ok, err)
		}
		before := time.Now()
		if _, err := other.Apply(ctx, loc, &store.Batch{Failed: errors.New("unreachable"), Started: before}); err != nil {
			t.Fatal(err)
		}
		at, ok, err := st.LastRead(ctx, loc.Key)
		if err != nil || !ok || at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("after a failed read at %v: %v, %v, %v", before, at, ok, err)
		}
	})
}

// A read whose loop is stopped (its location removed or replaced, or shutdown) may be asking
// for its lock just then: its context's end must not cost the replica the session holding the
// locks of its other reads in flight, which another replica would then read at the same time.
func TestACanceledTryLockKeepsTheOtherLocks(t *testing.T) {
	dbURL := testdb.Postgres(t)
	a := testdb.Open(t, dbURL).NewLocationLocks(nil)
	b := testdb.Open(t, dbURL).NewLocationLocks(nil)
	t.Cleanup(func() { a.Close(); b.Close() })
	if ok, err := a.TryLock(context.Background(), "file:/held"); err != nil || !ok {
		t.Fatalf("a: TryLock(file:/held) = %v, %v; want true", ok, err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, _ := a.TryLock(canceled, "file:/stopped"); ok {
		t.Fatal("a: TryLock with a canceled context = true; want false")
	}
	if ok, err := b.TryLock(context.Background(), "file:/held"); err != nil || ok {
		t.Fatalf("b: TryLock(file:/held) = %v, %v; want false: a still reads it", ok, err)
	}
	if ok, err := a.TryLock(context.Background(), "file:/stopped"); err != nil || !ok {
		t.Fatalf("a: TryLock(file:/stopped) after the canceled one = %v, %v; want true", ok, err)
	}
}

// refusingProxy forwards loopback connections to addr until refuse is called; from then on it
// accepts no new ones (as a server at max_connections, or a listener that cannot reconnect),
// while the connections made before keep working.
func refusingProxy(t *testing.T, addr string) (proxied string, refuse func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

// A replica whose LISTEN connection cannot be made still follows other replicas' changes by
// the periodic generation check, and stops when told to: waiting for the listener to connect
// must not hold up the fallback or the end of the watch.
func TestWatchGenerationPollsWhileItsListenerCannotConnect(t *testing.T) {
	dbURL := testdb.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxied, refuse := refusingProxy(t, u.Host)
	u.Host = proxied
	watcher := testdb.Open(t, u.String()) // its pooled connections go through the proxy
	writer := testdb.Open(t, dbURL)
	refuse()

	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan int64, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watcher.WatchGeneration(ctx, 100*time.Millisecond, nil, func(gen int64) { changed <- gen })
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := writer.Apply(context.Background(), locSpec("w"), &store.Batch{Parts: parts(records(2, "w"))}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Error("no change seen within 5 s of another replica's write while the listener cannot connect")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchGeneration did not return within 5 s of its context ending")
	}
}

// Replicas starting together record the same configured locations at the same moment: none
// of them may fail for the row another one inserted meanwhile.
func TestReplicasRecordTheSameLocationsAtOnce(t *testing.T) {
	dbURL := testdb.Postgres(t)
	const replicas, locations = 6, 20
	stores := make([]*store.Store, replicas)
	for i := range stores {
		stores[i] = testdb.Open(t, dbURL)
	}
	start := make(chan struct{})
	errs := make(chan error, replicas*locations)
	var wg sync.WaitGroup
	for _, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range locations {
				spec := locSpec(fmt.Sprintf("l%d", j))
				if err := st.UpsertLocation(context.Background(), store.LocationRecord{Spec: spec, Origin: store.OriginConfig}); err != nil {
					errs <- err
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpsertLocation: %v", err)
	}
}
