package barrier

import (
	"errors"
	"fmt"
)

// Sentinel errors of the barrier recipes. Every error of this package that
// is about one of these conditions matches it with errors.Is.
var (
	// ErrEntered: Enter on a member that is already inside (or entering).
	ErrEntered = errors.New("barrier: already entered")
	// ErrNotEntered: Leave on a member that has not entered.
	ErrNotEntered = errors.New("barrier: not entered")
	// ErrNameTaken: the member name exists under the barrier, owned by
	// another session.
	ErrNameTaken = errors.New("barrier: member name taken")
	// ErrMemberLost: this member's node vanished while it was inside: its
	// session ended, or someone deleted the node.
	ErrMemberLost = errors.New("barrier: member lost")
	// ErrCountMismatch: a latch node holds another count than the one asked
	// for, or a count that is not a decimal number.
	ErrCountMismatch = errors.New("barrier: latch count mismatch")
	// ErrBadOption: a constructor was given a member count below 1 or an
	// option it cannot use (a member name that is not a node name, or
	// "ready").
	ErrBadOption = errors.New("barrier: bad option")
)

// WaitError is the error of every wait that ends before it passed: Enter,
// Leave, Gather, Latch.Await and Barrier.Wait. Present is how many members
// (count-downs, for a latch) were last seen and Need how many were needed;
// both are 0 for Barrier.Wait. Err says why: the context's error,
// backend.ErrSessionExpired or backend.ErrClosed, or ErrMemberLost (then
// joined with the session's error).
type WaitError struct {
	Op      string // "enter", "leave", "gather", "await" or "wait"
	Path    string // the barrier's path
	Present int    // members (count-downs) last seen
	Need    int    // members (count-downs) needed
	Err     error  // why the wait ended
}

// Error returns e.g. "barrier: enter /b: 3 of 5 members present: context
// deadline exceeded".
func (e *WaitError) Error() string {
	switch {
	case e.Need == 0 && e.Present == 0:
		return fmt.Sprintf("barrier: %s %s: %v", e.Op, e.Path, e.Err)
	case e.Op == "await":
		return fmt.Sprintf("barrier: %s %s: %d of %d counted down: %v", e.Op, e.Path, e.Present, e.Need, e.Err)
	default:
		return fmt.Sprintf("barrier: %s %s: %d of %d members present: %v", e.Op, e.Path, e.Present, e.Need, e.Err)
	}
}

// Unwrap returns Err.
func (e *WaitError) Unwrap() error { return e.Err }
