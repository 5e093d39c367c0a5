// Package store owns the database: opening SQLite or PostgreSQL from a URL, migrating the schema,
// and the writes that change the catalog (Apply). Reads go through the ent client it exposes.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // PostgreSQL driver
	_ "modernc.org/sqlite" // pure-Go SQLite driver

	"catalogd/ent"
)

// Store is an open catalog database.
type Store struct {
	Client   *ent.Client
	DB       *sql.DB
	Dialect  string // dialect.SQLite or dialect.Postgres
	driver   *entsql.Driver
	dsn      string        // what the driver was opened with (the change listener and the lock session open their own)
	answers  answerCache   // search pages and facet counts of the current generation (cache.go)
	fulltext fulltextState // search's in-memory index (fulltext.go)
	wal      walWatchState // SQLite: commits seen from the WAL index's header (walwatch.go)
	textMem  textMemState  // the text filter's in-memory index on PostgreSQL (textmem.go)
	genBatch genBatch      // PostgreSQL: generation reads shared by callers arriving together (genbatch.go)
	opts     Options
}

// Options size the memory a Store's database connections may hold. DefaultOptions gives the
// values Open uses.
type Options struct {
	// SQLiteCacheSize is the page cache of each pooled SQLite connection, in bytes (PRAGMA
	// cache_size). An Apply gives its own connection a larger one for its transaction.
	SQLiteCacheSize int64
	// SQLiteApplyCacheSize is the page cache of the connection an Apply writes on, for its
	// transaction, in bytes: room for the index pages a large write changes again and again
	// (with too little, it spills them to the WAL mid-transaction). A first write into an empty
	// catalog uses at most 32 MiB of it.
	SQLiteApplyCacheSize int64
	// SQLiteMmapSize is how much of the database file each pooled SQLite connection reads
	// through a memory map instead of read calls, in bytes (PRAGMA mmap_size); 0: none. Each
	// connection maps the file on its own, so the process's RSS counts the same file pages once
	// per connection (up to SQLiteConns times the file), though the kernel holds them once.
	SQLiteMmapSize int64
}

// Pool sizes. SQLite has one writer at a time and readers beside it (WAL); its
// connections are kept, as reopening one runs every pragma again.
const (
	SQLiteConns   = 8
	PostgresConns = 16
)

// Defaults of Options: small page caches and no memory map, so serve stays within a small
// container's memory: at most SQLiteConns × DefaultSQLiteCacheSize + DefaultSQLiteApplyCacheSize
// of page cache; the pages they do not hold are read from the kernel's page cache. A memory map
// makes reads that touch many pages (scans, pages of entities spread over the file) several
// times faster, at the cost of RSS: SQLiteConns × the mapped part of the file.
const (
	DefaultSQLiteCacheSize      = 4 << 20
	DefaultSQLiteApplyCacheSize = 32 << 20
	DefaultSQLiteMmapSize       = 0
)

// DefaultOptions returns the options Open uses.
func DefaultOptions() Options {
	return Options{SQLiteCacheSize: DefaultSQLiteCacheSize, SQLiteApplyCacheSize: DefaultSQLiteApplyCacheSize, SQLiteMmapSize: DefaultSQLiteMmapSize}
}

// Check reports an option out of its bounds.
func (o Options) Check() error {
	for _, c := range []struct {
		name string
		size int64
	}{{"SQLite page cache size", o.SQLiteCacheSize}, {"SQLite apply page cache size", o.SQLiteApplyCacheSize}} {
		if c.size < minSQLiteCacheSize || c.size > maxSQLiteSize {
			return fmt.Errorf("%s %d: must be between %d (1 MiB) and %d (1 TiB)", c.name, c.size, minSQLiteCacheSize, int64(maxSQLiteSize))
		}
	}
	if o.SQLiteMmapSize < 0 || o.SQLiteMmapSize > maxSQLiteSize {
		return fmt.Errorf("SQLite mmap size %d: must be between 0 and %d (1 TiB)", o.SQLiteMmapSize, int64(maxSQLiteSize))
	}
	return nil
}

const (
	minSQLiteCacheSize = 1 << 20
	maxSQLiteSize      = 1 << 40
)

// Open connects to a database URL with DefaultOptions (see OpenWith).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return OpenWith(ctx, rawURL, DefaultOptions())
}

// OpenWith connects to a database URL: "sqlite:PATH" (a file, created when missing) or
// "postgres://..." / "postgresql://...". It does not migrate; call Migrate.
func OpenWith(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	driverName, dsn, dia, err := parseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(rawURL), err)
	}
	if dia == dialect.SQLite {
		db.SetMaxOpenConns(SQLiteConns)
		db.SetMaxIdleConns(SQLiteConns)
	} else {
		db.SetMaxOpenConns(PostgresConns)
		db.SetMaxIdleConns(PostgresConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(rawURL), err)
	}
	drv := entsql.OpenDB(dia, db)
	return &Store{Client: ent.NewClient(ent.Driver(drv)), DB: db, Dialect: dia, driver: drv, dsn: dsn, opts: opts}, nil
}

func parseURL(raw string, opts Options) (driverName, dsn, dia string, err error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", "", fmt.Errorf("database URL %q: sqlite: needs a file path, e.g. sqlite:catalogd.db", raw)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", "", "", fmt.Errorf("database URL %q: %w", raw, err)
			}
		}
		q := url.Values{}
		// page_size only takes effect while the file is still empty, so it must come before
		// the switch to WAL, which writes the header. The driver runs the _pragma list sorted
		// by name (journal_mode before page_size) and the _journal_mode key after the list, so
		// WAL is asked for with the key. 16 KiB pages against the default 4 KiB: a large apply
		// writes a fifth fewer WAL frames and builds its indexes faster (commit 1.4 s -> 0.8 s,
		// 100k entities). Databases created with smaller pages keep them.
		q.Add("_pragma", "page_size(16384)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_journal_mode", "WAL")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// A modest page cache for every pooled connection; Apply gives its own connection a
		// larger one for the transaction (Options.SQLiteApplyCacheSize).
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -opts.sqliteCacheKiB()))
		q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", opts.SQLiteMmapSize))
		q.Set("_txlock", "immediate")
		return "sqlite", "file:" + path + "?" + q.Encode(), dialect.SQLite, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return "postgres", raw, dialect.Postgres, nil
	}
	return "", "", "", fmt.Errorf("database URL %q is not supported: use sqlite:PATH or postgres://user@host:port/db", redact(raw))
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Migrate brings the schema up to date (see MigrateUp).
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateUp(ctx)
	return err
}

// MigrateUp applies the pending versioned migrations, then the idempotent index statements
// (see migrate.go), and returns the names of the migration files it applied. On PostgreSQL
// an advisory lock makes replicas that start together migrate one after the other; on
// SQLite the migration's write transaction does.
func (s *Store) MigrateUp(ctx context.Context) ([]string, error) {
	if s.Dialect == dialect.Postgres {
		conn, err := s.DB.Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if err := pollAdvisoryLock(ctx, conn, migrateLockKey); err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey)
	}
	applied, err := s.migrateVersioned(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.migrateTextIndex(ctx); err != nil {
		return applied, err
	}
	if err := s.migrateSearchIndex(ctx); err != nil {
		return applied, err
	}
	if err := s.migrateCompression(ctx); err != nil {
		return applied, err
	}
	n, err := s.Client.CatalogState.Query().Count(ctx)
	if err != nil {
		return applied, err
	}
	if n == 0 {
		// Still under the migration lock on PostgreSQL, so replicas do not both insert it.
		if err := s.Client.CatalogState.Create().SetGeneration(0).Exec(ctx); err != nil {
			return applied, fmt.Errorf("initialise catalog state: %w", err)
		}
	}
	return applied, nil
}

// CheckMigrated returns an error saying what to do when the database has migrations to apply
// (for database.migrate: off, where catalogd changes no schema itself).
func (s *Store) CheckMigrated(ctx context.Context) error {
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Partial != "":
		return fmt.Errorf("the database has a migration left part-applied (%s): fix it, then run catalogd migrate up", st.Partial)
	case st.Legacy:
		return fmt.Errorf("the database was created before versioned migrations and migrations are off (--migrate off): run `catalogd migrate up --database URL` once to adopt it, or use --migrate auto")
	case len(st.Pending) > 0:
		return fmt.Errorf("the database has %d pending migration(s) (%s) and migrations are off (--migrate off): run `catalogd migrate up --database URL` first, or use --migrate auto",
			len(st.Pending), strings.Join(st.Pending, ", "))
	}
	return nil
}

// pollAdvisoryLock takes the session-level advisory lock key on conn, asking for it again and
// again rather than waiting in one statement: a statement waiting for the lock holds a
// snapshot, which the holder's CREATE INDEX CONCURRENTLY (buildPostgresIndexes holds the
// migration lock) would wait for, a cycle PostgreSQL does not detect.
func pollAdvisoryLock(ctx context.Context, conn *sql.Conn, key int64) error {
	for {
		var locked bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
			return err
		}
		if locked {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Generation returns the catalog's write generation (see CatalogState): one single-row read,
// which the caches and indexes that follow the catalog make per request.
func (s *Store) Generation(ctx context.Context) (int64, error) { return s.generation(ctx) }

// Close closes the database.
func (s *Store) Close() error {
	if stmt := s.answers.genStmt.Load(); stmt != nil {
		stmt.Close()
	}
	s.wal.once.Do(func() {}) // no watch from now on
	s.wal.watch.close()
	return s.Client.Close()
}

// sqliteCacheKiB and sqliteApplyCacheKiB are the cache sizes in KiB, as PRAGMA cache_size
// takes them (negative).
func (o Options) sqliteCacheKiB() int64      { return o.SQLiteCacheSize >> 10 }
func (o Options) sqliteApplyCacheKiB() int64 { return o.SQLiteApplyCacheSize >> 10 }

const (
	migrateLockKey = 0x6361746d // "catm"
	applyLockKey   = 0x63617461 // "cata"
)

// Driver returns the ent driver, e.g. to wrap it (tests count statements this way).
func (s *Store) Driver() dialect.Driver { return s.driver }
