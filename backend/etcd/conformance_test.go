package etcd

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Config{
		Endpoints: testenv.Etcd(t),
		Open: func(t testing.TB, o backendtest.Options) backend.Client {
			c, err := New(Config{
				Endpoints:      o.Endpoints,
				Namespace:      o.Namespace,
				SessionTimeout: o.SessionTimeout,
				RetryPolicy:    o.RetryPolicy,
				Username:       o.User,
				Password:       o.Password,
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		DriverError: isDriverError,
	})
}

// isDriverError reports whether err's chain holds an error of clientv3
// (an rpctypes.EtcdError) or of gRPC (an error with a status).
func isDriverError(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return true
	}
	var grpcErr interface{ GRPCStatus() *status.Status }
	return errors.As(err, &grpcErr)
}
