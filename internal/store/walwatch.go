package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Every request reads the catalog generation (cache.go), so that answers kept for a generation
// are given only while it is current, whichever process wrote last. On SQLite that read is a
// read transaction: locks on the WAL index (fcntl calls), a statement step, the row; about a
// fifth of the server's CPU for an answer from the cache.
//
// SQLite itself knows whether anything was committed since it last looked without any of
// that: every commit rewrites the header of the WAL index, the shared-memory file beside the
// database (name-shm), which every connection of every process maps (https://sqlite.org/walformat.html,
// "The WAL-Index Header"). A walWatch maps it too and reads the header as SQLite's own
// readers do: the two copies, equal, initialised, of the version it knows. When the header is
// the same bytes as when the generation was last read, no transaction has committed since, so
// the generation is the same; otherwise it is read again. A commit appends frames (the
// header's frame count and checksum change) or restarts the WAL (its salts change), so the
// same header bytes never come back.
//
// The watch keeps one connection of its own open for as long as the store is open: while a
// process has the WAL index open, no other process deletes the file (SQLite deletes it only
// when it closes the last connection), so the mapped file is the one in use.
//
// TestGenerationFollowsOtherConnectionsWrites, which also checks that reads are spared, fails
// the day SQLite's format changes under it: the watch then gives up (the version check) and
// every request reads the generation, as before.
type walWatch struct {
	db *sql.DB // the connection kept open
	// mem is the WAL index's first page, mapped shared, read-only; nil once closed. Readers
	// hold mu's read lock while they read it: close unmaps it under the write lock (a read of
	// unmapped memory is a fatal fault, not an error).
	mu   sync.RWMutex
	mem  []byte
	last atomic.Pointer[walSeen]
	// reads counts the generation reads the header did not spare (for tests).
	reads atomic.Int64
}

// walSeen is a header and the generation read after it was.
type walSeen struct {
	hdr [walHeaderSize]byte
	gen int64
}

const (
	walHeaderSize   = 48      // one copy of the WAL-index header
	walIndexVersion = 3007000 // iVersion, the same since WAL was introduced
	walMapSize      = 4096    // enough for both copies of the header
	walIsInitOffset = 12      // isInit, a byte
)

// header returns the WAL index's header when both copies agree (a writer is not halfway
// through it), it is initialised and of the known version.
func (w *walWatch) header() ([walHeaderSize]byte, bool) {
	var a, b [walHeaderSize]byte
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.mem == nil {
		return a, false
	}
	// The writer writes the second copy, then the first; reading the first, then the second,
	// and finding them equal means neither was being written. Word by word, atomically: the
	// other side is another process (or SQLite's own mapping in this one).
	loadWords(a[:], w.mem[:walHeaderSize])
	loadWords(b[:], w.mem[walHeaderSize:2*walHeaderSize])
	if a != b || a[walIsInitOffset] == 0 || binary.NativeEndian.Uint32(a[:4]) != walIndexVersion {
		return a, false
	}
	return a, true
}

// generation returns the generation read by read, or the one read last when the header has
// not changed since.
func (w *walWatch) generation(read func() (int64, error)) (int64, error) {
	hdr, ok := w.header()
	if ok {
		if seen := w.last.Load(); seen != nil && seen.hdr == hdr {
			return seen.gen, nil
		}
	}
	w.reads.Add(1)
	gen, err := read()
	if err != nil || !ok {
		return gen, err
	}
	// The header was read before the generation: if a commit came between, the header is
	// already another and this pair is never used.
	w.last.Store(&walSeen{hdr: hdr, gen: gen})
	return gen, nil
}

func (w *walWatch) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	unmapShared(w.mem)
	w.mem = nil
	w.mu.Unlock()
	w.db.Close()
}

// walWatchState makes a Store's watch once, on the first generation read.
type walWatchState struct {
	once  sync.Once
	watch *walWatch // nil: not SQLite, not in WAL mode, or the index could not be mapped
}

// openWALWatch opens the watch of the SQLite database dsn (as parseURL makes it), or returns
// an error saying why there is none.
func openWALWatch(ctx context.Context, dsn string) (*walWatch, error) {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	var mode string
	// Reading the schema opens the WAL index, which the connection then keeps.
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "SELECT count(*) FROM sqlite_master"); err != nil {
		db.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("journal mode %q, not WAL", mode)
	}
	mem, err := mapShared(path+"-shm", walMapSize)
	if err != nil {
		db.Close()
		return nil, err
	}
	w := &walWatch{db: db, mem: mem}
	if _, ok := w.header(); !ok {
		w.close()
		return nil, fmt.Errorf("WAL index header of %s-shm not recognised", path)
	}
	return w, nil
}
