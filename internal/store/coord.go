package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"catalogd/ent"
	"catalogd/ent/locationstate"
)

// Several replicas on one PostgreSQL share two things through it:
//
//   - Who reads a location: a replica reads a location only while it holds a session-level
//     advisory lock named after it (LocationLocks). The locks live in one session per
//     replica, so a replica that dies (kill -9, a lost network) loses them the moment
//     PostgreSQL notices its connection is gone, and another replica reads the location on
//     its next turn: nothing to expire, no lease to renew, no table to sweep, and no schema
//     change. When the next read is due is shared too: it follows the locations table's
//     last_read_at, which every read records (LastRead).
//   - That the catalog changed: Apply bumps catalog_state.generation and, on PostgreSQL,
//     sends a NOTIFY in the same transaction (delivered at commit). WatchGeneration LISTENs
//     for it and, as a fallback for notifications lost while its connection was down, also
//     reads the generation every so often; its callback rebuilds what a replica keeps in
//     memory from the catalog.
//
// On SQLite (one process) LocationLocks always grants its locks and WatchGeneration only
// polls, which also notices a `catalogd ingest` run into the same file.

// ChangeChannel is the channel of the NOTIFY that Apply sends on PostgreSQL when it moves the
// generation; its payload is "schema generation".
const ChangeChannel = "catalogd_catalog_changed"

// locationLockClass is the first key of the two-key advisory locks on locations (the
// one-key locks of store.go live in a separate key space).
const locationLockClass = 0x636c6f63 // "cloc"

// LocationLocks are this replica's claims on the locations it is reading.
type LocationLocks struct {
	s   *Store
	log *slog.Logger

	mu   sync.Mutex
	db   *sql.DB   // PostgreSQL: a pool of one, for the session holding the locks
	conn *sql.Conn // that session (nil until the first lock, or after it was lost)
	held map[string]bool
}

// NewLocationLocks returns the location locks of this process. Close releases them.
func (s *Store) NewLocationLocks(log *slog.Logger) *LocationLocks {
	if log == nil {
		log = slog.Default()
	}
	return &LocationLocks{s: s, log: log, held: map[string]bool{}}
}

// Coordinated reports whether the locks are shared with other processes (PostgreSQL).
func (l *LocationLocks) Coordinated() bool { return l.s.Dialect == dialect.Postgres }

// lockKey is the second key of a location's lock: the hash of the schema and the location key,
// so catalogs in separate schemas of one database do not share locks. Two locations whose
// hashes collide are never read at the same time by two replicas, which costs a delay only.
const lockKeySQL = `hashtext(current_schema() || '/' || $2)`

// TryLock claims key for this replica. It answers false when another replica holds it. An
// error means the lock session could not be reached; the caller should not read.
func (l *LocationLocks) TryLock(ctx context.Context, key string) (bool, error) {
	if !l.Coordinated() {
		return true, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] {
		return false, nil // a read of it by this replica is in flight
	}
	// The session is shared by every read of this replica: the statement runs on a context
	// of its own, since a caller's context ending mid-statement (its loop stopped) makes the
	// driver discard the connection, and with it the locks of the other reads in flight.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	conn, err := l.session(qctx)
	if err != nil {
		return false, err
	}
	var ok bool
	if err := conn.QueryRowContext(qctx, "SELECT pg_try_advisory_lock($1, "+lockKeySQL+")", locationLockClass, key).Scan(&ok); err != nil {
		l.lost(err)
		return false, fmt.Errorf("location lock: %w", err)
	}
	if ok {
		l.held[key] = true
	}
	return ok, nil
}

// Unlock gives key up. A lock whose session was lost is gone already.
func (l *LocationLocks) Unlock(key string) {
	if !l.Coordinated() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held[key] {
		return
	}
	delete(l.held, key)
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1, "+lockKeySQL+")", locationLockClass, key); err != nil {
		l.lost(err)
	}
}

// Close releases every lock, e.g. on shutdown, so other replicas take the locations over at
// once: explicitly first (the server releases a closed session's locks only when its backend
// has noticed the disconnection, a moment later), then by ending the session.
func (l *LocationLocks) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.held)
	var err error
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock_all()") // best effort: closing releases them too
		cancel()
		err = l.conn.Close()
		l.conn = nil
	}
	if l.db != nil {
		if cerr := l.db.Close(); err == nil {
			err = cerr
		}
		l.db = nil
	}
	return err
}

// session returns the connection holding the locks, connecting when needed; l.mu is held.
func (l *LocationLocks) session(ctx context.Context) (*sql.Conn, error) {
	if l.conn != nil {
		return l.conn, nil
	}
	if l.db == nil {
		db, err := sql.Open("postgres", l.s.dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		l.db = db
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("location lock session: %w", err)
	}
	l.conn = conn
	return conn, nil
}

// lost drops a session that failed: the locks it held are gone with it (PostgreSQL released
// them when the connection ended, or will when it notices). Reads in flight finish; another
// replica may start one of the same location meanwhile, which Apply's transaction lock makes
// safe (the two snapshots are applied one after the other). l.mu is held.
func (l *LocationLocks) lost(err error) {
	if l.conn == nil {
		return
	}
	if len(l.held) > 0 {
		l.log.Warn("lost the session holding location locks; reads in flight are no longer exclusive", "err", err, "held", len(l.held))
	}
	l.conn.Raw(func(any) error { return driver.ErrBadConn }) // discard it, never reuse it
	l.conn.Close()
	l.conn = nil
	clear(l.held)
}

// LastRead returns when location key was last read (by any replica), and false when it never was.
func (s *Store) LastRead(ctx context.Context, key string) (time.Time, bool, error) {
	st, err := s.Client.LocationState.Query().Where(locationstate.Key(key)).
		Select(locationstate.FieldLastReadAt).Only(ctx)
	if err != nil {
		if ent.IsNotFound(err) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, err
	}
	if st.LastReadAt == nil {
		return time.Time{}, false, nil
	}
	return *st.LastReadAt, true, nil
}

// WatchGeneration calls changed (never concurrently) whenever the catalog's generation moves,
// whoever moved it, until ctx ends: at once on a NOTIFY from Apply on PostgreSQL, and in any
// case within every (the fallback for notifications lost while the listening connection was
// down; it is reconnected by itself).
func (s *Store) WatchGeneration(ctx context.Context, every time.Duration, log *slog.Logger, changed func(gen int64)) {
	if log == nil {
		log = slog.Default()
	}
	last, err := s.Generation(ctx)
	if err != nil {
		last = -1
	}
	var notify <-chan *pq.Notification
	if s.Dialect == dialect.Postgres {
		l := pq.NewListener(s.dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
			switch ev {
			case pq.ListenerEventDisconnected:
				log.Warn("change listener disconnected; reconnecting", "err", err)
			case pq.ListenerEventReconnected:
				log.Info("change listener reconnected")
			case pq.ListenerEventConnectionAttemptFailed:
				log.Warn("change listener cannot connect", "err", err)
			}
		})
		defer l.Close()
		// Listen waits for the listener's first connection, ignoring ctx: meanwhile the
		// generation is polled, and Close (when ctx ends) ends the wait.
		go func() {
			if err := l.Listen(ChangeChannel); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Warn("cannot LISTEN for catalog changes; polling only", "err", err)
			}
		}()
		notify = l.NotificationChannel()
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify: // a change, or nil after a reconnect (notifications may have been lost)
		case <-tick.C:
		}
		gen, err := s.Generation(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reading the catalog generation", "err", err)
			}
			continue
		}
		if gen != last {
			last = gen
			changed(gen)
		}
	}
}
