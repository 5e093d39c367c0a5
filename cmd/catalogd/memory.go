package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/spf13/cobra"

	"catalogd/internal/store"
)

// memoryFlags size what serve and ingest keep in memory: SQLite's page cache and memory map
// per pooled connection, and the Go heap's soft limit.
type memoryFlags struct {
	sqliteCache      byteSize
	sqliteApplyCache byteSize
	sqliteMmap       byteSize
	limit            byteSize // 0: none (the runtime's own, which GOMEMLIMIT sets)
	envErr           error
	// auto: when no limit is given, one follows the live heap (governor.go); serve's.
	auto     bool
	given    func() bool // whether a limit is given
	stopAuto func()
}

// add adds the flags; applyCache is the default of --sqlite-apply-cache-size (serve keeps
// less than ingest, a one-shot job).
func (m *memoryFlags) add(cmd *cobra.Command, getenv func(string) string, applyCache int64) {
	env := func(key string, def int64) byteSize {
		n, err := envByteSize(getenv, key, def)
		m.envErr = errors.Join(m.envErr, err)
		return n
	}
	m.sqliteCache = env("CATALOGD_SQLITE_CACHE_SIZE", store.DefaultSQLiteCacheSize)
	m.sqliteApplyCache = env("CATALOGD_SQLITE_APPLY_CACHE_SIZE", applyCache)
	m.sqliteMmap = env("CATALOGD_SQLITE_MMAP_SIZE", store.DefaultSQLiteMmapSize)
	m.limit = env("CATALOGD_MEMORY_LIMIT", 0)
	m.given = func() bool {
		return cmd.Flags().Changed("memory-limit") || getenv("CATALOGD_MEMORY_LIMIT") != "" || getenv("GOMEMLIMIT") != ""
	}
	cmd.Flags().Var(&m.sqliteCache, "sqlite-cache-size",
		"SQLite page cache of each of the "+strconv.Itoa(store.SQLiteConns)+" pooled connections, e.g. 16MiB (env CATALOGD_SQLITE_CACHE_SIZE)")
	cmd.Flags().Var(&m.sqliteApplyCache, "sqlite-apply-cache-size",
		"SQLite page cache of the connection that writes a location's read, while it writes, e.g. 64MiB (env CATALOGD_SQLITE_APPLY_CACHE_SIZE)")
	cmd.Flags().Var(&m.sqliteMmap, "sqlite-mmap-size",
		"how much of the SQLite file each pooled connection reads through a memory map, e.g. 256MiB; 0: none. RSS counts the mapped pages once per connection (env CATALOGD_SQLITE_MMAP_SIZE)")
	cmd.Flags().Var(&m.limit, "memory-limit",
		"soft limit of the Go heap, e.g. 200MiB: the garbage collector works harder as it nears it; 0: none, or GOMEMLIMIT; unset, serve's follows the live heap (env CATALOGD_MEMORY_LIMIT)")
}

// storeOptions are the store's options the flags say.
func (m *memoryFlags) storeOptions() store.Options {
	return store.Options{SQLiteCacheSize: int64(m.sqliteCache), SQLiteApplyCacheSize: int64(m.sqliteApplyCache), SQLiteMmapSize: int64(m.sqliteMmap)}
}

// apply checks the settings and sets the memory limit, when one is given.
func (m *memoryFlags) apply() error {
	if m.envErr != nil {
		return m.envErr
	}
	if err := m.storeOptions().Check(); err != nil {
		return fmt.Errorf("--sqlite-cache-size, --sqlite-apply-cache-size, --sqlite-mmap-size: %w", err)
	}
	if m.limit > 0 && m.limit < minMemoryLimit {
		return fmt.Errorf("--memory-limit %s: must be 0 (none) or at least %s", m.limit.String(), byteSize(minMemoryLimit).String())
	}
	if m.limit > 0 {
		debug.SetMemoryLimit(int64(m.limit))
	} else if m.auto && m.stopAuto == nil && (m.given == nil || !m.given()) {
		m.stopAuto = startMemoryGovernor()
	}
	return nil
}

// stop ends what apply started: the automatic limit.
func (m *memoryFlags) stop() {
	if m.stopAuto != nil {
		m.stopAuto()
		m.stopAuto = nil
	}
}

// ingestApplyCache is ingest's default SQLite apply cache: a one-shot job may take more
// memory for a faster write of a large location into a full catalog.
const ingestApplyCache = 256 << 20

// logMemory says what serve may keep in memory, as configured.
func logMemory(log *slog.Logger, st *store.Store, opts store.Options) {
	limit := "none"
	if governing() {
		limit = "auto"
	} else if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		limit = byteSize(l).String()
	}
	if st.Dialect != dialect.SQLite {
		log.Info("memory", "memory_limit", limit)
		return
	}
	log.Info("memory", "memory_limit", limit, "sqlite_connections", store.SQLiteConns,
		"sqlite_cache_size", byteSize(opts.SQLiteCacheSize).String(),
		"sqlite_apply_cache_size", byteSize(opts.SQLiteApplyCacheSize).String(),
		"sqlite_mmap_size", byteSize(opts.SQLiteMmapSize).String())
}

// startCPUProfile writes a CPU profile to path until stop is called (ingest --cpuprofile, a
// developer's flag).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// ingestGCPercent is ingest's GOGC unless the environment sets one.
const ingestGCPercent = 200

// minMemoryLimit is the smallest memory limit accepted: below it the collector would run
// without pause.
const minMemoryLimit = 32 << 20

// envByteSize reads a size from the environment variable key: def when it is unset, and an
// error naming the variable when it is not a size.
func envByteSize(getenv func(string) string, key string, def int64) (byteSize, error) {
	v := getenv(key)
	if v == "" {
		return byteSize(def), nil
	}
	n, err := parseByteSize(v)
	if err != nil {
		return byteSize(def), fmt.Errorf("%s=%q %v", key, excerpt(v), err)
	}
	return byteSize(n), nil
}

// byteSize is a size in bytes, written as an integer with an optional unit: 0, 4096, 512KiB,
// 16MiB, 2GiB (KB, MB, GB: powers of 1000).
type byteSize int64

func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func (*byteSize) Type() string { return "size" }

func (b byteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// maxByteSize bounds what parseByteSize accepts (and keeps the product from overflowing).
const maxByteSize = 1 << 50

// parseByteSize reads a byteSize.
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if i == 0 || i > 16 || !ok {
		return 0, errors.New("is not a size (write e.g. 0, 64MiB, 2GiB)")
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > maxByteSize/unit {
		return 0, errors.New("is too large")
	}
	return n * unit, nil
}

// sizeValue is a size in the configuration file: a string with a unit, or an integer of bytes.
type sizeValue string

func (v *sizeValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = sizeValue(s)
		return nil
	}
	*v = sizeValue(strings.TrimSpace(string(b)))
	return nil
}
