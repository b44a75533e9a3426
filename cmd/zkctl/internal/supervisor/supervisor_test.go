package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Start runs this test binary again as the supervisor (init catches
	// it): a race-enabled binary would sleep a second at its exit.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}

func start(t *testing.T, script string) (*Child, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	c, err := Start([]string{"sh", "-c", script}, os.Environ(), nil, &out, os.Stderr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); _, _ = c.Wait() })
	return c, &out
}

func wait(t *testing.T, c *Child) (Status, error) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the supervisor did not end")
	}
	return c.Wait()
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // not Linux: no zombie check
	}
	_, after, _ := bytes.Cut(b, []byte(") "))
	return len(after) > 0 && after[0] != 'Z'
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs", pid)
		}
		time.Sleep(5 * time.Millisecond) // polling for another process's exit
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   Status
	}{
		{"echo hi", Status{}},
		{"exit 7", Status{Code: 7}},
		{"kill -TERM $$", Status{Code: 128 + 15, Signal: syscall.SIGTERM}},
	} {
		c, out := start(t, tt.script)
		got, err := wait(t, c)
		if err != nil || got != tt.want {
			t.Errorf("sh -c %q: %+v, %v; want %+v", tt.script, got, err, tt.want)
		}
		if tt.script == "echo hi" && out.String() != "hi\n" {
			t.Errorf("the command's output: %q", out.String())
		}
	}
}

func TestStartErrors(t *testing.T) {
	_, err := Start([]string{"no-such-command-zkctl"}, os.Environ(), nil, nil, nil, time.Second)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing command: %v, want ErrNotFound", err)
	}
	_, err = Start([]string{t.TempDir()}, os.Environ(), nil, nil, nil, time.Second)
	if !errors.Is(err, ErrCannotRun) {
		t.Errorf("a directory: %v, want ErrCannotRun", err)
	}
}

// TestEnvironment: the command gets the environment given, less the
// supervisor's own variable, and not the supervisor's pipes (fds 3, 4).
func TestEnvironment(t *testing.T) {
	var out bytes.Buffer
	script := `echo "$ZKCTL_TEST_VAR [$` + modeEnv + `]"; for fd in 3 4; do [ -e /proc/$$/fd/$fd ] && echo "fd $fd open"; done; true`
	c, err := Start([]string{"sh", "-c", script}, append(os.Environ(), "ZKCTL_TEST_VAR=v"), nil, &out, os.Stderr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, c); err != nil {
		t.Fatal(err)
	}
	if out.String() != "v []\n" {
		t.Errorf("the command printed %q, want its variable, not the supervisor's, and no fd 3 or 4", out.String())
	}
}

// TestLeftoversKilled: when the command exits, what it left in its
// process group is killed before the end is reported.
func TestLeftoversKilled(t *testing.T) {
	dir := t.TempDir()
	c, _ := start(t, "sleep 600 & echo $! > "+filepath.Join(dir, "pid"))
	if _, err := wait(t, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitDead(t, pid)
}

// TestClose: Close is zkctl going away: the supervisor kills the group.
func TestClose(t *testing.T) {
	dir := t.TempDir()
	c, _ := start(t, "sleep 600 & echo $! > "+filepath.Join(dir, "pid")+"; wait")
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if pid, _ = strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pid")
		}
		time.Sleep(5 * time.Millisecond) // polling for a file another process writes
	}
	c.Close()
	st, err := wait(t, c)
	if err != nil || st.Signal != syscall.SIGKILL {
		t.Errorf("after Close: %+v, %v; want the command killed", st, err)
	}
	waitDead(t, pid)
	waitDead(t, c.Pid())
}

// TestSignal reaches the whole group.
func TestSignal(t *testing.T) {
	c, _ := start(t, "sleep 600 & wait")
	c.Signal(syscall.SIGTERM)
	st, err := wait(t, c)
	if err != nil || st.Signal != syscall.SIGTERM {
		t.Errorf("after SIGTERM to the group: %+v, %v", st, err)
	}
}
