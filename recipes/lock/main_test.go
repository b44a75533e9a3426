package lock

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // examples' etcd

// wait is the generous deadline for anything a test waits on.
const wait = 20 * time.Second

// sessionTimeout is the timeout of ordinary test sessions.
const sessionTimeout = 4 * time.Second

type backendCase struct {
	name      string
	endpoints func(testing.TB) []string
	open      func(t testing.TB, eps []string, ns string, timeout time.Duration) backend.Client
}

var backends = []backendCase{
	{"zk", testenv.ZooKeeper, func(t testing.TB, eps []string, ns string, timeout time.Duration) backend.Client {
		c, err := zk.New(zk.Config{Servers: eps, Namespace: ns, SessionTimeout: timeout})
		if err != nil {
			t.Fatalf("zk.New: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}},
	{"etcd", testenv.Etcd, func(t testing.TB, eps []string, ns string, timeout time.Duration) backend.Client {
		c, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: ns, SessionTimeout: timeout})
		if err != nil {
			t.Fatalf("etcd.New: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}},
}

// env opens sessions of one backend, all in one namespace of the test's own.
type env struct {
	b   backendCase
	eps []string
	ns  string
}

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fn(t, &env{b: b, eps: b.endpoints(t), ns: testenv.Namespace(t)})
		})
	}
}

func (e *env) sessionOf(t testing.TB, c backend.Client) backend.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

// session opens a new client and returns its session.
func (e *env) session(t testing.TB) backend.Session {
	t.Helper()
	return e.sessionOf(t, e.b.open(t, e.eps, e.ns, sessionTimeout))
}

// proxied opens a session whose connection runs through a fault proxy.
func (e *env) proxied(t testing.TB, timeout time.Duration) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	p, err := faultnet.NewProxy(e.eps[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return e.sessionOf(t, e.b.open(t, []string{p.Addr()}, e.ns, timeout)), p
}

// ctxT returns a context bounded by the generous deadline, cancelled at cleanup.
func ctxT(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func mustNew(t testing.TB, s backend.Session, path string, opts ...Option) *Mutex {
	t.Helper()
	m, err := New(s, path, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	return m
}

func mustLock(t testing.TB, m *Mutex) *Lease {
	t.Helper()
	l, err := m.Lock(ctxT(t))
	if err != nil {
		t.Fatalf("Lock(%s): %v", m.Path(), err)
	}
	return l
}

// eventually polls cond until it holds, failing t after the deadline. It
// is for state only another session can see, which nothing signals.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		tm := time.NewTimer(5 * time.Millisecond)
		<-tm.C
	}
}

func queueLen(t testing.TB, m *Mutex) int {
	t.Helper()
	hs, err := m.Holders(ctxT(t))
	if err != nil {
		t.Fatalf("Holders: %v", err)
	}
	return len(hs)
}

func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s: not closed within %v", what, wait)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

type lockResult struct {
	l   *Lease
	err error
}

// lockAsync runs m.Lock(ctx) in a goroutine the test waits for at cleanup.
func lockAsync(t testing.TB, ctx context.Context, m *Mutex) <-chan lockResult {
	ch := make(chan lockResult, 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := m.Lock(ctx)
		ch <- lockResult{l, err}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func result(t testing.TB, ch <-chan lockResult) lockResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatalf("Lock did not return within %v", wait)
	}
	panic("unreachable")
}
