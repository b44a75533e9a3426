package lock

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestCyclesWithFaults runs 1000 lock/unlock cycles through a fault proxy,
// expiring the session or resetting the connection every 100 cycles, and
// taking a fresh session from the client after a loss. Afterwards no lock
// node is left and the goroutine count is back near its baseline (goleak
// checks the rest when the package's tests end).
func TestCyclesWithFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 cycles")
	}
	forEach(t, func(t *testing.T, e *env) {
		p, err := faultnet.NewProxy(e.Endpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		client := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, sessionTimeout)
		observer := e.Session(t)
		s := e.SessionOf(t, client)
		m := mustNew(t, s, "/faulty", WithLossPolicy(OnLost))
		mustLock(t, m).Unlock(ctxT(t))
		base := runtime.NumGoroutine()
		var lost, resets, expiries int
		for i := range 1000 {
			if i > 0 && i%100 == 0 {
				if (i/100)%2 == 0 {
					p.Reset()
					resets++
				} else if ex, ok := s.(backend.Expirer); ok {
					if err := ex.Expire(ctxT(t)); err != nil {
						t.Fatalf("Expire: %v", err)
					}
					waitClosed(t, s.Done(), "expired session")
					expiries++
				}
			}
			if s.Err() != nil {
				s = e.SessionOf(t, client)
				m = mustNew(t, s, "/faulty", WithLossPolicy(OnLost))
			}
			l, err := m.Lock(ctxT(t))
			if err != nil {
				// A reset can cost the call in flight; the next cycle retries.
				if errors.Is(err, backend.ErrConnectionLoss) || errors.Is(err, ErrLost) || errors.Is(err, backend.ErrSessionExpired) {
					lost++
					continue
				}
				t.Fatalf("cycle %d: Lock: %v", i, err)
			}
			if err := l.Unlock(ctxT(t)); err != nil && !errors.Is(err, ErrLost) && !errors.Is(err, backend.ErrConnectionLoss) {
				t.Fatalf("cycle %d: Unlock: %v", i, err)
			}
		}
		t.Logf("%d resets, %d expiries, %d cycles lost to them", resets, expiries, lost)
		// Nothing left behind: the observer sees an empty lock directory
		// once the last session's leftovers (if any) are gone.
		deadline := time.Now().Add(wait)
		for {
			kids := recipetest.Children(t, observer, "/faulty")
			if len(kids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lock nodes left after 1000 cycles: %q", kids)
			}
			time.Sleep(20 * time.Millisecond) // polling what only the server knows
		}
		const slack = 8
		eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+slack })
	})
}
