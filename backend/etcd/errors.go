package etcd

import (
	"context"
	"errors"
	"strings"

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
//
// The question for each error is whether trying again can succeed:
// ErrConnectionLoss is what the retry policy retries (with back-off), so a
// passing condition of the connection or of the cluster belongs there, and
// a permanent refusal must not (retrying it only delays the answer, and
// turns a write's definite failure into ErrOutcomeUnknown).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if ee, ok := etcdError(err); ok {
		err = ee // the server's status, not yet converted by clientv3
	}
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		// Our lease is gone: a write with it was refused.
		return backend.ErrSessionExpired
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps):
		return backend.ErrTooLarge
	case errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrAuthOldRevision):
		// The token expired (simple tokens after --auth-token-ttl idle,
		// JWTs at their expiry) or the auth store changed under it.
		// clientv3 fetched a new token before returning this, but with
		// one attempt per call (MaxUnaryRetries) did not send the call
		// again: the next try succeeds. A wrong password fails the fetch
		// itself (ErrAuthFailed).
		return backend.ErrConnectionLoss
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrAuthFailed),
		errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrUserNotFound):
		return backend.ErrNoAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Not the caller's context: a per-call timeout or the connection's.
		return backend.ErrConnectionLoss
	}
	switch code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return backend.ErrNoAuth
	case codes.ResourceExhausted:
		if tooLarge(err) {
			return backend.ErrTooLarge // a gRPC message over a size limit
		}
		// etcd's "too many requests" (its applied index lags its commits
		// by more than 5000: an overloaded member), its "database space
		// exceeded" alarm, and gRPC's own quotas pass: back off and retry.
		return backend.ErrConnectionLoss
	case codes.InvalidArgument:
		// A request etcd refuses as malformed whenever it is sent (an
		// empty or duplicate key, a put of a key that is not there with
		// WithIgnoreLease, ...): a bug of this backend or a server it
		// does not support, never a passing condition.
		return backend.ErrUnsupported
	case codes.Unimplemented:
		return backend.ErrUnsupported // a server without the RPC
	case codes.OutOfRange:
		if errors.Is(err, rpctypes.ErrLeaseTTLTooLarge) {
			return backend.ErrUnsupported
		}
		// ErrCompacted, ErrFutureRev: a read at a revision this member no
		// longer or not yet has; a new read succeeds.
		return backend.ErrConnectionLoss
	}
	// Unavailable (no connection, no leader, leader changed, request timed
	// out, server stopped, unhealthy cluster), DeadlineExceeded,
	// FailedPrecondition's ErrNotCapable (a member that has not yet agreed
	// on the cluster version) and ErrNotLeader, DataLoss (a corrupt
	// member, as a ZooKeeper server that cannot write its log stops), and
	// anything the server did not explain: the outcome is unknown, and a
	// retry may meet another member or a recovered one.
	return backend.ErrConnectionLoss
}

// etcdError returns the etcd error err is, wraps, or is the gRPC status of
// (a status clientv3 has not converted into an rpctypes.EtcdError).
func etcdError(err error) (rpctypes.EtcdError, bool) {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee, true
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.OK {
		if errors.As(rpctypes.Error(s.Err()), &ee) {
			return ee, true
		}
	}
	return ee, false
}

// tooLarge reports whether a ResourceExhausted error is gRPC's refusal of a
// message over its size limit ("grpc: received message larger than max",
// "grpc: trying to send message larger than max", also after
// decompression), on the client or the server.
func tooLarge(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return false // etcd's own: too many requests, no space
	}
	s, ok := status.FromError(err)
	return ok && strings.Contains(s.Message(), "larger than max")
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

// isTransient reports whether trying again may succeed: whether classify
// calls err a connection loss. Once the client is closed, such an error is
// reported as ErrClosed (see Client.kind).
func isTransient(err error) bool {
	return classify(err) == backend.ErrConnectionLoss
}
