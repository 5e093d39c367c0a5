package ingest

import (
	"context"
	"hash/fnv"
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
	first := true
	for {
		t0 := time.Now()
		res, err := e.Refresh(ctx, l.p)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log().Error("refresh failed", "location", key, "err", err)
		} else {
			e.log().Info("refreshed", "location", key, "result", res.String(), "took", time.Since(t0).Round(time.Millisecond))
		}
		if e.OnRead != nil {
			e.OnRead(key, err)
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
