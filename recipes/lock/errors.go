package lock

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the lock package; match them with errors.Is.
var (
	// ErrNotHeld: the lease was already unlocked, or the lock node is gone.
	ErrNotHeld = errors.New("lock: not held")
	// ErrLost: the lock can no longer be trusted (session suspended, lost or
	// closed, or the node deleted); the error wraps the cause.
	ErrLost = errors.New("lock: lost")
	// ErrLocked: TryLock found the lock held by another. The error is a
	// *LockedError naming the holder.
	ErrLocked = errors.New("lock: locked")
	// ErrAlreadyHeld: Lock or TryLock on a Mutex handle that holds the lock or
	// is acquiring it. Handles are not reentrant.
	ErrAlreadyHeld = errors.New("lock: already held by this handle")
)

// Holder describes one node of a lock's queue: the holder (first) or a waiter.
type Holder struct {
	Name    string    // the node's name
	Path    string    // the node's full path
	Owner   int64     // the owning session's ID (Stat.EphemeralOwner)
	Token   int64     // the node's CreateToken: the fencing token it gets or got
	Created time.Time // when the node was created (server clock)
	Data    []byte    // the node's data (WithData)
}

// LockedError is what TryLock returns when another holds the lock. It
// matches ErrLocked.
type LockedError struct {
	Path   string // the lock directory
	Holder Holder // the node holding the lock when TryLock looked
}

// Error names the lock and its holder.
func (e *LockedError) Error() string {
	return fmt.Sprintf("lock: locked: %s held by node %s of session %#x", e.Path, e.Holder.Name, e.Holder.Owner)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }
