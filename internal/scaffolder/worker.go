package scaffolder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"catalogd/ent"
	"catalogd/ent/predicate"
	"catalogd/ent/scaffoldertask"
	"catalogd/internal/auth"
	"catalogd/internal/catalog"
	"catalogd/internal/scaffold"
)

// PoolOptions configure a worker pool.
type PoolOptions struct {
	Workers int           // goroutines claiming tasks (default 2)
	Poll    time.Duration // how often an idle worker looks for a task (default 1s)
	// Postgres selects the claim by SELECT … FOR UPDATE SKIP LOCKED; otherwise (SQLite) a
	// conditional UPDATE whose affected rows say who won.
	Postgres bool
}

// Pool runs tasks: each worker claims an OPEN task (or a PROCESSING one whose lease expired,
// its worker having died), holds it by heartbeat, and hands it to the engine.
type Pool struct {
	svc  *Service
	opts PoolOptions

	mu      sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
	held    map[string]string // task id -> lease owner, while running
	stopped bool
}

// NewPool returns a pool over the service; Start starts it.
func NewPool(svc *Service, o PoolOptions) *Pool {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	return &Pool{svc: svc, opts: o, held: map[string]string{}}
}

// Start starts the workers. When ctx ends they stop at once without touching the database
// (as a process that dies would: the leases they held expire and other workers take over);
// Stop stops them and hands their tasks back.
func (p *Pool) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	p.stop = cancel
	p.done = make(chan struct{})
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i := range p.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, fmt.Sprintf("%s/w%d", p.svc.owner, i))
		}()
	}
	go func() { wg.Wait(); close(p.done) }()
}

// Stop stops the workers (the engine sees its context cancelled mid-step) and releases the
// leases of the tasks they held, so another process resumes them at once instead of after
// the lease. It waits for the workers at most until ctx ends.
func (p *Pool) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stop == nil || p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.stop()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	p.mu.Lock()
	held := p.held
	p.held = map[string]string{}
	p.mu.Unlock()
	var errs []error
	for id, owner := range held {
		_, err := p.svc.client.ScaffolderTask.Update().
			Where(scaffoldertask.ID(id), scaffoldertask.LeaseOwner(owner), scaffoldertask.State(StateProcessing)).
			SetLeaseUntil(0).SetLeaseOwner("").SetUpdatedAt(p.svc.now()).Save(ctx)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *Pool) loop(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		t, err := p.claim(ctx, owner)
		if err != nil && ctx.Err() == nil {
			p.svc.log.Warn("scaffolder: claiming a task failed", "err", err)
		}
		if t == nil {
			select {
			case <-ctx.Done():
			case <-p.svc.wake:
			case <-time.After(p.opts.Poll):
			}
			continue
		}
		p.mu.Lock()
		p.held[t.ID] = owner
		p.mu.Unlock()
		p.svc.execute(ctx, t, owner)
		p.mu.Lock()
		if ctx.Err() == nil {
			delete(p.held, t.ID)
		}
		p.mu.Unlock()
	}
}

// claimable are the tasks a worker may take: OPEN ones whose secrets it can open (or that
// waited a lease long for the process that can: it is gone, and the task fails), and
// PROCESSING ones whose lease expired.
func (p *Pool) claimable(now time.Time) predicate.ScaffolderTask {
	s := p.svc
	return scaffoldertask.Or(
		scaffoldertask.And(scaffoldertask.State(StateOpen), scaffoldertask.Or(
			scaffoldertask.SecretsKey(""), scaffoldertask.SecretsKey(s.keys.ID),
			scaffoldertask.QueuedMsLT(now.Add(-s.lease).UnixMilli()))),
		scaffoldertask.And(scaffoldertask.State(StateProcessing), scaffoldertask.LeaseUntilLT(now.UnixMilli())),
	)
}

// claim takes one task for owner, or returns nil when there is none to take.
func (p *Pool) claim(ctx context.Context, owner string) (*ent.ScaffolderTask, error) {
	s := p.svc
	now := s.now()
	if p.opts.Postgres {
		tx, err := s.client.Tx(ctx)
		if err != nil {
			return nil, err
		}
		ids, err := tx.ScaffolderTask.Query().Where(p.claimable(now)).
			Order(ent.Asc(scaffoldertask.FieldQueuedMs), ent.Asc(scaffoldertask.FieldID)).Limit(1).
			ForUpdate(entsql.WithLockAction(entsql.SkipLocked)).IDs(ctx)
		if err != nil || len(ids) == 0 {
			tx.Rollback()
			return nil, err
		}
		if err := p.take(ctx, tx.Client(), ids[0], owner, now, false); err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		return s.client.ScaffolderTask.Get(ctx, ids[0])
	}
	ids, err := s.client.ScaffolderTask.Query().Where(p.claimable(now)).
		Order(ent.Asc(scaffoldertask.FieldQueuedMs), ent.Asc(scaffoldertask.FieldID)).Limit(4).IDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		err := p.take(ctx, s.client, id, owner, now, true)
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return s.client.ScaffolderTask.Get(ctx, id)
	}
	return nil, nil
}

var errTaken = errors.New("taken by another worker")

// take marks the task id as held by owner. conditional repeats the claimable condition, so of
// two workers racing for it the one whose update finds no row lost.
func (p *Pool) take(ctx context.Context, c *ent.Client, id, owner string, now time.Time, conditional bool) error {
	u := c.ScaffolderTask.Update().Where(scaffoldertask.ID(id))
	if conditional {
		u.Where(p.claimable(now))
	}
	n, err := u.SetState(StateProcessing).SetLeaseOwner(owner).SetLeaseUntil(now.Add(p.svc.lease).UnixMilli()).
		SetHeartbeatAt(now).SetUpdatedAt(now).AddAttempts(1).Save(ctx)
	if err != nil {
		return err
	}
	if n != 1 {
		return errTaken
	}
	// started_at keeps the first start.
	_, err = c.ScaffolderTask.Update().Where(scaffoldertask.ID(id), scaffoldertask.StartedAtIsNil()).SetStartedAt(now).Save(ctx)
	return err
}

// heartbeat extends owner's lease on the task every third of the lease until stop is called;
// lost is called once if the lease turns out to be someone else's.
func (s *Service) heartbeat(ctx context.Context, id, owner string, lost func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(s.lease/3, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := s.now()
			n, err := s.client.ScaffolderTask.Update().Where(scaffoldertask.ID(id), scaffoldertask.LeaseOwner(owner)).
				SetLeaseUntil(now.Add(s.lease).UnixMilli()).SetHeartbeatAt(now).Save(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.log.Warn("scaffolder: heartbeat failed", "task", id, "err", err)
				continue
			}
			if n == 0 {
				s.log.Warn("scaffolder: lease lost", "task", id)
				if lost != nil {
					lost()
				}
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// execute runs a claimed task to a final state, unless the pool stops (ctx ends) or the lease
// is lost first: then it leaves the task as it is, for the next holder.
func (s *Service) execute(ctx context.Context, t *ent.ScaffolderTask, owner string) {
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var lostLease bool
	var mu sync.Mutex
	stop := s.heartbeat(ctx, t.ID, owner, func() { mu.Lock(); lostLease = true; mu.Unlock(); cancelRun() })
	defer stop()

	log := s.log.With("task", t.ID, "template", t.TemplateRef)
	if t.CancelRequested {
		s.finish(ctx, t.ID, owner, StateCancelled, nil, "", nil, "cancelled before it started")
		return
	}
	spec, red, err := s.spec(ctx, t, nil)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Warn("scaffolder task cannot run", "err", err)
		s.finish(ctx, t.ID, owner, StateFailed, nil, err.Error(), red, err.Error())
		return
	}
	st, err := newTaskStore(ctx, s.client, t.ID, owner, red, s.now)
	if err != nil {
		log.Warn("scaffolder task store", "err", err)
		return
	}
	log.Info("scaffolder task started", "attempt", t.Attempts)
	out, err := s.engine.Run(auth.WithPrincipal(runCtx, spec.principal), spec.TaskSpec, st)
	mu.Lock()
	lost := lostLease
	mu.Unlock()
	switch {
	case ctx.Err() != nil:
		log.Info("scaffolder task left for another worker: this one is stopping")
	case lost || errors.Is(err, errLeaseLost):
		log.Warn("scaffolder task taken over by another worker")
	case errors.Is(err, scaffold.ErrCancelled):
		log.Info("scaffolder task cancelled")
		s.finish(ctx, t.ID, owner, StateCancelled, nil, "", red, "")
	case err != nil:
		msg := red.String(err.Error())
		log.Info("scaffolder task failed", "err", catalog.Excerpt(msg, 500))
		s.finish(ctx, t.ID, owner, StateFailed, nil, msg, red, "")
	default:
		log.Info("scaffolder task completed")
		s.finish(ctx, t.ID, owner, StateCompleted, out, "", red, "")
	}
}

// finish puts a held task in a final state: output and error recorded, secrets gone, lease
// released. event, when given, is recorded as the last event (type by state).
func (s *Service) finish(ctx context.Context, id, owner, state string, output map[string]any, errMsg string, red *redactor, event string) {
	out, err := boundedOutput(red, output)
	if err != nil {
		state, errMsg, out = StateFailed, err.Error(), nil
	}
	now := s.now()
	msg := catalog.Excerpt(red.String(errMsg), MaxErrorMessage)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		s.log.Warn("scaffolder: finishing a task failed", "task", id, "err", err)
		return
	}
	u := tx.ScaffolderTask.Update().Where(scaffoldertask.ID(id), scaffoldertask.LeaseOwner(owner)).
		SetState(state).SetError(msg).SetFinishedAt(now).SetUpdatedAt(now).
		SetLeaseOwner("").SetLeaseUntil(0).ClearSecrets().SetSecretsKey("")
	if out != nil {
		raw, _ := json.Marshal(out)
		u.SetOutput(raw)
	}
	n, err := u.Save(ctx)
	if err == nil && n == 1 && event != "" {
		typ := scaffold.EventError
		if state == StateCancelled {
			typ = scaffold.EventCancelled
		}
		var seq int
		if seq, err = lastSeq(ctx, tx.Client(), id); err == nil {
			err = tx.ScaffolderEvent.Create().SetTaskID(id).SetSeq(seq + 1).SetType(typ).
				SetMessage(catalog.Excerpt(red.String(event), MaxEventMessage)).SetCreatedAt(now).Exec(ctx)
		}
	}
	if err != nil {
		tx.Rollback()
		s.log.Warn("scaffolder: finishing a task failed", "task", id, "err", err)
		return
	}
	if err := tx.Commit(); err != nil {
		s.log.Warn("scaffolder: finishing a task failed", "task", id, "err", err)
	}
}
