package cache

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // examples' etcd

// wait is the generous deadline for anything a test waits on.
const wait = recipetest.Wait

// sessionTimeout is the timeout of ordinary test sessions; lostTimeout of
// the caches' sessions in tests that cut them off until they are lost
// (etcd's smallest lease is 2 s).
const (
	sessionTimeout = 4 * time.Second
	lostTimeout    = 2 * time.Second
)

type env = recipetest.Env

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	recipetest.Eventually(t, what, cond)
}

// client opens a client of its own in e's namespace.
func client(t testing.TB, e *env) backend.Client {
	return e.Backend.Open(t, e.Endpoints, e.Namespace, sessionTimeout)
}

// proxiedClient opens a client of its own whose connection runs through a
// fault proxy, with sessions of timeout.
func proxiedClient(t testing.TB, e *env, timeout time.Duration) (backend.Client, *faultnet.Proxy) {
	t.Helper()
	p, err := faultnet.NewProxy(e.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return e.Backend.Open(t, []string{p.Addr()}, e.Namespace, timeout), p
}

func mustCreate(t testing.TB, s backend.Session, p string, data string, mode backend.Mode) {
	t.Helper()
	if _, err := s.Create(ctxT(t), p, []byte(data), mode, backend.WithParents(backend.Persistent)); err != nil {
		t.Fatalf("Create(%s): %v", p, err)
	}
}

func mustStart(t testing.TB, c interface{ Start(context.Context) error }) {
	t.Helper()
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// next returns the listener's next event, failing the test after wait.
func next(t testing.TB, l *Listener) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := l.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// until returns the events up to and including the first that match says
// is the one, failing the test after wait.
func until(t testing.TB, l *Listener, match func(Event) bool) []Event {
	t.Helper()
	var evs []Event
	for {
		ev := next(t, l)
		evs = append(evs, ev)
		if match(ev) {
			return evs
		}
	}
}

func isType(typ EventType) func(Event) bool { return func(ev Event) bool { return ev.Type == typ } }

// ownGoroutines returns the stacks of the goroutines running code of this
// package or a backend's subtree watch (backend/zk's one-shot mirror or
// persistent watch, backend/etcd's watch): after every cache is closed
// there must be none.
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "recipes/cache.(*Tree)") || strings.Contains(g, "(*treeWatch)") ||
			strings.Contains(g, "(*persistWatch)") || strings.Contains(g, ").WatchTree.func") {
			out = append(out, g)
		}
	}
	return out
}

// noGoroutinesLeft waits until no goroutine of a cache or of a subtree
// watch runs.
func noGoroutinesLeft(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		g := ownGoroutines()
		if len(g) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of a cache or a tree watch left after Close:\n\n%s", len(g), strings.Join(g, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling the goroutines, which nothing signals
	}
}
