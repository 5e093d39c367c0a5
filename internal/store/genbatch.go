package store

import (
	"context"
	"sync"
	"time"
)

// On PostgreSQL the generation read every request makes is a round trip to the database: the
// write that wakes a server process and the reply, about a third of the server's CPU for an
// answer from the cache at ten concurrent callers, and as much again in PostgreSQL. genBatch
// lets requests that arrive while a read is under way share the next read instead of making
// one each, without giving up what the read is for: every caller gets a generation read
// after it asked (the shared read starts only once all who share it have joined), so a
// write committed before a request began is seen by it, whichever replica wrote it.
type genBatch struct {
	mu   sync.Mutex
	cur  *genCall // the read under way, if any
	next *genCall // the read that starts when cur ends, shared by the callers since cur began
}

type genCall struct {
	done chan struct{}
	gen  int64
	err  error
}

// genReadTimeout bounds a read: one made for several callers, which none of their contexts
// alone may cancel, and one made for a single caller, which the next read waits for.
const genReadTimeout = 10 * time.Second

func (b *genBatch) read(ctx context.Context, do func(context.Context) (int64, error)) (int64, error) {
	b.mu.Lock()
	if b.cur == nil {
		c := &genCall{done: make(chan struct{})}
		b.cur = c
		b.mu.Unlock()
		b.perform(ctx, c, do, false)
		return c.gen, c.err
	}
	leader := b.next == nil
	if leader {
		b.next = &genCall{done: make(chan struct{})}
	}
	c, prev := b.next, b.cur
	b.mu.Unlock()
	if leader {
		// The first to join the next read makes it, once the one under way has ended: every
		// caller that joined it did so before it starts.
		<-prev.done
		b.mu.Lock()
		b.cur, b.next = c, nil
		b.mu.Unlock()
		b.perform(ctx, c, do, true)
		return c.gen, c.err
	}
	select {
	case <-c.done:
		return c.gen, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// perform makes c's read and hands its result to everyone waiting for it. A read shared by
// the callers that joined it outlives its maker's context; one made for its caller alone ends
// with the caller's.
func (b *genBatch) perform(ctx context.Context, c *genCall, do func(context.Context) (int64, error), shared bool) {
	if shared {
		ctx = context.WithoutCancel(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, genReadTimeout)
	c.gen, c.err = do(rctx)
	cancel()
	b.mu.Lock()
	if b.cur == c {
		b.cur = nil
	}
	b.mu.Unlock()
	close(c.done)
}
