package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Child is the test binary running again as another process, for tests
// that need a peer they can SIGKILL (a lock holder, a leader): a killed
// process never closes its session, so only the server's expiry frees what
// it held.
type Child struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartChild runs the test binary again with only the test named test
// (matched exactly) and env added to its environment, and waits, up to
// wait, until the child prints the line ready on its stdout. The child's
// stderr goes to the test's. It is killed at cleanup if still running.
//
// The child side is a test that does nothing unless its environment says
// so; it does its part, prints ready, and blocks until killed.
func StartChild(t testing.TB, test string, env []string, ready string, wait time.Duration) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.exited })
	saw := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == ready {
				saw <- true
				return
			}
		}
		saw <- false
	}()
	select {
	case ok := <-saw:
		if !ok {
			t.Fatalf("the child %s ended without printing %q", test, ready)
		}
	case <-time.After(wait):
		t.Fatalf("the child %s did not print %q within %v", test, ready, wait)
	}
	return c
}

// Kill sends SIGKILL to the child.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
}
