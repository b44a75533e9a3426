package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// Names of the semaphore's two directories below its path, and of its
// lease nodes: those of Curator's InterProcessSemaphoreV2.
const (
	semLeasesDir = "leases"
	semLocksDir  = "locks"
	semLeaseName = "lease"
)

// errLeaseMissing: the lease node vanished while its session lives (someone
// deleted it); the acquirer creates a new one, as Curator does.
var errLeaseMissing = errors.New("lock: semaphore lease node missing")

// Semaphore is a distributed counting semaphore: at most maxLeases leases
// over one path are held at a time. Create one with NewSemaphore; take a
// lease with Acquire or TryAcquire and give it back with
// SemaphoreLease.Release.
//
// A Semaphore handle may hold several leases at once (each Acquire takes
// one); a process that asks for more leases than maxLeases waits for
// itself until ctx ends. A Semaphore is safe for concurrent use.
type Semaphore struct {
	s      backend.Session
	path   string
	max    int
	opts   options
	leases *Mutex // the leases directory: grants and lists lease nodes
}

// NewSemaphore returns a semaphore of maxLeases leases over path on session
// s. Its directories, path/leases and path/locks, are created (as Container
// nodes, with missing ancestors) on the first Acquire. Every process sharing
// the path must use the same maxLeases. WithData sets the data of the lease
// (and lock) nodes, WithACL the ACL of every node it creates, WithLossPolicy
// when a held lease is given up, WithLogger the logger; WithLayout(Kazoo) is
// an error: kazoo's Semaphore is a different protocol (see the package
// doc). A bad path is an error matching backend.ErrBadPath.
func NewSemaphore(s backend.Session, path string, maxLeases int, opts ...Option) (*Semaphore, error) {
	if s == nil {
		return nil, errors.New("lock: nil session")
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("lock: new semaphore %q: %w", path, err)
	}
	if maxLeases < 1 {
		return nil, fmt.Errorf("lock: new semaphore %q: maxLeases %d: want at least 1", path, maxLeases)
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
	if o.layout != Curator {
		return nil, fmt.Errorf("lock: new semaphore %q: layout %v: only the Curator layout is supported", path, o.layout)
	}
	if max := s.Capabilities().MaxDataSize; max > 0 && len(o.data) > max {
		return nil, fmt.Errorf("lock: new semaphore %q: data of %d bytes: %w (max %d)", path, len(o.data), backend.ErrTooLarge, max)
	}
	if err := o.checkACL(s); err != nil {
		return nil, fmt.Errorf("lock: new semaphore %q: %w", path, err)
	}
	sem := &Semaphore{s: s, path: path, max: maxLeases, opts: o}
	sem.leases = &Mutex{s: s, path: backend.Join(path, semLeasesDir), opts: o}
	return sem, nil
}

// Path returns the semaphore's path.
func (sem *Semaphore) Path() string { return sem.path }

// MaxLeases returns the number of leases the semaphore grants at most.
func (sem *Semaphore) MaxLeases() int { return sem.max }

// lockConfig is the queue of path/locks: the nodes and rule of Curator's
// InterProcessMutex, as a Mutex with the Curator layout uses them.
func (sem *Semaphore) lockConfig() contender.Config {
	return contender.Config{
		Dir:       backend.Join(sem.path, semLocksDir),
		Layout:    contender.CuratorLayout("lock"),
		BlockedBy: contender.Predecessor,
		Data:      sem.opts.data,
		ACL:       sem.opts.acl,
		Logger:    sem.opts.logger,
		Hooks:     sem.opts.hooks,
	}
}

func (sem *Semaphore) leaseConfig() contender.Config {
	return contender.Config{
		Dir:    sem.leases.path,
		Layout: contender.CuratorLayout(semLeaseName),
		// Nothing blocks a lease node in contender's sense: acquire counts
		// the children itself, and Wait only reads the node back.
		BlockedBy: func([]contender.Entry, int) string { return "" },
		Data:      sem.opts.data,
		ACL:       sem.opts.acl,
		Logger:    sem.opts.logger,
	}
}

// Acquire blocks until this process holds one lease of the semaphore, ctx
// ends, or the session is lost or closed. It takes the mutex at path/locks,
// creates a protected ephemeral-sequential lease node in path/leases,
// waits (holding the mutex) until path/leases has at most maxLeases
// children, and releases the mutex. On failure it deletes its lease node
// and releases the mutex before returning the error: ctx's error, or one
// matching ErrLost (session expired or closed, or a node deleted).
func (sem *Semaphore) Acquire(ctx context.Context) (*SemaphoreLease, error) {
	return sem.acquire(ctx, "acquire", true)
}

// TryAcquire takes a lease if one is free and fails fast otherwise, with an
// error matching ErrLocked, leaving no node behind. As Curator's acquire
// with a zero wait, it also fails when another acquirer holds path/locks
// (it waits for a lease, so none is free).
func (sem *Semaphore) TryAcquire(ctx context.Context) (*SemaphoreLease, error) {
	return sem.acquire(ctx, "try-acquire", false)
}

func (sem *Semaphore) acquire(ctx context.Context, op string, block bool) (*SemaphoreLease, error) {
	// Safety does not need the mutex on path/locks: a lease is granted only
	// when the leases directory, which holds the node of every lease still
	// held, has at most maxLeases children. The mutex makes progress:
	// without it, several waiters could each see one child too many and
	// wait for each other forever.
	lc, err := sem.join(ctx, sem.lockConfig())
	if err != nil {
		return nil, sem.acquireErr(op, err)
	}
	if block {
		if _, err := lc.Wait(ctx); err != nil { // deletes the node on failure
			return nil, sem.acquireErr(op, err)
		}
	} else {
		queue, _, blocker, err := lc.Check(ctx)
		if err == nil && blocker != "" {
			err = fmt.Errorf("%w: acquirer %s is waiting for a lease", ErrLocked, queue[0].Name)
		}
		if err != nil {
			sem.leave(lc)
			return nil, sem.acquireErr(op, err)
		}
	}
	defer sem.leave(lc) // Curator too releases the mutex once the lease is held or given up

	c, st, err := sem.take(ctx, block)
	if err != nil {
		return nil, sem.acquireErr(op, err)
	}
	l := sem.leases.grant(c, st)
	sem.opts.logger.Debug("lock: semaphore lease held", "path", c.Path(), "max", sem.max)
	return &SemaphoreLease{l: l}, nil
}

// leave deletes a node of ours with a context of its own, so that it goes
// even when the acquirer's ctx ended.
func (sem *Semaphore) leave(c *contender.Contender) {
	if err := c.Leave(); err != nil {
		// The node stays until the session ends.
		sem.opts.logger.Warn("lock: semaphore: cleanup failed", "path", c.Path(), "err", err)
	}
}

// join is contender.Join, tried again when a parent vanished during the
// create: ErrNoNode from a create made no node (an empty Container
// directory above it was reaped while the parents were being created, as
// the etcd backend's reaper does within a second). A create cut short by
// ctx is cleaned up by contender.Join itself, once its outcome is known.
func (sem *Semaphore) join(ctx context.Context, cfg contender.Config) (*contender.Contender, error) {
	for attempt := 1; ; attempt++ {
		c, err := contender.Join(ctx, sem.s, cfg)
		if errors.Is(err, backend.ErrNoNode) && attempt < joinAttempts && ctx.Err() == nil {
			sem.opts.logger.Debug("lock: semaphore: a parent vanished during create; again", "dir", cfg.Dir, "err", err)
			continue
		}
		return c, err
	}
}

// joinAttempts bounds the creates join tries when a parent keeps vanishing.
const joinAttempts = 5

// take creates the lease node and waits until it counts among the granted
// ones, creating it again if it vanished while the session lives.
func (sem *Semaphore) take(ctx context.Context, block bool) (*contender.Contender, backend.Stat, error) {
	for {
		c, err := sem.join(ctx, sem.leaseConfig())
		if err != nil {
			return nil, backend.Stat{}, err
		}
		st, err := sem.wait(ctx, c, block)
		if errors.Is(err, errLeaseMissing) {
			sem.opts.logger.Warn("lock: semaphore lease node vanished; creating another", "path", c.Path())
			continue
		}
		return c, st, err
	}
}

// wait lists the leases directory with a watch until it has at most
// maxLeases children, and then reads the node back. On failure the node is
// deleted (best effort: the session's end deletes it anyway).
func (sem *Semaphore) wait(ctx context.Context, c *contender.Contender, block bool) (backend.Stat, error) {
	fail := func(err error) (backend.Stat, error) {
		if lerr := c.Leave(); lerr != nil {
			sem.opts.logger.Warn("lock: semaphore: lease cleanup failed", "path", c.Path(), "err", lerr)
		}
		return backend.Stat{}, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := sem.s.Err(); err != nil {
			return fail(err)
		}
		wctx, cancel := context.WithCancel(ctx) // ends the watch if it has not fired
		children, _, events, err := sem.s.ChildrenW(wctx, sem.leases.path)
		if err != nil {
			cancel()
			return fail(err)
		}
		if !slices.Contains(children, c.Name()) {
			cancel()
			if err := sem.s.Err(); err != nil {
				return backend.Stat{}, err
			}
			return backend.Stat{}, errLeaseMissing
		}
		// Curator counts every child, recognised or not.
		if len(children) <= sem.max {
			cancel()
			return c.Confirm(ctx) // the listing says it is in: read it back; deleted on failure
		}
		if !block {
			cancel()
			return fail(fmt.Errorf("%d of %d leases taken: %w", len(children)-1, sem.max, ErrLocked))
		}
		sem.opts.logger.Debug("lock: semaphore waiting", "path", c.Path(), "children", len(children), "max", sem.max)
		select {
		case <-events: // a change, or the watch ended: look again
		case <-ctx.Done():
		case <-sem.s.Done():
		}
		cancel()
	}
}

func (sem *Semaphore) acquireErr(op string, err error) error {
	if errors.Is(err, contender.ErrGone) || errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return fmt.Errorf("lock: semaphore %s %s: %w: %w", op, sem.path, ErrLost, err)
	}
	return fmt.Errorf("lock: semaphore %s %s: %w", op, sem.path, err)
}

// Leases lists the semaphore's lease nodes in creation order: the holders,
// and (last, past the first maxLeases) the node of an acquirer still
// waiting for a lease. Owner is the holding session, Token the node's
// CreateToken, Data the node's data (WithData; Curator's default is the
// client's IP). A node that goes away while it is read is skipped; a
// missing directory is an empty list.
func (sem *Semaphore) Leases(ctx context.Context) ([]Holder, error) {
	hs, err := sem.leases.holdersOf(ctx, contender.CuratorLayout(semLeaseName))
	if err != nil {
		return nil, fmt.Errorf("lock: semaphore leases %s: %w", sem.path, err)
	}
	return hs, nil
}

// holdersOf lists m's directory as Holders, in the layout l.
func (m *Mutex) holdersOf(ctx context.Context, l contender.Layout) ([]Holder, error) {
	children, _, err := m.s.Children(ctx, m.path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hs []Holder
	for _, e := range contender.Queue(children, l) {
		h, err := m.holder(ctx, e.Name)
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// SemaphoreLease is one held lease of a Semaphore: what Acquire and
// TryAcquire return and the holder keeps until Release. Its Done channel is
// closed once the lease can no longer be trusted. A SemaphoreLease is safe
// for concurrent use.
type SemaphoreLease struct {
	l *Lease
}

// Token returns the lease node's CreateToken (ZooKeeper czxid, etcd create
// revision). It is NOT a fencing token: up to maxLeases holders hold at
// once, so a resource cannot refuse lower tokens without refusing other
// legitimate holders. It identifies the grant, e.g. in logs.
func (sl *SemaphoreLease) Token() int64 { return sl.l.Token() }

// Path returns the full path of the lease node.
func (sl *SemaphoreLease) Path() string { return sl.l.Path() }

// Done returns a channel closed once, when the lease can no longer be
// trusted (Err says why: the session was lost or closed, the lease node
// was deleted, or, under the default policy OnSuspend, the connection is
// down) or when it was released.
func (sl *SemaphoreLease) Done() <-chan struct{} { return sl.l.Done() }

// Err returns nil while the lease is held. After loss it returns an error
// matching ErrLost that wraps the cause; after Release, one matching
// ErrNotHeld.
func (sl *SemaphoreLease) Err() error { return sl.l.Err() }

// Release gives the lease back: it deletes the lease node and closes Done.
// Release on a lease already released returns an error matching
// ErrNotHeld. Release on a lease that was lost still removes the node if it
// is there and returns the loss (matching ErrNotHeld and ErrLost). When the
// node cannot be deleted (ctx ended during a connection loss), the lease
// stays held and Release may be called again; the node goes when the
// session ends.
func (sl *SemaphoreLease) Release(ctx context.Context) error {
	if err := sl.l.Unlock(ctx); err != nil {
		return fmt.Errorf("lock: semaphore release: %w", err)
	}
	return nil
}

// Guard runs ops in one backend.Multi together with a check that the lease
// node still exists, as Lease.Guard does for a lock: the writes are applied
// only while the lease is held on the server. It refuses at once (with Err)
// when the lease was lost or released.
func (sl *SemaphoreLease) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	return sl.l.Guard(ctx, ops...)
}
