package lock

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// holderEnv tells a re-executed test binary to act as a lock holder.
const holderEnv = "ZKRECIPES_LOCK_HOLDER"

// TestHolderProcess is the holder side of TestHolderKilled: run by the test
// binary re-executing itself, it takes the lock, says "held", and waits to
// be killed. Run directly, it does nothing.
func TestHolderProcess(t *testing.T) {
	spec := os.Getenv(holderEnv)
	if spec == "" {
		return
	}
	backendName, ns, _ := strings.Cut(spec, " ")
	for _, b := range backends {
		if b.Name != backendName {
			continue
		}
		e := &env{Backend: b, Endpoints: b.Endpoints(t), Namespace: ns, Timeout: sessionTimeout}
		m := mustNew(t, e.Session(t), "/killed")
		mustLock(t, m)
		os.Stdout.WriteString("held\n")
		select {} // until killed
	}
	t.Fatalf("no backend %q", backendName)
}

// TestHolderKilled kills a holder process (SIGKILL, so its session is never
// closed): the next waiter acquires once the server expires the session.
// The time it takes is logged for the benchmark notes, not asserted.
func TestHolderKilled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		child := testenv.StartChild(t, "TestHolderProcess", []string{holderEnv + "=" + e.Backend.Name + " " + e.Namespace}, "held", wait)
		s := e.Session(t)
		m := mustNew(t, s, "/killed")
		hs, err := m.Holders(ctxT(t))
		if err != nil || len(hs) != 1 {
			t.Fatalf("holders before the kill: %+v, %v", hs, err)
		}
		ch := lockAsync(t, ctxT(t), m)
		eventually(t, "waiter queued", func() bool { return queueLen(t, m) == 2 })
		killed := time.Now()
		child.Kill(t)
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("Lock after the holder was killed: %v", r.err)
		}
		if r.l.Token() <= hs[0].Token {
			t.Fatalf("token %d after the dead holder's %d", r.l.Token(), hs[0].Token)
		}
		t.Logf("%s: the waiter acquired %v after the holder was killed (session timeout %v)", e.Backend.Name, time.Since(killed).Round(time.Millisecond), sessionTimeout)
		if err := r.l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
