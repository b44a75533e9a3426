package zk_test

import (
	"errors"
	"io"
	"net"
	"testing"

	gozk "github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestConformance runs the conformance suite every backend passes.
func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Config{
		Endpoints: testenv.ZooKeeper(t),
		Open: func(t testing.TB, o backendtest.Options) backend.Client {
			cfg := zk.Config{
				Servers:        o.Endpoints,
				Namespace:      o.Namespace,
				SessionTimeout: o.SessionTimeout,
				RetryPolicy:    o.RetryPolicy,
			}
			if o.User != "" {
				cfg.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte(o.User + ":" + o.Password)}}
			}
			c, err := zk.New(cfg)
			if err != nil {
				t.Fatalf("zk.New: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
		DriverError: isDriverError,
	})
}

// driverErrors are go-zookeeper's error values.
var driverErrors = []error{
	gozk.ErrNoServer, gozk.ErrInvalidPath, gozk.ErrConnectionClosed, gozk.ErrUnknown,
	gozk.ErrAPIError, gozk.ErrNoNode, gozk.ErrNoAuth, gozk.ErrBadVersion,
	gozk.ErrNoChildrenForEphemerals, gozk.ErrNodeExists, gozk.ErrNotEmpty,
	gozk.ErrSessionExpired, gozk.ErrInvalidACL, gozk.ErrInvalidFlags, gozk.ErrAuthFailed,
	gozk.ErrClosing, gozk.ErrNothing, gozk.ErrSessionMoved, gozk.ErrBadArguments,
	gozk.ErrShortBuffer,
}

// isDriverError reports whether err's chain holds one of go-zookeeper's
// errors, or an error of its connection that it passed on.
func isDriverError(err error) bool {
	for _, d := range append(driverErrors, io.EOF, io.ErrUnexpectedEOF) {
		if errors.Is(err, d) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}
