package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// serve's memory when no limit is given (--memory-limit, CATALOGD_MEMORY_LIMIT, memoryLimit,
// GOMEMLIMIT): after every collection, the Go heap's soft limit becomes the live heap plus
// half of it, or plus autoLimitHeadroom when that is more, and at most nine tenths of the
// container's memory limit when it has one. With the runtime's default alone (the next
// collection when the heap doubles), the heap of a server that just built its indexes or
// answers several large questions at once swells to twice what it holds, and the runtime
// keeps the freed pages a long while; under a soft limit it collects before the heap
// outgrows the limit and returns the free pages beyond it to the system at once. The limit
// follows the live heap, so a catalog that grows raises it: the collector never runs with
// less room than the headroom, and never runs without pause.

// autoLimitHeadroom is the least room the automatic limit leaves above the live heap.
const autoLimitHeadroom = 48 << 20

// autoLimit is the soft limit for a live heap of live bytes under a container limit of
// ceiling bytes (0: none).
func autoLimit(live, ceiling int64) int64 {
	limit := live + max(live/2, autoLimitHeadroom)
	if ceiling > 0 {
		limit = min(limit, ceiling/10*9)
	}
	return max(limit, minMemoryLimit)
}

var governor struct {
	mu      sync.Mutex
	running int   // serves in this process that asked for it (tests run several)
	gen     int   // started so often: a finalizer of an earlier start ends its chain
	prev    int64 // the limit before the first
	ceiling int64
	live    []metrics.Sample
}

// startMemoryGovernor keeps the soft limit at autoLimit of the live heap until stop is called.
func startMemoryGovernor() (stop func()) {
	governor.mu.Lock()
	defer governor.mu.Unlock()
	governor.running++
	if governor.running == 1 {
		governor.prev = debug.SetMemoryLimit(-1)
		governor.ceiling = cgroupMemoryLimit()
		governor.live = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		governor.gen++
		setAutoLimit()
		armGovernor(governor.gen)
	}
	return sync.OnceFunc(func() {
		governor.mu.Lock()
		defer governor.mu.Unlock()
		governor.running--
		if governor.running == 0 {
			debug.SetMemoryLimit(governor.prev)
		}
	})
}

// governing reports whether the automatic limit is in force.
func governing() bool {
	governor.mu.Lock()
	defer governor.mu.Unlock()
	return governor.running > 0
}

// setAutoLimit sets the limit from the live heap the last collection found; governor.mu held.
func setAutoLimit() {
	metrics.Read(governor.live)
	live := int64(0)
	if s := governor.live[0]; s.Value.Kind() == metrics.KindUint64 {
		live = int64(min(s.Value.Uint64(), math.MaxInt64/2))
	}
	debug.SetMemoryLimit(autoLimit(live, governor.ceiling))
}

// gcSentinel is garbage as soon as it is made: its finalizer runs once after the next
// collection and makes the next one.
type gcSentinel struct{ _ *int }

func armGovernor(gen int) {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		governor.mu.Lock()
		defer governor.mu.Unlock()
		if governor.running == 0 || governor.gen != gen {
			return
		}
		setAutoLimit()
		armGovernor(gen)
	})
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup (v2, or v1), or 0 when
// it has none or it cannot be read.
func cgroupMemoryLimit() int64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<50 { // "max", or v1's "unlimited" (a page-rounded MaxInt64)
			return 0
		}
		return n
	}
	return 0
}
