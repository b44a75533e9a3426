package counter

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// BytesChange is the outcome of a successful AtomicBytes write: the data
// before and after, read and written in one compare-and-set.
type BytesChange struct {
	Pre, Post []byte // Pre is nil when the node did not exist
	Token     int64  // the ModifyToken of the write
	Tries     int    // writes sent, the successful one included
	Promoted  bool   // the write was made under the WithPromotion lock
}

// AtomicBytes is opaque data at a node, changed by compare-and-set:
// Curator's DistributedAtomicValue. It writes, and settles lost replies,
// as Atomic does. An AtomicBytes is safe for concurrent use; its writes are
// made one at a time.
type AtomicBytes struct{ w *writer }

// NewAtomicBytes returns an AtomicBytes over the node at path on session s.
// It has no codec: WithCodec is an error matching ErrBadOption.
func NewAtomicBytes(s backend.Session, path string, opts ...Option) (*AtomicBytes, error) {
	o, err := newOptions(nil, opts)
	if err == nil && o.codec != nil {
		err = fmt.Errorf("%w: AtomicBytes stores data as given and takes no codec", ErrBadOption)
	}
	if err != nil {
		return nil, fmt.Errorf("counter: new atomic bytes %q: %w", path, err)
	}
	w, err := newWriter(s, path, o)
	if err != nil {
		return nil, err
	}
	return &AtomicBytes{w: w}, nil
}

// Path returns the node.
func (a *AtomicBytes) Path() string { return a.w.path }

// Get reads the data and the node's stat (Value.N is always 0). An absent
// node is nil data and Value{Exists: false}.
func (a *AtomicBytes) Get(ctx context.Context) ([]byte, Value, error) {
	data, st, err := a.w.s.Get(ctx, a.w.path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, Value{}, nil
	}
	if err != nil {
		return nil, Value{}, fmt.Errorf("counter: get %s: %w", a.w.path, err)
	}
	return data, Value{Version: st.Version, Token: st.ModifyToken, Exists: true}, nil
}

// Set writes data whatever was there, and returns what it replaced.
func (a *AtomicBytes) Set(ctx context.Context, data []byte) (BytesChange, error) {
	return a.change(ctx, "set", func([]byte, bool) ([]byte, error) { return data, nil })
}

// CompareAndSet writes data if the node holds expect (an absent node holds
// nothing, so a nil or empty expect matches it). If it does not, nothing is
// written and the error is a *BytesMismatchError with the current data,
// matching ErrMismatch.
func (a *AtomicBytes) CompareAndSet(ctx context.Context, expect, data []byte) (BytesChange, error) {
	return a.change(ctx, "compare-and-set", func(cur []byte, _ bool) ([]byte, error) {
		if !bytes.Equal(cur, expect) {
			return nil, &BytesMismatchError{Path: a.w.path, Expected: expect, Current: cur}
		}
		return data, nil
	})
}

// Close removes this AtomicBytes's writer marker, if it made one, and makes
// further writes fail with ErrClosed. Idempotent.
func (a *AtomicBytes) Close() error { return a.w.close() }

func (a *AtomicBytes) change(ctx context.Context, op string, p plan) (BytesChange, error) {
	r, err := a.w.write(ctx, op, p)
	if err != nil {
		return BytesChange{}, err
	}
	return BytesChange{Pre: r.pre, Post: r.post, Token: r.token, Tries: r.tries, Promoted: r.promoted}, nil
}
