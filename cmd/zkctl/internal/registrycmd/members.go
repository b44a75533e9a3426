package registrycmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// layouts are the group layouts, in the order help names them.
var layouts = []registry.Layout{registry.Curator, registry.KazooParty, registry.KazooShallowParty}

// layoutNames names the layouts for help and errors.
func layoutNames() string {
	var names []string
	for _, l := range layouts {
		names = append(names, l.String())
	}
	return strings.Join(names, ", ")
}

// membersCommand is `zkctl members`.
func membersCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the members of a group (Curator GroupMember, kazoo Party and ShallowParty)",
		Description: "Reads the group at PATH as recipes/registry's Group does and prints each member: its id,\n" +
			"the layout its node was written in, and its data (quoted when it is not printable text on\n" +
			"one line). The three layouts are read alike:\n" +
			"Curator GroupMember's PATH/<id> (data the payload), kazoo Party's PATH/<uuid>__party__\n" +
			"(data the id) and kazoo ShallowParty's PATH/<uuid>-<id>. --layout keeps the members of\n" +
			"one layout only. -o json prints one object per member: id, node, layout and data (as in\n" +
			"get -o json). A PATH that does not exist exits 3.",
		ArgsUsage: "PATH",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "layout", Usage: "list only the members of this layout: " + layoutNames()},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the ids only"},
		},
		Action: func(c *cli.Context) error { return members(c, io) },
	}
}

// memberJSON is one member as members -o json prints it.
type memberJSON struct {
	ID     string `json:"id"`
	Node   string `json:"node"`
	Layout string `json:"layout"`
	zkctl.NodeJSON
}

func members(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	var only registry.Layout
	if c.IsSet("layout") {
		for _, l := range layouts {
			if l.String() == c.String("layout") {
				only = l
			}
		}
		if only == 0 {
			return zkctl.Usagef("members: --layout %q: want one of %s", c.String("layout"), layoutNames())
		}
	}
	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	defer cancel()
	g, err := registry.NewGroup(client, p)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	defer g.Close()
	if err := g.Start(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			return zkctl.NoSession(c, c.Duration("request-timeout"))
		}
		return err
	}
	all := g.Members()
	if len(all) == 0 {
		// An empty group and no group read alike: tell them apart.
		s, err := client.Session(ctx)
		if err != nil {
			return err
		}
		st, err := s.Exists(ctx, p)
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("members %s: %w", p, backend.ErrNoNode)
		}
	}
	var rows []registry.GroupMember
	for _, m := range all {
		if only == 0 || m.Layout == only {
			rows = append(rows, m)
		}
	}
	return zkctl.PrintList(c, io.Out, rows, zkctl.Listing[registry.GroupMember]{
		Header: "ID\tLAYOUT\tDATA",
		Quiet:  func(m registry.GroupMember) string { return m.ID },
		JSON: func(m registry.GroupMember) any {
			j := memberJSON{ID: m.ID, Node: m.Node, Layout: m.Layout.String()}
			zkctl.DataJSON(&j.NodeJSON, m.Data)
			j.Path = backend.Join(p, m.Node)
			return j
		},
		Row: func(m registry.GroupMember) string { return fmt.Sprintf("%s\t%s\t%s", m.ID, m.Layout, text(m.Data)) },
	})
}

// text is data as the table shows it: as it is when it is printable UTF-8
// on one line, else quoted with Go's escapes.
func text(data []byte) string {
	s := string(data)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return strconv.Quote(s)
}
