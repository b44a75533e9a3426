package supervisor

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the command in a process group of its own, and has the
// kernel kill it when the supervisor's thread that starts it (the main
// thread) exits: when the supervisor dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// executable is the path that runs this very binary again, even if its
// file was replaced or removed since it started (an upgrade).
func executable() (string, error) { return "/proc/self/exe", nil }

// peekExit says waitExited waits without reaping.
const peekExit = true

// waitExited waits until the child pid has exited, without reaping it:
// while it is a zombie, its pid (its process group's id) cannot be taken
// by another process, so the group can be signalled without hitting a
// stranger's.
func waitExited(pid int) {
	for {
		var si unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &si, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			return
		}
	}
}
