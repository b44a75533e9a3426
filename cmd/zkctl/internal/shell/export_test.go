package shell

import (
	"context"

	"github.com/urfave/cli/v2"
)

// Completer exposes the shell's completer to the tests.
type Completer struct{ sc *shellCompleter }

// NewCompleter completes lines of commands with globals; children, when not
// nil, lists a node's children; inShell adds the shell's builtins.
func NewCompleter(commands []*cli.Command, globals []cli.Flag, children func(ctx context.Context, path string) ([]string, error), inShell bool) Completer {
	return Completer{&shellCompleter{commands: commands, globals: globals, children: children, inShell: inShell}}
}

// Complete is shellCompleter.complete.
func (c Completer) Complete(ctx context.Context, line string, pos int) (string, int, []string) {
	return c.sc.complete(ctx, line, pos)
}

// Lister exposes the shell's client for path completion to the tests.
type Lister struct{ l *shellLister }

// NewLister returns a lister for the cluster c's global flags name.
func NewLister(c *cli.Context) Lister { return Lister{&shellLister{c: c}} }

// Children is shellLister.children.
func (l Lister) Children(ctx context.Context, path string) ([]string, error) {
	return l.l.children(ctx, path)
}

// Close is shellLister.close.
func (l Lister) Close() { l.l.close() }
