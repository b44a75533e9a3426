package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// Mutex is a fair, distributed exclusive lock over a directory node. Create
// one with New; take the lock with Lock or TryLock, which return the Lease a
// holder keeps until Lease.Unlock.
//
// A Mutex handle is not reentrant: while it holds the lock or is acquiring
// it, Lock and TryLock on the same handle fail at once with ErrAlreadyHeld.
// Two handles (in one process or in several) over the same path contend
// like any two processes. A Mutex is safe for concurrent use.
type Mutex struct {
	s    backend.Session
	path string
	opts options

	mu   sync.Mutex
	busy bool // acquiring, or holding a lease not yet unlocked
}

// New returns a Mutex over the lock directory path on session s. The
// directory is created (as a Container node, with missing ancestors) on the
// first Lock, with the ACL of WithACL or the session's default. A bad path
// is an error matching backend.ErrBadPath; a bad option is an error too.
func New(s backend.Session, path string, opts ...Option) (*Mutex, error) {
	if s == nil {
		return nil, errors.New("lock: nil session")
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("lock: new %q: %w", path, err)
	}
	o := defaults()
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("lock: nil option")
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if max := s.Capabilities().MaxDataSize; max > 0 && len(o.data) > max {
		return nil, fmt.Errorf("lock: new %q: data of %d bytes: %w (max %d)", path, len(o.data), backend.ErrTooLarge, max)
	}
	if err := o.checkACL(s); err != nil {
		return nil, fmt.Errorf("lock: new %q: %w", path, err)
	}
	return &Mutex{s: s, path: path, opts: o}, nil
}

// Path returns the lock directory.
func (m *Mutex) Path() string { return m.path }

func (m *Mutex) claim() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy {
		return false
	}
	m.busy = true
	return true
}

func (m *Mutex) release() {
	m.mu.Lock()
	m.busy = false
	m.mu.Unlock()
}

func (m *Mutex) config() contender.Config {
	return contender.Config{
		Dir:       m.path,
		Layout:    m.opts.layout.contender(),
		BlockedBy: contender.Predecessor,
		Data:      m.opts.data,
		ACL:       m.opts.acl,
		Logger:    m.opts.logger,
		Hooks:     m.opts.hooks,
	}
}

// Lock blocks until this handle holds the lock, ctx ends, or the session is
// lost or closed. It joins the queue with one node and waits only for the
// node just before it. On failure its node is removed and the error
// returned (when ctx ends while the node's create is still in flight, Lock
// returns at once and the node is removed in the background as soon as the
// create's outcome is known): ctx's error, or one matching ErrLost (with the session's
// backend.ErrSessionExpired or backend.ErrClosed, or the node having been
// deleted, in the chain). Lock never reports success for a session that is
// gone: the node is read back on the live session first.
func (m *Mutex) Lock(ctx context.Context) (*Lease, error) {
	if !m.claim() {
		return nil, fmt.Errorf("lock: lock %s: %w", m.path, ErrAlreadyHeld)
	}
	return m.acquire(ctx, "lock", m.config(), nil, m.release)
}

// TryLock takes the lock if it is free and fails fast otherwise, with a
// *LockedError (matching ErrLocked) naming the holder's node and session.
// It leaves no node behind when it fails.
func (m *Mutex) TryLock(ctx context.Context) (*Lease, error) {
	if !m.claim() {
		return nil, fmt.Errorf("lock: try-lock %s: %w", m.path, ErrAlreadyHeld)
	}
	holder := func(queue []contender.Entry, _ string) string { return queue[0].Name }
	return m.acquire(ctx, "try-lock", m.config(), holder, m.release)
}

// acquire joins the queue of cfg and returns the lease once nothing blocks
// it: Mutex and RWMutex, blocking or trying, all take a lock this way.
// With named nil it waits; otherwise it looks once and, when blocked,
// leaves the queue and fails with a *LockedError naming the node named
// picks from the queue and the blocking node. free releases the caller's
// claim on its handle: at once on failure, at Unlock after a grant.
func (m *Mutex) acquire(ctx context.Context, op string, cfg contender.Config, named func(queue []contender.Entry, blocker string) string, free func()) (*Lease, error) {
	c, err := contender.Join(ctx, m.s, cfg)
	if err != nil {
		free()
		return nil, m.acquireErr(op, err)
	}
	if named == nil {
		st, err := c.Wait(ctx)
		if err != nil {
			free()
			return nil, m.acquireErr(op, err)
		}
		return m.grantFor(c, st, free), nil
	}
	fail := func(err error) (*Lease, error) {
		if lerr := c.Leave(); lerr != nil {
			m.opts.logger.Warn("lock: "+op+" cleanup failed", "path", c.Path(), "err", lerr)
		}
		free()
		return nil, err
	}
	for {
		st, queue, blocker, err := c.Try(ctx)
		if err != nil { // Try removed the node
			free()
			return nil, m.acquireErr(op, err)
		}
		if blocker == "" {
			return m.grantFor(c, st, free), nil
		}
		h, err := m.holder(ctx, named(queue, blocker))
		if errors.Is(err, backend.ErrNoNode) {
			continue // it just left: look again
		}
		if err != nil {
			return fail(m.acquireErr(op, err))
		}
		return fail(&LockedError{Path: m.path, Holder: h})
	}
}

// acquireErr wraps a failure to acquire: a vanished node or ended session
// is ErrLost, anything else (ctx) is returned as is, with the operation.
func (m *Mutex) acquireErr(op string, err error) error {
	if errors.Is(err, contender.ErrGone) || errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return fmt.Errorf("lock: %s %s: %w: %w", op, m.path, ErrLost, err)
	}
	return fmt.Errorf("lock: %s %s: %w", op, m.path, err)
}

func (m *Mutex) holder(ctx context.Context, name string) (Holder, error) {
	p := backend.Join(m.path, name)
	data, st, err := m.s.Get(ctx, p)
	if err != nil {
		return Holder{}, err
	}
	return Holder{Name: name, Path: p, Owner: st.EphemeralOwner, Token: st.CreateToken, Created: st.Created, Data: data}, nil
}

// Holders lists the lock's queue in order: the holder first, then the
// waiters in the order they will get the lock. Nodes whose names the
// mutex's layout does not recognise are left out; a node that goes away
// while it is read is skipped. A missing lock directory is an empty queue.
func (m *Mutex) Holders(ctx context.Context) ([]Holder, error) {
	return m.holders(ctx, m.opts.layout.contender())
}

// holders lists the queue of the nodes layout names, in order.
func (m *Mutex) holders(ctx context.Context, layout contender.Layout) ([]Holder, error) {
	children, _, err := m.s.Children(ctx, m.path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: holders %s: %w", m.path, err)
	}
	var hs []Holder
	for _, e := range contender.Queue(children, layout) {
		h, err := m.holder(ctx, e.Name)
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lock: holders %s: %w", m.path, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}
