package election

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// leaderEnv tells a re-executed test binary to act as a leader.
const leaderEnv = "ZKRECIPES_ELECTION_LEADER"

// TestLeaderProcess is the leader side of TestLeaderKilled: run by the
// test binary re-executing itself, it wins the election, says "leading",
// and waits to be killed. Run directly, it does nothing.
func TestLeaderProcess(t *testing.T) {
	spec := os.Getenv(leaderEnv)
	if spec == "" {
		return
	}
	backendName, ns, _ := strings.Cut(spec, " ")
	for _, b := range backends {
		if b.Name != backendName {
			continue
		}
		e := &env{Backend: b, Endpoints: b.Endpoints(t), Namespace: ns, Timeout: sessionTimeout}
		mustCampaign(t, mustNew(t, e.Session(t), "/killed"))
		os.Stdout.WriteString("leading\n")
		select {} // until killed
	}
	t.Fatalf("no backend %q", backendName)
}

// TestLeaderKilled kills a leader process (SIGKILL, so its session is never
// closed): the waiting candidate leads, with a larger token, once the
// server expires the session, well within a few session timeouts.
func TestLeaderKilled(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		child := testenv.StartChild(t, "TestLeaderProcess", []string{leaderEnv + "=" + e.Backend.Name + " " + e.Namespace}, "leading", wait)
		el := mustNew(t, e.Session(t), "/killed")
		old, err := el.Leader(ctxT(t))
		if err != nil {
			t.Fatalf("Leader before the kill: %v", err)
		}
		ch := campaignAsync(t, ctxT(t), el)
		eventually(t, "candidate queued", func() bool { return participants(t, el) == 2 })
		killed := time.Now()
		child.Kill(t)
		var r termResult
		select {
		case r = <-ch:
		case <-time.After(4 * sessionTimeout):
			t.Fatalf("no new leader within %v of the kill (session timeout %v)", 4*sessionTimeout, sessionTimeout)
		}
		if r.err != nil {
			t.Fatalf("Campaign after the leader was killed: %v", r.err)
		}
		if r.term.Token() <= old.Token {
			t.Fatalf("token %d after the dead leader's %d", r.term.Token(), old.Token)
		}
		t.Logf("%s: a new leader %v after the kill (session timeout %v)", e.Backend.Name, r.at.Sub(killed).Round(time.Millisecond), sessionTimeout)
		if err := r.term.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
