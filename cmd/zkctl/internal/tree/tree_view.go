package tree

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// viewCommands are tree, find and grep: commands that read a whole subtree.
func viewCommands(io zkctl.Streams) []*cli.Command {
	workers := &cli.IntFlag{Name: "workers", Value: walk.DefaultWorkers, Usage: "calls in flight at once"}
	return []*cli.Command{
		{
			Name: "tree", Usage: "print a subtree, indented, with data sizes", ArgsUsage: "[PATH]",
			Description: "Prints every node under PATH (default /), one per line, indented two spaces per\n" +
				"level, with its data size in bytes and, when it has any, its number of children.\n" +
				"With -o json, one object per node: path, depth, size, children.",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "depth", Aliases: []string{"d"}, Usage: "descend at most this many levels (0: no limit)"},
				workers,
			},
			Action: func(c *cli.Context) error { return treeCmd(c, io) },
		},
		{
			Name: "find", Usage: "print the paths under ROOT whose name matches a glob", ArgsUsage: "ROOT",
			Description: "GLOB is matched against each node's name (its last path component) with\n" +
				"path.Match rules: * ? [a-z] and \\ escapes. Without --name every node is printed.\n" +
				"No match is not an error (exit 0).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Usage: "glob the node's name must match"},
				workers,
			},
			Action: func(c *cli.Context) error { return find(c, io) },
		},
		{
			Name: "grep", Usage: "search node data under ROOT with a regular expression", ArgsUsage: "ROOT PATTERN",
			Description: "PATTERN is a Go regular expression (RE2) matched line by line against the data\n" +
				"of every node under ROOT. Prints PATH: LINE for each matching line, or with -l each\n" +
				"matching path once. Data that is not UTF-8 is matched as a whole and reported as\n" +
				"\"PATH: binary data matches\". No match is not an error (exit 0).",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "files-with-matches", Aliases: []string{"l"}, Usage: "print only the paths of matching nodes"},
				&cli.BoolFlag{Name: "ignore-case", Aliases: []string{"i"}, Usage: "match without regard to case"},
				workers,
			},
			Action: func(c *cli.Context) error { return grep(c, io) },
		},
	}
}

func treeCmd(c *cli.Context, io zkctl.Streams) error {
	root, err := zkctl.RootArg(c, 0, 1, "/")
	if err != nil {
		return err
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	depth := c.Int("depth")
	if depth < 0 {
		return zkctl.Usagef("tree: --depth %d: want 0 or more", depth)
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	opts := walk.Options{Workers: c.Int("workers")}
	if depth > 0 {
		opts.Limit = func(tn walk.Node) bool { return tn.Depth < depth }
	}
	nodes, err := walk.Tree(ctx, s, root, opts)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(io.Out)
	for _, n := range nodes {
		if zkctl.JSONOutput(c) {
			if err := zkctl.Emit(w, struct {
				Path     string `json:"path"`
				Depth    int    `json:"depth"`
				Size     int32  `json:"size"`
				Children int32  `json:"children"`
			}{n.Path, n.Depth, n.Stat.DataLength, n.Stat.NumChildren}); err != nil {
				return err
			}
			continue
		}
		name := n.Path
		if n.Depth > 0 {
			name = path.Base(n.Path)
		}
		fmt.Fprintf(w, "%s%s [%d B", strings.Repeat("  ", n.Depth), name, n.Stat.DataLength)
		if n.Stat.NumChildren > 0 {
			fmt.Fprintf(w, ", %d children", n.Stat.NumChildren)
		}
		if n.Stat.EphemeralOwner != 0 {
			fmt.Fprint(w, ", ephemeral")
		}
		fmt.Fprintln(w, "]")
	}
	return w.Flush()
}

func find(c *cli.Context, io zkctl.Streams) error {
	root, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	glob := c.String("name")
	if glob != "" {
		if _, err := path.Match(glob, ""); err != nil {
			return zkctl.Usagef("find: --name %q: %v", glob, err)
		}
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	nodes, err := walk.Tree(ctx, s, root, walk.Options{Workers: c.Int("workers")})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(io.Out)
	for _, n := range nodes {
		if glob != "" {
			if ok, _ := path.Match(glob, path.Base(n.Path)); !ok {
				continue
			}
		}
		if zkctl.JSONOutput(c) {
			if err := zkctl.Emit(w, zkctl.NodeJSON{Path: n.Path}); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(w, n.Path)
		}
	}
	return w.Flush()
}

func grep(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 2 {
		return zkctl.Usagef("grep: want ROOT PATTERN, got %d arguments", len(args))
	}
	root := args[0]
	if err := backend.ValidatePath(root); err != nil {
		return zkctl.UsageError{Err: err}
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	pattern := args[1]
	if c.Bool("ignore-case") {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return zkctl.Usagef("grep: pattern: %v", err)
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	nodes, err := walk.Tree(ctx, s, root, walk.Options{Data: true, Workers: c.Int("workers")})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(io.Out)
	only := c.Bool("files-with-matches")
	type match struct {
		Path   string `json:"path"`
		Line   *int   `json:"line,omitempty"` // 1-based
		Text   string `json:"text,omitempty"`
		Binary bool   `json:"binary,omitempty"`
	}
	out := func(m match) error {
		if zkctl.JSONOutput(c) {
			return zkctl.Emit(w, m)
		}
		switch {
		case only:
			fmt.Fprintln(w, m.Path)
		case m.Binary:
			fmt.Fprintf(w, "%s: binary data matches\n", m.Path)
		default:
			fmt.Fprintf(w, "%s: %s\n", m.Path, m.Text)
		}
		return nil
	}
	for _, n := range nodes {
		if !utf8.Valid(n.Data) {
			if re.Match(n.Data) {
				if err := out(match{Path: n.Path, Binary: !only}); err != nil {
					return err
				}
			}
			continue
		}
		for i, line := range bytes.Split(n.Data, []byte("\n")) {
			if !re.Match(line) {
				continue
			}
			m := match{Path: n.Path}
			if !only {
				ln := i + 1
				m.Line, m.Text = &ln, string(line)
			}
			if err := out(m); err != nil {
				return err
			}
			if only {
				break
			}
		}
	}
	return w.Flush()
}
