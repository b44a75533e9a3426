package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// asZkctlEnv set to 1 makes the test binary run as zkctl itself, for the
// tests that need zkctl as a real process: killed, interrupted, or run by
// a shell (zkctlOnPath, startZkctl).
const asZkctlEnv = "ZKCTL_TEST_RUN_AS_ZKCTL"

func TestMain(m *testing.M) {
	if os.Getenv(asZkctlEnv) == "1" {
		os.Exit(Main())
	}
	// Every wrapped command runs under a supervisor, this test binary run
	// again: a race-enabled binary sleeps a second at exit by default.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}

// zkctlOnPath returns a directory holding an executable "zkctl": this test
// binary running as zkctl.
func zkctlOnPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n" + asZkctlEnv + "=1 GORACE=atexit_sleep_ms=0 exec '" + os.Args[0] + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "zkctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// zkctlProc is zkctl running as a process of its own.
type zkctlProc struct {
	cmd      *exec.Cmd
	out, err *watchTBuffer
	done     chan struct{} // closed when it has exited
	code     int           // its exit code, once done (-1 when a signal ended it)
}

// startZkctl starts zkctl as a process with args and env added to the
// test's environment. It is killed at cleanup if still running.
func startZkctl(t *testing.T, env []string, args ...string) *zkctlProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// GORACE: a race-enabled binary sleeps a second at exit by default.
	cmd.Env = append(append(os.Environ(), asZkctlEnv+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	p := &zkctlProc{cmd: cmd, out: &watchTBuffer{}, err: &watchTBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	// A process zkctl left behind would keep its output open: Wait does
	// not wait for that (the tests look for such processes themselves).
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process to exit, at most d, and returns its code.
func (p *zkctlProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("zkctl %v still runs after %v; stdout %q, stderr %q", p.cmd.Args[1:], d, p.out.String(), p.err.String())
		return -1
	}
}

// result is what one in-process run of zkctl gave.
type result struct {
	code        int
	out, errOut string
}

// zkctl runs the app in-process with buffers, as a shell would run it.
func zkctlRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"zkctl"}, args...), strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// clusters returns the --endpoints of each real backend, each in a
// namespace of this test's own.
func clusters(t *testing.T) map[string]string {
	t.Helper()
	ns := testenv.Namespace(t)
	return map[string]string{
		"zk":   "zk://" + strings.Join(testenv.ZooKeeper(t), ",") + ns,
		"etcd": "etcd://" + strings.Join(testenv.Etcd(t), ",") + ns,
	}
}

func TestNoEndpoints(t *testing.T) {
	t.Setenv("ZKCTL_ENDPOINTS", "")
	r := zkctlRun(t, "", "get", "/x")
	if r.code != zkctl.ExitUsage || strings.Count(strings.TrimSpace(r.errOut), "\n") != 0 || !strings.Contains(r.errOut, "ZKCTL_ENDPOINTS") {
		t.Fatalf("without endpoints: code %d, stderr %q; want %d and one line naming ZKCTL_ENDPOINTS", r.code, r.errOut, zkctl.ExitUsage)
	}
}

func TestUnknownCommand(t *testing.T) {
	r := zkctlRun(t, "", "frobnicate")
	if r.code != zkctl.ExitUsage || !strings.Contains(r.errOut, "frobnicate") {
		t.Fatalf("unknown command: exit %d, stderr %q; want %d naming it", r.code, r.errOut, zkctl.ExitUsage)
	}
	if r := zkctlRun(t, ""); r.code != zkctl.ExitOK || !strings.Contains(r.out, "USAGE") {
		t.Fatalf("no arguments: exit %d, stdout %q; want help", r.code, r.out)
	}
}
