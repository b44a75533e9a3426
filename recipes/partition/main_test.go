package partition

import (
	"context"
	"fmt"
	"slices"
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

// settle is the tests' quiet window.
const settle = 200 * time.Millisecond

type env = recipetest.Env

var backends = recipetest.Backends

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	recipetest.Eventually(t, what, cond)
}

// member is a running Partitioner with a record of what its handler was
// told.
type member struct {
	p    *Partitioner
	s    backend.Session
	stop context.CancelFunc
	done chan struct{}
	err  error // Run's, once done is closed

	mu     sync.Mutex
	held   map[string]*Claim
	log    []string              // "+item" and "-item", in order
	onRev  func(claims []*Claim) // called in Revoked before it returns
	gained int
}

func (m *member) Assigned(_ context.Context, claims []*Claim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range claims {
		m.held[c.Item()] = c
		m.log = append(m.log, "+"+c.Item())
		m.gained++
	}
}

func (m *member) Revoked(_ context.Context, claims []*Claim) {
	m.mu.Lock()
	f := m.onRev
	for _, c := range claims {
		if m.held[c.Item()] == c {
			delete(m.held, c.Item())
		}
		m.log = append(m.log, "-"+c.Item())
	}
	m.mu.Unlock()
	if f != nil {
		f(claims)
	}
}

// items returns the items the member holds, sorted.
func (m *member) items() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.held))
	for it := range m.held {
		out = append(out, it)
	}
	slices.SortFunc(out, NaturalCompare)
	return out
}

func (m *member) claim(item string) *Claim {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[item]
}

// start runs a member of the group at path on s until the test ends or
// stop is called.
func start(t testing.TB, s backend.Session, path string, opts ...Option) *member {
	t.Helper()
	p, err := New(s, path, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{p: p, s: s, stop: cancel, done: make(chan struct{}), held: map[string]*Claim{}}
	go func() {
		defer close(m.done)
		m.err = p.Run(ctx, m)
	}()
	t.Cleanup(func() { m.leave(t) })
	return m
}

// leave stops the member and waits for Run to return.
func (m *member) leave(t testing.TB) {
	t.Helper()
	m.stop()
	select {
	case <-m.done:
	case <-time.After(wait):
		t.Errorf("Run of %s did not return within %v of its ctx's end", m.p.Member(), wait)
	}
}

// items returns n items "p-0" ... "p-<n-1>".
func itemNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "p-" + itoa(i)
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// split waits until the members hold every item exactly once between them
// with the given counts (sorted ascending), and returns who holds what.
func waitSplit(t testing.TB, items []string, ms ...*member) map[string]string {
	t.Helper()
	return waitSplitWithin(t, wait, items, ms...)
}

// waitSplitWithin is waitSplit with a deadline of d.
func waitSplitWithin(t testing.TB, d time.Duration, items []string, ms ...*member) map[string]string {
	t.Helper()
	var owner map[string]string
	deadline := time.Now().Add(d)
	defer func() {
		if time.Now().After(deadline) {
			for _, m := range ms {
				ended := ""
				if isClosed(m.done) {
					ended = fmt.Sprintf(" (Run ended: %v)", m.err)
				}
				t.Logf("%s holds %d%s [%v]: %v", m.p.Member(), len(m.items()), ended, m.p.phase.Load(), m.items())
			}
		}
	}()
	split := func() bool {
		owner = map[string]string{}
		for _, m := range ms {
			for _, it := range m.items() {
				if _, dup := owner[it]; dup {
					return false
				}
				owner[it] = m.p.Member()
			}
		}
		if len(owner) != len(items) {
			return false
		}
		// balanced: counts differ by at most one
		lo, hi := len(items), 0
		for _, m := range ms {
			n := len(m.items())
			lo, hi = min(lo, n), max(hi, n)
		}
		return hi-lo <= 1
	}
	for !split() {
		if time.Now().After(deadline) {
			t.Fatalf("the items split among the members: not within %v", d)
		}
		tm := time.NewTimer(5 * time.Millisecond)
		<-tm.C
	}
	return owner
}
