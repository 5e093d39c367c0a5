package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"catalogd/internal/store"
)

// bumpEnv makes the test binary a separate process that commits a generation bump into the
// SQLite file it names (TestMain-free: see TestBumpGenerationProcess).
const bumpEnv = "CATALOGD_TEST_BUMP_GENERATION"

// TestBumpGenerationProcess is not a test: run by walwatch tests as another process, it bumps
// the generation of the database in $CATALOGD_TEST_BUMP_GENERATION.
func TestBumpGenerationProcess(t *testing.T) {
	path := os.Getenv(bumpEnv)
	if path == "" {
		t.Skip("run by the WAL watch tests as another process")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE catalog_state SET generation = generation + 1"); err != nil {
		t.Fatal(err)
	}
}

func openWALStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, path
}

// TestGenerationFollowsOtherConnectionsWrites: on SQLite the generation is taken from the last
// read while the WAL index's header is unchanged (walwatch.go). Whoever commits, another
// connection of this process or another process, the next read gives the generation the
// database holds; reads with no commit between them are spared.
func TestGenerationFollowsOtherConnectionsWrites(t *testing.T) {
	ctx := context.Background()
	st, path := openWALStore(t)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	direct := func() int64 {
		var g int64
		if err := other.QueryRow("SELECT generation FROM catalog_state ORDER BY id LIMIT 1").Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	check := func(step string) {
		t.Helper()
		got, err := st.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := direct(); got != want {
			t.Fatalf("%s: Generation %d, the database holds %d", step, got, want)
		}
	}
	check("start")
	rng := rand.New(rand.NewPCG(7, 7))
	processes := 0
	for i := range 300 {
		switch r := rng.IntN(10); {
		case r < 5: // a commit from another connection of this process
			if _, err := other.Exec("UPDATE catalog_state SET generation = generation + 1"); err != nil {
				t.Fatal(err)
			}
		case r < 6 && processes < 6: // a commit from another process
			processes++
			cmd := exec.Command(os.Args[0], "-test.run=^TestBumpGenerationProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), bumpEnv+"="+path)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("bumping from another process: %v\n%s", err, out)
			}
		case r < 8: // a commit that leaves the generation
			if _, err := other.Exec("UPDATE catalog_state SET generation = generation"); err != nil {
				t.Fatal(err)
			}
		}
		check(fmt.Sprintf("step %d", i))
	}
	// Reads with nothing committed between them are spared.
	before, ok := store.WALReads(st)
	if !ok {
		t.Fatal("the store has no WAL watch")
	}
	for range 100 {
		check("no commit")
	}
	if after, _ := store.WALReads(st); after != before {
		t.Errorf("100 generations with no commit between made %d reads, want 0", after-before)
	}
}

// TestGenerationWhileClosing: reads racing Close end in errors, not in a fault (the watch's
// map is unmapped only when no read is in it).
func TestGenerationWhileClosing(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), "catalog.db")
		st, err := store.Open(context.Background(), "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Generation(context.Background()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 2000 {
					st.Generation(context.Background())
				}
			})
		}
		st.Close()
		wg.Wait()
	}
}
