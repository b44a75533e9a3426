package lockcmd

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// Commands is `zkctl lock` and its subcommands.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{lockCommand(io)} }

// lockCommand is `zkctl lock`: run a command while holding a lock.
func lockCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "hold a lock while a command runs (or until interrupted)",
		Description: "Waits for the lock at PATH, runs COMMAND with ZKCTL_LOCK_PATH and ZKCTL_LOCK_TOKEN\n" +
			"(the fencing token) in its environment, releases the lock when COMMAND exits, and exits\n" +
			"with COMMAND's status. If the lock is lost while COMMAND runs, its group gets SIGTERM,\n" +
			"then SIGKILL after --grace, and zkctl exits 124. zkctl's own failures exit 125; a\n" +
			"COMMAND that cannot run, 126; one that is not found, 127. Without COMMAND it prints the\n" +
			"token and holds the lock until interrupted, then releases it and exits 130.\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting for the lock after this long (0: wait forever)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL when the lock is lost"},
			&cli.StringFlag{Name: "data", Usage: "data of the lock node (who holds it)"},
			&cli.StringFlag{Name: "layout", Value: "curator", Usage: "node names: curator (shares locks with Curator's InterProcessMutex) or kazoo (kazoo's Lock)"},
			&cli.BoolFlag{Name: "wait-expiry", Usage: "trust the lock while the connection is suspended; lose it only when the session expires"},
			&cli.BoolFlag{Name: "read", Usage: "take the read side of a read-write lock (shared with other readers)"},
			&cli.BoolFlag{Name: "write", Usage: "take the write side of a read-write lock"},
			&cli.IntFlag{Name: "n", Usage: "take one of N leases of a semaphore (Curator's InterProcessSemaphoreV2 layout)"},
		},
		Subcommands: []*cli.Command{{
			Name:      "holders",
			Usage:     "list the holder and waiters of a lock",
			ArgsUsage: "PATH",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "layout", Value: "curator", Usage: "curator or kazoo"}},
			Action:    func(c *cli.Context) error { return lockHolders(c, io) },
		}},
		Action: func(c *cli.Context) error { return lockRun(c, io) },
	}
}

func lockOptions(c *cli.Context) ([]lock.Option, error) {
	var opts []lock.Option
	switch c.String("layout") {
	case "curator":
		opts = append(opts, lock.WithLayout(lock.Curator))
	case "kazoo":
		opts = append(opts, lock.WithLayout(lock.Kazoo))
	default:
		return nil, zkctl.Usagef("--layout %q: want curator or kazoo", c.String("layout"))
	}
	if c.IsSet("data") {
		opts = append(opts, lock.WithData([]byte(c.String("data"))))
	}
	if c.Bool("wait-expiry") {
		opts = append(opts, lock.WithLossPolicy(lock.OnLost))
	}
	return opts, nil
}

// semLease adapts a semaphore lease to held.
type semLease struct{ *lock.SemaphoreLease }

func (l semLease) Unlock(ctx context.Context) error { return l.Release(ctx) }

// acquire takes the kind of lock the flags ask for: a mutex, one side of a
// read-write lock, or a semaphore lease.
func acquire(ctx context.Context, c *cli.Context, s backend.Session, path string, opts []lock.Option) (zkctl.Held, error) {
	read, write, n := c.Bool("read"), c.Bool("write"), c.Int("n")
	switch {
	case read && write:
		return nil, zkctl.Usagef("--read and --write do not go together")
	case n != 0 && (read || write):
		return nil, zkctl.Usagef("-n takes a semaphore lease; it does not go with --read or --write")
	case c.IsSet("n") && n < 1:
		return nil, zkctl.Usagef("-n %d: want at least 1", n)
	case n > 0:
		sem, err := lock.NewSemaphore(s, path, n, opts...)
		if err != nil {
			return nil, zkctl.UsageError{Err: err}
		}
		l, err := sem.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		return semLease{l}, nil
	case read || write:
		rw, err := lock.NewRWMutex(s, path, opts...)
		if err != nil {
			return nil, zkctl.UsageError{Err: err}
		}
		if read {
			return rw.RLock(ctx)
		}
		return rw.Lock(ctx)
	}
	m, err := lock.New(s, path, opts...)
	if err != nil {
		return nil, zkctl.UsageError{Err: err}
	}
	return m.Lock(ctx)
}

func lockRun(c *cli.Context, io zkctl.Streams) error {
	opts, err := lockOptions(c)
	if err != nil {
		return err
	}
	return zkctl.HoldAndRun(c, io, zkctl.HoldSpec{
		What:    "lock",
		Waiting: "waiting for",
		EnvPath: "ZKCTL_LOCK_PATH", EnvToken: "ZKCTL_LOCK_TOKEN",
		Take: func(ctx context.Context, s backend.Session, path string) (zkctl.Held, error) {
			return acquire(ctx, c, s, path, opts)
		},
	})
}

func lockHolders(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	opts, err := lockOptions(c)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	m, err := lock.New(s, p, opts...)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	hs, err := m.Holders(ctx)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		for i, h := range hs {
			role := "waiter"
			if i == 0 {
				role = "holder"
			}
			if err := zkctl.Emit(io.Out, map[string]any{"role": role, "node": h.Name, "session": fmt.Sprintf("%#x", h.Owner), "token": h.Token, "created": h.Created, "data": string(h.Data)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tNODE\tSESSION\tTOKEN\tAGE\tDATA")
	for i, h := range hs {
		role := "waiter"
		if i == 0 {
			role = "holder"
		}
		fmt.Fprintf(tw, "%s\t%s\t%#x\t%d\t%s\t%s\n", role, h.Name, h.Owner, h.Token, time.Since(h.Created).Round(time.Millisecond), h.Data)
	}
	return tw.Flush()
}
