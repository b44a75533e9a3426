package zk_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// cutOnSecondWrite closes the connection at its second write: the
// connect request goes through, the first request after it (the
// namespace's Exists) is lost with the connection.
type cutOnSecondWrite struct {
	net.Conn
	writes atomic.Int32
}

func (c *cutOnSecondWrite) Write(b []byte) (int, error) {
	if c.writes.Add(1) == 2 {
		_ = c.Conn.Close()
		return 0, errors.New("test: connection reset")
	}
	return c.Conn.Write(b)
}

// TestConnectCutIsConnectionLoss: a connection lost while Client.Session
// sets a new session up (here while it creates the namespace) is
// ErrConnectionLoss, which a cache or a member tries again, and the next
// Session call succeeds. Found in a config checked run: the failed set-up
// closed its session before classifying the error, so the reset read as
// ErrClosed and the cache that asked ended for good (a subscriber stuck
// at an old value). Broken on purpose by closing the session first again:
// "Session with its first request cut: ... want ErrConnectionLoss" (the
// error said backend: closed).
func TestConnectCutIsConnectionLoss(t *testing.T) {
	var dials atomic.Int32
	c, err := zk.New(zk.Config{
		Servers:        testenv.ZooKeeper(t),
		Namespace:      testenv.Namespace(t) + "/fresh",
		SessionTimeout: 4 * time.Second,
		Dialer: func(network, addr string, timeout time.Duration) (net.Conn, error) {
			conn, err := net.DialTimeout(network, addr, timeout)
			if err != nil || dials.Add(1) > 1 {
				return conn, err
			}
			return &cutOnSecondWrite{Conn: conn}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Session(ctx)
	if !errors.Is(err, backend.ErrConnectionLoss) || errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Session with its first request cut: %v; want ErrConnectionLoss", err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("the next Session: %v", err)
	}
	if _, err := s.Exists(ctx, "/"); err != nil {
		t.Fatalf("Exists on the new session: %v", err)
	}
}
