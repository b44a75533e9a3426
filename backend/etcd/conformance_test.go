package etcd

import (
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Config{
		Endpoints: testenv.Etcd(t),
		Open: func(t testing.TB, o backendtest.Options) backend.Client {
			c, err := New(Config{Endpoints: o.Endpoints, Namespace: o.Namespace, SessionTimeout: o.SessionTimeout})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
	})
}
