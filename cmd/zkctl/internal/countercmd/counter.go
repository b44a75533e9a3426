package countercmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/counter"
)

// Commands is `zkctl counter` and `zkctl id`.
func Commands(io zkctl.Streams) []*cli.Command {
	return []*cli.Command{counterCommand(io), idCommand(io)}
}

// codecNames lists the codecs' names, sorted, for help and errors.
func codecNames() string {
	var names []string
	for n := range counter.Codecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func counterCommand(io zkctl.Streams) *cli.Command {
	codec := &cli.StringFlag{Name: "codec", Value: counter.CuratorInt64.Name(),
		Usage: "how the value is stored: curator-int64 (Curator's DistributedAtomicLong), curator-int32 (SharedCount, DistributedAtomicInteger, kazoo's Counter with support_curator) or kazoo-ascii (kazoo's Counter)"}
	flags := []cli.Flag{codec}
	return &cli.Command{
		Name:  "counter",
		Usage: "read and change a shared counter (Curator's and kazoo's codecs), printing its value before and after",
		Description: "A counter of recipes/counter at PATH: an integer in the node's data, changed by compare-and-set,\n" +
			"so concurrent adds are never lost. Every client of one node must use the same --codec. A node\n" +
			"that does not exist reads as 0 and is created by the first write. add, set and cas print the\n" +
			"value before and after (\"PRE -> POST\"; -o json adds the write's token). Data the codec cannot\n" +
			"read exits 1 and is left alone.",
		Subcommands: []*cli.Command{
			{
				Name: "get", Usage: "print the value (0 when the node does not exist)", ArgsUsage: "PATH", Flags: flags,
				Action: func(c *cli.Context) error { return get(c, io) },
			},
			{
				Name: "add", Usage: "add DELTA and print the value before and after", ArgsUsage: "PATH DELTA", Flags: flags,
				Action: func(c *cli.Context) error {
					return write(c, io, 1, func(ctx context.Context, a *counter.Atomic, n []int64) (counter.Change, error) {
						return a.Add(ctx, n[0])
					})
				},
			},
			{
				Name: "set", Usage: "set the value, whatever it was, and print the value before and after", ArgsUsage: "PATH VALUE", Flags: flags,
				Action: func(c *cli.Context) error {
					return write(c, io, 1, func(ctx context.Context, a *counter.Atomic, n []int64) (counter.Change, error) {
						return a.Set(ctx, n[0])
					})
				},
			},
			{
				Name:      "cas",
				Usage:     "set the value to VALUE only if it is EXPECT (exit 4, printing the current value, if not)",
				ArgsUsage: "PATH EXPECT VALUE", Flags: flags,
				Action: func(c *cli.Context) error {
					return write(c, io, 2, func(ctx context.Context, a *counter.Atomic, n []int64) (counter.Change, error) {
						return a.CompareAndSet(ctx, n[0], n[1])
					})
				},
			},
		},
	}
}

// open reads PATH and nums integers after it, and opens the counter with
// the command's --codec.
func open(c *cli.Context, nums int) (context.Context, *counter.Atomic, []int64, func(), error) {
	args, err := zkctl.Positional(c)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(args) != 1+nums {
		return nil, nil, nil, nil, zkctl.Usagef("counter %s: want %s, got %d arguments", c.Command.Name, c.Command.ArgsUsage, len(args))
	}
	if err := backend.ValidatePath(args[0]); err != nil {
		return nil, nil, nil, nil, zkctl.UsageError{Err: err}
	}
	var ns []int64
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return nil, nil, nil, nil, zkctl.Usagef("counter %s: %q is not an integer", c.Command.Name, a)
		}
		ns = append(ns, n)
	}
	codec, ok := counter.Codecs[c.String("codec")]
	if !ok {
		return nil, nil, nil, nil, zkctl.Usagef("--codec %q: want one of %s", c.String("codec"), codecNames())
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a, err := counter.NewAtomic(s, args[0], counter.WithCodec(codec))
	if err != nil {
		done()
		return nil, nil, nil, nil, zkctl.UsageError{Err: err}
	}
	return ctx, a, ns, func() { _ = a.Close(); done() }, nil
}

func get(c *cli.Context, io zkctl.Streams) error {
	ctx, a, _, done, err := open(c, 0)
	if err != nil {
		return err
	}
	defer done()
	v, err := a.Get(ctx)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": a.Path(), "codec": a.Codec().Name(), "value": v.N, "exists": v.Exists, "version": v.Version, "token": v.Token})
	}
	_, err = fmt.Fprintln(io.Out, v.N)
	return err
}

// write runs one change of the counter and prints the values before and
// after it.
func write(c *cli.Context, io zkctl.Streams, nums int, change func(context.Context, *counter.Atomic, []int64) (counter.Change, error)) error {
	ctx, a, ns, done, err := open(c, nums)
	if err != nil {
		return err
	}
	defer done()
	ch, err := change(ctx, a, ns)
	var mismatch *counter.MismatchError
	switch {
	case errors.As(err, &mismatch):
		if zkctl.JSONOutput(c) {
			_ = zkctl.Emit(io.Out, map[string]any{"path": a.Path(), "codec": a.Codec().Name(), "swapped": false, "expected": mismatch.Expected, "current": mismatch.Current})
		}
		return zkctl.StatusError{Code: zkctl.ExitConflict, Err: err}
	case errors.Is(err, counter.ErrOverflow):
		return zkctl.UsageError{Err: err}
	case err != nil:
		return err
	}
	if zkctl.JSONOutput(c) {
		m := map[string]any{"path": a.Path(), "codec": a.Codec().Name(), "pre": ch.Pre, "post": ch.Post, "token": ch.Token}
		if c.Command.Name == "cas" {
			m["swapped"] = true
		}
		return zkctl.Emit(io.Out, m)
	}
	_, err = fmt.Fprintf(io.Out, "%d -> %d\n", ch.Pre, ch.Post)
	return err
}

func idCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "hand out cluster-unique, increasing 64-bit IDs",
		Description: "IDs of recipes/counter: each run writes a node of its own under PATH (no hot key) and builds\n" +
			"the IDs from the write's cluster-wide position (ZooKeeper's zxid, etcd's revision), so they are\n" +
			"unique across the cluster and larger than every ID handed out before the run started. They\n" +
			"are not dense.",
		Subcommands: []*cli.Command{{
			Name:      "next",
			Usage:     "print N new IDs (one write), one a line",
			ArgsUsage: "PATH",
			Flags:     []cli.Flag{&cli.IntFlag{Name: "n", Value: 1, Usage: fmt.Sprintf("how many IDs, 1 to %d, all from one write", counter.MaxBlock)}},
			Action:    func(c *cli.Context) error { return nextIDs(c, io) },
		}},
	}
}

func nextIDs(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	n := c.Int("n")
	if n < 1 || n > counter.MaxBlock {
		return zkctl.Usagef("id next: -n %d: want 1 to %d", n, counter.MaxBlock)
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	g, err := counter.NewIDs(s, p)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	defer g.Close()
	b, err := g.Block(ctx, n)
	if err != nil {
		return err
	}
	var out []byte
	for id := b.First; id <= b.Last(); id++ {
		if zkctl.JSONOutput(c) {
			out = fmt.Appendf(out, "{\"id\":%d}\n", id)
		} else {
			out = strconv.AppendInt(out, id, 10)
			out = append(out, '\n')
		}
	}
	_, err = io.Out.Write(out)
	return err
}
