package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Node names of the active/standby layout, those of Hadoop's
// ActiveStandbyElector.
const (
	// LockName is the ephemeral node the active holds, with its value.
	LockName = "ActiveStandbyElectorLock"
	// BreadCrumbName is the persistent node naming the last active, with its
	// value; it outlives an active that died without cleaning up.
	BreadCrumbName = "ActiveBreadCrumb"
)

// FenceFunc fences the previous active, whose value the breadcrumb holds,
// before this candidate becomes active: it must make sure the old active
// can no longer act (kill it, cut its access, bump an epoch in the
// resource). An error keeps this candidate standby.
type FenceFunc func(ctx context.Context, previous []byte) error

// ActiveStandby is an active/standby elector in the layout of Hadoop HA's
// ActiveStandbyElector: one ephemeral lock node that every standby watches,
// and a persistent breadcrumb naming the active. See the package
// documentation. An ActiveStandby is safe for concurrent use, but runs one
// candidate: call Run once at a time.
type ActiveStandby struct {
	s     backend.Session
	root  string
	lock  string
	crumb string
	fence FenceFunc
	opts  options
}

// NewActiveStandby returns the elector under directory root on session s.
// The candidate's value (WithValue) is required: it is what the breadcrumb
// records and what the next active's fence gets. fence may be nil when
// there is nothing to fence (the breadcrumb is then only written). A bad
// path is an error matching backend.ErrBadPath.
func NewActiveStandby(s backend.Session, root string, fence FenceFunc, opts ...Option) (*ActiveStandby, error) {
	if s == nil {
		return nil, errors.New("election: nil session")
	}
	if err := backend.ValidatePath(root); err != nil {
		return nil, fmt.Errorf("election: new active-standby %q: %w", root, err)
	}
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if len(o.data) == 0 {
		return nil, fmt.Errorf("election: new active-standby %q: %w", root, ErrNoValue)
	}
	if max := s.Capabilities().MaxDataSize; max > 0 && len(o.data) > max {
		return nil, fmt.Errorf("election: new active-standby %q: value of %d bytes: %w (max %d)", root, len(o.data), backend.ErrTooLarge, max)
	}
	if err := o.checkACL(s); err != nil {
		return nil, fmt.Errorf("election: new active-standby %q: %w", root, err)
	}
	return &ActiveStandby{s: s, root: root, lock: backend.Join(root, LockName), crumb: backend.Join(root, BreadCrumbName), fence: fence, opts: o}, nil
}

// Active returns the value of the active recorded in the breadcrumb, or
// ErrNoLeader when there is none (no active yet, or the last one exited
// gracefully).
func (a *ActiveStandby) Active(ctx context.Context) ([]byte, error) {
	data, _, err := a.s.Get(ctx, a.crumb)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, fmt.Errorf("election: active %s: %w", a.root, ErrNoLeader)
	}
	if err != nil {
		return nil, fmt.Errorf("election: active %s: %w", a.root, err)
	}
	return data, nil
}

// Run stands by until this candidate takes the lock node, fences the
// previous active if the breadcrumb names another (FenceOld), writes its
// own breadcrumb while it holds the lock node, and then calls fn while it is
// active. activeCtx is cancelled the moment the lock is lost (as in
// Election.Run). When fn returns, the candidate exits gracefully: it deletes
// the breadcrumb (if it is still its own version), then the lock node. When
// the term was lost instead, the breadcrumb stays, so the next active
// fences this one.
//
// When fencing fails, the candidate gives the lock node up, stays standby
// and tries again after the retry interval (WithRetryInterval). Run's
// results are those of Election.Run, WithRequeue included.
func (a *ActiveStandby) Run(ctx context.Context, fn func(activeCtx context.Context, term *Term) error) error {
	if fn == nil {
		return errors.New("election: run: nil function")
	}
	for {
		term, err := a.acquire(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("election: active-standby %s: %w", a.root, ctx.Err())
			case a.s.Err() != nil:
				return fmt.Errorf("election: active-standby %s: %w: %w", a.root, ErrLost, a.s.Err())
			}
			a.opts.logger.Warn("election: active-standby: not active, retrying", "root", a.root, "err", err)
			grant.Pause(ctx, a.opts.retry)
			continue
		}
		// Graceful: the breadcrumb, then the lock node. Lost: the lock node
		// only (see the release function in acquire).
		if stop, err := finishTerm(ctx, a.s, a.opts, "active-standby "+a.root, term, lead(ctx, term, fn)); stop {
			return err
		}
	}
}

// acquire waits for the lock node, takes it, fences and writes the
// breadcrumb. It returns the term once the candidate may be active.
func (a *ActiveStandby) acquire(ctx context.Context) (*Term, error) {
	st, err := a.takeLock(ctx)
	if err != nil {
		return nil, err
	}
	var version int32 = -1 // the breadcrumb's version once written
	var term *Term
	term = newTerm(a.s, a.opts, a.lock, st.CreateToken, func(ctx context.Context) error {
		if term.Err() != nil {
			// Lost: the breadcrumb stays, so the next active fences this one.
			return a.deleteLock(ctx)
		}
		return a.exit(ctx, version)
	}, nil)
	giveUp := func(cause error) (*Term, error) {
		rctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
		defer cancel()
		version = -1 // the breadcrumb is not ours: leave it
		_ = term.end(rctx)
		return nil, cause
	}
	prev, cst, err := a.s.Get(ctx, a.crumb)
	exists := err == nil
	if err != nil && !errors.Is(err, backend.ErrNoNode) {
		return giveUp(fmt.Errorf("election: read breadcrumb %s: %w", a.crumb, err))
	}
	if exists && !bytes.Equal(prev, a.opts.data) && a.fence != nil {
		a.opts.logger.Info("election: fencing the old active", "root", a.root)
		if ferr := a.fence(term.Context(), prev); ferr != nil {
			return giveUp(fmt.Errorf("election: active-standby %s: %w: %w", a.root, ErrFenceFailed, ferr))
		}
	}
	var op backend.Op = backend.CreateOp{Path: a.crumb, Data: a.opts.data, Mode: backend.Persistent, Options: a.opts.createOptions()}
	if exists {
		op = backend.SetOp{Path: a.crumb, Data: a.opts.data, Version: cst.Version}
	}
	res, err := term.Guard(ctx, op)
	if err != nil {
		return giveUp(fmt.Errorf("election: write breadcrumb %s: %w", a.crumb, err))
	}
	version = 0
	if res[0].Stat != nil {
		version = res[0].Stat.Version
	}
	return term, nil
}

// takeLock waits until this candidate creates the lock node, and returns
// the node's stat.
func (a *ActiveStandby) takeLock(ctx context.Context) (backend.Stat, error) {
	for {
		if ctx.Err() != nil {
			return backend.Stat{}, ctx.Err()
		}
		if err := a.s.Err(); err != nil {
			return backend.Stat{}, err
		}
		_, err := a.s.Create(ctx, a.lock, a.opts.data, backend.Ephemeral, append(a.opts.createOptions(), backend.WithParents(backend.Persistent))...)
		if err != nil && !errors.Is(err, backend.ErrNodeExists) && !errors.Is(err, backend.ErrConnectionLoss) {
			return backend.Stat{}, err
		}
		// Created, or exists (ours if a lost reply hid our create), or unknown.
		wctx, cancel := context.WithCancel(ctx)
		st, ev, werr := a.s.ExistsW(wctx, a.lock)
		if werr != nil {
			cancel()
			if errors.Is(werr, backend.ErrConnectionLoss) {
				_, _ = backend.WaitState(ctx, a.s, backend.Connected, backend.Reconnected)
				continue
			}
			return backend.Stat{}, werr
		}
		if st != nil && st.EphemeralOwner == a.s.ID() {
			cancel()
			if serr := a.s.Err(); serr != nil {
				return backend.Stat{}, serr
			}
			return *st, nil
		}
		if st == nil {
			cancel()
			continue // gone already: try to take it
		}
		a.opts.logger.Debug("election: standby", "path", a.lock)
		select {
		case <-ev:
		case <-ctx.Done():
		case <-a.s.Done():
		}
		cancel()
	}
}

// exit is the graceful exit: the breadcrumb (only the version this
// candidate wrote, and only while it holds the lock node), then the lock
// node.
func (a *ActiveStandby) exit(ctx context.Context, version int32) error {
	if version >= 0 && a.s.Err() == nil {
		_, err := a.s.Multi(ctx,
			backend.CheckOp{Path: a.lock, Version: backend.AnyVersion},
			backend.DeleteOp{Path: a.crumb, Version: version})
		if err != nil && !errors.Is(err, backend.ErrNoNode) && !errors.Is(err, backend.ErrBadVersion) &&
			!errors.Is(err, backend.ErrSessionExpired) && !errors.Is(err, backend.ErrClosed) {
			return fmt.Errorf("delete breadcrumb %s: %w", a.crumb, err)
		}
	}
	return a.deleteLock(ctx)
}

// deleteLock deletes the lock node if this session owns it.
func (a *ActiveStandby) deleteLock(ctx context.Context) error {
	for {
		if a.s.Err() != nil {
			return nil // the node went with the session
		}
		st, err := a.s.Exists(ctx, a.lock)
		if err == nil {
			if st == nil || st.EphemeralOwner != a.s.ID() {
				return nil
			}
			err = a.s.Delete(ctx, a.lock, st.Version)
			if err == nil || errors.Is(err, backend.ErrNoNode) {
				return nil
			}
			if errors.Is(err, backend.ErrBadVersion) {
				continue
			}
		}
		switch {
		case errors.Is(err, backend.ErrSessionExpired), errors.Is(err, backend.ErrClosed):
			return nil
		case errors.Is(err, backend.ErrConnectionLoss) && ctx.Err() == nil:
			if _, werr := backend.WaitState(ctx, a.s, backend.Connected, backend.Reconnected); werr != nil {
				if a.s.Err() != nil {
					return nil
				}
				return werr
			}
			grant.Pause(ctx, 50*time.Millisecond)
		default:
			return err
		}
	}
}
