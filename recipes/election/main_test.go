package election

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

// sessionTimeout is the timeout of test sessions: short, so that expiry
// after a kill or a cut comes within a few seconds.
const sessionTimeout = 3 * time.Second

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

// forEach runs fn on each backend, in parallel with the other tests that
// call t.Parallel.
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
func (e *env) proxied(t testing.TB) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	return e.proxiedWith(t, sessionTimeout)
}

// proxiedWith is proxied with a session timeout of its own.
func (e *env) proxiedWith(t testing.TB, timeout time.Duration) (backend.Session, *faultnet.Proxy) {
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

func mustNew(t testing.TB, s backend.Session, path string, opts ...Option) *Election {
	t.Helper()
	e, err := New(s, path, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	return e
}

func mustCampaign(t testing.TB, e *Election) *Term {
	t.Helper()
	term, err := e.Campaign(ctxT(t))
	if err != nil {
		t.Fatalf("Campaign(%s): %v", e.Path(), err)
	}
	return term
}

func mustLatch(t testing.TB, s backend.Session, path string, opts ...Option) *Latch {
	t.Helper()
	l, err := NewLatch(s, path, opts...)
	if err != nil {
		t.Fatalf("NewLatch(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = l.Close() })
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

type termResult struct {
	term *Term
	err  error
	at   time.Time // when Campaign returned
}

// campaignAsync runs e.Campaign(ctx) in a goroutine the test waits for at cleanup.
func campaignAsync(t testing.TB, ctx context.Context, e *Election) <-chan termResult {
	ch := make(chan termResult, 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		term, err := e.Campaign(ctx)
		ch <- termResult{term, err, time.Now()}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func result(t testing.TB, ch <-chan termResult) termResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatalf("Campaign did not return within %v", wait)
	}
	panic("unreachable")
}

func participants(t testing.TB, e *Election) int {
	t.Helper()
	cs, err := e.Participants(ctxT(t))
	if err != nil {
		t.Fatalf("Participants: %v", err)
	}
	return len(cs)
}
