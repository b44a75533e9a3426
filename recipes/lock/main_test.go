package lock

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // examples' etcd

// wait is the generous deadline for anything a test waits on.
const wait = recipetest.Wait

// sessionTimeout is the timeout of ordinary test sessions.
const sessionTimeout = 4 * time.Second

// The harness is recipetest's; these names keep the tests short.
type env = recipetest.Env

var backends = recipetest.Backends

// forEach runs fn once per backend, with sessions of sessionTimeout.
func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	recipetest.Eventually(t, what, cond)
}

func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	recipetest.WaitClosed(t, ch, what)
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

func queueLen(t testing.TB, m *Mutex) int {
	t.Helper()
	hs, err := m.Holders(ctxT(t))
	if err != nil {
		t.Fatalf("Holders: %v", err)
	}
	return len(hs)
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
