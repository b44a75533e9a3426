package election

import (
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestCutOffLeaderStepsDownFirst (issue 10.1): a leader under OnLost whose
// connection is blackholed for good (a paused proxy) has its term Done,
// with ErrLost wrapping backend.ErrSessionExpired, before the server
// deletes its node, and so before another candidate can lead; the next
// leader then takes over while the first is still cut off. The same for a
// latch's term and for an ActiveStandby active, whose successor fences it
// with its breadcrumb.
//
// Seen failing on ZooKeeper with the session watchdog not started
// (backend/zk, the spawn of watchdog in onEvent removed): "... deleted
// while the cut-off term was not Done".
func TestCutOffLeaderStepsDownFirst(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		t.Run("latch", func(t *testing.T) {
			s, proxy := e.Proxied(t, sessionTimeout)
			observer := e.Session(t)
			first := mustLatch(t, s, "/cutoff", WithLossPolicy(OnLost))
			t1, err := first.Await(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			next := mustLatch(t, e.Session(t), "/cutoff")
			eventually(t, "the next candidate queued", func() bool { return participants(t, first.Election()) == 2 })
			cutOff(t, observer, proxy.Pause, t1.Path(), t1)
			t2, err := next.Await(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if t2.Token() <= t1.Token() {
				t.Fatalf("the next leader's token %d is not above the cut-off leader's %d", t2.Token(), t1.Token())
			}
		})
		t.Run("activestandby", func(t *testing.T) {
			s, proxy := e.Proxied(t, sessionTimeout)
			observer := e.Session(t)
			a, err := NewActiveStandby(s, "/ha-cutoff", nil, WithValue([]byte("a")), WithLossPolicy(OnLost), WithRetryInterval(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			ra := runActive(t, a)
			ta := ra.awaitActive(t, "a")
			fb := &fenceLog{}
			b, err := NewActiveStandby(e.Session(t), "/ha-cutoff", fb.fence, WithValue([]byte("b")), WithRetryInterval(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			rb := runActive(t, b)
			cutOff(t, observer, proxy.Pause, "/ha-cutoff/"+LockName, ta)
			if ta.Context().Err() == nil {
				t.Fatal("the cut-off active's context is still live")
			}
			tb := rb.awaitActive(t, "b")
			if calls := fb.get(); len(calls) != 1 || calls[0] != "a" {
				t.Fatalf("b's fence calls: %q; want a's breadcrumb once", calls)
			}
			if tb.Token() <= ta.Token() {
				t.Fatalf("b's token %d is not above a's %d", tb.Token(), ta.Token())
			}
			if err := <-ra.done; !errors.Is(err, ErrLost) {
				t.Fatalf("a's Run: %v; want ErrLost", err)
			}
			ra.done <- nil // for the cleanup
		})
	})
}

// cutOff blackholes a leader's connection (pause) and waits for the server
// to delete its node (path); by then the term must be Done with ErrLost
// wrapping backend.ErrSessionExpired.
func cutOff(t *testing.T, observer backend.Session, pause func(), path string, term *Term) {
	t.Helper()
	_, gone, err := observer.ExistsW(ctxT(t), path)
	if err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	ended := make(chan time.Duration, 1)
	go func() {
		select {
		case <-term.Done():
			ended <- time.Since(paused)
		case <-time.After(wait):
			ended <- -1
		}
	}()
	pause()
	select {
	case ev := <-gone:
		if ev.Type != backend.EventDeleted {
			t.Fatalf("observer saw %+v; want %s deleted", ev, path)
		}
	case <-time.After(wait):
		t.Fatal("the server never expired the cut-off leader's session")
	}
	if !isClosed(term.Done()) {
		t.Fatalf("%s was deleted while the cut-off term was not Done", path)
	}
	t.Logf("the cut-off term ended %v after the pause (session timeout %v)", <-ended, sessionTimeout)
	if !errors.Is(term.Err(), ErrLost) || !errors.Is(term.Err(), backend.ErrSessionExpired) {
		t.Fatalf("term.Err: %v; want ErrLost wrapping backend.ErrSessionExpired", term.Err())
	}
}
