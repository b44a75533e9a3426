package scenes

import (
	"context"
	"errors"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/election"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// recvName waits until want is received on ch.
func recvName(ctx context.Context, ch <-chan string, want string) error {
	for {
		select {
		case got := <-ch:
			if got == want {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitCandidates waits until the election e has at least n candidates,
// watching its directory on session s.
func waitCandidates(ctx context.Context, s backend.Session, e *election.Election, n int) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		changed, again, err := watchChildren(wctx, s, e.Path())
		if err != nil || again {
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		cs, err := e.Participants(ctx)
		if err != nil || len(cs) >= n {
			cancel()
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitQueue waits until the lock m has at least n contenders (holder and
// waiters), watching the lock's directory on session s.
func waitQueue(ctx context.Context, s backend.Session, m *lock.Mutex, n int) ([]lock.Holder, error) {
	for {
		wctx, cancel := context.WithCancel(ctx)
		changed, again, err := watchChildren(wctx, s, m.Path())
		if err != nil || again {
			cancel()
			if err != nil {
				return nil, err
			}
			continue
		}
		holders, err := m.Holders(ctx)
		if err != nil || len(holders) >= n {
			cancel()
			return holders, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// watchChildren arms a watch on dir's children, or on dir's creation while
// dir does not exist. again is true when dir appeared between the two
// reads: the exists watch would then fire only for dir's own data or
// deletion, never for its children, so the caller must look again.
func watchChildren(ctx context.Context, s backend.Session, dir string) (changed <-chan backend.Event, again bool, err error) {
	_, _, changed, err = s.ChildrenW(ctx, dir)
	if !errors.Is(err, backend.ErrNoNode) {
		return changed, false, err
	}
	st, changed, err := s.ExistsW(ctx, dir)
	return changed, err == nil && st != nil, err
}

// unlock releases a lease on the way out of a step, whatever happened.
func unlock(l *lock.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = l.Unlock(ctx)
}

// recv waits for a signal on ch, or the first error on errs.
func recv(ctx context.Context, ch <-chan struct{}, errs chan error) error {
	select {
	case <-ch:
		return nil
	case err := <-errs:
		errs <- err
		if err == nil {
			err = errors.New("worker ended early")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
