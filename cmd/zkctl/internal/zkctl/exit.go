package zkctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Exit codes. Data goes to stdout, diagnostics to stderr; the code says
// what kind of failure it was, so scripts can branch on it.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // any other error, e.g. not authorized (backend.ErrNoAuth)
	ExitUsage       = 2 // bad flags, arguments or paths; no cluster configured
	ExitNoNode      = 3 // the node does not exist
	ExitConflict    = 4 // the node exists, a version did not match, the node has children, a lock is held
	ExitUnavailable = 5 // the cluster could not be reached, or the session was lost
	ExitTimeout     = 6 // --request-timeout or --timeout ran out
	// ExitUnhealthy is health's status when a member is down or not
	// serving, a threshold (--max-latency, --max-outstanding, --min-up) is
	// breached, or the cluster has no leader or raises an alarm, while some
	// member is up. When no member is up, health exits ExitUnavailable.
	ExitUnhealthy   = 7
	ExitInterrupted = 130 // SIGINT or SIGTERM

	// Commands that wrap a child command (lock, elect, watch --) exit with
	// the child's status; their own failures use these, as timeout(1) and
	// env(1) do, so they cannot be taken for the child's.
	ExitWrapperError = 125 // zkctl itself failed
	ExitCannotRun    = 126 // the command was found but could not run
	ExitNotFound     = 127 // the command was not found
)

// UsageError marks errors in how zkctl was called.
type UsageError struct{ Err error }

// Error returns the error's text.
func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the error in how zkctl was called.
func (e UsageError) Unwrap() error { return e.Err }

// Usagef formats a usage error (exit 2).
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// StatusError carries an exact exit code (a wrapped child's status).
type StatusError struct {
	Code int
	Err  error
}

// Error returns the error's text, or "exit status N" when it carries only
// the code (the child's own failure, which the child reported itself).
func (e StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the error the code stands for, if any.
func (e StatusError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a command to zkctl's exit code.
func ExitCode(ctx context.Context, err error) int {
	var ee StatusError
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &ue), errors.Is(err, backend.ErrBadPath):
		return ExitUsage
	case errors.Is(err, backend.ErrNoNode):
		return ExitNoNode
	case errors.Is(err, backend.ErrNodeExists), errors.Is(err, backend.ErrBadVersion),
		errors.Is(err, backend.ErrNotEmpty), errors.Is(err, backend.ErrNoChildrenForEphemerals):
		return ExitConflict
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case errors.Is(err, backend.ErrConnectionLoss), errors.Is(err, backend.ErrSessionExpired):
		return ExitUnavailable
	default:
		return ExitError
	}
}
