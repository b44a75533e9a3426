package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors of the membership recipes (Member and Group).
var (
	// ErrClosed: the Member or Group was closed by its owner.
	ErrClosed = errors.New("registry: closed")
	// ErrBadOption: an option or argument was refused by NewMember, NewGroup,
	// Join, NewDiscovery, NewDubbo, RegisterHive or DrainHive.
	ErrBadOption = errors.New("registry: bad option")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("registry: already started")
	// ErrNotStarted: a call needs Start first.
	ErrNotStarted = errors.New("registry: not started")
)

// MemberError says why a Member stopped for good: the error no new session
// can cure (a closed client, an ACL the server refuses, a mode it cannot
// do). It matches the backend's error with errors.Is.
type MemberError struct {
	Path string // the member's node
	Err  error  // the backend's error
}

// Error returns "registry: member <path>: <err>".
func (e *MemberError) Error() string { return fmt.Sprintf("registry: member %s: %v", e.Path, e.Err) }

// Unwrap returns the backend's error.
func (e *MemberError) Unwrap() error { return e.Err }
