package election

import (
	"sync/atomic"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// TestNoHerd: candidates watch only their predecessor, so each change of
// leader wakes exactly one waiting candidate, whatever their number.
func TestNoHerd(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const waiters = 5
		var watching, woken atomic.Int32
		perWaiter := make([]atomic.Int32, waiters)
		leader := mustCampaign(t, mustNew(t, e.Session(t), "/herd"))
		type won struct {
			term *Term
			err  error
		}
		results := make([]chan won, waiters)
		for i := range results {
			el := mustNew(t, e.Session(t), "/herd", withHooks(contender.Hooks{
				Watching: func(string) { watching.Add(1) },
				Woken:    func(string) { woken.Add(1); perWaiter[i].Add(1) },
			}))
			results[i] = make(chan won, 1)
			go func() {
				term, err := el.Campaign(ctxT(t))
				results[i] <- won{term, err}
			}()
			// Join one at a time, so the order of leadership is known.
			eventually(t, "candidate queued", func() bool { return watching.Load() == int32(i+1) })
		}
		if err := leader.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		for i, ch := range results {
			var w won
			select {
			case w = <-ch:
			case <-ctxT(t).Done():
				t.Fatalf("candidate %d never led", i)
			}
			if w.err != nil {
				t.Fatalf("candidate %d: %v", i, w.err)
			}
			if got := woken.Load(); got != int32(i+1) {
				t.Fatalf("after %d changes of leader: %d wake-ups; want %d", i+1, got, i+1)
			}
			if err := w.term.Resign(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range perWaiter {
			if got := perWaiter[i].Load(); got != 1 {
				t.Errorf("candidate %d woke %d times; want 1", i, got)
			}
		}
	})
}
