package tree

import (
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// Commands are the tree commands: ls, get, set, create, rm, stat, then
// tree, find and grep.
func Commands(io zkctl.Streams) []*cli.Command {
	return append(nodeCommands(io), viewCommands(io)...)
}

// nodeCommands are the commands that read and write nodes.
func nodeCommands(io zkctl.Streams) []*cli.Command {
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
			Description: "Creates PATH with DATA (empty when absent; - reads stdin) and prints the path\n" +
				"created (with its sequence suffix for -s). An ephemeral node (-e) belongs to\n" +
				"zkctl's own session, which ends when this command exits: the node is removed at\n" +
				"once, so -e is only useful to test that a create would succeed. Hold an ephemeral\n" +
				"node from a process that stays (zkctl shell, or a program of your own).",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "ephemeral", Aliases: []string{"e"}, Usage: "ephemeral: removed when zkctl's session ends, that is when this command exits"},
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

// dataArg reads the data argument: "-" is stdin.
func dataArg(c *cli.Context, io zkctl.Streams, i int) ([]byte, error) {
	args, err := zkctl.Positional(c)
	if err != nil {
		return nil, err
	}
	if len(args) <= i {
		return nil, nil
	}
	if a := args[i]; a != "-" {
		return []byte(a), nil
	}
	b, err := readAll(io.In)
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

func ls(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
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
	if !c.Bool("recursive") && !c.Bool("long") && !zkctl.JSONOutput(c) {
		// Names only: one call.
		kids, _, err := s.Children(ctx, p)
		if err != nil {
			return err
		}
		slices.Sort(kids)
		for _, k := range kids {
			entries = append(entries, entry{path: backend.Join(p, k), name: k})
		}
	} else {
		// Stats or the subtree: read the children (and below) many at a time.
		opts := walk.Options{}
		if !c.Bool("recursive") {
			opts.Limit = func(tn walk.Node) bool { return tn.Depth < 1 }
		}
		nodes, err := walk.Tree(ctx, s, p, opts)
		if err != nil {
			return err
		}
		for _, n := range nodes[1:] { // nodes[0] is p itself
			entries = append(entries, entry{path: n.Path, name: path.Base(n.Path), st: n.Stat})
		}
	}
	if zkctl.JSONOutput(c) {
		for _, e := range entries {
			st := zkctl.ToStatJSON(e.st)
			if err := zkctl.Emit(io.Out, zkctl.NodeJSON{Path: e.path, Stat: &st}); err != nil {
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
			fmt.Fprintln(io.Out, name(e))
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
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

func get(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	data, st, err := s.Get(ctx, p)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		n := zkctl.NodeJSON{Path: p}
		zkctl.DataJSON(&n, data)
		if c.Bool("stat") {
			sj := zkctl.ToStatJSON(st)
			n.Stat = &sj
		}
		return zkctl.Emit(io.Out, n)
	}
	if _, err := io.Out.Write(data); err != nil {
		return err
	}
	if !c.Bool("raw") && (len(data) == 0 || data[len(data)-1] != '\n') {
		fmt.Fprintln(io.Out)
	}
	if c.Bool("stat") {
		zkctl.PrintStat(io.Out, st)
	}
	return nil
}

func set(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 2, 2)
	if err != nil {
		return err
	}
	version, err := versionFlag(c)
	if err != nil {
		return err
	}
	data, err := dataArg(c, io, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	st, err := s.Set(ctx, p, data, version)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		sj := zkctl.ToStatJSON(st)
		return zkctl.Emit(io.Out, zkctl.NodeJSON{Path: p, Stat: &sj})
	}
	return nil
}

func create(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 2)
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
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	created, err := s.Create(ctx, p, data, mode, opts...)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, zkctl.NodeJSON{Path: created})
	}
	fmt.Fprintln(io.Out, created)
	return nil
}

// versionFlag reads -v: a node version (0 or more), or -1 for any.
func versionFlag(c *cli.Context) (int32, error) {
	v := c.Int("version")
	if v < -1 || v > math.MaxInt32 {
		return 0, zkctl.Usagef("%s: --version %d: want a node version (0 to %d), or -1 for any", c.Command.Name, v, math.MaxInt32)
	}
	return int32(v), nil
}

// modeFlags turns -e, -s, -c and --ttl into a mode, refusing combinations
// no server has.
func modeFlags(c *cli.Context) (backend.Mode, error) {
	e, s, ct, ttl := c.Bool("ephemeral"), c.Bool("sequential"), c.Bool("container"), c.Duration("ttl") > 0
	switch {
	case ct && (e || s || ttl):
		return 0, zkctl.Usagef("--container goes with no other mode flag")
	case ttl && e:
		return 0, zkctl.Usagef("--ttl and --ephemeral do not go together")
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

func rm(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	version, err := versionFlag(c)
	if err != nil {
		return err
	}
	if c.Bool("recursive") && version != backend.AnyVersion {
		return zkctl.Usagef("rm: --recursive and --version do not go together")
	}
	ctx, s, done, err := zkctl.Session(c)
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
		err = walk.Remove(ctx, s, p, walk.DefaultWorkers)
	} else {
		err = s.Delete(ctx, p, version)
	}
	if err != nil || !zkctl.JSONOutput(c) {
		return err
	}
	return zkctl.Emit(io.Out, struct {
		Path    string `json:"path"`
		Deleted bool   `json:"deleted"`
	}{p, true})
}

func stat(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
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
	if zkctl.JSONOutput(c) {
		sj := zkctl.ToStatJSON(*st)
		return zkctl.Emit(io.Out, zkctl.NodeJSON{Path: p, Stat: &sj})
	}
	zkctl.PrintStat(io.Out, *st)
	return nil
}
