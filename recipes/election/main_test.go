package election

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

// sessionTimeout is the timeout of test sessions: short, so that expiry
// after a kill or a cut comes within a few seconds.
const sessionTimeout = 3 * time.Second

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
