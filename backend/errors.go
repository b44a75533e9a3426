package backend

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error a backend returns for one of these conditions
// matches the sentinel with errors.Is, whichever backend produced it.
var (
	// ErrNoNode: the node, or the parent a create needs, does not exist.
	ErrNoNode = errors.New("backend: no node")
	// ErrNodeExists: a create found the node already there.
	ErrNodeExists = errors.New("backend: node exists")
	// ErrBadVersion: a conditional set, delete or check saw another version.
	ErrBadVersion = errors.New("backend: bad version")
	// ErrNotEmpty: a delete found children under the node.
	ErrNotEmpty = errors.New("backend: node not empty")
	// ErrNoChildrenForEphemerals: a create tried to put a child under an ephemeral node.
	ErrNoChildrenForEphemerals = errors.New("backend: ephemeral nodes cannot have children")
	// ErrSessionExpired: the server ended the session (ZooKeeper expiry, etcd lease gone).
	// Its ephemeral nodes are gone; it never comes back.
	ErrSessionExpired = errors.New("backend: session expired")
	// ErrConnectionLoss: the connection failed while the call was in flight.
	// The session may still be alive; a write's outcome is unknown.
	ErrConnectionLoss = errors.New("backend: connection loss")
	// ErrClosed: the session or client was closed by its owner.
	ErrClosed = errors.New("backend: closed")
	// ErrBadPath: the path breaks the path rules (see ValidatePath). Returned before any round trip.
	ErrBadPath = errors.New("backend: bad path")
	// ErrTooLarge: data or a request is larger than the backend accepts. Returned before sending.
	ErrTooLarge = errors.New("backend: too large")
	// ErrNoAuth: the server refused the caller's credentials or permissions.
	ErrNoAuth = errors.New("backend: not authorized")
	// ErrUnsupported: the backend or the server cannot do what was asked
	// (a node mode, an ACL on etcd, ...). Never replaced by a silent substitute.
	ErrUnsupported = errors.New("backend: unsupported")
)

// OpError is the error every backend operation returns: which operation, on
// which path, and why. It matches its sentinel (Kind) and the driver's own
// error (Cause) with errors.Is and errors.As.
type OpError struct {
	Op    string // operation, e.g. "create", "get", "multi"
	Path  string // path as the caller gave it (inside the namespace)
	Kind  error  // one of the sentinels in this package, or a context error
	Cause error  // the driver's error, or nil
}

// Error returns "backend: <op> <path>: <kind>[: <cause>]".
func (e *OpError) Error() string {
	head := fmt.Sprintf("%s %s: ", e.Op, e.Path)
	if e.Cause == nil || e.Cause == e.Kind {
		return head + e.Kind.Error()
	}
	cause := e.Cause.Error()
	if strings.HasPrefix(cause, e.Kind.Error()) {
		// The cause already says the kind (a path rule, an option check):
		// say it once.
		return head + cause
	}
	return head + e.Kind.Error() + ": " + cause
}

// Unwrap returns the sentinel and the driver's error, so errors.Is matches both.
func (e *OpError) Unwrap() []error {
	if e.Cause == nil || e.Cause == e.Kind {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Errorf builds an *OpError. kind should be a sentinel of this package or a
// context error; cause is the driver's error and may be nil.
func Errorf(op, path string, kind, cause error) error {
	return &OpError{Op: op, Path: path, Kind: kind, Cause: cause}
}

// MultiError reports which operation of a Multi failed. The whole Multi was
// rolled back. It matches the failing operation's sentinel with errors.Is.
type MultiError struct {
	Index int   // index of the failing operation in the Multi call
	Op    Op    // the failing operation
	Err   error // why it failed (an *OpError)
}

// Error returns "multi: op <i>: <err>".
func (e *MultiError) Error() string {
	return fmt.Sprintf("backend: multi: op %d: %v", e.Index, e.Err)
}

// Unwrap returns the failing operation's error.
func (e *MultiError) Unwrap() error { return e.Err }
