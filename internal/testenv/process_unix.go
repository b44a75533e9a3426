//go:build unix

package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

const (
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)

// lockFile takes an exclusive lock on path, shared with other processes,
// waiting while another holder has it, and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}

// alive reports whether process pid exists and is not a zombie: the servers
// are orphans, and PID 1 in a container may never reap them.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			return false
		}
		state := stat[i+2]
		return state != 'Z' && state != 'X'
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		return false // Linux: no such process
	}
	return syscall.Kill(pid, 0) == nil
}

// signalProcess sends sig to pid if its command line names dir, so that a
// recycled PID of another process is never signalled (where /proc exists).
func signalProcess(pid int, dir string, sig syscall.Signal) error {
	if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		if !bytes.Contains(cmdline, []byte(dir+"/")) {
			return fmt.Errorf("process %d is not a server of %s", pid, dir)
		}
	}
	return syscall.Kill(pid, sig)
}

func killProcess(pid int, dir string) error { return signalProcess(pid, dir, syscall.SIGKILL) }
