package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// Main is zkctl as a process: SIGINT and SIGTERM cancel the command's
// context, and the exit code is returned for main to exit with.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
}

// Run runs zkctl with args (args[0] is the program) and returns its exit
// code. Only main exits.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := New(zkctl.Streams{In: stdin, Out: stdout, Err: stderr})
	if len(args) > 0 {
		args = zkctl.PlaceArgs(app, args).Args(args[0])
	}
	err := app.RunContext(ctx, args)
	code := zkctl.ExitCode(ctx, err)
	if err != nil && code != zkctl.ExitOK {
		var ee zkctl.StatusError
		if !errors.As(err, &ee) || ee.Err != nil {
			fmt.Fprintf(stderr, "zkctl: %v\n", err)
		}
	}
	return code
}

// New returns zkctl's app, reading and writing io.
func New(io zkctl.Streams) *cli.App {
	app := &cli.App{
		Name:      "zkctl",
		Usage:     "work with ZooKeeper and etcd trees and run coordination recipes",
		Reader:    io.In,
		Writer:    io.Out,
		ErrWriter: io.Err,
		Flags:     zkctl.GlobalFlags(),
		Before: func(c *cli.Context) error {
			switch c.String("output") {
			case "text", "json":
				return nil
			}
			return zkctl.Usagef("--output %q: want text or json", c.String("output"))
		},
		Commands:       commands(io),
		ExitErrHandler: func(*cli.Context, error) {}, // only main exits
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return zkctl.UsageError{Err: err}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return zkctl.Usagef("no command %q; see zkctl --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	markUsageErrors(app.Commands)
	return app
}

// markUsageErrors makes a flag error of any command a usage error (exit 2).
func markUsageErrors(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return zkctl.UsageError{Err: err} }
		}
		markUsageErrors(cmd.Subcommands)
	}
}
