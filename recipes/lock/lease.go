package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// Lease is a held lock: what Lock and TryLock (and RWMutex's RLock and
// TryRLock) return and the holder keeps until Unlock. Its Done channel is closed once the lock can no longer be
// trusted. A Lease is safe for concurrent use.
type Lease struct {
	m     *Mutex // the session, options and logger of the grant
	c     *contender.Contender
	token int64
	free  func() // frees the handle that granted the lease, at Unlock

	revoked chan struct{} // closed by watchNode when a revoke is requested

	done      chan struct{}
	stop      context.CancelFunc // ends the monitor
	wg        sync.WaitGroup     // the monitor's goroutines
	mu        sync.Mutex
	err       error // why Done was closed
	closed    bool  // Done closed
	freed     bool  // Unlock succeeded
	unlocking bool  // Unlock is deleting the node: its deletion is no loss
}

func (m *Mutex) grant(c *contender.Contender, st backend.Stat) *Lease {
	return m.grantFor(c, st, m.release)
}

// grantFor starts the lease of node c on m's session and options; free is
// called once, when Unlock succeeds.
func (m *Mutex) grantFor(c *contender.Contender, st backend.Stat, free func()) *Lease {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lease{m: m, c: c, token: st.CreateToken, free: free, revoked: make(chan struct{}), done: make(chan struct{}), stop: cancel}
	m.opts.logger.Debug("lock: held", "path", c.Path(), "token", st.CreateToken)
	// Subscribe before looking at the state, so no change falls between.
	states := m.s.StateChanges(ctx)
	switch {
	case m.s.Err() != nil:
		l.lose(fmt.Errorf("session ended: %w", m.s.Err()))
	case m.opts.policy == OnSuspend && m.s.State() == backend.Suspended:
		l.lose(errors.New("session suspended"))
	}
	l.wg.Add(2)
	go l.watchStates(ctx, states)
	go l.watchNode(ctx)
	return l
}

// Token returns the fencing token of this grant: the lock node's CreateToken
// (ZooKeeper czxid, etcd create revision). Tokens of later grants of the
// same lock are strictly larger. Pass it to the protected resource and have
// the resource refuse any token lower than the highest it has seen.
//
// A read lease of an RWMutex has a token too, but readers hold at once, so it
// fences nothing among them: it only orders the read after earlier writes.
func (l *Lease) Token() int64 { return l.token }

// Path returns the full path of the lock node this lease holds.
func (l *Lease) Path() string { return l.c.Path() }

// Revoked returns a channel closed once, when another process asked the
// holder to give the lock up (RequestRevoke, or Curator's Revoker). It is
// only ever closed for a lease taken with WithRevocable; otherwise a request
// is ignored. A request is not a loss: Done stays open and the lock stays
// held until the holder calls Unlock, which it may do when it sees fit, or
// never. Revoked is not closed by Unlock or by loss.
func (l *Lease) Revoked() <-chan struct{} { return l.revoked }

// Done returns a channel closed once, when the lock can no longer be
// trusted (Err says why) or when it was unlocked.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lock is held. After loss it returns an error
// matching ErrLost that wraps the cause (session suspended, lost or closed;
// the node deleted); after Unlock, one matching ErrNotHeld.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// lose closes Done with the cause, once, and stops the monitor.
func (l *Lease) lose(cause error) {
	l.mu.Lock()
	unlocking := l.unlocking
	l.mu.Unlock()
	if unlocking {
		return
	}
	l.finish(fmt.Errorf("%w: %s: %w", ErrLost, l.c.Path(), cause))
	l.stop()
}

func (l *Lease) finish(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed, l.err = true, err
	close(l.done)
	l.m.opts.logger.Debug("lock: done", "path", l.c.Path(), "err", err)
}

// watchStates gives the lock up as the loss policy says.
func (l *Lease) watchStates(ctx context.Context, states <-chan backend.State) {
	defer l.wg.Done()
	for {
		select {
		case st, ok := <-states:
			if !ok {
				if ctx.Err() == nil {
					l.lose(fmt.Errorf("session ended: %w", l.m.s.Err()))
				}
				return
			}
			switch {
			case st.Final():
				l.lose(fmt.Errorf("session %v: %w", st, l.m.s.Err()))
				return
			case st == backend.Suspended && l.m.opts.policy == OnSuspend:
				l.lose(errors.New("session suspended"))
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// watchNode gives the lock up when its node is deleted and, for a revocable
// lease, closes Revoked when the node's data becomes the revoke marker.
func (l *Lease) watchNode(ctx context.Context) {
	defer l.wg.Done()
	s := l.m.s
	revoked := false
	for ctx.Err() == nil {
		data, _, events, err := s.GetW(ctx, l.c.Path())
		if err == nil {
			if !revoked && l.m.opts.revocable && bytes.Equal(data, RevokeMessage) {
				revoked = true
				close(l.revoked)
				l.m.opts.logger.Debug("lock: revoke requested", "path", l.c.Path())
			}
			if h := l.m.opts.sawData; h != nil {
				h(l.c.Path(), data)
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, backend.ErrNoNode):
			l.lose(errors.New("lock node deleted"))
			return
		case s.Err() != nil:
			l.lose(fmt.Errorf("session ended: %w", s.Err()))
			return
		case err != nil:
			// Connection trouble outlasting the retry policy: wait for the
			// connection, then watch again.
			_, _ = backend.WaitState(ctx, s, backend.Connected, backend.Reconnected)
			pause(ctx, 100*time.Millisecond)
			continue
		}
		select {
		case ev := <-events:
			switch ev.Type {
			case backend.EventDeleted:
				l.lose(errors.New("lock node deleted"))
				return
			case backend.EventNotWatching:
				if ctx.Err() == nil && s.Err() != nil {
					l.lose(fmt.Errorf("session ended: %w", s.Err()))
					return
				}
			}
			// data changed, or the watch ended with the session alive: watch again
		case <-ctx.Done():
			return
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Unlock releases the lock: it deletes the lock node (only this lease's
// node: its name carries a GUID of its own) and closes Done. Unlock on a
// lease already unlocked returns an error matching ErrNotHeld. Unlock on a
// lease that was lost still removes the node if it is there and frees the
// Mutex handle, and returns the loss (matching ErrNotHeld and ErrLost), so
// the caller learns the lock did not cover all its work. When the node
// cannot be deleted (ctx ended during a connection loss) the lease stays
// held and Unlock may be called again; the node goes when the session ends.
func (l *Lease) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.freed {
		l.mu.Unlock()
		return fmt.Errorf("lock: unlock %s: %w", l.c.Path(), ErrNotHeld)
	}
	lost := l.err
	l.unlocking = true
	l.mu.Unlock()

	if err := l.c.Delete(ctx); err != nil {
		l.mu.Lock()
		l.unlocking = false
		l.mu.Unlock()
		return fmt.Errorf("lock: unlock %s: %w", l.c.Path(), err)
	}
	l.stop()
	l.wg.Wait()
	l.mu.Lock()
	already := l.freed
	l.freed = true
	l.mu.Unlock()
	if already {
		return fmt.Errorf("lock: unlock %s: %w", l.c.Path(), ErrNotHeld)
	}
	l.finish(fmt.Errorf("%w: %s unlocked", ErrNotHeld, l.c.Path()))
	l.free()
	l.m.opts.logger.Debug("lock: unlocked", "path", l.c.Path())
	if lost != nil {
		return fmt.Errorf("lock: unlock: %w: %w", ErrNotHeld, lost)
	}
	return nil
}

// isFreed reports whether Unlock has released the lease.
func (l *Lease) isFreed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.freed
}

// Guard runs ops in one backend.Multi together with a check that the lock
// node still exists, so the writes are applied only while the lock is held
// on the server. It refuses at once (with Err) when the lease was lost or
// unlocked. When the check fails, the error matches ErrLost (or ErrNotHeld
// after Unlock) and keeps the backend's error in the chain. The results are
// those of ops, without the check.
func (l *Lease) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("lock: guard: %w", err)
	}
	return l.guard(ctx, ops...)
}

// guard is Guard without the local check: the server alone decides.
func (l *Lease) guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	all := make([]backend.Op, 0, len(ops)+1)
	all = append(all, backend.CheckOp{Path: l.c.Path(), Version: backend.AnyVersion})
	all = append(all, ops...)
	res, err := l.m.s.Multi(ctx, all...)
	if err == nil {
		return res[1:], nil
	}
	var me *backend.MultiError
	if errors.As(err, &me) && me.Index == 0 {
		if lerr := l.Err(); errors.Is(lerr, ErrNotHeld) {
			return nil, fmt.Errorf("lock: guard %s: %w: %w", l.c.Path(), ErrNotHeld, err)
		}
		return nil, fmt.Errorf("lock: guard %s: %w: lock node gone: %w", l.c.Path(), ErrLost, err)
	}
	if errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return nil, fmt.Errorf("lock: guard %s: %w: %w", l.c.Path(), ErrLost, err)
	}
	return nil, fmt.Errorf("lock: guard %s: %w", l.c.Path(), err)
}
