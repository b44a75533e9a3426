package barrier

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
// lease is 2 s); it bounds how long a dead member holds the others.
const sessionTimeout = 4 * time.Second

type env = recipetest.Env

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	recipetest.Eventually(t, what, cond)
}

// async runs f in a goroutine and returns the channel its error arrives on.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// result waits, up to recipetest.Wait, for ch's error.
func result(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(recipetest.Wait):
		t.Fatalf("%s: no result within %v", what, recipetest.Wait)
		return nil
	}
}

// blocked fails t if ch already holds a result.
func blocked(t testing.TB, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) while it should block", what, err)
	default:
	}
}

func mustDouble(t testing.TB, s backend.Session, path string, n int, opts ...Option) *DoubleBarrier {
	t.Helper()
	d, err := NewDouble(s, path, n, opts...)
	if err != nil {
		t.Fatalf("NewDouble(%s, %d): %v", path, n, err)
	}
	return d
}

// members lists the member names under path as another session sees them.
func membersOf(t testing.TB, s backend.Session, path string) []string {
	t.Helper()
	return members(recipetest.Children(t, s, path))
}

func exists(t testing.TB, s backend.Session, path string) bool {
	t.Helper()
	st, err := s.Exists(ctxT(t), path)
	if err != nil {
		t.Fatalf("Exists(%s): %v", path, err)
	}
	return st != nil
}

// spy is a real session that tells the test when a read on a path has
// returned: not a fake (every call goes to the server), a way to know that
// a waiter has armed its watch or counted, which the server does not show.
type spy struct {
	backend.Session
	path string
	read chan string // "existsw", "children" or "childrenw", after the call returned

	// When holdPath is set, the events of ExistsW watches on it are
	// passed on only once hold is closed: a member slow to wake up.
	holdPath string
	hold     chan struct{}

	// When beforePath is set, ExistsW on it waits until before is closed
	// before it reaches the server (noting "existsw-held" on the spy's
	// path): a member slow between its listing and its watch.
	beforePath string
	before     chan struct{}
}

func newSpy(s backend.Session, path string) *spy {
	return &spy{Session: s, path: path, read: make(chan string, 64)}
}

func (s *spy) note(what, path string) {
	if path == s.path {
		select {
		case s.read <- what:
		default:
		}
	}
}

func (s *spy) ExistsW(ctx context.Context, path string) (*backend.Stat, <-chan backend.Event, error) {
	if s.beforePath != "" && path == s.beforePath {
		s.note("existsw-held", s.path)
		select {
		case <-s.before:
		case <-ctx.Done():
		}
	}
	st, ev, err := s.Session.ExistsW(ctx, path)
	s.note("existsw", path)
	if err != nil || s.holdPath == "" || path != s.holdPath {
		return st, ev, err
	}
	held := make(chan backend.Event, 1)
	go func() {
		defer close(held)
		e, ok := <-ev // the backend ends every watch: an event, or EventNotWatching when ctx ends
		if !ok {
			return
		}
		select {
		case <-s.hold:
		case <-ctx.Done():
		}
		held <- e
	}()
	return st, held, nil
}

func (s *spy) Children(ctx context.Context, path string) ([]string, backend.Stat, error) {
	kids, st, err := s.Session.Children(ctx, path)
	s.note("children", path)
	return kids, st, err
}

func (s *spy) ChildrenW(ctx context.Context, path string) ([]string, backend.Stat, <-chan backend.Event, error) {
	kids, st, ev, err := s.Session.ChildrenW(ctx, path)
	s.note("childrenw", path)
	return kids, st, ev, err
}

// Expire passes the test's expiry on to the real session.
func (s *spy) Expire(ctx context.Context) error { return s.Session.(backend.Expirer).Expire(ctx) }

// saw waits, up to recipetest.Wait, for the spy to report what on its path.
func (s *spy) saw(t testing.TB, what string) {
	t.Helper()
	deadline := time.After(recipetest.Wait)
	for {
		select {
		case got := <-s.read:
			if got == what {
				return
			}
		case <-deadline:
			t.Fatalf("no %s on %s within %v", what, s.path, recipetest.Wait)
		}
	}
}
