package zk_test

import (
	"testing"

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
			c, err := zk.New(zk.Config{
				Servers:        o.Endpoints,
				Namespace:      o.Namespace,
				SessionTimeout: o.SessionTimeout,
			})
			if err != nil {
				t.Fatalf("zk.New: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
	})
}
