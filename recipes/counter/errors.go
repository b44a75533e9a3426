package counter

import (
	"errors"
	"fmt"
)

// Sentinel errors of the counter package; match them with errors.Is. Errors
// from the backend (backend.ErrBadPath, backend.ErrSessionExpired,
// backend.ErrClosed, backend.ErrOutcomeUnknown, context errors) are wrapped
// and match too.
var (
	// ErrCorrupt: a node's data is not a value of the path's codec (a wrong
	// length, an IP string Curator wrote as default data, text that is not a
	// number). The error is a *CorruptError naming the bytes. Never read as 0.
	ErrCorrupt = errors.New("counter: corrupt value")
	// ErrOverflow: the value does not fit the codec (an int32 codec given a
	// value beyond int32), or an Add would overflow it.
	ErrOverflow = errors.New("counter: overflow")
	// ErrMismatch: a compare-and-set found another value than expected. The
	// error is a *MismatchError (Atomic) or a *BytesMismatchError (AtomicBytes)
	// carrying the current value.
	ErrMismatch = errors.New("counter: value mismatch")
	// ErrContended: the optimistic tries of WithMaxTries all met concurrent
	// writes (and no WithPromotion was given). Nothing was written.
	ErrContended = errors.New("counter: contended")
	// ErrNotStarted: a Shared was used before Start.
	ErrNotStarted = errors.New("counter: not started")
	// ErrClosed: the Atomic, AtomicBytes, Shared or IDs was closed.
	ErrClosed = errors.New("counter: closed")
	// ErrBadOption: an option out of range (NewAtomic, NewAtomicBytes, NewShared).
	ErrBadOption = errors.New("counter: bad option")
)

// CorruptError is the error for node data a codec cannot read. It matches
// ErrCorrupt.
type CorruptError struct {
	Codec string // the codec's Name
	Path  string // the node, when known
	Data  []byte // the data as read
	Why   string // what is wrong with it
}

// Error names the codec, the node and the bytes.
func (e *CorruptError) Error() string {
	where := ""
	if e.Path != "" {
		where = " at " + e.Path
	}
	return fmt.Sprintf("counter: corrupt value%s: %s cannot read %d bytes %q (% x): %s", where, e.Codec, len(e.Data), e.Data, e.Data, e.Why)
}

// Is makes the error match ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// MismatchError is the error of an Atomic's CompareAndSet that found
// another value. It matches ErrMismatch.
type MismatchError struct {
	Path     string
	Expected int64 // what the caller expected
	Current  int64 // what the node held
}

// Error names the expected and the current value.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("counter: value mismatch at %s: expected %d, current %d", e.Path, e.Expected, e.Current)
}

// Is makes the error match ErrMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// BytesMismatchError is the error of an AtomicBytes's CompareAndSet that
// found other data. It matches ErrMismatch.
type BytesMismatchError struct {
	Path     string
	Expected []byte
	Current  []byte
}

// Error names the expected and the current data.
func (e *BytesMismatchError) Error() string {
	return fmt.Sprintf("counter: value mismatch at %s: expected %q, current %q", e.Path, e.Expected, e.Current)
}

// Is makes the error match ErrMismatch.
func (e *BytesMismatchError) Is(target error) bool { return target == ErrMismatch }
