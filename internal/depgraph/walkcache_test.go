package depgraph_test

import (
	"context"
	"sync"
	"testing"

	"catalogd/internal/depgraph"
	"catalogd/internal/ingest/file"
	"catalogd/internal/synth"
	"catalogd/internal/testdb"
)

// walkSnapshot ingests a small synthetic catalog into SQLite and returns its snapshot and
// the ids of its hot and cold resources and of some components.
func walkSnapshot(t *testing.T) (*depgraph.Snapshot, int32, []int32) {
	t.Helper()
	dir := t.TempDir()
	stats, err := synth.Write(dir, synth.Config{N: 1500, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	st := testdb.Open(t, testdb.SQLite(t))
	p, err := file.New(stats.Root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := testdb.Engine(t, st).Refresh(ctx, p); err != nil {
		t.Fatal(err)
	}
	s, err := depgraph.New(st).Fresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hot, ok := s.ID(stats.HotResource)
	if !ok {
		t.Fatalf("no %s", stats.HotResource)
	}
	var comps []int32
	for _, ref := range stats.SampleComponents {
		if id, ok := s.ID(ref); ok {
			comps = append(comps, id)
		}
	}
	return s, hot, comps
}

func same(a, b *depgraph.Traversal) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		if a.ID(i) != b.ID(i) || a.Parent(i) != b.Parent(i) || a.Depth(i) != b.Depth(i) {
			return false
		}
	}
	return true
}

// TestWalkCache: Walk answers as Traverse does, the second time from the cache (the same
// traversal, its memo made once), and once for callers at once; the cache drops its oldest walks past its bound of nodes,
// and memoises nothing past its bound of bytes.
func TestWalkCache(t *testing.T) {
	s, hot, _ := walkSnapshot(t)
	w := s.Walk(hot, depgraph.ImpactEdges, -1)
	if w.Len() < 64 {
		t.Fatalf("the hot resource reaches %d nodes: too few to be cached", w.Len())
	}
	if !same(w, s.Traverse(hot, depgraph.ImpactEdges, -1)) {
		t.Fatal("Walk and Traverse differ")
	}
	if s.Walk(hot, depgraph.ImpactEdges, -1) != w || !w.Cached() {
		t.Fatal("the second Walk was not answered from the cache")
	}
	if d := s.Walk(hot, depgraph.DependencyEdges, -1); d == w {
		t.Fatal("a walk along other edges was answered from the cache")
	}
	if d := s.Walk(hot, depgraph.ImpactEdges, 1); d == w || d.Len() >= w.Len() {
		t.Fatalf("a walk of depth 1 reached %d nodes from the cache", d.Len())
	}
	// Callers at once: one walk, the same for all (made by one while the others wait, or
	// from the cache).
	got := make([]*depgraph.Traversal, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = s.Walk(hot, depgraph.ImpactEdges, 100) })
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] || !same(g, w) {
			t.Fatal("callers at once got different walks")
		}
	}
	made := 0
	mk := func() []byte { made++; return []byte("page") }
	for range 3 {
		if got := string(w.Memo("k", mk)); got != "page" {
			t.Fatalf("Memo = %q", got)
		}
	}
	if made != 1 {
		t.Errorf("a memo of a cached walk was made %d times, want 1", made)
	}

	// Bounds: room for the hot walk and little more; the walks of components push it out.
	restore := depgraph.SetCacheBounds(w.Len()+10, 6)
	defer restore()
	s2, hot2, comps := walkSnapshot(t)
	w2 := s2.Walk(hot2, depgraph.ImpactEdges, -1)
	made = 0
	w2.Memo("k", mk)
	w2.Memo("k", mk)
	w2.Memo("longer than the bound", func() []byte { made++; return []byte("1234567") })
	w2.Memo("longer than the bound", func() []byte { made++; return []byte("1234567") })
	if made != 3 {
		t.Errorf("made %d memos, want 1 kept and 2 of the one past the bound of bytes", made)
	}
	var pushed bool
	for _, c := range comps {
		if s2.Walk(c, depgraph.DependencyEdges, -1).Cached() {
			pushed = true
			break
		}
	}
	if !pushed {
		t.Fatal("no walk of a component was cached")
	}
	if w2.Cached() || s2.Walk(hot2, depgraph.ImpactEdges, -1) == w2 {
		t.Error("the oldest walk stayed in a full cache")
	}
}
