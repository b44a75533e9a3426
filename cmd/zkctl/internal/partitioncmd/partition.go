package partitioncmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/partition"
)

// Commands is `zkctl partition` and its subcommands.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{partitionCommand(io)} }

// partitionCommand is `zkctl partition`: look at a partitioned group.
func partitionCommand(io zkctl.Streams) *cli.Command {
	quiet := func(what string) cli.Flag {
		return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the " + what + " only"}
	}
	return &cli.Command{
		Name:  "partition",
		Usage: "look at a group sharing items (partitions, shards) among its members",
		Description: "Read-only views of a recipes/partition group at PATH, in its own layout (members/,\n" +
			"owners/) or kazoo's SetPartitioner layout (party/, locks/), found by what PATH holds.\n" +
			"A PATH with neither is exit 3.",
		Subcommands: []*cli.Command{
			{
				Name: "members", Usage: "list the group's members: id, session, joined, node", ArgsUsage: "PATH",
				Flags:  []cli.Flag{quiet("member ids")},
				Action: func(c *cli.Context) error { return members(c, io) },
			},
			{
				Name: "owners", Usage: "list the owned items: item, owner, fencing token, node (items with no owner are left out)", ArgsUsage: "PATH",
				Flags:  []cli.Flag{quiet("items and their owners")},
				Action: func(c *cli.Context) error { return owners(c, io) },
			},
		},
	}
}

// open opens the session for a command on the group at its one argument.
func open(c *cli.Context) (context.Context, backend.Session, string, func(), error) {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return nil, nil, "", nil, err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, "", nil, err
	}
	return ctx, s, p, done, nil
}

// groupErr makes a path that holds no group exit 3, as a missing node.
func groupErr(err error) error {
	if errors.Is(err, partition.ErrNoGroup) {
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: err}
	}
	return err
}

// timeText is how text output shows a time: UTC, to the millisecond.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// memberJSON is how -o json prints a member.
type memberJSON struct {
	ID      string     `json:"id"`
	Session string     `json:"session"`
	Joined  *time.Time `json:"joined,omitempty"`
	Node    string     `json:"node"`
}

func members(c *cli.Context, io zkctl.Streams) error {
	ctx, s, p, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	ms, err := partition.Members(ctx, s, p)
	if err != nil {
		return groupErr(err)
	}
	return zkctl.PrintList(c, io.Out, ms, zkctl.Listing[partition.MemberInfo]{
		Header: "ID\tSESSION\tJOINED\tNODE",
		Quiet:  func(m partition.MemberInfo) string { return m.ID },
		JSON: func(m partition.MemberInfo) any {
			j := memberJSON{ID: m.ID, Session: fmt.Sprintf("%#x", m.Session), Node: m.Node}
			if !m.Joined.IsZero() {
				joined := m.Joined.UTC()
				j.Joined = &joined
			}
			return j
		},
		Row: func(m partition.MemberInfo) string {
			return fmt.Sprintf("%s\t%#x\t%s\t%s", m.ID, m.Session, timeText(m.Joined), m.Node)
		},
	})
}

// ownerJSON is how -o json prints an owned item.
type ownerJSON struct {
	Item   string `json:"item"`
	Member string `json:"member"`
	Token  int64  `json:"token"`
	Node   string `json:"node"`
}

func owners(c *cli.Context, io zkctl.Streams) error {
	ctx, s, p, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	owned, err := partition.Owners(ctx, s, p)
	if err != nil {
		return groupErr(err)
	}
	return zkctl.PrintList(c, io.Out, owned, zkctl.Listing[partition.OwnerInfo]{
		Header: "ITEM\tMEMBER\tTOKEN\tNODE",
		Quiet:  func(o partition.OwnerInfo) string { return o.Item + " " + dash(o.Member) },
		JSON:   func(o partition.OwnerInfo) any { return ownerJSON{o.Item, o.Member, o.Token, o.Node} },
		Row: func(o partition.OwnerInfo) string {
			return fmt.Sprintf("%s\t%s\t%d\t%s", o.Item, dash(o.Member), o.Token, o.Node)
		},
	})
}

// dash shows an owner whose session is no member's as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
