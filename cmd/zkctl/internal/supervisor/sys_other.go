//go:build unix && !linux

package supervisor

import (
	"os"
	"syscall"
)

// sysProcAttr puts the command in a process group of its own. There is no
// parent-death signal here: the lifeline alone stops the command.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// executable is the path of this binary.
func executable() (string, error) { return os.Executable() }

// peekExit says waitExited cannot wait without reaping here: the group
// is signalled after the command is reaped.
const peekExit = false

func waitExited(int) {}
