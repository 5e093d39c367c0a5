package ingest_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"catalogd/internal/catalog"
	"catalogd/internal/ingest"
	"catalogd/internal/ingest/file"
	"catalogd/schema"
)

// While the store takes no part, processing runs only a few files ahead of it: the parts of
// a large location must not pile up in memory when reading outpaces writing.
func TestProcessingWaitsForTheWriter(t *testing.T) {
	dir := t.TempDir()
	files := runtime.GOMAXPROCS(0) + 60 // well beyond what may run ahead, on any machine
	for i := range files {
		doc := fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c%03d\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n", i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c%03d.yaml", i)), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v, err := catalog.NewValidator(schema.FS)
	if err != nil {
		t.Fatal(err)
	}
	var docs atomic.Int64
	eng := &ingest.Engine{Validator: v, Progress: func(_ string, p ingest.Progress) {
		for {
			seen := docs.Load()
			if p.Documents <= seen || docs.CompareAndSwap(seen, p.Documents) {
				return
			}
		}
	}}
	p, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, release, err := p.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	batch := eng.Process(context.Background(), p.Location(), tree)
	next, stop := iter.Pull(batch.Parts)
	if _, ok := next(); !ok {
		t.Fatal("no first part")
	}
	time.Sleep(300 * time.Millisecond) // time enough to read every file, were nothing holding it back
	if n, most := docs.Load(), int64(runtime.GOMAXPROCS(0)+8); n > most {
		t.Errorf("%d of %d files processed while the writer held the first part; want at most %d", n, files, most)
	}
	got := 1
	for {
		if _, ok := next(); !ok {
			break
		}
		got++
	}
	stop()
	if got != files {
		t.Fatalf("%d parts, want %d", got, files)
	}
}
