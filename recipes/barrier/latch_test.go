package barrier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

func mustLatch(t testing.TB) func(*Latch, error) *Latch {
	return func(l *Latch, err error) *Latch {
		t.Helper()
		if err != nil {
			t.Fatalf("NewLatch: %v", err)
		}
		return l
	}
}

func remaining(t testing.TB, l *Latch) int {
	t.Helper()
	n, err := l.Remaining(ctxT(t))
	if err != nil {
		t.Fatalf("Remaining: %v", err)
	}
	return n
}

// TestLatch: Await blocks until the n-th CountDown, from any session;
// Remaining counts down to 0 and stays there.
// Broken on purpose: awaitOnce passing on "count >= l.n-1" -> fails with
// "Await returned (<nil>) while it should block".
func TestLatch(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n = 3
		sp := newSpy(e.Session(t), "/latch")
		waiter := mustLatch(t)(NewLatch(sp, "/latch", n))
		counter := mustLatch(t)(NewLatch(e.Session(t), "/latch", n))
		for i := range n - 1 {
			if err := counter.CountDown(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if got, want := remaining(t, counter), n-1-i; got != want {
				t.Fatalf("Remaining after %d = %d; want %d", i+1, got, want)
			}
		}
		ch := async(func() error { return waiter.Await(ctxT(t)) })
		// The waiter has listed the latch with n-1 count-downs; one more
		// round trip on its session and it must still wait.
		sp.saw(t, "childrenw")
		if err := sp.Sync(ctxT(t), "/latch"); err != nil {
			t.Fatal(err)
		}
		blocked(t, ch, "Await")
		if err := counter.CountDown(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := result(t, ch, "Await"); err != nil {
			t.Fatalf("Await after n count-downs: %v", err)
		}
		if err := counter.CountDown(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got := remaining(t, counter); got != 0 {
			t.Fatalf("Remaining after n+1 = %d; want 0", got)
		}
		if err := waiter.Await(ctxT(t)); err != nil {
			t.Fatalf("Await on an open latch: %v", err)
		}
	})
}

// TestLatchMismatch: a latch asked for another count than the node holds
// is refused.
// Broken on purpose: ensure not comparing the stored count -> fails with
// "CountDown on a latch of 2 asked as 5: <nil>; want ErrCountMismatch".
func TestLatchMismatch(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		first := mustLatch(t)(NewLatch(s, "/mm", 2))
		if got := remaining(t, first); got != 2 {
			t.Fatalf("Remaining = %d; want 2", got)
		}
		other := mustLatch(t)(NewLatch(e.Session(t), "/mm", 5))
		if err := other.CountDown(ctxT(t)); !errors.Is(err, ErrCountMismatch) {
			t.Fatalf("CountDown on a latch of 2 asked as 5: %v; want ErrCountMismatch", err)
		}
		if err := other.Await(ctxT(t)); !errors.Is(err, ErrCountMismatch) {
			t.Fatalf("Await on a latch of 2 asked as 5: %v; want ErrCountMismatch", err)
		}
		if got := remaining(t, first); got != 2 {
			t.Fatalf("Remaining after the refused count-down = %d; want 2", got)
		}
	})
}

// TestLatchAwaitEnds: an Await whose ctx ends says how many count-downs it
// saw.
// Broken on purpose: Await returning fmt.Errorf("%w (%d of %d)") instead of
// a *WaitError -> fails with "Await past its deadline: context deadline
// exceeded (1 of 3); want a *WaitError ...".
func TestLatchAwaitEnds(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		l := mustLatch(t)(NewLatch(e.Session(t), "/ends", 3))
		if err := l.CountDown(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
		defer cancel()
		err := l.Await(ctx)
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Await past its deadline: %v; want a *WaitError matching context.DeadlineExceeded", err)
		}
		if we.Present != 1 || we.Need != 3 {
			t.Fatalf("WaitError %+v; want 1 of 3", we)
		}
	})
}

// TestCountDownReplyLost: the reply to a count-down's create is lost; the
// count-down finds its node again and counts once.
// Broken on purpose: CountDown with a plain "count-" PersistentSequential
// create retried on connection loss -> counted twice, fails with
// "Remaining = 0; want 1".
func TestCountDownReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		l := mustLatch(t)(NewLatch(s, "/lostcd", 2))
		observer := mustLatch(t)(NewLatch(e.Session(t), "/lostcd", 2))
		if got := remaining(t, l); got != 2 { // makes the latch node before the fault
			t.Fatalf("Remaining = %d; want 2", got)
		}
		proxy.DropReplies()
		ch := async(func() error { return l.CountDown(ctxT(t)) })
		eventually(t, "count-down landed", func() bool { return remaining(t, observer) == 1 })
		proxy.Reset()
		proxy.Heal()
		if err := result(t, ch, "CountDown"); err != nil {
			t.Fatalf("CountDown after a lost reply: %v", err)
		}
		if got := remaining(t, observer); got != 1 {
			t.Fatalf("Remaining = %d; want 1", got)
		}
	})
}

// TestCountDownInterrupted: a CountDown whose context ends while its
// create is on its way may still count (on ZooKeeper it does: the request
// was sent), so its error must say the outcome is unknown, never a plain
// context error a caller would count down again on.
//
// Broken on purpose: returning CreateProtected's error as it is ->
// "CountDown with its context ending in flight: create
// /lostcd2/_c_...-count-: context deadline exceeded; want
// backend.ErrOutcomeUnknown" on both backends.
func TestCountDownInterrupted(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		l := mustLatch(t)(NewLatch(s, "/lostcd2", 2))
		observer := mustLatch(t)(NewLatch(e.Session(t), "/lostcd2", 2))
		if got := remaining(t, l); got != 2 { // makes the latch node before the fault
			t.Fatalf("Remaining = %d; want 2", got)
		}
		proxy.DropReplies()
		ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
		defer cancel()
		if err := l.CountDown(ctx); !errors.Is(err, backend.ErrOutcomeUnknown) {
			t.Fatalf("CountDown with its context ending in flight: %v; want backend.ErrOutcomeUnknown", err)
		}
		proxy.Reset()
		proxy.Heal()
		if e.Backend.Name == "zk" {
			eventually(t, "the interrupted count-down landed", func() bool { return remaining(t, observer) == 1 })
		}
	})
}
