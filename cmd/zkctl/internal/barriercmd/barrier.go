package barriercmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/barrier"
)

// Commands is `zkctl barrier` and its subcommands.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{barrierCommand(io)} }

// timeoutFlag bounds a wait.
func timeoutFlag(what string) cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Usage: "give up " + what + " after this long (exit 6; 0: wait until interrupted)"}
}

// barrierCommand is `zkctl barrier`.
func barrierCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "barrier",
		Usage: "raise, lower and wait on a barrier; enter a double barrier with n members and run a command inside",
		Description: "A single barrier at PATH is up while its node exists (set raises it, rm lowers it, wait blocks\n" +
			"until it is down): Curator's DistributedBarrier and kazoo's Barrier share it. A double barrier at\n" +
			"PATH for N members is Curator's and kazoo's DistributedDoubleBarrier layout: each member an\n" +
			"ephemeral child, PATH/ready created once N are inside. enter blocks until N members are inside,\n" +
			"runs COMMAND, then leaves: it blocks again until every member has left.",
		Subcommands: []*cli.Command{
			{
				Name: "set", Usage: "raise the barrier: create its node (a barrier already up is fine)", ArgsUsage: "PATH",
				Action: func(c *cli.Context) error { return single(c, (*barrier.Barrier).Set) },
			},
			{
				Name: "rm", Usage: "lower the barrier: delete its node (a barrier already down is fine)", ArgsUsage: "PATH",
				Action: func(c *cli.Context) error { return single(c, (*barrier.Barrier).Remove) },
			},
			{
				Name: "wait", Usage: "block until the barrier is down (at once when it is not up)", ArgsUsage: "PATH",
				Flags:  []cli.Flag{timeoutFlag("waiting")},
				Action: func(c *cli.Context) error { return wait(c) },
			},
			enterCommand(io),
			{
				Name:  "leave",
				Usage: "block until every member of a double barrier has left (as an observer: not a member)",
				Description: "Watches the double barrier at PATH and returns once no member node is left under it\n" +
					"(at once when there is none, or no PATH). It does not take part: members that are still\n" +
					"to enter are not waited for.",
				ArgsUsage: "PATH",
				Flags:     []cli.Flag{timeoutFlag("waiting")},
				Action:    func(c *cli.Context) error { return observeLeave(c) },
			},
		},
	}
}

func enterCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "enter",
		Usage: "enter a double barrier of N members, run a command once all are inside, then leave",
		Description: "Joins the double barrier at PATH as a member and waits until N members are inside (up to\n" +
			"--timeout). With COMMAND, runs it with ZKCTL_BARRIER_PATH and ZKCTL_BARRIER_MEMBER (this\n" +
			"member's node name) in its environment, then leaves the barrier, waiting until every member\n" +
			"has left, and exits with COMMAND's status. If the session is lost while COMMAND runs, its group\n" +
			"gets SIGTERM, then SIGKILL after --grace, and zkctl exits 124. zkctl's own failures exit 125\n" +
			"(the barrier not full within --timeout, the cluster unreachable); a COMMAND that cannot run,\n" +
			"126; one that is not found, 127. An interrupt stops COMMAND the same way and exits 130 without\n" +
			"waiting for the others: the member's node goes with the session.\n\n" +
			"Without COMMAND, prints the member name once all are inside, then leaves (a timeout exits 6).\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Usage: "how many members the barrier waits for (required)"},
			timeoutFlag("entering, and again leaving,"),
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL when the session is lost"},
			&cli.StringFlag{Name: "name", Usage: "this member's node name (default: a fresh UUID, as Curator names members)"},
			&cli.StringFlag{Name: "data", Usage: "data of this member's node"},
		},
		Action: func(c *cli.Context) error { return enter(c, io) },
	}
}

// single runs one call of a single barrier at the command's PATH.
func single(c *cli.Context, call func(*barrier.Barrier, context.Context) error) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	b, err := barrier.New(s, p)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	return call(b, ctx)
}

// waitCtx bounds a wait by --timeout (none when 0): the command's context,
// not the request timeout, since waiting is the command's work.
func waitCtx(c *cli.Context) (context.Context, context.CancelFunc) {
	if d := c.Duration("timeout"); d > 0 {
		return context.WithTimeout(c.Context, d)
	}
	return context.WithCancel(c.Context)
}

// waited turns the end of a wait into zkctl's error: an interrupt exits
// 130, --timeout running out 6.
func waited(c *cli.Context, what, path string, err error) error {
	switch {
	case err == nil:
		return nil
	case c.Context.Err() != nil:
		return zkctl.StatusError{Code: zkctl.ExitInterrupted, Err: fmt.Errorf("interrupted while %s %s", what, path)}
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: not within %v (--timeout): %w", what, path, c.Duration("timeout"), err)
	}
	return err
}

// session opens a client and its session for a command that waits: no
// request timeout around it, and a session of its own even in zkctl shell
// (a member's node lives as long as it).
func session(c *cli.Context, ctx context.Context) (backend.Session, func(), error) {
	client, err := zkctl.Connect(c)
	if err != nil {
		return nil, nil, err
	}
	s, err := client.Session(ctx)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return s, func() { client.Close() }, nil
}

func wait(c *cli.Context) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, cancel := waitCtx(c)
	defer cancel()
	s, done, err := session(c, ctx)
	if err != nil {
		return waited(c, "waiting for the barrier", p, err)
	}
	defer done()
	b, err := barrier.New(s, p)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	return waited(c, "waiting for the barrier", p, b.Wait(ctx))
}

func observeLeave(c *cli.Context) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, cancel := waitCtx(c)
	defer cancel()
	s, done, err := session(c, ctx)
	if err != nil {
		return waited(c, "waiting for the members to leave", p, err)
	}
	defer done()
	return waited(c, "waiting for the members to leave", p, waitEmpty(ctx, s, p))
}

// waitEmpty blocks until the double barrier at path has no member: no
// child other than ready, or no node at all.
func waitEmpty(ctx context.Context, s backend.Session, path string) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		kids, _, ch, err := s.ChildrenW(wctx, path)
		if errors.Is(err, backend.ErrNoNode) {
			cancel()
			return nil
		}
		if err != nil {
			cancel()
			return err
		}
		members := 0
		for _, k := range kids {
			if k != barrier.ReadyName {
				members++
			}
		}
		if members == 0 {
			cancel() // ends the watch
			return nil
		}
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		}
	}
}

// wrapped marks zkctl's own failures while it wraps a command: 125, so
// they cannot be taken for the command's status. Usage errors stay 2.
func wrapped(hasCommand bool, err error) error {
	var se zkctl.StatusError
	var ue zkctl.UsageError
	if err == nil || !hasCommand || errors.As(err, &se) || errors.As(err, &ue) {
		return err
	}
	return zkctl.StatusError{Code: zkctl.ExitWrapperError, Err: err}
}

func enter(c *cli.Context, io zkctl.Streams) error {
	own, argv := zkctl.CommandArgs(c)
	if err := zkctl.OnePath("barrier enter", own); err != nil {
		return err
	}
	path := own[0]
	hasCommand := len(argv) > 0
	if err := backend.ValidatePath(path); err != nil {
		return zkctl.UsageError{Err: err}
	}
	if !c.IsSet("n") {
		return zkctl.Usagef("barrier enter: -n N is required: how many members the barrier waits for")
	}
	var opts []barrier.Option
	if c.IsSet("name") {
		opts = append(opts, barrier.WithMemberName(c.String("name")))
	}
	if c.IsSet("data") {
		opts = append(opts, barrier.WithData([]byte(c.String("data"))))
	}

	ctx, cancel := waitCtx(c)
	defer cancel()
	s, done, err := session(c, ctx)
	if err != nil {
		return wrapped(hasCommand, waited(c, "entering the barrier", path, err))
	}
	defer done() // a member that did not leave goes with the session
	d, err := barrier.NewDouble(s, path, c.Int("n"), opts...)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	if err := d.Enter(ctx); err != nil {
		if errors.Is(err, barrier.ErrNameTaken) {
			err = zkctl.StatusError{Code: zkctl.ExitConflict, Err: err}
		}
		return wrapped(hasCommand, waited(c, "entering the barrier", path, err))
	}

	status := error(nil)
	if hasCommand {
		env := []string{"ZKCTL_BARRIER_PATH=" + path, "ZKCTL_BARRIER_MEMBER=" + d.Name()}
		status = zkctl.RunChild(c.Context, io, argv, env, s.Done(), s.Err, c.Duration("grace"))
		if c.Context.Err() != nil || s.Err() != nil {
			return status // interrupted or lost: the node goes with the session
		}
	} else {
		var perr error
		if zkctl.JSONOutput(c) {
			perr = zkctl.Emit(io.Out, map[string]any{"path": path, "member": d.Name()})
		} else {
			_, perr = fmt.Fprintln(io.Out, d.Name())
		}
		if perr != nil {
			return perr
		}
	}

	lctx, lcancel := waitCtx(c)
	defer lcancel()
	if err := d.Leave(lctx); err != nil {
		err = waited(c, "leaving the barrier", path, err)
		if status != nil {
			return status // the command's status says more; the node goes with the session
		}
		return wrapped(hasCommand, err)
	}
	return status
}
