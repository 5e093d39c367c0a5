package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"catalogd/internal/synth"
)

// TestServeBuildsTheTextIndexAfterALargeFirstIngest: the first ingest of a large location
// leaves SQLite's text index stale (it is built after the commit, not in it); serve builds it
// in the background, and the text filter answers the same before and after.
func TestServeBuildsTheTextIndexAfterALargeFirstIngest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "catalog")
	if _, err := synth.Write(dir, synth.Config{N: 6000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--location", dir)
	const q = `{ entities(filter: {text: "ledger"}, first: 5) { totalCount edges { node { ref } } } }`
	count := func() int {
		r := s.query(q, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %v", r.Errors)
		}
		var d struct{ Entities struct{ TotalCount int } }
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		return d.Entities.TotalCount
	}
	before := count()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(s.stderr.String(), "built the text index") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not build the text index; log:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after := count(); after != before || after == 0 {
		t.Fatalf("text filter matched %d entities before the text index was built and %d after", before, after)
	}
}
