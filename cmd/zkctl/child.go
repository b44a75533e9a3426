package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ExitLockLost is the exit status of `zkctl lock` and `zkctl elect` when the
// lock or leadership was lost while the command ran: zkctl stopped the
// command (SIGTERM, then SIGKILL after --grace). Like timeout(1)'s 124,
// it says the command was stopped from outside.
const ExitLockLost = 124

// runChild runs argv with extra environment while lost stays open. If lost
// closes first, or ctx ends (zkctl was interrupted), the child gets SIGTERM
// and, after grace, SIGKILL. It returns the child's exit status as an
// exitError (0 as nil), ExitLockLost when the child was stopped for a loss,
// ExitInterrupted when zkctl was interrupted, and 126/127 when the command
// could not run.
func runChild(ctx context.Context, io streams, argv []string, env []string, lost <-chan struct{}, why func() error, grace time.Duration) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io.in, io.out, io.err
	// Its own process group, so a loss stops everything it started, and a
	// grandchild that keeps our output pipe open cannot hold zkctl up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return exitError{ExitNotFound, fmt.Errorf("%s: command not found", argv[0])}
		}
		return exitError{ExitCannotRun, fmt.Errorf("%s: cannot run: %w", argv[0], err)}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var stopped error
	select {
	case err := <-waited:
		return childStatus(err)
	case <-lost:
		stopped = exitError{ExitLockLost, fmt.Errorf("stopped %s: %w", argv[0], why())}
	case <-ctx.Done():
		stopped = exitError{ExitInterrupted, fmt.Errorf("interrupted: stopped %s", argv[0])}
	}
	signalGroup(cmd, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
		signalGroup(cmd, syscall.SIGKILL)
		<-waited
	}
	return stopped
}

// childStatus turns a child's wait error into zkctl's result: its exit
// code, or 128+signal when a signal ended it, as shells report it.
func childStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitError{128 + int(ws.Signal()), nil}
		}
		return exitError{ee.ExitCode(), nil}
	}
	return exitError{ExitWrapperError, err}
}

// signalGroup signals the child's whole process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}
