package barrier

import (
	"context"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Barrier is a single barrier: while its node exists, Wait blocks. It is
// the layout of Curator's DistributedBarrier, kazoo's Barrier and the
// ZooKeeper documentation's recipe, so all of them share one barrier.
// A Barrier holds no state of its own and is safe for concurrent use.
type Barrier struct {
	s    backend.Session
	path string
	opts options
}

// New returns the barrier at path on s. It does not talk to the server.
// The path must be valid and not the root (else backend.ErrBadPath).
func New(s backend.Session, path string, opts ...Option) (*Barrier, error) {
	if err := checkPath("barrier", path); err != nil {
		return nil, err
	}
	return &Barrier{s: s, path: path, opts: newOptions(opts)}, nil
}

// Path returns the barrier node's path.
func (b *Barrier) Path() string { return b.path }

// Set raises the barrier: it creates the node (persistent, with empty data,
// missing parents persistent). A barrier already set is not an error. A lost
// reply is tried again.
func (b *Barrier) Set(ctx context.Context) error {
	return create(ctx, b.s, b.path, nil, backend.Persistent, true)
}

// Remove lowers the barrier: it deletes the node, whatever its version. A
// barrier not set is not an error. The node must have no children (else
// backend.ErrNotEmpty).
func (b *Barrier) Remove(ctx context.Context) error {
	return remove(ctx, b.s, b.path)
}

// IsSet reports whether the barrier's node exists.
func (b *Barrier) IsSet(ctx context.Context) (bool, error) {
	st, err := b.s.Exists(ctx, b.path)
	return st != nil, err
}

// Wait blocks while the barrier is set and returns nil once its node does
// not exist: at once when it is not set. When ctx or the session ends first
// it returns a *WaitError wrapping ctx's or the session's error.
func (b *Barrier) Wait(ctx context.Context) error {
	var r retrier
	for {
		err := b.once(ctx)
		if err == errGone {
			return nil
		}
		if err == nil {
			continue
		}
		if cause := stopped(ctx, b.s); cause != nil {
			return &WaitError{Op: "wait", Path: b.path, Err: cause}
		}
		if !r.again(ctx, b.s, err) {
			if cause := stopped(ctx, b.s); cause != nil {
				return &WaitError{Op: "wait", Path: b.path, Err: cause}
			}
			return err
		}
	}
}

// errGone is once's "the node does not exist".
var errGone = &WaitError{Op: "wait"}

// once arms one exists watch and waits for it: errGone when the node is
// absent, nil after an event (look again), or an error.
func (b *Barrier) once(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, ev, err := b.s.ExistsW(wctx, b.path)
	if err != nil {
		return err
	}
	if st == nil {
		return errGone
	}
	_, err = awaitEvent(ctx, b.s, ev)
	return err
}
