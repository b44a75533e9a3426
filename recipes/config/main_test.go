package config

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // the example's etcd

// sessionTimeout is the timeout of the tests' sessions (etcd's smallest
// lease is 2 s).
const sessionTimeout = 4 * time.Second

type env = recipetest.Env

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

// newClient opens a client of its own, as another process would have,
// closed at cleanup.
func newClient(t testing.TB, e *env) backend.Client {
	t.Helper()
	return e.Backend.Open(t, e.Endpoints, e.Namespace, e.Timeout)
}

// newCenter makes a Center on a client of its own, closed at cleanup.
func newCenter(t testing.TB, e *env, opts ...Option) *Center {
	t.Helper()
	c, err := New(newClient(t, e), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
