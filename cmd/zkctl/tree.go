package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
)

// treeCommands are the commands that read and write the tree.
func treeCommands(io streams) []*cli.Command {
	return []*cli.Command{
		{
			Name: "ls", Usage: "list the children of a node", ArgsUsage: "PATH",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "list the whole subtree, as paths"},
				&cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "show size, children, version and ephemeral owner"},
			},
			Action: func(c *cli.Context) error { return ls(c, io) },
		},
		{
			Name: "get", Usage: "print a node's data", ArgsUsage: "PATH",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "stat", Usage: "print the stat after the data"},
				&cli.BoolFlag{Name: "raw", Usage: "print the data exactly, without a trailing newline"},
			},
			Action: func(c *cli.Context) error { return get(c, io) },
		},
		{
			Name: "set", Usage: "set a node's data (- reads stdin)", ArgsUsage: "PATH DATA|-",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "version", Aliases: []string{"v"}, Value: -1, Usage: "only if the node has this version"}},
			Action: func(c *cli.Context) error { return set(c, io) },
		},
		{
			Name: "create", Usage: "create a node (- reads stdin)", ArgsUsage: "PATH [DATA|-]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "ephemeral", Aliases: []string{"e"}, Usage: "ephemeral: removed when zkctl's session ends (at once, for this command)"},
				&cli.BoolFlag{Name: "sequential", Aliases: []string{"s"}, Usage: "append a 10-digit sequence number"},
				&cli.BoolFlag{Name: "container", Aliases: []string{"c"}, Usage: "container node: removed after its last child"},
				&cli.DurationFlag{Name: "ttl", Usage: "TTL node: removed when childless and unmodified this long"},
				&cli.BoolFlag{Name: "parents", Aliases: []string{"p"}, Usage: "create missing parents"},
			},
			Action: func(c *cli.Context) error { return create(c, io) },
		},
		{
			Name: "rm", Usage: "delete a node", ArgsUsage: "PATH",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "delete the whole subtree"},
				&cli.IntFlag{Name: "version", Aliases: []string{"v"}, Value: -1, Usage: "only if the node has this version"},
			},
			Action: func(c *cli.Context) error { return rm(c, io) },
		},
		{
			Name: "stat", Usage: "print a node's stat", ArgsUsage: "PATH",
			Action: func(c *cli.Context) error { return stat(c, io) },
		},
	}
}

// pathArgs checks that the command got exactly n arguments and that the first is a path.
func pathArgs(c *cli.Context, min, max int) (string, error) {
	if n := c.NArg(); n < min || n > max {
		return "", usagef("%s: want %s, got %d arguments", c.Command.Name, c.Command.ArgsUsage, n)
	}
	p := c.Args().First()
	if err := backend.ValidatePath(p); err != nil {
		return "", usageError{err}
	}
	return p, nil
}

// dataArg reads the data argument: "-" is stdin.
func dataArg(c *cli.Context, io streams, i int) ([]byte, error) {
	if c.NArg() <= i {
		return nil, nil
	}
	if a := c.Args().Get(i); a != "-" {
		return []byte(a), nil
	}
	b, err := readAll(io.in)
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return b, nil
}

func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

func ls(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	type entry struct {
		path string
		name string
		st   backend.Stat
	}
	var entries []entry
	var walk func(dir string) error
	walk = func(dir string) error {
		kids, _, err := s.Children(ctx, dir)
		if err != nil {
			return err
		}
		slices.Sort(kids)
		for _, k := range kids {
			child := backend.Join(dir, k)
			e := entry{path: child, name: k}
			if c.Bool("long") || jsonOut(c) {
				st, err := s.Exists(ctx, child)
				if err != nil {
					return err
				}
				if st == nil {
					continue // gone meanwhile
				}
				e.st = *st
			}
			entries = append(entries, e)
			if c.Bool("recursive") {
				if err := walk(child); err != nil && !errors.Is(err, backend.ErrNoNode) {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(p); err != nil {
		return err
	}
	if jsonOut(c) {
		for _, e := range entries {
			st := toStatJSON(e.st)
			if err := emit(io.out, nodeJSON{Path: e.path, Stat: &st}); err != nil {
				return err
			}
		}
		return nil
	}
	name := func(e entry) string {
		if c.Bool("recursive") {
			return e.path
		}
		return e.name
	}
	if !c.Bool("long") {
		for _, e := range entries {
			fmt.Fprintln(io.out, name(e))
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tCHILDREN\tVERSION\tEPHEMERAL_OWNER")
	for _, e := range entries {
		owner := "-"
		if e.st.EphemeralOwner != 0 {
			owner = fmt.Sprintf("%#x", e.st.EphemeralOwner)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", name(e), e.st.DataLength, e.st.NumChildren, e.st.Version, owner)
	}
	return tw.Flush()
}

func get(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	data, st, err := s.Get(ctx, p)
	if err != nil {
		return err
	}
	if jsonOut(c) {
		n := nodeJSON{Path: p}
		dataJSON(&n, data)
		if c.Bool("stat") {
			sj := toStatJSON(st)
			n.Stat = &sj
		}
		return emit(io.out, n)
	}
	if _, err := io.out.Write(data); err != nil {
		return err
	}
	if !c.Bool("raw") && (len(data) == 0 || data[len(data)-1] != '\n') {
		fmt.Fprintln(io.out)
	}
	if c.Bool("stat") {
		printStat(io.out, st)
	}
	return nil
}

func set(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 2, 2)
	if err != nil {
		return err
	}
	data, err := dataArg(c, io, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	st, err := s.Set(ctx, p, data, int32(c.Int("version")))
	if err != nil {
		return err
	}
	if jsonOut(c) {
		sj := toStatJSON(st)
		return emit(io.out, nodeJSON{Path: p, Stat: &sj})
	}
	return nil
}

func create(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 2)
	if err != nil {
		return err
	}
	data, err := dataArg(c, io, 1)
	if err != nil {
		return err
	}
	mode, err := modeFlags(c)
	if err != nil {
		return err
	}
	var opts []backend.CreateOption
	if ttl := c.Duration("ttl"); ttl > 0 {
		opts = append(opts, backend.WithTTL(ttl))
	}
	if c.Bool("parents") {
		opts = append(opts, backend.WithParents(backend.Persistent))
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	created, err := s.Create(ctx, p, data, mode, opts...)
	if err != nil {
		return err
	}
	if jsonOut(c) {
		return emit(io.out, nodeJSON{Path: created})
	}
	fmt.Fprintln(io.out, created)
	return nil
}

// modeFlags turns -e, -s, -c and --ttl into a mode, refusing combinations
// no server has.
func modeFlags(c *cli.Context) (backend.Mode, error) {
	e, s, ct, ttl := c.Bool("ephemeral"), c.Bool("sequential"), c.Bool("container"), c.Duration("ttl") > 0
	switch {
	case ct && (e || s || ttl):
		return 0, usagef("--container goes with no other mode flag")
	case ttl && e:
		return 0, usagef("--ttl and --ephemeral do not go together")
	case ct:
		return backend.Container, nil
	case ttl && s:
		return backend.PersistentSequentialTTL, nil
	case ttl:
		return backend.PersistentTTL, nil
	case e && s:
		return backend.EphemeralSequential, nil
	case e:
		return backend.Ephemeral, nil
	case s:
		return backend.PersistentSequential, nil
	}
	return backend.Persistent, nil
}

func rm(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	if c.Bool("recursive") && c.Int("version") != -1 {
		return usagef("rm: --recursive and --version do not go together")
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	if c.Bool("recursive") {
		if st, err := s.Exists(ctx, p); err != nil {
			return err
		} else if st == nil {
			return backend.Errorf("rm", p, backend.ErrNoNode, nil)
		}
		return backend.DeleteAll(ctx, s, p)
	}
	return s.Delete(ctx, p, int32(c.Int("version")))
}

func stat(c *cli.Context, io streams) error {
	p, err := pathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := session(c)
	if err != nil {
		return err
	}
	defer done()
	st, err := s.Exists(ctx, p)
	if err != nil {
		return err
	}
	if st == nil {
		return backend.Errorf("stat", p, backend.ErrNoNode, nil)
	}
	if jsonOut(c) {
		sj := toStatJSON(*st)
		return emit(io.out, nodeJSON{Path: p, Stat: &sj})
	}
	printStat(io.out, *st)
	return nil
}
