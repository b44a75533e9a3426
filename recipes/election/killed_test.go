package election

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
		if b.name != backendName {
			continue
		}
		e := &env{b: b, eps: b.endpoints(t), ns: ns}
		mustCampaign(t, mustNew(t, e.session(t), "/killed"))
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
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaderProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), leaderEnv+"="+e.b.name+" "+e.ns)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		leading := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "leading" {
					leading <- true
					return
				}
			}
			leading <- false
		}()
		select {
		case ok := <-leading:
			if !ok {
				t.Fatal("the leader process ended without leading")
			}
		case <-time.After(wait):
			t.Fatal("the leader process did not lead")
		}
		el := mustNew(t, e.session(t), "/killed")
		old, err := el.Leader(ctxT(t))
		if err != nil {
			t.Fatalf("Leader before the kill: %v", err)
		}
		ch := campaignAsync(t, ctxT(t), el)
		eventually(t, "candidate queued", func() bool { return participants(t, el) == 2 })
		killed := time.Now()
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
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
		t.Logf("%s: a new leader %v after the kill (session timeout %v)", e.b.name, r.at.Sub(killed).Round(time.Millisecond), sessionTimeout)
		if err := r.term.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
