package election

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Latch is a candidate that stays in an election until it is closed, as
// Curator's LeaderLatch does: it joins at once, leads when its turn comes,
// and after losing a term with its session still alive (a suspended
// connection under OnSuspend) it joins again with a new node, so its next
// term gets a new, larger token. Await waits for leadership; IsLeader tells
// whether it leads now; Close steps out. A Latch ends when its session
// ends. A Latch is safe for concurrent use.
type Latch struct {
	e      *Election
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	term    *Term         // the current term, nil when not leading
	changed chan struct{} // closed and replaced whenever term or err changes
	err     error         // why the latch ended; nil while it runs
}

// NewLatch joins the election at directory path on session s and returns
// the Latch, which competes in the background until Close or the end of
// the session. It takes the options of New.
func NewLatch(s backend.Session, path string, opts ...Option) (*Latch, error) {
	e, err := New(s, path, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Latch{e: e, cancel: cancel, changed: make(chan struct{})}
	l.wg.Add(1)
	go l.run(ctx)
	return l, nil
}

// Election returns the election the latch takes part in, to observe it.
func (l *Latch) Election() *Election { return l.e }

// set records the current term and the end, and wakes the waiters.
func (l *Latch) set(t *Term, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.term = t
	if err != nil && l.err == nil {
		l.err = err
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *Latch) run(ctx context.Context) {
	defer l.wg.Done()
	e := l.e
	for {
		if ctx.Err() != nil {
			l.set(nil, fmt.Errorf("election: latch %s: %w", e.path, ErrClosed))
			return
		}
		if err := e.s.Err(); err != nil {
			l.set(nil, fmt.Errorf("election: latch %s: %w: %w", e.path, ErrLost, err))
			return
		}
		term, err := e.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil && e.s.Err() == nil {
				e.opts.logger.Warn("election: latch: campaign failed, retrying", "path", e.path, "err", err)
				if !errors.Is(err, ErrLost) {
					_, _ = backend.WaitState(ctx, e.s, backend.Connected, backend.Reconnected)
				}
				grant.Pause(ctx, e.opts.retry)
			}
			continue
		}
		l.set(term, nil)
		select {
		case <-term.Done():
		case <-ctx.Done():
		}
		l.set(nil, nil)
		// Delete the node (lost or closing): the next term, if any, needs a
		// new node, and a closing latch leaves nothing behind.
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
			_ = term.end(rctx) // closing: the node goes with the session otherwise
			cancel()
			continue
		}
		endBeforeRejoin(ctx, e.s, term)
	}
}

// Await blocks until the latch leads and returns the current term, or
// until ctx ends (ctx's error), the latch is closed (ErrClosed) or its
// session ends (ErrLost).
func (l *Latch) Await(ctx context.Context) (*Term, error) {
	for {
		l.mu.Lock()
		t, err, ch := l.term, l.err, l.changed
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if t != nil && t.Err() == nil {
			return t, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("election: await %s: %w", l.e.path, ctx.Err())
		}
	}
}

// IsLeader reports whether the latch leads now: it holds a term that has
// not ended.
func (l *Latch) IsLeader() bool {
	l.mu.Lock()
	t := l.term
	l.mu.Unlock()
	return t != nil && t.Err() == nil
}

// Term returns the current term, or nil when the latch does not lead.
func (l *Latch) Term() *Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != nil && l.term.Err() == nil {
		return l.term
	}
	return nil
}

// Close steps out of the election: a leading latch resigns (the next
// candidate leads at once), a waiting one deletes its node. It waits for
// the latch's goroutine (the deletion is bounded by
// contender.CleanupTimeout). Close is idempotent; after it, Await returns
// ErrClosed.
func (l *Latch) Close() error {
	l.cancel()
	l.wg.Wait()
	return nil
}
