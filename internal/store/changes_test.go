package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"catalogd/ent"
	"catalogd/internal/store"
	"catalogd/internal/testdb"
)

// feedLine is a change as a test compares it.
func feedLine(c *ent.Change) string {
	f := ""
	if c.Fields != nil {
		var v any
		json.Unmarshal(c.Fields, &v) // PostgreSQL's jsonb spaces and orders keys its own way
		b, _ := json.Marshal(v)
		f = " " + string(b)
	}
	return fmt.Sprintf("%s %s owner=%s prev=%s%s", c.Type, c.Ref, c.Owner, c.PreviousOwner, f)
}

// readAll pages through the feed after cursor, a page of size at a time.
func readAll(t *testing.T, st *store.Store, after int64, size int, f store.ChangeFilter) ([]*ent.Change, int64) {
	t.Helper()
	var out []*ent.Change
	for {
		page, more, err := st.Changes(context.Background(), after, size, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			if c.ID <= after {
				t.Fatalf("change %d after cursor %d", c.ID, after)
			}
			after = c.ID
		}
		out = append(out, page...)
		if !more {
			return out, after
		}
	}
}

func TestTheChangeLogRecordsAdditionsChangesOwnersAndRemovalsInOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		loc := locSpec("feed")
		recs := records(5, "feed")
		if _, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(recs)}); err != nil {
			t.Fatal(err)
		}
		first, cursor := readAll(t, st, 0, 2, store.ChangeFilter{})
		if len(first) != 5 {
			t.Fatalf("first read logged %d changes, want 5 additions", len(first))
		}
		if got, want := feedLine(first[0]), "added component:default/feed-00000 owner=group:default/team-0 prev="; got != want {
			t.Errorf("first change:\n got %s\nwant %s", got, want)
		}
		if first[0].Kind != "component" || first[0].Location != loc.Key {
			t.Errorf("first change: kind %q location %q", first[0].Kind, first[0].Location)
		}

		// The consumer stops here; the catalog changes: one description, one owner, one removal.
		next := records(5, "feed")[:4]
		doc := map[string]any{"kind": "Component", "metadata": map[string]any{"name": next[1].Ref, "description": "new words"}}
		next[1].Document, _ = json.Marshal(doc)
		next[1].Hash = "changed-1"
		doc2 := map[string]any{"kind": "Component", "metadata": map[string]any{"name": next[2].Ref, "description": `back\slash`}, "spec": map[string]any{"owner": "team-z"}}
		next[2].Document, _ = json.Marshal(doc2)
		next[2].Hash, next[2].OwnerRef = "changed-2", "group:default/team-z"
		if _, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(next), Revision: "r2"}); err != nil {
			t.Fatal(err)
		}
		// A restarted consumer resumes from its cursor and sees exactly what happened since.
		rest, _ := readAll(t, st, cursor, 1, store.ChangeFilter{})
		var got []string
		for _, c := range rest {
			got = append(got, feedLine(c))
		}
		want := []string{
			`changed component:default/feed-00001 owner=group:default/team-1 prev=group:default/team-1 {"paths":["metadata.description"]}`,
			`changed component:default/feed-00002 owner=group:default/team-z prev=group:default/team-2 {"paths":["spec"]}`,
			`owner_changed component:default/feed-00002 owner=group:default/team-z prev=group:default/team-2 {"from":"group:default/team-2","to":"group:default/team-z"}`,
			`removed component:default/feed-00004 owner=group:default/team-4 prev=`,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("changes after the cursor:\n got %q\nwant %q", got, want)
		}
		if rest[0].Revision != "r2" {
			t.Errorf("revision %q, want r2", rest[0].Revision)
		}

		t.Run("filters select by owner before or after, type, kind and ref", func(t *testing.T) {
			for _, tc := range []struct {
				f    store.ChangeFilter
				want int
			}{
				{store.ChangeFilter{Owner: "group:default/team-2"}, 3}, // added, changed away, owner_changed
				{store.ChangeFilter{Owner: "group:default/team-z"}, 2},
				{store.ChangeFilter{Types: []string{store.ChangeRemoved}}, 1},
				{store.ChangeFilter{Kinds: []string{"component"}, Ref: "component:default/feed-00001"}, 2},
				{store.ChangeFilter{Kinds: []string{"api"}}, 0},
			} {
				cs, _ := readAll(t, st, 0, 100, tc.f)
				if len(cs) != tc.want {
					t.Errorf("%+v: %d changes, want %d", tc.f, len(cs), tc.want)
				}
				for _, c := range cs {
					if !tc.f.Matches(c) {
						t.Errorf("%+v returned %s, which Matches refuses", tc.f, feedLine(c))
					}
				}
			}
		})

		t.Run("a refused read is logged once however often it is refused", func(t *testing.T) {
			for range 2 {
				_, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(nil)})
				var g *store.GuardError
				if !errors.As(err, &g) {
					t.Fatalf("want a guard refusal, got %v", err)
				}
			}
			cs, _ := readAll(t, st, 0, 100, store.ChangeFilter{Types: []string{store.ChangeRefused}})
			if len(cs) != 1 || cs[0].Location != loc.Key || cs[0].Reason == "" {
				t.Fatalf("refusals logged: %d (%v)", len(cs), cs)
			}
		})
	})
}

func TestChangedPathsAreBoundedAndSay(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		loc := locSpec("wide")
		recs := records(1, "wide")
		labels := map[string]any{}
		for i := range 50 {
			labels[fmt.Sprintf("k%02d", i)] = "a"
		}
		recs[0].Document, _ = json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if _, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(recs)}); err != nil {
			t.Fatal(err)
		}
		for k := range labels {
			labels[k] = "b"
		}
		recs[0].Document, _ = json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		recs[0].Hash = "other"
		if _, err := st.Apply(ctx, loc, &store.Batch{Parts: store.Entities(recs)}); err != nil {
			t.Fatal(err)
		}
		cs, _ := readAll(t, st, 0, 10, store.ChangeFilter{Types: []string{store.ChangeChanged}})
		if len(cs) != 1 {
			t.Fatalf("%d changed entries", len(cs))
		}
		var f struct {
			Paths     []string
			Truncated bool
		}
		json.Unmarshal(cs[0].Fields, &f)
		if len(f.Paths) != store.MaxChangedPaths || !f.Truncated || f.Paths[0] != "metadata.labels.k00" {
			t.Errorf("fields %s", cs[0].Fields)
		}
	})
}

// Two locations written at once while a consumer pages through the feed: it must see every
// change exactly once, however the commits interleave.
func TestAConsumerPagingDuringConcurrentWritesMissesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		const rounds = 6
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("w%d", w)
				for r := range rounds {
					recs := records(40, name)
					for i := range recs {
						recs[i].Hash = fmt.Sprintf("%d-%d", r, i)
					}
					if _, err := st.Apply(ctx, locSpec(name), &store.Batch{Parts: store.Entities(recs)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[int64]bool{}
		var cursor int64
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true
			default:
			}
			page, _, err := st.Changes(ctx, cursor, 7, store.ChangeFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				if seen[c.ID] {
					t.Fatalf("change %d seen twice", c.ID)
				}
				seen[c.ID] = true
				cursor = c.ID
			}
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rest, _ := readAll(t, st, cursor, 100, store.ChangeFilter{})
		for _, c := range rest {
			seen[c.ID] = true
		}
		all, _ := readAll(t, st, 0, 1000, store.ChangeFilter{})
		if len(all) != 3*rounds*40 || len(seen) != len(all) {
			t.Fatalf("%d changes in the log (want %d), consumer saw %d", len(all), 3*rounds*40, len(seen))
		}
	})
}

func TestPruningRemovesOldChangesButNeverTheNewest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		if _, err := st.Apply(ctx, locSpec("old"), &store.Batch{Parts: store.Entities(records(3, "old"))}); err != nil {
			t.Fatal(err)
		}
		n, err := st.PruneChanges(ctx, time.Now().Add(time.Hour)) // everything is older
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2 (the newest stays)", n, err)
		}
		last, _ := st.LastChangeID(ctx)
		if _, err := st.Apply(ctx, locSpec("new"), &store.Batch{Parts: store.Entities(records(1, "new"))}); err != nil {
			t.Fatal(err)
		}
		cs, _ := readAll(t, st, last, 10, store.ChangeFilter{})
		if len(cs) != 1 || cs[0].ID <= last {
			t.Fatalf("after pruning, ids went on from %d: %v", last, cs)
		}
		if n, _ := st.PruneChanges(ctx, time.Now().Add(-time.Hour)); n != 0 {
			t.Errorf("pruned %d recent changes", n)
		}
	})
}

// A large read writes its change log while it goes on, in batches: the log must still list
// every change once, in the order of the read, with one time, and vanish with a read that fails.
func TestALargeReadLogsEveryChangeInOrderAndNothingWhenItFails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := testdb.Open(t, dbURL)
		parts := func(recs []store.EntityRecord, stop func(int)) func(func([]store.EntityRecord) bool) {
			return func(yield func([]store.EntityRecord) bool) {
				for i := 0; len(recs) > 0; i++ {
					if stop != nil {
						stop(i)
					}
					n := min(1000, len(recs))
					if !yield(recs[:n]) {
						return
					}
					recs = recs[n:]
				}
			}
		}
		const n = 12_001
		recs := records(n, "big")
		if _, err := st.Apply(ctx, locSpec("big"), &store.Batch{Parts: parts(recs, nil)}); err != nil {
			t.Fatal(err)
		}
		got, cursor := readAll(t, st, 0, 5000, store.ChangeFilter{})
		if len(got) != n {
			t.Fatalf("logged %d changes, want %d", len(got), n)
		}
		for i, c := range got {
			if c.Type != store.ChangeAdded || c.Ref != recs[i].Ref {
				t.Fatalf("change %d is %s %s, want added %s", i, c.Type, c.Ref, recs[i].Ref)
			}
			if !c.At.Equal(got[0].At) {
				t.Fatalf("change %d at %v, the first at %v", i, c.At, got[0].At)
			}
		}

		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		other := records(n, "failed")
		_, err := st.Apply(cctx, locSpec("failed"), &store.Batch{Parts: parts(other, func(i int) {
			if i == 11 {
				cancel()
			}
		})})
		if err == nil {
			t.Fatal("a read cancelled half-way was applied")
		}
		if after, _ := readAll(t, st, cursor, 5000, store.ChangeFilter{}); len(after) != 0 {
			t.Fatalf("a failed read logged %d changes, the first %s %s", len(after), after[0].Type, after[0].Ref)
		}
	})
}
