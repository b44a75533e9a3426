package electcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

// Commands is `zkctl elect` and its subcommands.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{electCommand(io)} }

// electCommand is `zkctl elect`: run a command while leader.
func electCommand(io zkctl.Streams) *cli.Command {
	// A flag keeps what it parsed: each command gets its own.
	layout := func() cli.Flag {
		return &cli.StringFlag{Name: "layout", Value: "curator",
			Usage: "node names: curator (one election with Curator's LeaderLatch) or kazoo (with kazoo's Election)"}
	}
	return &cli.Command{
		Name:  "elect",
		Usage: "run a command while leader of an election (or hold leadership until interrupted)",
		Description: "Campaigns in the election at PATH, runs COMMAND while leader with ZKCTL_ELECTION_PATH\n" +
			"and ZKCTL_LEADER_TOKEN (the term's fencing token) in its environment, resigns when COMMAND\n" +
			"exits, and exits with COMMAND's status. If leadership is lost while COMMAND runs, its\n" +
			"group gets SIGTERM, then SIGKILL after --grace, and zkctl exits 124. zkctl's own failures exit\n" +
			"125; a COMMAND that cannot run, 126; one that is not found, 127. Without COMMAND it prints\n" +
			"the token and leads until interrupted, then resigns and exits 130.\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "this candidate's id, the node's data unless --value is given (default: host-pid)"},
			&cli.StringFlag{Name: "value", Usage: "the leader's value, the node's data (shown by elect leader and observe)"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up campaigning after this long (0: wait forever)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL when leadership is lost"},
			&cli.BoolFlag{Name: "wait-expiry", Usage: "stay leader while the connection is suspended; step down only when the session expires"},
			layout(),
		},
		Subcommands: []*cli.Command{{
			Name:      "leader",
			Usage:     "print the current leader",
			ArgsUsage: "PATH",
			Flags:     []cli.Flag{layout()},
			Action:    func(c *cli.Context) error { return electLeader(c, io) },
		}, {
			Name:      "observe",
			Usage:     "print the leader now and at every change until interrupted (exit 130; NDJSON with -o json)",
			ArgsUsage: "PATH",
			Flags:     []cli.Flag{layout()},
			Action:    func(c *cli.Context) error { return electObserve(c, io) },
		}, {
			Name:      "participants",
			Usage:     "list the candidates, the leader first",
			ArgsUsage: "PATH",
			Flags:     []cli.Flag{layout()},
			Action:    func(c *cli.Context) error { return electParticipants(c, io) },
		}},
		Action: func(c *cli.Context) error { return electRun(c, io) },
	}
}

func electOptions(c *cli.Context) ([]election.Option, error) {
	var opts []election.Option
	switch c.String("layout") {
	case "curator":
		opts = append(opts, election.WithLayout(election.Curator))
	case "kazoo":
		opts = append(opts, election.WithLayout(election.Kazoo))
	default:
		return nil, zkctl.Usagef("--layout %q: want curator or kazoo", c.String("layout"))
	}
	return opts, nil
}

// candidateValue is the data of this candidate's node: --value, else --id,
// else host-pid (Curator's LeaderLatch keeps its id there).
func candidateValue(c *cli.Context) []byte {
	if c.IsSet("value") {
		return []byte(c.String("value"))
	}
	if id := c.String("id"); id != "" {
		return []byte(id)
	}
	host, _ := os.Hostname()
	return fmt.Appendf(nil, "%s-%d", host, os.Getpid())
}

// termLease adapts a leadership term to held: its release is Resign.
type termLease struct{ *election.Term }

func (t termLease) Unlock(ctx context.Context) error { return t.Resign(ctx) }

func electRun(c *cli.Context, io zkctl.Streams) error {
	opts, err := electOptions(c)
	if err != nil {
		return err
	}
	opts = append(opts, election.WithValue(candidateValue(c)))
	if c.Bool("wait-expiry") {
		opts = append(opts, election.WithLossPolicy(election.OnLost))
	}
	return zkctl.HoldAndRun(c, io, zkctl.HoldSpec{
		What:    "elect",
		Waiting: "campaigning in",
		EnvPath: "ZKCTL_ELECTION_PATH", EnvToken: "ZKCTL_LEADER_TOKEN",
		Take: func(ctx context.Context, s backend.Session, path string) (zkctl.Held, error) {
			e, err := election.New(s, path, opts...)
			if err != nil {
				return nil, zkctl.UsageError{Err: err}
			}
			t, err := e.Campaign(ctx)
			if err != nil {
				return nil, err
			}
			return termLease{t}, nil
		},
	})
}

// electionAt opens the session and the election named by the one argument.
func electionAt(c *cli.Context) (context.Context, *election.Election, func(), error) {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return nil, nil, nil, err
	}
	opts, err := electOptions(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, nil, err
	}
	e, err := election.New(s, p, opts...)
	if err != nil {
		done()
		return nil, nil, nil, zkctl.UsageError{Err: err}
	}
	return ctx, e, done, nil
}

// candidateJSON is how -o json prints a candidate.
func candidateJSON(cd election.Candidate) map[string]any {
	if cd.Path == "" {
		return map[string]any{"leader": nil}
	}
	return map[string]any{"leader": cd.Leader, "node": cd.Name, "value": string(cd.Value), "token": cd.Token,
		"session": fmt.Sprintf("%#x", cd.Owner), "created": cd.Created}
}

func electLeader(c *cli.Context, io zkctl.Streams) error {
	ctx, e, done, err := electionAt(c)
	if err != nil {
		return err
	}
	defer done()
	cd, err := e.Leader(ctx)
	if errors.Is(err, election.ErrNoLeader) {
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: err}
	}
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, candidateJSON(cd))
	}
	_, err = fmt.Fprintf(io.Out, "%s\ttoken %d\t%s\n", cd.Value, cd.Token, cd.Name)
	return err
}

func electObserve(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	opts, err := electOptions(c)
	if err != nil {
		return err
	}
	// Observe runs until interrupted: no request timeout around it.
	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	s, err := client.Session(c.Context)
	if err != nil {
		return err
	}
	e, err := election.New(s, p, opts...)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	for cd := range e.Observe(c.Context) {
		if zkctl.JSONOutput(c) {
			err = zkctl.Emit(io.Out, candidateJSON(cd))
		} else if cd.Path == "" {
			_, err = fmt.Fprintf(io.Out, "%s\tno leader\n", time.Now().Format(time.RFC3339Nano))
		} else {
			_, err = fmt.Fprintf(io.Out, "%s\t%s\ttoken %d\t%s\n", time.Now().Format(time.RFC3339Nano), cd.Value, cd.Token, cd.Name)
		}
		if err != nil {
			return err
		}
	}
	if c.Context.Err() != nil {
		return zkctl.StatusError{Code: zkctl.ExitInterrupted} // the way to end it
	}
	if err := s.Err(); err != nil {
		return err
	}
	return nil
}

func electParticipants(c *cli.Context, io zkctl.Streams) error {
	ctx, e, done, err := electionAt(c)
	if err != nil {
		return err
	}
	defer done()
	cs, err := e.Participants(ctx)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		for _, cd := range cs {
			if err := zkctl.Emit(io.Out, candidateJSON(cd)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tNODE\tSESSION\tTOKEN\tAGE\tVALUE")
	for _, cd := range cs {
		role := "candidate"
		if cd.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%#x\t%d\t%s\t%s\n", role, cd.Name, cd.Owner, cd.Token, time.Since(cd.Created).Round(time.Millisecond), cd.Value)
	}
	return tw.Flush()
}
