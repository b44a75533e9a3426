package etcd

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zkrecipes/zkrecipes/backend"
)

// errRetry is an internal signal: the transaction lost a race and should be
// built again from fresh reads.
var errRetry = errors.New("etcd: retry")

// classify maps an error from clientv3 to the sentinel callers match. The
// caller's context and the session's end are handled before this.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		// Our lease is gone: a write with it was refused.
		return backend.ErrSessionExpired
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps):
		return backend.ErrTooLarge
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrAuthFailed),
		errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthOldRevision), errors.Is(err, rpctypes.ErrUserNotFound):
		return backend.ErrNoAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Not the caller's context: a per-call timeout or the connection's.
		return backend.ErrConnectionLoss
	}
	switch code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return backend.ErrNoAuth
	case codes.ResourceExhausted:
		if errors.Is(err, rpctypes.ErrNoSpace) {
			return backend.ErrConnectionLoss
		}
		return backend.ErrTooLarge // gRPC message over a size limit
	}
	// Unavailable (no connection, no leader, leader changed, timeouts) and
	// DeadlineExceeded mean the outcome is unknown; so does anything else
	// the server did not explain.
	return backend.ErrConnectionLoss
}

// code returns the gRPC code of an etcd or gRPC error.
func code(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

// isTransient reports whether a failed keep-alive or watch may succeed once
// the connection is back.
func isTransient(err error) bool {
	c := code(err)
	return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.Canceled ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
