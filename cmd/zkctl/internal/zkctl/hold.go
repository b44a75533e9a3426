package zkctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
)

// held is what zkctl needs of a grant, whichever kind it is.
type Held interface {
	Token() int64
	Path() string
	Done() <-chan struct{}
	Err() error
	Unlock(ctx context.Context) error
}

// wrapped marks zkctl's own failures while it wraps a command: 125, so they
// cannot be taken for the command's status. Usage errors stay 2.
func wrapped(hasCommand bool, err error) error {
	var ee StatusError
	var ue UsageError
	if err == nil || !hasCommand || errors.As(err, &ee) || errors.As(err, &ue) {
		return err
	}
	return StatusError{ExitWrapperError, err}
}

// OnePath checks the words before "--" of a command that runs a COMMAND
// after it: PATH alone (its flags have been taken out). Anything else is a
// usage error, never run as a command.
func OnePath(what string, own []string) error {
	switch {
	case len(own) == 0:
		return Usagef("%s: want PATH [-- COMMAND [ARGS...]]", what)
	case len(own) > 1:
		if strings.HasPrefix(own[1], "-") {
			return Usagef("%s: %s is not a flag of %s; want %s [flags] PATH [-- COMMAND [ARGS...]]", what, own[1], what, what)
		}
		return Usagef("%s: %q after PATH: the command goes after \"--\" (%s [flags] PATH -- COMMAND [ARGS...])", what, own[1], what)
	}
	return nil
}

// HoldSpec is what differs between the commands that hold a grant while a
// command runs: `lock` and `elect`.
type HoldSpec struct {
	What, Waiting     string // the command's name; what it does until it holds
	EnvPath, EnvToken string // the child's environment variables
	// take blocks until it holds the grant at path, or fails.
	Take func(ctx context.Context, s backend.Session, path string) (Held, error)
}

// HoldAndRun takes a grant at the first argument, runs the command after
// "--" while holding it, and releases it: the body of `lock` and `elect`.
// Without a command it prints the token and holds until interrupted.
func HoldAndRun(c *cli.Context, io Streams, spec HoldSpec) error {
	own, argv := CommandArgs(c)
	if err := OnePath(spec.What, own); err != nil {
		return err
	}
	path := own[0]
	hasCommand := len(argv) > 0
	if err := backend.ValidatePath(path); err != nil {
		return UsageError{err}
	}
	client, err := Connect(c)
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
	g, err := spec.Take(waitCtx, s, path)
	if err != nil {
		var ue UsageError
		if errors.As(err, &ue) {
			return err
		}
		if c.Context.Err() != nil {
			return StatusError{ExitInterrupted, fmt.Errorf("interrupted while %s %s", spec.Waiting, path)}
		}
		return wrapped(hasCommand, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("request-timeout"))
		defer cancel()
		_ = g.Unlock(ctx) // a lost grant's node is gone or going
	}()

	if !hasCommand {
		if JSONOutput(c) {
			_ = Emit(io.Out, map[string]any{"path": path, "node": g.Path(), "token": g.Token()})
		} else {
			fmt.Fprintln(io.Out, g.Token())
		}
		select {
		case <-c.Context.Done():
			// Interrupted, the way to end it: the deferred Unlock releases.
			return StatusError{ExitInterrupted, nil}
		case <-g.Done():
			return StatusError{ExitLockLost, g.Err()}
		}
	}
	env := []string{spec.EnvPath + "=" + path, spec.EnvToken + "=" + strconv.FormatInt(g.Token(), 10)}
	return RunChild(c.Context, io, argv, env, g.Done(), g.Err, c.Duration("grace"))
}
