package main

import (
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"512KiB", 512 << 10, ""},
		{"16MiB", 16 << 20, ""},
		{"16 mib", 16 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"1GB", 1e9, ""},
		{"", 0, "is not a size"},
		{"banana", 0, "is not a size"},
		{"-1MiB", 0, "is not a size"},
		{"1.5GiB", 0, "is not a size"},
		{"16MB/s", 0, "is not a size"},
		{"99999999999999999999", 0, "is not a size"},
		{"9999999TiB", 0, "is too large"},
	} {
		got, err := parseByteSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseByteSize(%q) = %d, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestMemorySettingsComeFromFlagsEnvironmentAndTheConfigurationFile(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	cfg := filepath.Join(t.TempDir(), "catalogd.yaml")
	writeFile(t, cfg, "sqlite: {cacheSize: 8MiB, applyCacheSize: 32MiB, mmapSize: 0}\nmemoryLimit: 1GiB\n")
	// The flag beats the file (cache), the environment beats the file (mmap), the file beats
	// the defaults (apply cache, memory limit).
	_, log := startServerEnv(t, map[string]string{"CATALOGD_CONFIG": cfg, "CATALOGD_SQLITE_MMAP_SIZE": "64MiB"}, "--sqlite-cache-size", "4MiB")
	want := "memory_limit=1GiB sqlite_connections=8 sqlite_cache_size=4MiB sqlite_apply_cache_size=32MiB sqlite_mmap_size=64MiB"
	if !strings.Contains(log.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, log.String())
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d, want 1 GiB", got)
	}
}

func TestBadMemorySettingsAreReportedClearly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--sqlite-cache-size", "lots"}, nil, `invalid argument "lots" for "--sqlite-cache-size" flag: is not a size (write e.g. 0, 64MiB, 2GiB)`},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--sqlite-cache-size", "64KiB"}, nil, "SQLite page cache size 65536: must be between 1048576 (1 MiB)"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--memory-limit", "1MiB"}, nil, "--memory-limit 1MiB: must be 0 (none) or at least 32MiB"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, map[string]string{"CATALOGD_SQLITE_MMAP_SIZE": "2 gigs"}, `CATALOGD_SQLITE_MMAP_SIZE="2 gigs" is not a size`},
		{[]string{"ingest", "--location", "x"}, map[string]string{"CATALOGD_SQLITE_APPLY_CACHE_SIZE": "0"}, "SQLite apply page cache size 0: must be between"},
	} {
		var out syncBuffer
		err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "sqlite: {cacheSize: banana, mmapSize: -1, pageSize: 4096}\nmemoryLimit: 1.5\n")
	var out syncBuffer
	if err := run(t.Context(), []string{"config", "check", path}, func(string) string { return "" }, &out, &out); err == nil {
		t.Fatal("config check passed bad sizes")
	}
	for _, want := range []string{
		`sqlite.cacheSize: "banana" is not a size (write e.g. 0, 64MiB, 2GiB)`,
		"sqlite.mmapSize: minimum: got -1, want 0",
		"sqlite.pageSize: unknown key",
		"memoryLimit: is number, want integer or string",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestAutoLimitLeavesRoomAboveTheLiveHeapWithinTheContainer(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ live, ceiling, want int64 }{
		{0, 0, autoLimitHeadroom},
		{60 * mib, 0, 60*mib + autoLimitHeadroom},
		{400 * mib, 0, 600 * mib},
		{400 * mib, 1000 * mib, 600 * mib},
		{400 * mib, 500 * mib, 500 * mib / 10 * 9},
		{0, 20 * mib, minMemoryLimit},
	} {
		if got := autoLimit(tc.live, tc.ceiling); got != tc.want {
			t.Errorf("autoLimit(%d MiB, %d MiB) = %d, want %d", tc.live/mib, tc.ceiling/mib, got, tc.want)
		}
	}
}

func TestServeWithoutALimitFollowsTheLiveHeap(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	srv, log := startServerEnv(t, nil)
	if !strings.Contains(log.String(), "memory_limit=auto") {
		t.Errorf("the log does not say memory_limit=auto:\n%s", log.String())
	}
	// A live heap of 64 MiB more raises the limit above it after the next collection.
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	deadline := time.Now().Add(time.Minute)
	for debug.SetMemoryLimit(-1) < 64<<20+autoLimitHeadroom {
		if time.Now().After(deadline) {
			t.Fatalf("memory limit %d with 64 MiB live", debug.SetMemoryLimit(-1))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(ballast)
	srv.stop()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("memory limit %d after serve stopped, want %d as before", got, prev)
	}
}

func TestAGivenLimitOrNoneStopsTheAutomaticOne(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--memory-limit", "0"}, "memory_limit=none"},
		{map[string]string{"CATALOGD_MEMORY_LIMIT": "512MiB"}, nil, "memory_limit=512MiB"},
		{map[string]string{"GOMEMLIMIT": "off"}, nil, "memory_limit=none"},
	} {
		srv, log := startServerEnv(t, tc.env, tc.args...)
		if !strings.Contains(log.String(), tc.want) {
			t.Errorf("%v %v: the log does not say %q:\n%s", tc.env, tc.args, tc.want, log.String())
		}
		srv.stop()
		debug.SetMemoryLimit(prev)
	}
}
