package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// lockCommand is `zkctl lock`: run a command while holding a lock.
func lockCommand(io streams) *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "hold a lock while a command runs (or until interrupted)",
		Description: "Waits for the lock at PATH, runs COMMAND with ZKCTL_LOCK_PATH and ZKCTL_LOCK_TOKEN\n" +
			"(the fencing token) in its environment, releases the lock when COMMAND exits, and exits\n" +
			"with COMMAND's status. If the lock is lost while COMMAND runs, its group gets SIGTERM,\n" +
			"then SIGKILL after --grace, and zkctl exits 124. zkctl's own failures exit 125; a\n" +
			"COMMAND that cannot run, 126; one that is not found, 127. Without COMMAND it prints the\n" +
			"token and holds the lock until interrupted, then releases it and exits 130.\n\n" +
			supervisedDescription,
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
		return nil, usagef("--layout %q: want curator or kazoo", c.String("layout"))
	}
	if c.IsSet("data") {
		opts = append(opts, lock.WithData([]byte(c.String("data"))))
	}
	if c.Bool("wait-expiry") {
		opts = append(opts, lock.WithLossPolicy(lock.OnLost))
	}
	return opts, nil
}

// held is what zkctl needs of a grant, whichever kind it is.
type held interface {
	Token() int64
	Path() string
	Done() <-chan struct{}
	Err() error
	Unlock(ctx context.Context) error
}

// semLease adapts a semaphore lease to held.
type semLease struct{ *lock.SemaphoreLease }

func (l semLease) Unlock(ctx context.Context) error { return l.Release(ctx) }

// acquire takes the kind of lock the flags ask for: a mutex, one side of a
// read-write lock, or a semaphore lease.
func acquire(ctx context.Context, c *cli.Context, s backend.Session, path string, opts []lock.Option) (held, error) {
	read, write, n := c.Bool("read"), c.Bool("write"), c.Int("n")
	switch {
	case read && write:
		return nil, usagef("--read and --write do not go together")
	case n != 0 && (read || write):
		return nil, usagef("-n takes a semaphore lease; it does not go with --read or --write")
	case c.IsSet("n") && n < 1:
		return nil, usagef("-n %d: want at least 1", n)
	case n > 0:
		sem, err := lock.NewSemaphore(s, path, n, opts...)
		if err != nil {
			return nil, usageError{err}
		}
		l, err := sem.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		return semLease{l}, nil
	case read || write:
		rw, err := lock.NewRWMutex(s, path, opts...)
		if err != nil {
			return nil, usageError{err}
		}
		if read {
			return rw.RLock(ctx)
		}
		return rw.Lock(ctx)
	}
	m, err := lock.New(s, path, opts...)
	if err != nil {
		return nil, usageError{err}
	}
	return m.Lock(ctx)
}

// wrapped marks zkctl's own failures while it wraps a command: 125, so they
// cannot be taken for the command's status. Usage errors stay 2.
func wrapped(hasCommand bool, err error) error {
	var ee exitError
	var ue usageError
	if err == nil || !hasCommand || errors.As(err, &ee) || errors.As(err, &ue) {
		return err
	}
	return exitError{ExitWrapperError, err}
}

func lockRun(c *cli.Context, io streams) error {
	opts, err := lockOptions(c)
	if err != nil {
		return err
	}
	return holdAndRun(c, io, wrapSpec{
		what:    "lock",
		waiting: "waiting for",
		envPath: "ZKCTL_LOCK_PATH", envToken: "ZKCTL_LOCK_TOKEN",
		take: func(ctx context.Context, s backend.Session, path string) (held, error) {
			return acquire(ctx, c, s, path, opts)
		},
	})
}

// onePath checks the words before "--" of a command that runs a COMMAND
// after it: PATH alone (its flags have been taken out). Anything else is a
// usage error, never run as a command.
func onePath(what string, own []string) error {
	switch {
	case len(own) == 0:
		return usagef("%s: want PATH [-- COMMAND [ARGS...]]", what)
	case len(own) > 1:
		if strings.HasPrefix(own[1], "-") {
			return usagef("%s: %s is not a flag of %s; want %s [flags] PATH [-- COMMAND [ARGS...]]", what, own[1], what, what)
		}
		return usagef("%s: %q after PATH: the command goes after \"--\" (%s [flags] PATH -- COMMAND [ARGS...])", what, own[1], what)
	}
	return nil
}

// wrapSpec is what differs between the commands that hold a grant while a
// command runs: `lock` and `elect`.
type wrapSpec struct {
	what, waiting     string // the command's name; what it does until it holds
	envPath, envToken string // the child's environment variables
	// take blocks until it holds the grant at path, or fails.
	take func(ctx context.Context, s backend.Session, path string) (held, error)
}

// holdAndRun takes a grant at the first argument, runs the command after
// "--" while holding it, and releases it: the body of `lock` and `elect`.
// Without a command it prints the token and holds until interrupted.
func holdAndRun(c *cli.Context, io streams, spec wrapSpec) error {
	own, argv := commandArgs(c)
	if err := onePath(spec.what, own); err != nil {
		return err
	}
	path := own[0]
	hasCommand := len(argv) > 0
	if err := backend.ValidatePath(path); err != nil {
		return usageError{err}
	}
	client, err := connect(c)
	if err != nil {
		return wrapped(hasCommand, err)
	}
	defer client.Close()

	waitCtx := c.Context
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(c.Context, d)
		defer cancel()
	}
	s, err := client.Session(waitCtx)
	if err != nil {
		return wrapped(hasCommand, err)
	}
	g, err := spec.take(waitCtx, s, path)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return err
		}
		if c.Context.Err() != nil {
			return exitError{ExitInterrupted, fmt.Errorf("interrupted while %s %s", spec.waiting, path)}
		}
		return wrapped(hasCommand, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("request-timeout"))
		defer cancel()
		_ = g.Unlock(ctx) // a lost grant's node is gone or going
	}()

	if !hasCommand {
		if jsonOut(c) {
			_ = emit(io.out, map[string]any{"path": path, "node": g.Path(), "token": g.Token()})
		} else {
			fmt.Fprintln(io.out, g.Token())
		}
		select {
		case <-c.Context.Done():
			// Interrupted, the way to end it: the deferred Unlock releases.
			return exitError{ExitInterrupted, nil}
		case <-g.Done():
			return exitError{ExitLockLost, g.Err()}
		}
	}
	env := []string{spec.envPath + "=" + path, spec.envToken + "=" + strconv.FormatInt(g.Token(), 10)}
	return runChild(c.Context, io, argv, env, g.Done(), g.Err, c.Duration("grace"))
}

func lockHolders(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	opts, err := lockOptions(c)
	if err != nil {
		return err
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	m, err := lock.New(s, p, opts...)
	if err != nil {
		return usageError{err}
	}
	hs, err := m.Holders(ctx)
	if err != nil {
		return err
	}
	if jsonOut(c) {
		for i, h := range hs {
			role := "waiter"
			if i == 0 {
				role = "holder"
			}
			if err := emit(io.out, map[string]any{"role": role, "node": h.Name, "session": fmt.Sprintf("%#x", h.Owner), "token": h.Token, "created": h.Created, "data": string(h.Data)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
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
