package zkctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/supervisor"
)

// ExitLockLost is the exit status of `zkctl lock` and `zkctl elect` when the
// lock or leadership was lost while the command ran: zkctl stopped the
// command (SIGTERM, then SIGKILL after --grace). Like timeout(1)'s 124,
// it says the command was stopped from outside.
const ExitLockLost = 124

// SupervisedDescription is what the help of the commands that run a
// COMMAND says about how it runs (see RunChild).
const SupervisedDescription = "COMMAND runs in a process group of its own, watched by a small supervisor process\n" +
	"(zkctl itself, run again). If zkctl dies, however it ends (SIGKILL, the OOM killer, a\n" +
	"crash), the supervisor kills the whole group at once with SIGKILL: the command never\n" +
	"outlives zkctl. When COMMAND exits, whatever it left running in its group is killed\n" +
	"too. A process that leaves the group (setsid, a daemon) is out of reach. If the\n" +
	"supervisor itself dies, the kernel kills COMMAND on Linux, and zkctl kills the group\n" +
	"and exits 125 (on other Unix systems only zkctl, if it still runs)."

// RunChild runs argv with extra environment while lost stays open. If lost
// closes first, or ctx ends (zkctl was interrupted), the child's process
// group gets SIGTERM and, after grace, SIGKILL. It returns the child's exit
// status as an StatusError (0 as nil), ExitLockLost when the child was
// stopped for a loss, ExitInterrupted when zkctl was interrupted, and
// 126/127 when the command could not run.
//
// The child runs under a supervisor process (internal/supervisor): in a
// process group of its own, so that a loss stops everything it started and
// a grandchild that keeps our output open cannot hold zkctl up; killed
// with its group if zkctl dies, however (SIGKILL, a crash); and with its
// group killed when it exits, since what it left would run on unwatched.
func RunChild(ctx context.Context, io Streams, argv []string, env []string, lost <-chan struct{}, why func() error, grace time.Duration) error {
	child, err := supervisor.Start(argv, append(os.Environ(), env...), io.In, io.Out, io.Err, grace)
	switch {
	case errors.Is(err, supervisor.ErrNotFound):
		return StatusError{ExitNotFound, fmt.Errorf("%s: command not found", argv[0])}
	case errors.Is(err, supervisor.ErrCannotRun):
		return StatusError{ExitCannotRun, fmt.Errorf("%s: cannot run: %w", argv[0], err)}
	case err != nil:
		return StatusError{ExitWrapperError, fmt.Errorf("%s: %w", argv[0], err)}
	}
	defer child.Close()

	var stopped error
	select {
	case <-child.Done():
		return childStatus(child.Wait())
	case <-lost:
		stopped = StatusError{ExitLockLost, fmt.Errorf("stopped %s: %w", argv[0], why())}
	case <-ctx.Done():
		stopped = StatusError{ExitInterrupted, fmt.Errorf("interrupted: stopped %s", argv[0])}
	}
	child.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-child.Done():
	case <-t.C:
		child.Signal(syscall.SIGKILL)
	}
	if _, err := child.Wait(); err != nil {
		return StatusError{ExitWrapperError, err}
	}
	return stopped
}

// childStatus turns how a child ended into zkctl's result: its exit code,
// or 128+signal when a signal ended it, as shells report it; 125 when its
// supervisor died (then its group has been killed).
func childStatus(st supervisor.Status, err error) error {
	switch {
	case err != nil:
		return StatusError{ExitWrapperError, err}
	case st.Code == 0:
		return nil
	}
	return StatusError{st.Code, nil}
}
