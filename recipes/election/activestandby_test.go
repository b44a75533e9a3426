package election

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// fenceLog records FenceOld calls and can make them fail.
type fenceLog struct {
	mu    sync.Mutex
	calls []string
	fail  int // fail this many more calls
}

func (f *fenceLog) fence(_ context.Context, prev []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, string(prev))
	if f.fail > 0 {
		f.fail--
		return errors.New("cannot reach the old active")
	}
	return nil
}

func (f *fenceLog) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// activeRun runs a.Run in a goroutine; the function reports the term on
// active and returns when release is closed or activeCtx ends.
type activeRun struct {
	active  chan *Term
	release chan struct{}
	done    chan error
}

func runActive(t *testing.T, a *ActiveStandby) *activeRun {
	r := &activeRun{active: make(chan *Term, 1), release: make(chan struct{}), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		r.done <- a.Run(ctx, func(actx context.Context, term *Term) error {
			r.active <- term
			select {
			case <-r.release:
			case <-actx.Done():
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Error("Run did not return")
		}
	})
	return r
}

func (r *activeRun) awaitActive(t *testing.T, who string) *Term {
	t.Helper()
	select {
	case term := <-r.active:
		return term
	case <-time.After(wait):
		t.Fatalf("%s did not become active", who)
	}
	panic("unreachable")
}

func mustActiveStandby(t *testing.T, s backend.Session, value string, fence FenceFunc) *ActiveStandby {
	t.Helper()
	a, err := NewActiveStandby(s, "/ha", fence, WithValue([]byte(value)), WithRetryInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestActiveStandby: in Hadoop's layout, a graceful exit hands over
// without fencing; an active that dies without cleaning up is fenced with
// its breadcrumb; a failing fence keeps the candidate standby until it
// succeeds.
func TestActiveStandby(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		fa, fb := &fenceLog{}, &fenceLog{}
		sa, sb := e.Session(t), e.Session(t)
		a := mustActiveStandby(t, sa, "a", fa.fence)
		ra := runActive(t, a)
		ta := ra.awaitActive(t, "a")
		if v, err := a.Active(ctxT(t)); err != nil || string(v) != "a" {
			t.Fatalf("breadcrumb while a is active: %q, %v", v, err)
		}
		st, err := obs.Exists(ctxT(t), "/ha/"+LockName)
		if err != nil || st == nil || st.EphemeralOwner != sa.ID() || st.CreateToken != ta.Token() {
			t.Fatalf("lock node while a is active: %+v, %v", st, err)
		}
		if st, err := obs.Exists(ctxT(t), "/ha/"+BreadCrumbName); err != nil || st == nil || st.EphemeralOwner != 0 {
			t.Fatalf("breadcrumb node: %+v, %v; want a persistent node", st, err)
		}
		b := mustActiveStandby(t, sb, "b", fb.fence)
		rb := runActive(t, b)

		// Graceful exit: the breadcrumb goes first, b takes over unfenced.
		close(ra.release)
		if err := <-ra.done; err != nil {
			t.Fatalf("a's Run after a graceful exit: %v", err)
		}
		ra.done <- nil // for the cleanup
		tb := rb.awaitActive(t, "b")
		if calls := fb.get(); len(calls) != 0 {
			t.Fatalf("b fenced %q after a's graceful exit", calls)
		}
		if tb.Token() <= ta.Token() {
			t.Fatalf("b's token %d <= a's %d", tb.Token(), ta.Token())
		}

		// b dies without cleaning up: the next active fences it. The first
		// fence fails: that candidate stays standby and retries.
		sc := e.Session(t)
		fc := &fenceLog{fail: 2}
		c := mustActiveStandby(t, sc, "c", fc.fence)
		rc := runActive(t, c)
		eventually(t, "c standing by", func() bool {
			kids, _, err := obs.Children(ctxT(t), "/ha")
			return err == nil && len(kids) == 2
		})
		ex, ok := sb.(backend.Expirer)
		if !ok {
			t.Skip("no Expirer")
		}
		if err := ex.Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, tb.Done(), "b's term")
		tc := rc.awaitActive(t, "c")
		calls := fc.get()
		if len(calls) != 3 || calls[0] != "b" || calls[2] != "b" {
			t.Fatalf("c's fence calls: %q; want b's breadcrumb thrice (two failures, then success)", calls)
		}
		if v, err := c.Active(ctxT(t)); err != nil || string(v) != "c" {
			t.Fatalf("breadcrumb while c is active: %q, %v", v, err)
		}
		if tc.Token() <= tb.Token() {
			t.Fatalf("c's token %d <= b's %d", tc.Token(), tb.Token())
		}
		if !errors.Is(<-rb.done, ErrLost) {
			t.Fatal("b's Run did not end with ErrLost")
		}
		rb.done <- nil
		close(rc.release)
		if err := <-rc.done; err != nil {
			t.Fatal(err)
		}
		rc.done <- nil
		if _, err := c.Active(ctxT(t)); !errors.Is(err, ErrNoLeader) {
			t.Fatalf("breadcrumb after c's graceful exit: %v; want ErrNoLeader", err)
		}
	})
}

// TestActiveStandbyFenceBlocks: while its fencing fails, a candidate is
// never active, leaves the breadcrumb alone and gives the lock node up
// between attempts, so a candidate that can fence becomes active.
func TestActiveStandbyFenceBlocks(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		// A dead active's breadcrumb.
		if _, err := obs.Create(ctxT(t), "/ha/"+BreadCrumbName, []byte("dead"), backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
			t.Fatal(err)
		}
		fx := &fenceLog{fail: 1 << 30}
		rx := runActive(t, mustActiveStandby(t, e.Session(t), "x", fx.fence))
		eventually(t, "three failed fences", func() bool { return len(fx.get()) >= 3 })
		if data, _, err := obs.Get(ctxT(t), "/ha/"+BreadCrumbName); err != nil || string(data) != "dead" {
			t.Fatalf("breadcrumb after failed fences: %q, %v; want it untouched", data, err)
		}
		fy := &fenceLog{}
		y := mustActiveStandby(t, e.Session(t), "y", fy.fence)
		ry := runActive(t, y)
		ry.awaitActive(t, "y")
		if calls := fy.get(); len(calls) != 1 || calls[0] != "dead" {
			t.Fatalf("y's fence calls %q; want the dead active's breadcrumb once", calls)
		}
		if v, err := y.Active(ctxT(t)); err != nil || string(v) != "y" {
			t.Fatalf("breadcrumb while y is active: %q, %v", v, err)
		}
		select {
		case <-rx.active:
			t.Fatal("x active although its fencing fails")
		default:
		}
		for _, c := range fx.get() {
			if c != "dead" {
				t.Fatalf("x fenced %q; want the dead active's breadcrumb", c)
			}
		}
	})
}
