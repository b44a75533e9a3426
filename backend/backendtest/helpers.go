package backendtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Deadline is how long the helpers below wait for what they expect: long,
// since these tests run on noisy 2-core machines. A correct backend is never
// near it; a wrong one fails instead of hanging.
const Deadline = wait

// NextEvent returns the one event of a one-shot watch and checks that the
// channel is closed after it, failing t if either does not happen in time.
func NextEvent(t testing.TB, ch <-chan backend.Event) backend.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed without an event")
		}
		select {
		case extra, ok := <-ch:
			if ok {
				t.Fatalf("one-shot watch delivered a second event %+v after %+v", extra, ev)
			}
		case <-time.After(wait):
			t.Fatalf("watch channel not closed after its event %+v", ev)
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no watch event within %v", wait)
	}
	panic("unreachable")
}

// NextTreeEvent returns the next event of a subtree watch.
func NextTreeEvent(t testing.TB, ch <-chan backend.TreeEvent) backend.TreeEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("tree watch closed")
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no tree event within %v", wait)
	}
	panic("unreachable")
}

// WaitState reads ch (from Session.StateChanges) until want arrives,
// failing t on a final state other than want, a closed channel or the deadline.
func WaitState(t testing.TB, ch <-chan backend.State, want backend.State) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case st, ok := <-ch:
			if !ok {
				t.Fatalf("state channel closed while waiting for %v", want)
			}
			if st == want {
				return
			}
			if st.Final() {
				t.Fatalf("session ended (%v) while waiting for %v", st, want)
			}
		case <-deadline:
			t.Fatalf("no %v state within %v", want, wait)
		}
	}
}

// chain describes err's chain, the type of every error in it, for messages
// about what the chain holds.
func chain(err error) string {
	var b strings.Builder
	var walk func(err error, depth int)
	walk = func(err error, depth int) {
		if err == nil {
			return
		}
		fmt.Fprintf(&b, "\n%s%T", strings.Repeat("  ", depth), err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, depth+1)
			}
		}
	}
	walk(err, 0)
	return b.String()
}
