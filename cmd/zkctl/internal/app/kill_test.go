//go:build linux

package app_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// killSessionTimeout is the session timeout of the zkctl the kill tests
// SIGKILL: its lock is free for the next holder once it has passed.
const killSessionTimeout = 4 * time.Second

// killCommand is the wrapped command of a killed zkctl: it starts a
// grandchild in its process group, records both pids, and runs on.
func killCommand(dir string) []string {
	return []string{"sh", "-c", "sleep 600 & echo $! > " + filepath.Join(dir, "grand.pid") +
		"; echo $$ > " + filepath.Join(dir, "cmd.pid.tmp") + "; mv " + filepath.Join(dir, "cmd.pid.tmp") + " " + filepath.Join(dir, "cmd.pid") + "; wait"}
}

// nextCommand is the next holder's command: when it starts it records
// whether the killed holder's command and grandchild are gone ("gone", or
// "alive PID STATE"), then runs on.
func nextCommand(dir string) []string {
	script := `r=gone
for p in $(cat DIR/cmd.pid) $(cat DIR/grand.pid); do
  s=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' /proc/$p/stat 2>/dev/null)
  if [ -n "$s" ] && [ "$s" != Z ]; then r="alive $p $s"; fi
done
echo "$r" > DIR/next.tmp && mv DIR/next.tmp DIR/next
exec sleep 600`
	return []string{"sh", "-c", strings.ReplaceAll(script, "DIR", dir)}
}

// procGone reports whether pid has exited (no such process, or a zombie
// waiting to be reaped).
func procGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, ok := bytes.Cut(b, []byte(") "))
	return ok && len(after) > 0 && after[0] == 'Z'
}

// waitGone waits until every pid is gone (signals take a moment to land).
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for !procGone(pid) {
			if time.Now().After(deadline) {
				t.Errorf("pid %d still runs", pid)
				return
			}
			time.Sleep(5 * time.Millisecond) // polling /proc for another process's exit
		}
	}
}

// procParent returns the parent pid of pid.
func procParent(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(after))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return ppid
}

// readPid waits for a file holding a pid and returns the pid.
func readPid(t *testing.T, path string, p *zkctltest.Process) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("%s: %q", path, b)
			}
			return pid
		}
		select {
		case <-p.Done():
			t.Fatalf("zkctl %v exited %d before %s appeared; stderr %q", p.Cmd.Args[1:], p.Code(), path, p.Err.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared; zkctl's stderr %q", path, p.Err.String())
		}
		time.Sleep(10 * time.Millisecond) // polling for a file another process writes
	}
}

// killCase is one scenario of TestWrappedCommandDiesWithZkctl.
type killCase struct {
	name         string
	first, next  []string // the two zkctl command lines, without the command
	dir          string
	holder, succ *zkctltest.Process
	pids         []int // the command, its grandchild, its supervisor
	killed       time.Time
	gone         time.Duration // from the SIGKILL until all pids were gone
}

// TestWrappedCommandDiesWithZkctl: zkctl lock/elect ... -- CMD is SIGKILLed
// while CMD runs. CMD, what it started in its process group, and the
// supervisor are gone within the session timeout (they would go on for
// ever without the supervisor), and the next holder's command, waiting in
// its own zkctl, starts only after they are gone: it checks so itself as
// it starts. On both backends, for a mutex, a semaphore lease (-n), the
// write side of a read-write lock against a reader, and an election.
//
// To see it fail: make the supervisor ignore the lifeline (drop the
// `case <-orphaned:` in supervisor.serve) and every case's command and
// grandchild outlive zkctl: "still running", and the next command reports
// them alive.
func TestWrappedCommandDiesWithZkctl(t *testing.T) {
	var cases []*killCase
	for backend, ep := range zkctltest.Clusters(t) {
		st := "--session-timeout=" + killSessionTimeout.String()
		for _, c := range []killCase{
			{name: "lock", first: []string{"lock", "/kill/mutex"}, next: []string{"lock", "/kill/mutex"}},
			{name: "lock -n", first: []string{"lock", "-n", "1", "/kill/sem"}, next: []string{"lock", "-n", "1", "/kill/sem"}},
			{name: "lock --write/--read", first: []string{"lock", "--write", "/kill/rw"}, next: []string{"lock", "--read", "/kill/rw"}},
			{name: "elect", first: []string{"elect", "/kill/election"}, next: []string{"elect", "/kill/election"}},
		} {
			c.name = backend + " " + c.name
			c.dir = t.TempDir()
			c.first = append([]string{"--endpoints", ep, st}, c.first...)
			c.next = append([]string{"--endpoints", ep}, c.next...)
			cases = append(cases, &c)
		}
	}
	// All cases at once: each waits for a session to expire.
	for _, c := range cases {
		c.holder = zkctltest.StartProcess(t, nil, append(append(c.first, "--"), killCommand(c.dir)...)...)
	}
	for _, c := range cases {
		cmd := readPid(t, filepath.Join(c.dir, "cmd.pid"), c.holder)
		grand := readPid(t, filepath.Join(c.dir, "grand.pid"), c.holder)
		c.pids = []int{cmd, grand, procParent(t, cmd)}
		c.succ = zkctltest.StartProcess(t, nil, append(append(c.next, "--"), nextCommand(c.dir)...)...)
	}
	for _, c := range cases {
		if err := c.holder.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		c.killed = time.Now()
	}
	deadline := time.Now().Add(killSessionTimeout + 30*time.Second)
	for pending := len(cases); pending > 0; {
		pending = 0
		for _, c := range cases {
			if c.gone != 0 {
				continue
			}
			all := true
			for _, pid := range c.pids {
				all = all && procGone(pid)
			}
			if all {
				c.gone = time.Since(c.killed)
			} else {
				pending++
			}
		}
		if pending > 0 && time.Now().After(deadline) {
			for _, c := range cases {
				if c.gone == 0 {
					t.Errorf("%s: the command, its grandchild or the supervisor (pids %v) still running %v after zkctl was killed", c.name, c.pids, time.Since(c.killed))
				}
			}
			return
		}
		time.Sleep(5 * time.Millisecond) // polling /proc for other processes' exit
	}
	for _, c := range cases {
		// Gone before the session could expire: before anyone else could hold.
		if c.gone >= killSessionTimeout {
			t.Errorf("%s: the command went %v after zkctl was killed, not within the session timeout %v", c.name, c.gone, killSessionTimeout)
		}
		t.Logf("%s: the command and its group went %v after zkctl was killed", c.name, c.gone.Round(time.Millisecond))
	}
	for _, c := range cases {
		path := filepath.Join(c.dir, "next")
		var b []byte
		for {
			var err error
			if b, err = os.ReadFile(path); err == nil {
				break
			}
			select {
			case <-c.succ.Done():
				t.Fatalf("%s: the next holder exited %d before its command started; stderr %q", c.name, c.succ.Code(), c.succ.Err.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the next holder's command never started; its stderr %q", c.name, c.succ.Err.String())
			}
			time.Sleep(10 * time.Millisecond) // polling for a file another process writes
		}
		if got := strings.TrimSpace(string(b)); got != "gone" {
			t.Errorf("%s: as the next holder's command started, the killed holder's was %q", c.name, got)
		}
	}
	// The next holders stop as when interrupted: their commands get SIGTERM.
	for _, c := range cases {
		if err := c.succ.Cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		if code := c.succ.Wait(t, 30*time.Second); code != zkctl.ExitInterrupted {
			t.Errorf("%s: the next holder, interrupted: exit %d (stderr %q), want %d", c.name, code, c.succ.Err.String(), zkctl.ExitInterrupted)
		}
	}
}

// TestSupervisorDies: when the supervisor is killed while the command
// runs, the kernel kills the command (its parent-death signal), even while
// zkctl is stopped; then zkctl kills the rest of its group, releases the
// lock and exits 125.
//
// To see it fail: drop Pdeathsig in supervisor.sysProcAttr, and the
// command outlives its supervisor ("pid ... still runs"); drop the SIGKILL
// in supervisor.Child.Wait, and the grandchild outlives it all.
func TestSupervisorDies(t *testing.T) {
	ep := zkctltest.Clusters(t)["zk"]
	dir := t.TempDir()
	z := zkctltest.StartProcess(t, nil, append([]string{"--endpoints", ep, "lock", "/kill/sup", "--"}, killCommand(dir)...)...)
	cmd := readPid(t, filepath.Join(dir, "cmd.pid"), z)
	grand := readPid(t, filepath.Join(dir, "grand.pid"), z)
	sup := procParent(t, cmd)
	zpid := z.Cmd.Process.Pid
	if err := syscall.Kill(zpid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(zpid, syscall.SIGCONT) })
	if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cmd) // the kernel's doing: zkctl is stopped
	if err := syscall.Kill(zpid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if code := z.Wait(t, 30*time.Second); code != zkctl.ExitWrapperError {
		t.Errorf("zkctl after its supervisor was killed: exit %d (stderr %q), want %d", code, z.Err.String(), zkctl.ExitWrapperError)
	}
	waitGone(t, cmd, grand)
	s := zkctltest.Observer(t, ep)
	if kids, _, err := s.Children(t.Context(), "/kill/sup"); err == nil && len(kids) != 0 {
		t.Errorf("the lock is still held: %q", kids)
	}
}

// TestInterruptedProcess: zkctl as a process, SIGINT while it holds a
// lock without a command or runs one: the command gets SIGTERM, the lock
// is released, and zkctl exits 130.
func TestInterruptedProcess(t *testing.T) {
	ep := zkctltest.Clusters(t)["etcd"]
	dir := t.TempDir()
	held := zkctltest.StartProcess(t, nil, "--endpoints", ep, "lock", "/int/a")
	run := zkctltest.StartProcess(t, nil, append([]string{"--endpoints", ep, "lock", "/int/b", "--"}, killCommand(dir)...)...)
	cmd := readPid(t, filepath.Join(dir, "cmd.pid"), run)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(held.Out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("zkctl lock printed no token: stderr %q", held.Err.String())
		}
		time.Sleep(10 * time.Millisecond) // polling another process's output
	}
	for _, p := range []*zkctltest.Process{held, run} {
		if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(t, 30*time.Second); code != zkctl.ExitInterrupted {
			t.Errorf("zkctl %v, interrupted: exit %d (stderr %q), want %d", p.Cmd.Args[1:], code, p.Err.String(), zkctl.ExitInterrupted)
		}
	}
	waitGone(t, cmd)
}
