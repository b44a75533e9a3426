package registry

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // the example's etcd

// sessionTimeout is the timeout of the members' sessions (etcd's smallest
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

// current returns c's current session (opening one if the last was lost).
func current(t testing.TB, c backend.Client) backend.Session {
	t.Helper()
	s, err := c.Session(ctxT(t))
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

// startMember makes and starts a Member, closed at cleanup.
func startMember(t testing.TB, c backend.Client, path string, data string, opts ...Option) *Member {
	t.Helper()
	m, err := NewMember(c, path, []byte(data), opts...)
	if err != nil {
		t.Fatalf("NewMember(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatalf("Start(%s): %v", path, err)
	}
	return m
}

// expire makes c's current session expire and returns its ID.
func expire(t testing.TB, c backend.Client) int64 {
	t.Helper()
	s := current(t, c)
	if err := s.(backend.Expirer).Expire(ctxT(t)); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	return s.ID()
}

// nodeIs reports whether the node at path, as obs reads it, is owned by
// owner (0: any persistent) with data.
func nodeIs(t testing.TB, obs backend.Session, path string, owner int64, data string) bool {
	t.Helper()
	got, st, err := obs.Get(ctxT(t), path)
	return err == nil && st.EphemeralOwner == owner && bytes.Equal(got, []byte(data))
}

// waitOwned waits until the node at path is owned by c's current session
// (not old) with data, and the member says it is registered.
func waitOwned(t testing.TB, obs backend.Session, c backend.Client, m *Member, old int64, data string) {
	t.Helper()
	recipetest.Eventually(t, "member registered again on a new session with "+data, func() bool {
		s, err := c.Session(ctxT(t))
		return err == nil && s.ID() != old && m.Registered() && nodeIs(t, obs, m.Path(), s.ID(), data)
	})
}
