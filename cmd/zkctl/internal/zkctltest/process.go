package zkctltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// OnPath returns a directory holding an executable "zkctl": the test
// binary running as zkctl (its TestMain must be Main).
func OnPath(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// GORACE: a race-enabled binary sleeps a second at exit by default.
	script := "#!/bin/sh\n" + asZkctlEnv + "=1 GORACE=atexit_sleep_ms=0 exec '" + os.Args[0] + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "zkctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Process is zkctl running as a process of its own (StartProcess).
type Process struct {
	Cmd      *exec.Cmd
	Out, Err *Buffer
	done     chan struct{} // closed when it has exited
	code     int           // its exit code, once done (-1 when a signal ended it)
}

// StartProcess starts zkctl as a process (the test binary, whose TestMain
// must be Main) with args and env added to the test's environment. It is
// killed at cleanup if still running.
func StartProcess(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), asZkctlEnv+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	p := &Process{Cmd: cmd, Out: &Buffer{}, Err: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Err
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

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Code is the process's exit code once Done (-1 when a signal ended it).
func (p *Process) Code() int { return p.code }

// Wait waits for the process to exit, at most d, and returns its code.
func (p *Process) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("zkctl %v still runs after %v; stdout %q, stderr %q", p.Cmd.Args[1:], d, p.Out.String(), p.Err.String())
		return -1
	}
}
