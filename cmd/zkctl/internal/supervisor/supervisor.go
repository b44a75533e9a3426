package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// modeEnv names the environment variable that makes the binary a
// supervisor; modeValue is its value for this protocol. The supervisor
// removes it from the command's environment.
const (
	modeEnv   = "ZKCTL_SUPERVISOR"
	modeValue = "v1 lifeline=3 report=4"
)

// The supervisor's extra descriptors: exec.Cmd.ExtraFiles start at 3.
const (
	lifelineFD = 3
	reportFD   = 4
)

// The supervisor's own exit codes when it cannot start the command, as
// zkctl reports them (see cmd/zkctl's exit codes).
const (
	exitWrapper   = 125
	exitCannotRun = 126
	exitNotFound  = 127
)

func init() {
	if os.Getenv(modeEnv) == modeValue {
		os.Exit(serve(os.Args[1:]))
	}
}

// ErrNotFound and ErrCannotRun are what Start's error matches (a
// *StartError) when the command could not be started.
var (
	ErrNotFound  = errors.New("command not found")
	ErrCannotRun = errors.New("command cannot run")
)

// StartError is a command that could not be started: Kind is ErrNotFound
// or ErrCannotRun, Reason what starting it said.
type StartError struct {
	Kind   error
	Reason string
}

// Error returns the reason.
func (e *StartError) Error() string { return e.Reason }

// Is reports whether target is e's Kind.
func (e *StartError) Is(target error) bool { return target == e.Kind }

// Status is how the command ended.
type Status struct {
	// Code is the command's exit code, 128+signal when a signal ended it,
	// as shells report it.
	Code int
	// Signal is the signal that ended the command, 0 when it exited.
	Signal syscall.Signal
}

// Child is a command started under a supervisor.
type Child struct {
	cmd      *exec.Cmd
	pid      int      // the command's pid, its process group's id
	lifeline *os.File // the write end; closing it stops the supervisor
	done     chan struct{}
	status   Status
	err      error // the supervisor died without reporting the end
}

// Start starts argv with env as its whole environment, its standard
// streams stdin, stdout and stderr, under a supervisor (see the package
// doc), and returns once the command has started. waitDelay bounds how
// long the output may stay open after the supervisor has exited (a
// process that left the group and keeps it). A command that is not found
// or cannot run is an error matching ErrNotFound or ErrCannotRun.
func Start(argv, env []string, stdin io.Reader, stdout, stderr io.Writer, waitDelay time.Duration) (*Child, error) {
	if len(argv) == 0 {
		return nil, &StartError{ErrCannotRun, "no command"}
	}
	self, err := executable()
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	// os.Pipe opens both ends close-on-exec: only the supervisor, through
	// ExtraFiles, gets the lifeline's read end, and no other process
	// zkctl starts gets its write end.
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		lifeR.Close()
		lifeW.Close()
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	cmd := exec.Command(self, argv...)
	cmd.Args[0] = "zkctl-supervisor"
	cmd.Env = append(withoutMode(env), modeEnv+"="+modeValue)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{lifeR, repW}
	cmd.WaitDelay = waitDelay
	err = cmd.Start()
	lifeR.Close()
	repW.Close()
	if err != nil {
		lifeW.Close()
		repR.Close()
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	c := &Child{cmd: cmd, lifeline: lifeW, done: make(chan struct{})}
	reports := bufio.NewReader(repR)
	first, _ := reports.ReadString('\n')
	word, rest, _ := strings.Cut(strings.TrimSpace(first), " ")
	if word == "started" {
		c.pid, err = strconv.Atoi(rest)
	}
	if word != "started" || err != nil || c.pid <= 0 {
		// It could not start the command, or it died.
		lifeW.Close()
		werr := cmd.Wait()
		repR.Close()
		kind, msg, _ := strings.Cut(rest, " ")
		switch {
		case word == "failed" && kind == "notfound":
			return nil, &StartError{ErrNotFound, msg}
		case word == "failed" && kind == "cannotrun":
			return nil, &StartError{ErrCannotRun, msg}
		}
		return nil, fmt.Errorf("supervisor: no command started (%q): %v", first, werr)
	}
	go func() {
		defer close(c.done)
		lines := make(chan string, 1)
		go func() {
			last, _ := reports.ReadString('\n')
			lines <- last
		}()
		werr := cmd.Wait()
		// The supervisor has exited: what it reported is in the pipe. Its
		// write end closed with it; should anything else hold it, stop
		// reading soon anyway.
		_ = repR.SetReadDeadline(time.Now().Add(time.Second))
		last := <-lines
		repR.Close()
		c.status, c.err = parseEnd(last)
		if c.err != nil {
			c.err = fmt.Errorf("the supervisor of %s died (%v) before the command ended; its process group is killed", argv[0], werr)
		}
	}()
	return c, nil
}

// parseEnd reads the supervisor's last report: "exited N" or "signaled S".
func parseEnd(line string) (Status, error) {
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	n, err := strconv.Atoi(rest)
	switch {
	case err != nil:
		return Status{}, fmt.Errorf("no end reported: %q", line)
	case word == "exited":
		return Status{Code: n}, nil
	case word == "signaled":
		return Status{Code: 128 + n, Signal: syscall.Signal(n)}, nil
	}
	return Status{}, fmt.Errorf("no end reported: %q", line)
}

// Pid returns the command's pid, which is also its process group's id.
func (c *Child) Pid() int { return c.pid }

// Signal sends sig to the command's whole process group, unless the
// supervisor has already ended (then the group is gone, and its id may
// be another's).
func (c *Child) Signal(sig syscall.Signal) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.pid, sig)
}

// Done is closed once the supervisor has exited (and the command's output
// is closed): the command has ended, or the supervisor died.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits for Done and returns how the command ended. When the
// supervisor died without reporting the command's end, it kills the
// command's process group (what is left of it would run unwatched) and
// returns an error.
func (c *Child) Wait() (Status, error) {
	<-c.done
	c.lifeline.Close()
	if c.err != nil {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
	return c.status, c.err
}

// Close lets go of the child: if it still runs, the supervisor kills the
// command's group and exits. Wait must still be called to reap it.
func (c *Child) Close() { c.lifeline.Close() }

// withoutMode returns env less modeEnv.
func withoutMode(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, modeEnv+"=") {
			out = append(out, e)
		}
	}
	return out
}

// serve is the supervisor: it runs argv and returns the exit code of the
// supervisor process.
func serve(argv []string) int {
	// The command's parent-death signal (Linux) fires when the thread
	// that started it exits: start it from the main thread, which lives
	// as long as the process. (init runs on the main thread already.)
	runtime.LockOSThread()
	// The descriptors zkctl passed are not close-on-exec: make them so, or
	// the command and what it starts would hold them (the report pipe
	// open after this process died, the lifeline's read end).
	syscall.CloseOnExec(lifelineFD)
	syscall.CloseOnExec(reportFD)
	lifeline, report := os.NewFile(lifelineFD, "lifeline"), os.NewFile(reportFD, "report")
	if !isPipe(lifeline) || !isPipe(report) || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "zkctl: %s is set, but this process was not started as zkctl's supervisor\n", modeEnv)
		return exitWrapper
	}
	_ = os.Unsetenv(modeEnv)
	// Ctrl-C and the like reach zkctl's whole process group, this process
	// too: zkctl decides what the command gets. Catch them rather than
	// ignore them: an ignored signal would stay ignored in the command.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(report, "failed notfound %s\n", msg)
			return exitNotFound
		}
		fmt.Fprintf(report, "failed cannotrun %s\n", msg)
		return exitCannotRun
	}
	pgid := cmd.Process.Pid
	fmt.Fprintf(report, "started %d\n", pgid) // an error: zkctl is gone, as the lifeline will say

	ended := make(chan struct{})
	var waitErr error
	go func() {
		if peekExit {
			waitExited(pgid) // the command is a zombie now: its pid, the group's id, is still taken
		} else {
			waitErr = cmd.Wait()
		}
		close(ended)
	}()
	orphaned := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, lifeline) // zkctl never writes: this returns when it is gone
		close(orphaned)
	}()
	select {
	case <-ended:
	case <-orphaned:
	}
	// Either way, nothing of the group may run on: the command is done
	// (what it left would run without the lock), or zkctl is gone.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-ended
	err := waitErr
	if peekExit {
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return exitWrapper
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		fmt.Fprintf(report, "signaled %d\n", int(ws.Signal()))
		return 128 + int(ws.Signal())
	}
	fmt.Fprintf(report, "exited %d\n", ws.ExitStatus())
	return ws.ExitStatus()
}

// isPipe reports whether f is an open pipe.
func isPipe(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeNamedPipe != 0
}
