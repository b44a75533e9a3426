package configcmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/config"
)

// Commands is `zkctl config`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{configCommand(io)} }

// authorFlag is --author, on every command that publishes (a flag of its
// own for each: a flag keeps what it parsed).
func authorFlag() cli.Flag {
	return &cli.StringFlag{Name: "author", Usage: "who publishes, as the key's history records it (default: nobody named)"}
}

// formats are the values of watch --format: what a value must be to be
// applied.
var formats = []string{"raw", "json", "yaml", "toml", "properties"}

func configCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "read, publish, roll back and watch configuration values (recipes/config)",
		Description: "A key of recipes/config's configuration center is a node whose data is the value, as\n" +
			"published (Dubbo, Curator and kazoo read it as it is). Each publish also writes a history\n" +
			"record (PATH/.history/v-<version>: version, time, --author, batch) in the same\n" +
			"transaction; the last 10 are kept. A key's ticket is its node's version when read, or\n" +
			"\"absent\" when it does not exist: cas publishes only at that ticket (Dubbo's\n" +
			"publishConfigCas). VALUE - reads the value from stdin.\n\n" +
			"Exit codes: 3 when the key (get) or the version (rollback --to) does not exist, 4 when\n" +
			"cas finds the key changed since its ticket was read, 2 for bad arguments (a path,\n" +
			"ticket, version or FILE zkctl cannot use).",
		Subcommands: []*cli.Command{
			{
				Name:  "get",
				Usage: "print a key's value as it is (exit 3 when the key does not exist)",
				Description: "Prints the value's bytes as they are, with nothing added. With -o json, one object: path,\n" +
					"value (as text when it is UTF-8, else base64 with \"encoding\":\"base64\"), ticket (the\n" +
					"version, or \"absent\": what cas --ticket takes) and exists. A key that does not exist\n" +
					"prints nothing (-o json: exists false, ticket \"absent\") and exits 3.",
				ArgsUsage: "PATH",
				Action:    func(c *cli.Context) error { return get(c, io) },
			},
			{
				Name:  "set",
				Usage: "publish a value (created with its parents when missing) and print its ticket",
				Description: "Publishes VALUE (empty when absent; - reads stdin) at PATH, whatever was there, with its\n" +
					"history record in the same transaction, and prints the new ticket.",
				ArgsUsage: "PATH [VALUE|-]",
				Flags:     []cli.Flag{authorFlag()},
				Action:    func(c *cli.Context) error { return set(c, io) },
			},
			{
				Name:  "cas",
				Usage: "publish a value only if the key is still at --ticket (exit 4 if not)",
				Description: "Publishes VALUE (empty when absent; - reads stdin) only if the key's ticket is still\n" +
					"--ticket: the version get printed, or absent to create a key that must not exist yet.\n" +
					"Prints the new ticket. When someone published (or created or deleted the key) since, it\n" +
					"changes nothing, says what the ticket is now and exits 4 (-o json: published false,\n" +
					"expected and current tickets).",
				ArgsUsage: "PATH --ticket N|absent [VALUE|-]",
				Flags: []cli.Flag{authorFlag(),
					&cli.StringFlag{Name: "ticket", Usage: "the ticket the key must still have: a version, or absent (required)"}},
				Action: func(c *cli.Context) error { return cas(c, io) },
			},
			{
				Name:  "history",
				Usage: "list a key's kept publishes, oldest first",
				Description: "Prints one row per publish kept in the key's history: version, time (UTC), author, batch\n" +
					"(the id of the publish-all it was part of), size in bytes, and a note (the version a\n" +
					"rollback published again, the canary a promotion came from). -q prints the versions\n" +
					"only; -o json one object per record, with its value (as get -o json prints it), the\n" +
					"versions of the batch's keys, rollback_of and canary.",
				ArgsUsage: "PATH",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the versions only"}},
				Action:    func(c *cli.Context) error { return history(c, io) },
			},
			{
				Name:  "rollback",
				Usage: "publish a kept version's value again and print the new ticket",
				Description: "Publishes again the value version --to published, as a new version whose history record\n" +
					"says which it rolled back to. A version no longer (or never) in the history exits 3.",
				ArgsUsage: "PATH --to VERSION",
				Flags: []cli.Flag{authorFlag(),
					&cli.Int64Flag{Name: "to", Usage: "the version whose value to publish again (required)"}},
				Action: func(c *cli.Context) error { return rollback(c, io) },
			},
			{
				Name:  "watch",
				Usage: "print each value a subscriber applies, or run COMMAND with each one on its stdin",
				Description: "Follows PATH as a subscriber of recipes/config does: the value when it starts, then every\n" +
					"change, in order, none missed between the first read and the watch, across lost sessions.\n" +
					"While the output (or COMMAND) is slower than the publishes, it skips to the latest value.\n" +
					"Each applied value is printed as it is, followed by a newline when it does not end with\n" +
					"one (-o json: one object per value, as get -o json prints it, exact). A key that does not\n" +
					"exist, or is deleted, is said on stderr (-o json: an object with exists false).\n\n" +
					"--format other than raw checks each value before applying it: one that does not parse\n" +
					"is rejected, said on stderr, and the last good value stays applied. --label gives the\n" +
					"subscriber labels: the canary published for the first of them that has one (PATH/.canary/\n" +
					"LABEL) is applied instead of the key's value (-o json names it in canary; its ticket is\n" +
					"the canary node's version).\n\n" +
					"With -- COMMAND, runs COMMAND instead of printing, once per applied value (the first one\n" +
					"included), one at a time, with the value on its stdin and ZKCTL_CONFIG_PATH,\n" +
					"ZKCTL_CONFIG_TICKET and, for a canary, ZKCTL_CONFIG_CANARY in its environment: a\n" +
					"reload without a restart. A rejected value never reaches it, nor does a deletion. A\n" +
					"COMMAND that fails is reported on stderr and the watch goes on; one that cannot run\n" +
					"ends the watch (126, or 127 when not found). Runs until interrupted, or for --for.\n\n" +
					zkctl.SupervisedDescription,
				ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
				Flags: []cli.Flag{
					&cli.DurationFlag{Name: "for", Usage: "stop after this long, exiting 0 (0: until interrupted)"},
					&cli.StringFlag{Name: "format", Value: "raw", Usage: "what a value must be to be applied: raw (anything), json, yaml, toml or properties"},
					&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL for COMMAND when zkctl is interrupted"},
					&cli.StringSliceFlag{Name: "label", Usage: "a label of this subscriber, in order of preference (repeat it): the canary of the first one that has one is applied instead of the key's value"},
				},
				Action: func(c *cli.Context) error { return watch(c, io) },
			},
			{
				Name:  "publish-all",
				Usage: "publish several keys at once, all or none, from a JSON object of path to value",
				Description: "FILE (- reads stdin) holds one JSON object: each key's path, to its value as a JSON\n" +
					"string, e.g. {\"/app/db\": \"host=a\", \"/app/cache\": \"size=10\"}. Every key is published in\n" +
					"one transaction, each with a history record naming the batch, so a subscriber of\n" +
					"several keys (recipes/config's WatchAll) sees them change together. Prints each key's\n" +
					"new ticket, PATH TICKET, in path order. More than one transaction can carry exits 2.",
				ArgsUsage: "FILE|-",
				Flags:     []cli.Flag{authorFlag()},
				Action:    func(c *cli.Context) error { return publishAll(c, io) },
			},
		},
	}
}

// open opens a configuration center on the command's session (zkctl
// shell's, within one), bounded by --request-timeout, with --author.
func open(c *cli.Context) (context.Context, *config.Center, func(), error) {
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, nil, err
	}
	center, err := config.New(backend.OneSession(s), config.WithAuthor(c.String("author")))
	if err != nil {
		done()
		return nil, nil, nil, zkctl.UsageError{Err: err}
	}
	return ctx, center, func() { _ = center.Close(); done() }, nil
}

// valueArg reads the optional VALUE after PATH: empty when absent, stdin
// for "-".
func valueArg(in io.Reader, args []string) ([]byte, error) {
	if len(args) < 2 {
		return nil, nil
	}
	if args[1] != "-" {
		return []byte(args[1]), nil
	}
	if in == nil {
		return nil, nil
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return b, nil
}

// pathAndValue reads PATH [VALUE|-].
func pathAndValue(c *cli.Context, io zkctl.Streams) (string, []byte, error) {
	p, err := zkctl.PathArgs(c, 1, 2)
	if err != nil {
		return "", nil, err
	}
	args, _ := zkctl.Positional(c)
	v, err := valueArg(io.In, args)
	return p, v, err
}

// valueJSON is a value as get and watch print it under -o json.
type valueJSON struct {
	Path     string  `json:"path"`
	Value    *string `json:"value,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
	Ticket   string  `json:"ticket"`
	Exists   bool    `json:"exists"`
	Canary   string  `json:"canary,omitempty"`
}

// text returns data as text when it is UTF-8, else in base64 with the
// encoding to name.
func text(data []byte) (s, encoding string) {
	if utf8.Valid(data) {
		return string(data), ""
	}
	return base64.StdEncoding.EncodeToString(data), "base64"
}

// newValueJSON returns the value at p with ticket t (absent: no value).
func newValueJSON(p string, value []byte, t config.Ticket) valueJSON {
	v := valueJSON{Path: p, Ticket: t.String(), Exists: t != config.Absent}
	if v.Exists {
		s, enc := text(value)
		v.Value, v.Encoding = &s, enc
	}
	return v
}

func get(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	value, t, err := center.Read(ctx, p)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		err = zkctl.Emit(io.Out, newValueJSON(p, value, t))
	} else {
		_, err = io.Out.Write(value)
	}
	if err != nil {
		return err
	}
	if t == config.Absent {
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: fmt.Errorf("config get %s: no such key", p)}
	}
	return nil
}

// printTicket prints the ticket a publish made.
func printTicket(c *cli.Context, io zkctl.Streams, p string, t config.Ticket) error {
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": p, "ticket": t.String()})
	}
	_, err := fmt.Fprintln(io.Out, t)
	return err
}

func set(c *cli.Context, io zkctl.Streams) error {
	p, value, err := pathAndValue(c, io)
	if err != nil {
		return err
	}
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	t, err := center.Publish(ctx, p, value)
	if err != nil {
		return err
	}
	return printTicket(c, io, p, t)
}

func cas(c *cli.Context, io zkctl.Streams) error {
	p, value, err := pathAndValue(c, io)
	if err != nil {
		return err
	}
	if !c.IsSet("ticket") {
		return zkctl.Usagef("config cas: --ticket is required: the version get printed, or absent")
	}
	want, err := config.ParseTicket(c.String("ticket"))
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	t, err := center.CompareAndPublish(ctx, p, value, want)
	switch {
	case errors.Is(err, config.ErrConflict):
		// Say what the ticket is now, so that the caller can read and try again.
		now := "unknown"
		if _, cur, rerr := center.Read(ctx, p); rerr == nil {
			now = cur.String()
		}
		if zkctl.JSONOutput(c) {
			_ = zkctl.Emit(io.Out, map[string]any{"path": p, "published": false, "expected": want.String(), "current": now})
		}
		return zkctl.StatusError{Code: zkctl.ExitConflict, Err: fmt.Errorf("config cas %s: ticket %s is stale, the key's ticket is now %s: %w", p, want, now, err)}
	case err != nil:
		return err
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": p, "published": true, "ticket": t.String()})
	}
	_, err = fmt.Fprintln(io.Out, t)
	return err
}

// recordJSON is a history record as history -o json prints it.
type recordJSON struct {
	Version    int32            `json:"version"`
	Time       string           `json:"time"`
	Author     string           `json:"author,omitempty"`
	Batch      string           `json:"batch,omitempty"`
	Keys       map[string]int32 `json:"keys,omitempty"`
	RollbackOf *int32           `json:"rollback_of,omitempty"`
	Canary     string           `json:"canary,omitempty"`
	Size       int              `json:"size"`
	Value      string           `json:"value"`
	Encoding   string           `json:"encoding,omitempty"`
}

// recordTime is when a record was published, in UTC to the millisecond.
func recordTime(r config.Record) string {
	return r.When().UTC().Format("2006-01-02T15:04:05.000Z")
}

// note says what else a record is: a rollback, a promoted canary.
func note(r config.Record) string {
	switch {
	case r.RollbackOf >= 0:
		return "rollback to " + strconv.Itoa(int(r.RollbackOf))
	case r.Canary != "":
		return "canary " + r.Canary + " promoted"
	}
	return "-"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func history(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	records, err := center.History(ctx, p)
	if err != nil {
		return err
	}
	return zkctl.PrintList(c, io.Out, records, zkctl.Listing[config.Record]{
		Header: "VERSION\tTIME\tAUTHOR\tBATCH\tSIZE\tNOTE",
		Quiet:  func(r config.Record) string { return strconv.Itoa(int(r.Version)) },
		Row: func(r config.Record) string {
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%s", r.Version, recordTime(r), orDash(r.Author), orDash(r.Batch), len(r.Value), note(r))
		},
		JSON: func(r config.Record) any {
			j := recordJSON{Version: r.Version, Time: recordTime(r), Author: r.Author, Batch: r.Batch, Keys: r.Keys, Canary: r.Canary, Size: len(r.Value)}
			if r.RollbackOf >= 0 {
				j.RollbackOf = &r.RollbackOf
			}
			j.Value, j.Encoding = text(r.Value)
			return j
		},
	})
}

func rollback(c *cli.Context, io zkctl.Streams) error {
	p, err := zkctl.PathArgs(c, 1, 1)
	if err != nil {
		return err
	}
	to := c.Int64("to")
	if !c.IsSet("to") || to < 0 || to > 1<<31-1 {
		return zkctl.Usagef("config rollback: --to VERSION is required, a version from 0 to %d", 1<<31-1)
	}
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	t, err := center.Rollback(ctx, p, int32(to))
	if errors.Is(err, config.ErrNoVersion) {
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: fmt.Errorf("config rollback %s --to %d: %w", p, to, err)}
	}
	if err != nil {
		return err
	}
	return printTicket(c, io, p, t)
}

func publishAll(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return zkctl.Usagef("config publish-all: want FILE|-, got %d arguments", len(args))
	}
	var data []byte
	if args[0] == "-" {
		if io.In != nil {
			data, err = readAll(io.In)
		}
	} else {
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return zkctl.Usagef("config publish-all: %v", err)
	}
	var values map[string]string
	if err := json.Unmarshal(data, &values); err != nil {
		return zkctl.Usagef("config publish-all %s: want a JSON object of path to string value: %v", args[0], err)
	}
	if len(values) == 0 {
		return zkctl.Usagef("config publish-all %s: no keys", args[0])
	}
	paths := make([]string, 0, len(values))
	batch := make(map[string][]byte, len(values))
	for p, v := range values {
		if err := backend.ValidatePath(p); err != nil {
			return zkctl.UsageError{Err: fmt.Errorf("config publish-all %s: %w", args[0], err)}
		}
		paths = append(paths, p)
		batch[p] = []byte(v)
	}
	slices.Sort(paths)
	ctx, center, done, err := open(c)
	if err != nil {
		return err
	}
	defer done()
	tickets, err := center.PublishAll(ctx, batch)
	if errors.Is(err, backend.ErrTooLarge) {
		return zkctl.UsageError{Err: fmt.Errorf("config publish-all %s: more than one transaction can carry: %w", args[0], err)}
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, p := range paths {
		if zkctl.JSONOutput(c) {
			if err := zkctl.Emit(&out, map[string]any{"path": p, "ticket": tickets[p].String()}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(&out, "%s %s\n", p, tickets[p])
		}
	}
	_, err = io.Out.Write(out.Bytes())
	return err
}

// readAll reads all of r.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return b, nil
}

// formatDecoder returns the decoder watch --format names: the value's
// bytes as they are, once they parse in that format.
func formatDecoder(format string) (config.Decoder[[]byte], error) {
	var check func([]byte) error
	switch format {
	case "raw":
		return config.Bytes(), nil
	case "json":
		check = parses(config.JSON[any]())
	case "yaml":
		check = parses(config.YAML[any]())
	case "toml":
		check = parses(config.TOML[map[string]any]())
	case "properties":
		check = parses(config.Properties())
	default:
		return nil, zkctl.Usagef("config watch: --format %q: want one of %v", format, formats)
	}
	return func(data []byte) ([]byte, error) {
		if err := check(data); err != nil {
			return nil, err
		}
		return data, nil
	}, nil
}

// parses returns a check that data decodes with d.
func parses[T any](d config.Decoder[T]) func([]byte) error {
	return func(data []byte) error {
		_, err := d(data)
		return err
	}
}

func watch(c *cli.Context, io zkctl.Streams) error {
	own, argv := zkctl.CommandArgs(c)
	if err := zkctl.OnePath("config watch", own); err != nil {
		return err
	}
	p := own[0]
	if err := backend.ValidatePath(p); err != nil {
		return zkctl.UsageError{Err: err}
	}
	if c.Duration("for") < 0 {
		return zkctl.Usagef("config watch: --for %v: want 0 or more", c.Duration("for"))
	}
	decode, err := formatDecoder(c.String("format"))
	if err != nil {
		return err
	}
	labels := c.StringSlice("label")
	for _, l := range labels {
		if !config.ValidLabel(l) {
			return zkctl.Usagef("config watch: --label %q: want a node name that does not start with '.'", l)
		}
	}
	ctx, cancel := context.WithCancel(c.Context)
	if d := c.Duration("for"); d > 0 {
		ctx, cancel = context.WithTimeout(c.Context, d)
	}
	defer cancel()

	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	sctx, scancel := context.WithTimeout(ctx, c.Duration("request-timeout"))
	defer scancel()
	if _, err := client.Session(sctx); err != nil {
		return watchEnd(c, ctx, err)
	}
	center, err := config.New(client)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	defer center.Close()
	w, err := config.Watch(sctx, center, p, decode, config.WithLabels[[]byte](labels...))
	if err != nil {
		return watchEnd(c, ctx, err)
	}
	defer w.Close()
	scancel()

	apply := func(snap config.Snapshot[[]byte]) error {
		if !snap.Exists {
			if zkctl.JSONOutput(c) {
				return zkctl.Emit(io.Out, newValueJSON(p, nil, config.Absent))
			}
			fmt.Fprintf(io.Err, "zkctl: config watch: %s does not exist\n", p)
			return nil
		}
		if len(argv) > 0 {
			env := []string{"ZKCTL_CONFIG_PATH=" + p, "ZKCTL_CONFIG_TICKET=" + snap.Ticket.String()}
			if snap.Canary != "" {
				env = append(env, "ZKCTL_CONFIG_CANARY="+snap.Canary)
			}
			child := zkctl.Streams{In: bytes.NewReader(snap.Value), Out: io.Out, Err: io.Err}
			// Only an interrupt stops COMMAND; the end of --for lets it finish.
			err := zkctl.RunChild(c.Context, child, argv, env, nil, nil, c.Duration("grace"))
			var ee zkctl.StatusError
			switch {
			case err == nil:
			case errors.As(err, &ee) && ee.Err != nil:
				// zkctl's own failure (COMMAND not found, cannot run, an
				// interrupt), not COMMAND's exit status: the watch ends.
				return err
			default:
				fmt.Fprintf(io.Err, "zkctl: config watch: %s for %s at ticket %s: %v\n", argv[0], p, snap.Ticket, err)
			}
			return nil
		}
		if zkctl.JSONOutput(c) {
			v := newValueJSON(p, snap.Value, snap.Ticket)
			v.Canary = snap.Canary
			return zkctl.Emit(io.Out, v)
		}
		out := snap.Value
		if len(out) == 0 || out[len(out)-1] != '\n' {
			out = append(slices.Clip(out), '\n')
		}
		_, err := io.Out.Write(out)
		return err
	}

	applied := w.Value()
	err = apply(applied)
	for err == nil {
		var ch config.Change[[]byte]
		ch, err = w.Next(ctx)
		switch {
		case err != nil:
		case ch.Err != nil:
			fmt.Fprintf(io.Err, "zkctl: config watch: %s: %v (ticket %s stays applied)\n", p, ch.Err, ch.New.Ticket)
		case ch.New.Exists == applied.Exists && ch.New.Canary == applied.Canary && ch.New.Token == applied.Token:
			// What is applied already: COMMAND does not reload it twice.
		default:
			applied = ch.New
			err = apply(applied)
		}
	}
	if errors.Is(err, config.ErrClosed) && w.Err() != nil {
		err = w.Err()
	}
	return watchEnd(c, ctx, err)
}

// watchEnd is how a watch that ended with err exits: 0 when --for is
// over, 130 when interrupted, the no-session codes when no session came
// within --request-timeout.
func watchEnd(c *cli.Context, ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case c.Context.Err() != nil:
		return zkctl.StatusError{Code: zkctl.ExitInterrupted}
	case ctx.Err() != nil && !errors.As(err, new(zkctl.StatusError)):
		return nil // --for is over
	case errors.Is(err, context.DeadlineExceeded):
		return zkctl.NoSession(c, c.Duration("request-timeout"))
	}
	return err
}
