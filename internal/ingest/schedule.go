package ingest

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// DefaultInterval is how often a location is read when nothing says otherwise.
const DefaultInterval = time.Minute

// DefaultMaxRemovalShare is the share of a location's entities one read may remove.
const DefaultMaxRemovalShare = 0.5

// scheduler runs one loop per registered location: a read now, then one every interval
// (with a jitter fixed per location, so replicas and locations spread out), and one at once
// whenever RefreshWhere triggers it.
type scheduler struct {
	mu      sync.Mutex
	ctx     context.Context
	locs    map[string]*scheduled
	wg      sync.WaitGroup
	started bool
	startAt time.Time // when Start was called
}

type scheduled struct {
	cfg     LocationConfig
	p       Provider
	first   func(error)
	trigger chan struct{}
	cancel  context.CancelFunc
}

// Add registers a provider with the engine; once the engine is started it is read at once and
// then on its schedule. first, when set, is called after its first read. Adding a key that is
// registered already replaces it.
func (e *Engine) Add(cfg LocationConfig, p Provider, first func(error)) {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locs == nil {
		s.locs = map[string]*scheduled{}
	}
	key := p.Location().Key
	if old, ok := s.locs[key]; ok && old.cancel != nil {
		old.cancel()
	}
	l := &scheduled{cfg: cfg, p: p, first: first, trigger: make(chan struct{}, 1)}
	s.locs[key] = l
	if s.started {
		e.startLoop(l)
	}
}

// Remove stops reading the location key (its entities are the store's to remove).
func (e *Engine) Remove(key string) {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locs[key]; ok {
		if l.cancel != nil {
			l.cancel()
		}
		delete(s.locs, key)
	}
}

// Lookup returns the provider and configuration of a registered location.
func (e *Engine) Lookup(key string) (Provider, LocationConfig, bool) {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locs[key]
	if !ok {
		return nil, LocationConfig{}, false
	}
	return l.p, l.cfg, true
}

// Keys lists the registered locations, sorted.
func (e *Engine) Keys() []string {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.locs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Start starts reading every registered location (and those added later) until ctx ends.
func (e *Engine) Start(ctx context.Context) {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	s.started = true
	s.startAt = time.Now()
	for _, l := range s.locs {
		e.startLoop(l)
	}
}

// Wait waits for every loop to end (after the context given to Start ended).
func (e *Engine) Wait() { e.sched.wg.Wait() }

// RefreshWhere triggers an immediate read of every registered location that match accepts
// (a webhook names a repository and branch, which a provider recognises) and returns their
// keys. It does not wait for the reads.
func (e *Engine) RefreshWhere(_ context.Context, match func(LocationConfig, Provider) bool) []string {
	s := &e.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k, l := range s.locs {
		if match(l.cfg, l.p) {
			select {
			case l.trigger <- struct{}{}:
			default: // a read is pending already
			}
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// startLoop runs l's loop; s.mu is held.
func (e *Engine) startLoop(l *scheduled) {
	s := &e.sched
	ctx, cancel := context.WithCancel(s.ctx)
	l.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		e.loop(ctx, l)
	}()
}

func (e *Engine) loop(ctx context.Context, l *scheduled) {
	key := l.p.Location().Key
	interval := l.cfg.Interval
	if interval <= 0 {
		interval = e.Interval
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if e.Locks != nil && e.Locks.Coordinated() {
		e.sharedLoop(ctx, l, key, interval)
		return
	}
	first := true
	for {
		err := e.read(ctx, l, key)
		if ctx.Err() != nil {
			return
		}
		if first {
			first = false
			if l.first != nil {
				l.first(err)
			}
		}
		timer := time.NewTimer(jittered(key, interval))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-l.trigger:
			timer.Stop()
		}
	}
}

// read reads one location now and reports how it went.
func (e *Engine) read(ctx context.Context, l *scheduled, key string) error {
	t0 := time.Now()
	res, err := e.Refresh(ctx, l.p)
	if ctx.Err() != nil {
		return err
	}
	if err != nil {
		e.log().Error("refresh failed", "location", key, "err", err)
	} else {
		e.log().Info("refreshed", "location", key, "result", res.String(), "took", time.Since(t0).Round(time.Millisecond))
	}
	if e.OnRead != nil {
		e.OnRead(key, err)
	}
	return err
}

// busyRetry is how soon a replica looks again at a location another replica is reading (or
// when its lock could not be asked for): once that read ends, the location is fresh and the
// next look sleeps until it is due.
const busyRetry = time.Second

// sharedLoop is loop for replicas sharing a database. A location is due when its last read,
// by any replica (the locations table's last_read_at), is an interval old. Every replica
// wakes when it is due, after a random delay of up to a twentieth of the interval, so which
// replica reads it is spread at random; the first to take the location's lock reads it (and
// checks under the lock that it is still due), the others find it fresh or locked and sleep.
// A triggered read (a webhook) skips the due check but still waits for the lock. A location
// last read before this process started is due at once, as every location is read when a
// single process starts (replicas starting together read it once: the first to take the lock).
func (e *Engine) sharedLoop(ctx context.Context, l *scheduled, key string, interval time.Duration) {
	jit := jittered(key, interval)
	first := l.first
	forced, settledOnce := false, false
	e.sched.mu.Lock()
	startAt := e.sched.startAt
	e.sched.mu.Unlock()
	for {
		notBefore := time.Time{}
		if !settledOnce {
			notBefore = startAt
		}
		wait, settled, err := e.sharedTurn(ctx, l, key, jit, notBefore, forced)
		if ctx.Err() != nil {
			return
		}
		if settled {
			// Read by this replica or, recently enough, by another.
			forced, settledOnce = false, true
			if first != nil {
				first(err)
				first = nil
			}
			wait += time.Duration(rand.Int64N(int64(interval/20) + 1))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-l.trigger:
			timer.Stop()
			forced = true
		}
	}
}

// sharedTurn reads l if it is due (or forced) and this replica gets its lock, and returns how
// long to sleep before looking again: busyRetry, unsettled, when another replica holds it (or
// the lock or the time of the last read could not be asked for); else, settled, until it is
// due, with the error of the read when this replica read it. A location last read before
// notBefore is due.
func (e *Engine) sharedTurn(ctx context.Context, l *scheduled, key string, jit time.Duration, notBefore time.Time, forced bool) (wait time.Duration, settled bool, readErr error) {
	if !forced {
		wait, err := e.untilDue(ctx, key, jit, notBefore)
		if err != nil {
			if ctx.Err() == nil {
				e.log().Warn("reading when a location was last read", "location", key, "err", err)
			}
			return busyRetry, false, nil
		}
		if wait > 0 {
			return wait, true, nil
		}
	}
	ok, err := e.Locks.TryLock(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			e.log().Warn("location lock", "location", key, "err", err)
		}
		return busyRetry, false, nil
	}
	if !ok {
		return busyRetry, false, nil
	}
	defer e.Locks.Unlock(key)
	if !forced {
		// Another replica may have read it between the check and the lock.
		wait, err := e.untilDue(ctx, key, jit, notBefore)
		if err != nil {
			return busyRetry, false, nil
		}
		if wait > 0 {
			return wait, true, nil
		}
	}
	return jit, true, e.read(ctx, l, key)
}

// untilDue returns how long until key is due (0 or less: due now): an interval (jit) after
// its last read, or now when that was before notBefore.
func (e *Engine) untilDue(ctx context.Context, key string, jit time.Duration, notBefore time.Time) (time.Duration, error) {
	last, ok, err := e.Store.LastRead(ctx, key)
	if err != nil || !ok || last.Before(notBefore) {
		return 0, err
	}
	return time.Until(last.Add(jit)), nil
}

// jittered spreads reads of one interval by up to a tenth of it, by a share fixed per key.
func jittered(key string, d time.Duration) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(key))
	frac := float64(h.Sum32()%1000)/1000 - 0.5 // [-0.5, 0.5)
	return d + time.Duration(frac*0.2*float64(d))
}

// Exclusive runs fn while no read of this engine is being applied (e.g. removing a
// location's entities, so that a read of it still in flight cannot write them back).
func (e *Engine) Exclusive(fn func() error) error {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	return fn()
}
