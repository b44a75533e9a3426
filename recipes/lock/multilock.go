package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// MultiLock is a set of Mutexes taken all or nothing, as one lock (Curator's
// InterProcessMultiLock). Create one with NewMultiLock; Lock returns a
// MultiLease covering every path.
//
// Lock takes the paths' locks one at a time in one global order, sorted by
// path, whatever order they were given in: two MultiLocks over overlapping
// sets then always contend for their shared paths in the same order, so
// neither can hold one path while waiting for a path the other holds, and
// they never deadlock. A MultiLock is not reentrant, like a Mutex.
type MultiLock struct {
	paths   []string
	mutexes []*Mutex // in paths order
}

// NewMultiLock returns a MultiLock over the lock directories paths on
// session s, each a Mutex made with New and opts. Duplicate paths count
// once; no paths, a bad path or a bad option is an error.
func NewMultiLock(s backend.Session, paths []string, opts ...Option) (*MultiLock, error) {
	if len(paths) == 0 {
		return nil, errors.New("lock: new multi-lock: no paths")
	}
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	ml := &MultiLock{paths: sorted}
	for _, p := range sorted {
		m, err := New(s, p, opts...)
		if err != nil {
			return nil, err
		}
		ml.mutexes = append(ml.mutexes, m)
	}
	return ml, nil
}

// Paths returns the lock directories in the order Lock takes them (sorted).
func (ml *MultiLock) Paths() []string { return slices.Clone(ml.paths) }

// Lock blocks until it holds every path's lock, ctx ends, or the session is
// lost or closed. It takes them in sorted order. When one fails, it unlocks
// (with a fresh context bounded by contender.CleanupTimeout) those it took,
// so nothing stays held or queued, and returns the failure, naming the path.
func (ml *MultiLock) Lock(ctx context.Context) (*MultiLease, error) {
	leases := make([]*Lease, 0, len(ml.mutexes))
	for _, m := range ml.mutexes {
		l, err := m.Lock(ctx)
		if err != nil {
			ml.undo(leases)
			return nil, fmt.Errorf("lock: multi-lock: %w", err)
		}
		leases = append(leases, l)
	}
	return newMultiLease(ml.paths, leases), nil
}

// undo unlocks the leases taken by a Lock that failed.
func (ml *MultiLock) undo(leases []*Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
	defer cancel()
	for _, l := range slices.Backward(leases) {
		if err := l.Unlock(ctx); err != nil && !errors.Is(err, ErrNotHeld) {
			l.m.opts.logger.Warn("lock: multi-lock: undo failed", "path", l.Path(), "err", err)
		}
	}
}

// MultiLease is a held MultiLock: one Lease per path. Its Done is closed
// once, when any part can no longer be trusted (Err says which and why) or
// at Unlock. A MultiLease is safe for concurrent use.
type MultiLease struct {
	paths  []string
	leases []*Lease

	done chan struct{}
	stop chan struct{} // ends the watchers
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	once sync.Once // closes stop
}

func newMultiLease(paths []string, leases []*Lease) *MultiLease {
	ml := &MultiLease{paths: paths, leases: leases, done: make(chan struct{}), stop: make(chan struct{})}
	for _, l := range leases {
		ml.wg.Add(1)
		go func() {
			defer ml.wg.Done()
			select {
			case <-l.Done():
				ml.finish(fmt.Errorf("lock: multi-lock part %s: %w", l.Path(), l.Err()))
			case <-ml.stop:
			}
		}()
	}
	return ml
}

func (ml *MultiLease) finish(err error) {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.err != nil {
		return
	}
	ml.err = err
	close(ml.done)
}

// Done returns a channel closed once, when any part's lock can no longer be
// trusted, or at Unlock.
func (ml *MultiLease) Done() <-chan struct{} { return ml.done }

// Err returns nil while every part is held. After a part's loss it returns
// that part's error (matching ErrLost); after Unlock, one matching ErrNotHeld.
func (ml *MultiLease) Err() error {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	return ml.err
}

// Tokens returns each path's fencing token (its Lease's Token), by path.
func (ml *MultiLease) Tokens() map[string]int64 {
	t := make(map[string]int64, len(ml.leases))
	for i, l := range ml.leases {
		t[ml.paths[i]] = l.Token()
	}
	return t
}

// Leases returns the part leases, in the order of Paths.
func (ml *MultiLease) Leases() []*Lease { return slices.Clone(ml.leases) }

// Unlock releases every part, in reverse order, and closes Done. It tries
// every part even when one fails and returns the failures joined; a lost
// part's loss is reported as Lease.Unlock reports it (matching ErrNotHeld
// and ErrLost). When a part could not be deleted (ctx ended during a
// connection loss), Unlock may be called again and retries only the parts
// still held. Unlock after every part was released returns an error
// matching ErrNotHeld.
func (ml *MultiLease) Unlock(ctx context.Context) error {
	ml.once.Do(func() { close(ml.stop) })
	ml.wg.Wait()
	var errs []error
	held := 0
	for _, l := range slices.Backward(ml.leases) {
		if l.isFreed() {
			continue
		}
		held++
		if err := l.Unlock(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	ml.finish(fmt.Errorf("%w: multi-lock unlocked", ErrNotHeld))
	if held == 0 {
		return fmt.Errorf("lock: multi-lock unlock: %w", ErrNotHeld)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lock: multi-lock unlock: %w", errors.Join(errs...))
	}
	return nil
}
