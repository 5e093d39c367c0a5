package store_test

import (
	"context"
	"errors"
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
