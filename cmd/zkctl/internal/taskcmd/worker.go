package taskcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/task"
)

func masterCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "master",
		Usage: "run a master candidate of the task tree until interrupted",
		Description: "Campaigns to be the master of the task tree at --root (recipes/election at\n" +
			"<root>/master) and, while it leads, assigns pending tasks to live workers and takes\n" +
			"the tasks of dead workers back. Any number may run: the others stand by. Runs until\n" +
			"interrupted (exit 130); exits 5 when its session is lost.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "what the election shows for this candidate (default: host and pid)"},
		},
		Action: func(c *cli.Context) error { return master(c, io) },
	}
}

func workerCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "register a worker and run a command for each task assigned to it",
		Description: "Registers worker --id in the task tree at --root and, for each task the master\n" +
			"assigns to it (up to --capacity at a time), runs COMMAND with the task's spec on its\n" +
			"stdin and ZKCTL_TASK_ID, ZKCTL_TASK_TOKEN (the assignment's fencing token: larger for\n" +
			"every later attempt), ZKCTL_TASK_ATTEMPT (1 for the first) and ZKCTL_TASK_ROOT in its\n" +
			"environment. COMMAND's stdout is the task's result: exit status 0 completes the task\n" +
			"with it, any other status fails the attempt (the task is assigned again, or dead after\n" +
			"its --max-attempts). If the assignment is lost while COMMAND runs (the session\n" +
			"suspended or, with --wait-expiry, expired; the task cancelled or assigned to another),\n" +
			"COMMAND's group gets SIGTERM, then SIGKILL after --grace, and its result is dropped:\n" +
			"the task is someone else's now. Each task's outcome is printed as it ends, one line:\n" +
			"ID attempt N token T: done|failed|lost|cancelled|released[: why].\n\n" +
			"It runs until interrupted (running commands are stopped and their tasks given back,\n" +
			"no failure counted; exit 130), until --max-tasks tasks have ended (exit 0), or until\n" +
			"its session is lost (exit 5). An --id another live worker has is exit 4; a COMMAND\n" +
			"that is not found, 127. --master also runs a master candidate in this process.\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "-- COMMAND [ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "the worker's id (required; a node name)"},
			&cli.IntFlag{Name: "capacity", Value: 1, Usage: "how many tasks it runs at once (1..10000)"},
			&cli.StringSliceFlag{Name: "label", Usage: "K=V: a label of the worker, for tasks that require it (repeatable)"},
			&cli.IntFlag{Name: "max-tasks", Usage: "exit 0 once this many tasks have been started and have ended (0: run until interrupted)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL when an assignment is lost"},
			&cli.BoolFlag{Name: "wait-expiry", Usage: "trust assignments while the connection is suspended; lose them only when the session expires"},
			&cli.BoolFlag{Name: "master", Usage: "also run a master candidate in this process"},
		},
		Action: func(c *cli.Context) error { return worker(c, io) },
	}
}

// logger reports the recipe's warnings (connection trouble, refused
// writes) on stderr.
func logger(io zkctl.Streams) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// session opens a session of its own for a long-running command, with no
// request timeout around it.
func session(c *cli.Context) (backend.Client, backend.Session, error) {
	client, err := zkctl.Connect(c)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	defer cancel()
	s, err := client.Session(ctx)
	if err != nil {
		client.Close()
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			return nil, nil, zkctl.NoSession(c, c.Duration("request-timeout"))
		}
		return nil, nil, err
	}
	return client, s, nil
}

// runEnded turns the end of a master's or worker's run into its exit:
// interrupted 130, the session lost 5.
func runEnded(c *cli.Context, what string, err error) error {
	switch {
	case c.Context.Err() != nil:
		return zkctl.StatusError{Code: zkctl.ExitInterrupted, Err: nil}
	case err == nil:
		return nil
	}
	return zkctl.StatusError{Code: zkctl.ExitUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
}

func defaultMasterID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// startMaster runs a master candidate on s until the returned stop is
// called; stop waits for it and returns how it ended.
func startMaster(c *cli.Context, io zkctl.Streams, s backend.Session, r, id string) (stop func() error, err error) {
	m, err := task.NewMaster(s, r, task.MasterID(id), task.WithLogger(logger(io)))
	if err != nil {
		return nil, taskErr(err)
	}
	ctx, cancel := context.WithCancel(c.Context)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		if ctx.Err() != nil {
			return nil
		}
		return err
	}, nil
}

func master(c *cli.Context, io zkctl.Streams) error {
	if a, _ := zkctl.Positional(c); len(a) > 0 {
		return zkctl.Usagef("task master takes no arguments (the tree is --root)")
	}
	r, err := root(c)
	if err != nil {
		return err
	}
	id := c.String("id")
	if id == "" {
		id = defaultMasterID()
	}
	client, s, err := session(c)
	if err != nil {
		return err
	}
	defer client.Close()
	m, err := task.NewMaster(s, r, task.MasterID(id), task.WithLogger(logger(io)))
	if err != nil {
		return taskErr(err)
	}
	return runEnded(c, "master", m.Run(c.Context))
}

// outcome is how one task's attempt ended on this worker.
type outcome struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	Token   int64  `json:"token"`
	// Outcome is done, failed, lost, cancelled or released (given back,
	// when the worker was interrupted).
	Outcome string `json:"outcome"`
	// Status is the command's exit status, when it ended by itself.
	Status *int   `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// lockedBuffer collects a command's stdout.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.b.Bytes())
}

// workerRun is one `task worker`: what its tasks share.
type workerRun struct {
	c     *cli.Context
	io    zkctl.Streams
	root  string
	argv  []string
	grace time.Duration

	mu sync.Mutex // orders the outcome lines
}

func worker(c *cli.Context, io zkctl.Streams) error {
	// The worker has no arguments of its own: flag parsing has taken the
	// "--" that ends its flags when nothing came before it, so every
	// argument is COMMAND's, unless a "--" is left after a stray word.
	own, argv := zkctl.CommandArgs(c)
	if argv == nil && !slices.Contains(c.Args().Slice(), "--") {
		own, argv = nil, own
	}
	switch {
	case len(own) > 0:
		return zkctl.Usagef("task worker: %q before \"--\": the command goes after it (task worker --id W -- COMMAND [ARGS...])", own[0])
	case len(argv) == 0:
		return zkctl.Usagef("task worker: want -- COMMAND [ARGS...]")
	case c.String("id") == "":
		return zkctl.Usagef("task worker: --id is required")
	case c.Int("max-tasks") < 0:
		return zkctl.Usagef("--max-tasks %d: want 0 or more", c.Int("max-tasks"))
	}
	r, err := root(c)
	if err != nil {
		return err
	}
	labels, err := parseLabels("label", c.StringSlice("label"))
	if err != nil {
		return err
	}
	opts := []task.Option{task.Capacity(c.Int("capacity")), task.WithLogger(logger(io))}
	if labels != nil {
		opts = append(opts, task.Labels(labels))
	}
	if c.Bool("wait-expiry") {
		opts = append(opts, task.WithLossPolicy(task.OnLost))
	}
	// A command that cannot be found would fail every task it is given.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return zkctl.StatusError{Code: zkctl.ExitNotFound, Err: fmt.Errorf("%s: command not found", argv[0])}
	}

	client, s, err := session(c)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancelReg := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	w, err := task.Register(ctx, s, r, c.String("id"), opts...)
	cancelReg()
	if err != nil {
		return taskErr(err)
	}
	defer w.Close() // gives back what is not finished, removes the presence node
	if c.Bool("master") {
		stop, err := startMaster(c, io, s, r, c.String("id"))
		if err != nil {
			return err
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(io.Err, "zkctl: master: %v\n", err)
			}
		}()
	}

	wr := &workerRun{c: c, io: io, root: r, argv: argv, grace: c.Duration("grace")}
	capacity, maxTasks := c.Int("capacity"), c.Int("max-tasks")
	slots := make(chan struct{}, capacity)
	var running sync.WaitGroup
	defer running.Wait()
	for started := 0; maxTasks == 0 || started < maxTasks; started++ {
		select {
		case slots <- struct{}{}:
		case <-c.Context.Done():
			return runEnded(c, "worker", nil)
		}
		a, err := w.Next(c.Context)
		if err != nil {
			running.Wait()
			return runEnded(c, "worker "+c.String("id"), err)
		}
		running.Add(1)
		go func() {
			defer running.Done()
			defer func() { <-slots }()
			wr.report(wr.run(a))
		}()
	}
	running.Wait()
	if c.Context.Err() != nil {
		return runEnded(c, "worker", nil)
	}
	return nil
}

// finishCtx bounds the write of an outcome, which must run even when
// zkctl was interrupted.
func (wr *workerRun) finishCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wr.c.Duration("request-timeout"))
}

// run runs the command for one assignment and records its outcome.
func (wr *workerRun) run(a *task.Assignment) outcome {
	o := outcome{ID: a.ID(), Attempt: a.Attempt(), Token: a.Token()}
	var out lockedBuffer
	env := []string{
		"ZKCTL_TASK_ROOT=" + wr.root,
		"ZKCTL_TASK_ID=" + a.ID(),
		"ZKCTL_TASK_TOKEN=" + strconv.FormatInt(a.Token(), 10),
		"ZKCTL_TASK_ATTEMPT=" + strconv.Itoa(a.Attempt()),
	}
	child := zkctl.Streams{In: bytes.NewReader(a.Spec()), Out: &out, Err: wr.io.Err}
	runErr := zkctl.RunChild(wr.c.Context, child, wr.argv, env, a.Done(), a.Err, wr.grace)
	var se zkctl.StatusError
	code := 0
	if errors.As(runErr, &se) {
		code = se.Code
	}
	if lost := a.Err(); lost != nil {
		// Whatever the command did, nothing of ours can land now.
		o.Outcome, o.Reason = "lost", lost.Error()
		if errors.Is(lost, task.ErrCancelled) {
			o.Outcome = "cancelled"
		}
		if runErr == nil || (code != zkctl.ExitLockLost && code != zkctl.ExitInterrupted) {
			o.Status = &code
			o.Reason += " (result dropped)"
		}
		return o
	}
	ctx, cancel := wr.finishCtx()
	defer cancel()
	var err error
	switch {
	case code == zkctl.ExitInterrupted && wr.c.Context.Err() != nil:
		o.Outcome, o.Reason = "released", "interrupted"
		err = a.Release(ctx)
	case runErr == nil:
		o.Outcome, o.Status = "done", &code
		err = a.Complete(ctx, out.Bytes())
		if errors.Is(err, backend.ErrTooLarge) {
			o.Outcome, o.Reason = "failed", "result too large: "+err.Error()
			err = a.Fail(ctx, fmt.Errorf("result too large (%d bytes)", len(out.Bytes())))
		}
	default:
		o.Outcome, o.Reason = "failed", runErr.Error()
		if code != zkctl.ExitCannotRun && code != zkctl.ExitNotFound && code != zkctl.ExitWrapperError {
			o.Status = &code
		}
		err = a.Fail(ctx, runErr)
	}
	if err != nil {
		o.Reason = err.Error()
		if errors.Is(err, task.ErrLost) {
			o.Outcome = "lost"
			o.Reason += " (result dropped)"
		} else {
			o.Outcome = "error"
		}
	}
	return o
}

// report prints how a task ended: one line, or with -o json an object.
func (wr *workerRun) report(o outcome) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if zkctl.JSONOutput(wr.c) {
		_ = zkctl.Emit(wr.io.Out, o)
		return
	}
	line := fmt.Sprintf("%s attempt %d token %d: %s", o.ID, o.Attempt, o.Token, o.Outcome)
	if o.Reason != "" {
		line += ": " + o.Reason
	}
	fmt.Fprintln(wr.io.Out, line)
}
