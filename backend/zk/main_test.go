package zk_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is the generous deadline for anything a test waits on.
const wait = 20 * time.Second

// testConfig returns a config for the test server in a namespace of its own.
func testConfig(t testing.TB) zk.Config {
	t.Helper()
	return zk.Config{
		Servers:        testenv.ZooKeeper(t),
		Namespace:      testenv.Namespace(t),
		SessionTimeout: 4 * time.Second,
	}
}

// newClient opens a client closed at cleanup.
func newClient(t testing.TB, cfg zk.Config) *zk.Client {
	t.Helper()
	c, err := zk.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sessionOf returns the client's session, failing the test if there is none.
func sessionOf(t testing.TB, c *zk.Client) *zk.Session {
	t.Helper()
	s, err := c.Session(ctxT(t))
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	zs, ok := backend.Unwrap(s).(*zk.Session)
	if !ok {
		t.Fatalf("Session returned %T, which does not wrap a *zk.Session", s)
	}
	return zs
}

// newSession opens a client with cfg and returns its session.
func newSession(t testing.TB, cfg zk.Config) *zk.Session {
	t.Helper()
	return sessionOf(t, newClient(t, cfg))
}

// ctxT returns a context bounded by the generous deadline, cancelled at cleanup.
func ctxT(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t testing.TB, s backend.Session, p string, data []byte, mode backend.Mode, opts ...backend.CreateOption) string {
	t.Helper()
	got, err := s.Create(ctxT(t), p, data, mode, opts...)
	if err != nil {
		t.Fatalf("Create(%s, %v): %v", p, mode, err)
	}
	return got
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func exists(t testing.TB, s backend.Session, p string) bool {
	t.Helper()
	st, err := s.Exists(ctxT(t), p)
	if err != nil {
		t.Fatalf("Exists(%s): %v", p, err)
	}
	return st != nil
}

// faultDialer is a Config.Dialer that can cut, refuse and blackhole the
// connections it made.
type faultDialer struct {
	mu      sync.Mutex
	conns   map[*faultConn]struct{}
	refuse  bool
	stall   bool
	dropped chan struct{} // a request (not a ping) was swallowed while stalled
	// handshakes is signalled when the first write of a connection (its
	// connect request) was swallowed while stalled.
	handshakes chan struct{}
}

func newFaultDialer() *faultDialer {
	return &faultDialer{conns: map[*faultConn]struct{}{}, dropped: make(chan struct{}, 1), handshakes: make(chan struct{}, 1)}
}

func (f *faultDialer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	f.mu.Lock()
	refuse := f.refuse
	f.mu.Unlock()
	if refuse {
		return nil, errors.New("faultDialer: refused")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: c, f: f}
	f.mu.Lock()
	f.conns[fc] = struct{}{}
	f.mu.Unlock()
	return fc, nil
}

// Cut closes every connection and refuses new ones until Heal.
func (f *faultDialer) Cut() {
	f.mu.Lock()
	f.refuse = true
	f.mu.Unlock()
	f.Drop()
}

// Drop closes every connection once, as a server that went away would;
// new connections are made as usual.
func (f *faultDialer) Drop() {
	f.mu.Lock()
	conns := make([]*faultConn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Stall swallows every byte written from now on, as a blackhole would.
func (f *faultDialer) Stall() {
	f.mu.Lock()
	f.stall = true
	f.mu.Unlock()
}

// Heal accepts new connections and lets writes through again.
func (f *faultDialer) Heal() {
	f.mu.Lock()
	f.refuse, f.stall = false, false
	f.mu.Unlock()
}

type faultConn struct {
	net.Conn
	f     *faultDialer
	wrote atomic.Bool
}

func (c *faultConn) Write(b []byte) (int, error) {
	first := !c.wrote.Swap(true)
	c.f.mu.Lock()
	stall := c.f.stall
	c.f.mu.Unlock()
	if stall {
		signal := c.f.dropped
		if first {
			signal = c.f.handshakes
		}
		if len(b) > 12 { // a ping is 12 bytes
			select {
			case signal <- struct{}{}:
			default:
			}
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}
