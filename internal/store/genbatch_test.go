package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGenBatchReadsAfterEveryCaller: callers share generation reads, yet each gets a value
// read after it asked: with writers committing all along, no caller sees a generation older
// than the one committed when it called. The reads are shared (fewer reads than callers),
// and a caller that gives up does not take the others' answer with it.
func TestGenBatchReadsAfterEveryCaller(t *testing.T) {
	var b genBatch
	var committed, reads atomic.Int64
	do := func(ctx context.Context) (int64, error) {
		reads.Add(1)
		v := committed.Load()
		time.Sleep(200 * time.Microsecond) // a round trip: the value was read at its start
		return v, ctx.Err()
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				committed.Add(1)
				time.Sleep(50 * time.Microsecond)
			}
		}
	})
	var wg sync.WaitGroup
	var calls, stale atomic.Int64
	for range 16 {
		wg.Go(func() {
			for range 300 {
				before := committed.Load()
				got, err := b.read(context.Background(), do)
				calls.Add(1)
				if err != nil {
					t.Error(err)
					return
				}
				if got < before {
					stale.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	writers.Wait()
	if stale.Load() > 0 {
		t.Errorf("%d of %d reads gave a generation older than the one committed when they asked", stale.Load(), calls.Load())
	}
	if reads.Load() >= calls.Load()*3/4 {
		t.Errorf("%d reads for %d callers: they were not shared", reads.Load(), calls.Load())
	}
	t.Logf("%d reads for %d callers", reads.Load(), calls.Load())

	// A caller whose context ends while it waits gets its error; the one reading for it and
	// the others get the generation.
	slow := make(chan struct{})
	first := make(chan int64)
	go func() {
		g, _ := b.read(context.Background(), func(context.Context) (int64, error) { <-slow; return 7, nil })
		first <- g
	}()
	waitFor(t, "the first read to start", func() bool { return b.cur != nil }, &b.mu)
	next := make(chan int64)
	go func() {
		g, _ := b.read(context.Background(), func(context.Context) (int64, error) { return 8, nil })
		next <- g
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	waitFor(t, "the next read to be queued", func() bool { return b.next != nil }, &b.mu)
	if _, err := b.read(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a caller whose context ended: %v", err)
	}
	close(slow)
	if g := <-first; g != 7 {
		t.Errorf("first read: %d", g)
	}
	if g := <-next; g != 8 {
		t.Errorf("the next read: %d", g)
	}
}

// waitFor waits until cond holds (checked under mu), failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool, mu *sync.Mutex) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
	}
}

// TestGenBatchReadAloneEndsWithItsCaller: a read nobody else shares is its caller's, and ends
// when the caller's context does, rather than running on to genReadTimeout; the next read
// still takes place after it.
func TestGenBatchReadAloneEndsWithItsCaller(t *testing.T) {
	var b genBatch
	stuck := func(ctx context.Context) (int64, error) {
		<-ctx.Done() // a database that does not answer
		return 0, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if _, err := b.read(ctx, stuck); !errors.Is(err, context.Canceled) {
		t.Fatalf("read alone = %v; want the caller's cancellation", err)
	}
	gen, err := b.read(context.Background(), func(context.Context) (int64, error) { return 7, nil })
	if err != nil || gen != 7 {
		t.Fatalf("the next read = %d, %v; want 7", gen, err)
	}
}
