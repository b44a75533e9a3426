package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Lease is a held lock: what Lock and TryLock (and RWMutex's RLock and
// TryRLock) return and the holder keeps until Unlock. Its Done channel is closed once the lock can no longer be
// trusted. A Lease is safe for concurrent use.
type Lease struct {
	m     *Mutex // the session, options and logger of the grant
	c     *contender.Contender
	token int64
	free  func() // frees the handle that granted the lease, at Unlock

	revoked chan struct{} // closed by the monitor's data hook when a revoke is requested

	mon *grant.Monitor // Done, Err, the loss policy and the guard

	mu    sync.Mutex
	freed bool // Unlock succeeded
}

func (m *Mutex) grant(c *contender.Contender, st backend.Stat) *Lease {
	return m.grantFor(c, st, m.release)
}

// grantFor starts the lease of node c on m's session and options; free is
// called once, when Unlock succeeds.
func (m *Mutex) grantFor(c *contender.Contender, st backend.Stat, free func()) *Lease {
	l := &Lease{m: m, c: c, token: st.CreateToken, free: free, revoked: make(chan struct{})}
	m.opts.logger.Debug("lock: held", "path", c.Path(), "token", st.CreateToken)
	revoked := false // only the monitor's goroutine calls OnData
	data, events, stop := c.TakeWatch()
	l.mon = grant.Start(grant.Config{
		Session:   m.s,
		Path:      c.Path(),
		Watch:     events,
		WatchData: data,
		StopWatch: stop,
		Policy:    grantPolicy(m.opts.policy),
		Lost: func(cause error) error {
			if errors.Is(cause, grant.ErrNodeDeleted) {
				cause = errors.New("lock node deleted")
			}
			return fmt.Errorf("%w: %s: %w", ErrLost, c.Path(), cause)
		},
		OnData: func(data []byte) {
			if !revoked && m.opts.revocable && bytes.Equal(data, RevokeMessage) {
				revoked = true
				close(l.revoked)
				m.opts.logger.Debug("lock: revoke requested", "path", c.Path())
			}
			if h := m.opts.sawData; h != nil {
				h(c.Path(), data)
			}
		},
		Logger: m.opts.logger,
		Name:   "lock",
	})
	return l
}

// grantPolicy is the monitor's policy for a lock's loss policy.
func grantPolicy(p LossPolicy) grant.Policy {
	if p == OnLost {
		return grant.OnLost
	}
	return grant.OnSuspend
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
func (l *Lease) Done() <-chan struct{} { return l.mon.Done() }

// Err returns nil while the lock is held. After loss it returns an error
// matching ErrLost that wraps the cause (session suspended, lost or closed;
// the node deleted); after Unlock, one matching ErrNotHeld.
func (l *Lease) Err() error { return l.mon.Err() }

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
	l.mu.Unlock()
	lost := l.mon.BeginRelease()

	if err := l.c.Delete(ctx); err != nil {
		l.mon.EndRelease()
		return fmt.Errorf("lock: unlock %s: %w", l.c.Path(), err)
	}
	l.mon.Stop()
	l.mu.Lock()
	already := l.freed
	l.freed = true
	l.mu.Unlock()
	if already {
		return fmt.Errorf("lock: unlock %s: %w", l.c.Path(), ErrNotHeld)
	}
	l.mon.Finish(fmt.Errorf("%w: %s unlocked", ErrNotHeld, l.c.Path()))
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
	res, err := l.mon.Guard(ctx, ops...)
	if err == nil {
		return res, nil
	}
	if grant.CheckFailed(err) {
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
