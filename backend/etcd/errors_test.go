package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want error
	}{
		{rpctypes.ErrLeaseNotFound, backend.ErrSessionExpired},
		{rpctypes.ErrRequestTooLarge, backend.ErrTooLarge},
		{rpctypes.ErrTooManyOps, backend.ErrTooLarge},
		{rpctypes.ErrPermissionDenied, backend.ErrNoAuth},
		{rpctypes.ErrAuthFailed, backend.ErrNoAuth},
		{rpctypes.ErrInvalidAuthToken, backend.ErrNoAuth},
		{rpctypes.ErrNoLeader, backend.ErrConnectionLoss},
		{rpctypes.ErrLeaderChanged, backend.ErrConnectionLoss},
		{rpctypes.ErrTimeout, backend.ErrConnectionLoss},
		{rpctypes.ErrNoSpace, backend.ErrConnectionLoss},
		{status.Error(codes.Unavailable, "connection refused"), backend.ErrConnectionLoss},
		{status.Error(codes.DeadlineExceeded, "deadline"), backend.ErrConnectionLoss},
		{status.Error(codes.Unauthenticated, "who"), backend.ErrNoAuth},
		{status.Error(codes.ResourceExhausted, "message larger than max"), backend.ErrTooLarge},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), backend.ErrConnectionLoss},
		{errors.New("something else"), backend.ErrConnectionLoss},
	} {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
	if !isTransient(status.Error(codes.Unavailable, "x")) || isTransient(rpctypes.ErrPermissionDenied) {
		t.Error("isTransient")
	}
}
