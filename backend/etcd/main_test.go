package etcd

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is the generous deadline of anything a test waits for.
const wait = 20 * time.Second

// testClient opens a client in a fresh namespace, closed at cleanup.
func testClient(t testing.TB, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoints:      testenv.Etcd(t),
		Namespace:      testenv.Namespace(t),
		SessionTimeout: 4 * time.Second,
	}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testSession opens a session of a new client.
func testSession(t testing.TB, mod ...func(*Config)) *Session {
	t.Helper()
	return sessionOf(t, testClient(t, mod...))
}

func sessionOf(t testing.TB, c *Client) *Session {
	t.Helper()
	s, err := c.Session(tctx(t))
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return backend.Unwrap(s).(*Session)
}

// tctx is a context bounded by wait, cancelled at cleanup.
func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t testing.TB, s backend.Session, p string, data []byte, mode backend.Mode, opts ...backend.CreateOption) string {
	t.Helper()
	got, err := s.Create(tctx(t), p, data, mode, opts...)
	if err != nil {
		t.Fatalf("Create(%s, %v): %v", p, mode, err)
	}
	return got
}
