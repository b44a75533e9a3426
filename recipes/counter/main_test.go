package counter

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // the examples' etcd

// sessionTimeout is the timeout of ordinary test sessions (etcd's smallest
// lease is 2 s).
const sessionTimeout = 4 * time.Second

type env = recipetest.Env

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

// newAtomic opens an Atomic at path on s, closed at cleanup.
func newAtomic(t testing.TB, s backend.Session, path string, opts ...Option) *Atomic {
	t.Helper()
	a, err := NewAtomic(s, path, opts...)
	if err != nil {
		t.Fatalf("NewAtomic(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// newShared opens and starts a Shared at path on s, closed at cleanup.
func newShared(t testing.TB, s backend.Session, path string, seed int64, opts ...Option) *Shared {
	t.Helper()
	c, err := NewShared(s, path, seed, opts...)
	if err != nil {
		t.Fatalf("NewShared(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatalf("Start(%s): %v", path, err)
	}
	return c
}

// valueOf reads the counter at path with a codec, failing the test on error.
func valueOf(t testing.TB, s backend.Session, path string, c Codec) int64 {
	t.Helper()
	data, _, err := s.Get(ctxT(t), path)
	if err != nil {
		t.Fatalf("Get(%s): %v", path, err)
	}
	n, err := c.Decode(data)
	if err != nil {
		t.Fatalf("Decode(%s): %v", path, err)
	}
	return n
}
