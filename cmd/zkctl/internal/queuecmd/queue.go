package queuecmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
)

// Commands is `zkctl queue` and its subcommands.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{queueCommand(io)} }

// queueCommand is `zkctl queue`: put, take, and look at a queue.
func queueCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "put items into a queue, take one for a command, look at a queue",
		Description: "A queue of recipes/queue at PATH (kazoo's LockingQueue layout on ZooKeeper): items with a\n" +
			"priority (0..999, lower first), taken at least once. A taken item is claimed, not removed:\n" +
			"it is removed when acknowledged, and comes back (one attempt more) when given back or when\n" +
			"its consumer is lost. Every claim has a fencing token larger than any claim before it.",
		Subcommands: []*cli.Command{
			putCommand(io),
			takeCommand(io),
			{
				Name: "len", Usage: "print the number of items (available, taken, held and delayed)", ArgsUsage: "PATH",
				Action: func(c *cli.Context) error { return length(c, io) },
			},
			{
				Name: "peek", Usage: "print the data of the item the next take would get, without taking it (exit 3 when none)",
				ArgsUsage: "PATH",
				Action:    func(c *cli.Context) error { return peek(c, io) },
			},
			{
				Name: "ls", Usage: "list the items in the order they are taken: id, priority, state, due time", ArgsUsage: "PATH",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the ids only"}},
				Action: func(c *cli.Context) error { return list(c, io) },
			},
			{
				Name: "drain", Usage: "take and acknowledge every available item, printing its data", ArgsUsage: "PATH",
				Description: "Takes, prints and acknowledges one item after another until none is available\n" +
					"now: items taken by other consumers, held or delayed stay. Each item's data is printed\n" +
					"before it is acknowledged (a newline added when it does not end with one): an item whose\n" +
					"acknowledgement is refused (exit 124) was printed and will be delivered again.",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only how many items were drained"}},
				Action: func(c *cli.Context) error { return drain(c, io) },
			},
			{
				Name: "dead", Usage: "list the dead letters: items given up after --max-attempts", ArgsUsage: "PATH",
				Action: func(c *cli.Context) error { return dead(c, io) },
			},
		},
	}
}

func putCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name: "put", Usage: "add an item and print its id (DATA - or absent reads stdin)", ArgsUsage: "PATH [DATA|-]",
		Description: "Adds an item with DATA to the queue at PATH and prints its id: --id, or the name of\n" +
			"its node (a delayed item without --id gets a fresh id). DATA \"-\", or no DATA, reads\n" +
			"stdin. A bad --priority, --delay or --id is a usage error (exit 2), and nothing is written.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "priority", Value: queue.DefaultPriority, Usage: "0..999, lower is taken first"},
			&cli.DurationFlag{Name: "delay", Usage: "keep the item from consumers this long"},
			&cli.StringFlag{Name: "id", Usage: "the item's id (1 to 128 printable characters, no slash); a put whose reply was lost learns whether it landed instead of failing"},
			&cli.IntFlag{Name: "bucket-size", Usage: "make a new queue sharded, in buckets of this many items (16..10000), for queues that may outgrow one listing; every client adopts the layout a queue has"},
		},
		Action: func(c *cli.Context) error { return put(c, io) },
	}
}

func takeCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "take",
		Usage: "take an item and run a command on it (acknowledged if it succeeds), or print it with --ack",
		Description: "Takes the first available item of the queue at PATH (lowest priority first, then oldest),\n" +
			"waiting for one up to --timeout (0: until interrupted).\n\n" +
			"With COMMAND, runs it with the item's data on its stdin and ZKCTL_QUEUE_PATH, ZKCTL_ITEM_ID,\n" +
			"ZKCTL_ITEM_TOKEN (the claim's fencing token) and ZKCTL_ITEM_ATTEMPT (1 on the first delivery)\n" +
			"in its environment. Exit status 0 acknowledges the item: it is removed for good. Any other\n" +
			"status gives it back (available again at once, one attempt more) and zkctl exits with it.\n" +
			"If the item is lost while COMMAND runs (its claim node deleted, the session lost or, without\n" +
			"--wait-expiry, the connection down), another consumer may take it: COMMAND's group gets\n" +
			"SIGTERM, then SIGKILL after --grace, and zkctl exits 124. A COMMAND that succeeded but whose\n" +
			"acknowledgement is refused because the item was lost meanwhile also exits 124: the item will\n" +
			"be delivered again. zkctl's own failures exit 125 (nothing taken within --timeout, cluster\n" +
			"unreachable); a COMMAND that cannot run, 126; one that is not found, 127; an interrupt stops\n" +
			"COMMAND the same way and exits 130. Each gives the item back.\n\n" +
			"Without COMMAND, --ack is required: the data is printed (a newline added when it does not\n" +
			"end with one; -o json prints the item with its id, attempt and token), then the item is\n" +
			"acknowledged (exit 124 if it was lost meanwhile). A take that gave the item back would only\n" +
			"look at it while counting as a delivery: peek looks without taking.\n\n" +
			"With --max-attempts N, an item given back, or whose consumer was lost, on its Nth attempt\n" +
			"goes to the dead letters (see dead) instead of being delivered again.\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "ack", Usage: "without COMMAND: print the item, then acknowledge it (required)"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting for an item after this long (0: wait until interrupted)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL when the item is lost"},
			&cli.BoolFlag{Name: "wait-expiry", Usage: "trust the claim while the connection is suspended; lose it only when the session expires"},
			&cli.IntFlag{Name: "max-attempts", Usage: "send an item to the dead letters instead of delivering it again after this many attempts (0: never)"},
			&cli.StringFlag{Name: "consumer", Usage: "this consumer's id, the data of its claim nodes (default: a fresh random id)"},
		},
		Action: func(c *cli.Context) error { return take(c, io) },
	}
}

// usageErr makes the queue's argument errors usage errors (exit 2): they
// are found before anything is written.
func usageErr(err error) error {
	for _, bad := range []error{queue.ErrBadPriority, queue.ErrBadDelay, queue.ErrBadID, queue.ErrBadOption, backend.ErrBadPath} {
		if errors.Is(err, bad) {
			return zkctl.UsageError{Err: err}
		}
	}
	return err
}

// lostErr marks the loss of a taken item before it was acknowledged:
// ExitLockLost, as for a lost lock.
func lostErr(err error) error {
	if errors.Is(err, queue.ErrLost) {
		return zkctl.StatusError{Code: zkctl.ExitLockLost, Err: fmt.Errorf("%w (it will be delivered again)", err)}
	}
	return err
}

// wrapped marks zkctl's own failures while it wraps a command: 125, so
// they cannot be taken for the command's status. Usage errors stay 2.
func wrapped(hasCommand bool, err error) error {
	var se zkctl.StatusError
	var ue zkctl.UsageError
	if err == nil || !hasCommand || errors.As(err, &se) || errors.As(err, &ue) {
		return err
	}
	return zkctl.StatusError{Code: zkctl.ExitWrapperError, Err: err}
}

// open opens the session and the queue named by the first argument, for a
// command that takes between min and max arguments.
func open(c *cli.Context, min, max int, opts ...queue.Option) (context.Context, *queue.Queue, func(), error) {
	p, err := zkctl.PathArgs(c, min, max)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, nil, err
	}
	q, err := queue.New(s, p, opts...)
	if err != nil {
		done()
		return nil, nil, nil, usageErr(err)
	}
	return ctx, q, func() { _ = q.Close(); done() }, nil
}

func put(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if n := len(args); n < 1 || n > 2 {
		return zkctl.Usagef("queue put: want %s, got %d arguments", c.Command.ArgsUsage, n)
	}
	opts := []queue.PutOption{queue.Priority(c.Int("priority"))}
	if c.IsSet("delay") {
		opts = append(opts, queue.Delay(c.Duration("delay")))
	}
	if c.IsSet("id") {
		opts = append(opts, queue.WithID(c.String("id")))
	}
	if err := backend.ValidatePath(args[0]); err != nil {
		return zkctl.UsageError{Err: err}
	}
	var data []byte
	if len(args) == 1 || args[1] == "-" {
		if data, err = readAll(io.In); err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	} else {
		data = []byte(args[1])
	}
	var qopts []queue.Option
	if c.IsSet("bucket-size") {
		qopts = append(qopts, queue.Sharded(c.Int("bucket-size")))
	}
	ctx, q, done, err := open(c, 1, 2, qopts...)
	if err != nil {
		return err
	}
	defer done()
	id, err := q.Put(ctx, data, opts...)
	if err != nil {
		return usageErr(err)
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": q.Path(), "id": id})
	}
	_, err = fmt.Fprintln(io.Out, id)
	return err
}

// readAll reads r to its end; a nil r is empty.
func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

// itemJSON is how -o json prints a taken item.
type itemJSON struct {
	Queue    string  `json:"queue"`
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Priority int     `json:"priority"`
	Attempt  int     `json:"attempt"`
	Token    int64   `json:"token"`
	Data     *string `json:"data,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
}

// printItem prints a taken item: its data with a newline (as get does),
// or with -o json the item.
func printItem(c *cli.Context, w io.Writer, q *queue.Queue, it *queue.Item) error {
	if zkctl.JSONOutput(c) {
		n := zkctl.NodeJSON{}
		zkctl.DataJSON(&n, it.Data)
		return zkctl.Emit(w, itemJSON{Queue: q.Path(), ID: it.ID, Name: it.Name(), Priority: it.Priority,
			Attempt: it.Attempt, Token: it.Token(), Data: n.Data, Encoding: n.Encoding})
	}
	return printData(w, it.Data)
}

// printData prints data as get does: a newline added when it does not end
// with one.
func printData(w io.Writer, data []byte) error {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		data = append(data[:len(data):len(data)], '\n')
	}
	_, err := w.Write(data)
	return err
}

// finishCtx is a context for acknowledging or giving back an item, which
// must run even when zkctl was interrupted.
func finishCtx(c *cli.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.Duration("request-timeout"))
}

func take(c *cli.Context, io zkctl.Streams) error {
	own, argv := zkctl.CommandArgs(c)
	if err := zkctl.OnePath("queue take", own); err != nil {
		return err
	}
	path := own[0]
	hasCommand := len(argv) > 0
	if err := backend.ValidatePath(path); err != nil {
		return zkctl.UsageError{Err: err}
	}
	switch {
	case hasCommand && c.Bool("ack"):
		return zkctl.Usagef("queue take: --ack is for a take without COMMAND; with one, its exit status decides (0 acknowledges, anything else gives the item back)")
	case !hasCommand && !c.Bool("ack"):
		return zkctl.Usagef("queue take without COMMAND: pass --ack to print the item and remove it (queue peek looks without taking)")
	}
	opts := []queue.Option{queue.MaxAttempts(c.Int("max-attempts"))}
	if c.Bool("wait-expiry") {
		opts = append(opts, queue.WithLossPolicy(queue.OnLost))
	}
	if c.IsSet("consumer") {
		opts = append(opts, queue.ConsumerID(c.String("consumer")))
	}

	// The claim lives as long as this session: a session of its own, even
	// in zkctl shell, with no request timeout around the wait.
	client, err := zkctl.Connect(c)
	if err != nil {
		return wrapped(hasCommand, err)
	}
	defer client.Close()
	waitCtx := c.Context
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(c.Context, d)
		defer cancel()
	}
	s, err := client.Session(waitCtx)
	if err != nil {
		return wrapped(hasCommand, err)
	}
	q, err := queue.New(s, path, opts...)
	if err != nil {
		return usageErr(err)
	}
	defer q.Close() // gives back an item neither acknowledged nor given back
	it, err := q.Take(waitCtx)
	if err != nil {
		switch {
		case c.Context.Err() != nil:
			return zkctl.StatusError{Code: zkctl.ExitInterrupted, Err: fmt.Errorf("interrupted while waiting for an item of %s", path)}
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("no item of %s within %v (--timeout): %w", path, c.Duration("timeout"), context.DeadlineExceeded)
		}
		return wrapped(hasCommand, err)
	}

	if !hasCommand {
		if err := printItem(c, io.Out, q, it); err != nil {
			return err // Close gives the item back
		}
		ctx, cancel := finishCtx(c)
		defer cancel()
		return lostErr(it.Ack(ctx))
	}

	env := []string{
		"ZKCTL_QUEUE_PATH=" + path,
		"ZKCTL_ITEM_ID=" + it.ID,
		"ZKCTL_ITEM_TOKEN=" + strconv.FormatInt(it.Token(), 10),
		"ZKCTL_ITEM_ATTEMPT=" + strconv.Itoa(it.Attempt),
	}
	child := zkctl.Streams{In: bytes.NewReader(it.Data), Out: io.Out, Err: io.Err}
	runErr := zkctl.RunChild(c.Context, child, argv, env, it.Done(), it.Err, c.Duration("grace"))
	ctx, cancel := finishCtx(c)
	defer cancel()
	var se zkctl.StatusError
	switch {
	case runErr == nil:
		if err := it.Ack(ctx); err != nil {
			return wrapped(true, lostErr(fmt.Errorf("%s succeeded, but the item was not acknowledged: %w", argv[0], err)))
		}
		return nil
	case errors.As(runErr, &se) && se.Code == zkctl.ExitLockLost:
		return runErr // lost: nothing to give back
	}
	if err := it.Nack(ctx, queue.Reason(runErr.Error())); err != nil && !errors.Is(err, queue.ErrLost) {
		// The claim ends with the session when zkctl exits: the item comes
		// back all the same.
		fmt.Fprintf(io.Err, "zkctl: giving back %s: %v\n", it.ID, err)
	}
	return runErr
}

func length(c *cli.Context, io zkctl.Streams) error {
	ctx, q, done, err := open(c, 1, 1)
	if err != nil {
		return err
	}
	defer done()
	n, err := q.Len(ctx)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": q.Path(), "len": n})
	}
	_, err = fmt.Fprintln(io.Out, n)
	return err
}

func peek(c *cli.Context, io zkctl.Streams) error {
	ctx, q, done, err := open(c, 1, 1)
	if err != nil {
		return err
	}
	defer done()
	info, err := q.Peek(ctx)
	if errors.Is(err, queue.ErrEmpty) {
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: fmt.Errorf("%w: no item of %s can be taken now", err, q.Path())}
	}
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		j := infoJSON(info)
		n := zkctl.NodeJSON{}
		zkctl.DataJSON(&n, info.Data)
		j.Attempts, j.Data, j.Encoding = &info.Attempt, n.Data, n.Encoding
		return zkctl.Emit(io.Out, j)
	}
	return printData(io.Out, info.Data)
}

// infoItemJSON is how -o json prints an item of ls or peek.
type infoItemJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Priority int        `json:"priority"`
	State    string     `json:"state"`
	Due      *time.Time `json:"due,omitempty"`
	Attempts *int       `json:"attempts,omitempty"` // claims so far: peek only
	Data     *string    `json:"data,omitempty"`     // peek only
	Encoding string     `json:"encoding,omitempty"`
}

func infoJSON(i queue.Info) infoItemJSON {
	j := infoItemJSON{ID: i.ID, Name: i.Name, Priority: i.Priority, State: string(i.State)}
	if !i.Due.IsZero() {
		due := i.Due.UTC()
		j.Due = &due
	}
	return j
}

// timeText is how text output shows a time: UTC, to the millisecond.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func list(c *cli.Context, io zkctl.Streams) error {
	ctx, q, done, err := open(c, 1, 1)
	if err != nil {
		return err
	}
	defer done()
	items, err := q.List(ctx)
	if err != nil {
		return err
	}
	return zkctl.PrintList(c, io.Out, items, zkctl.Listing[queue.Info]{
		Header: "ID\tPRIORITY\tSTATE\tDUE",
		Quiet:  func(i queue.Info) string { return i.ID },
		JSON:   func(i queue.Info) any { return infoJSON(i) },
		Row: func(i queue.Info) string {
			return fmt.Sprintf("%s\t%d\t%s\t%s", i.ID, i.Priority, i.State, timeText(i.Due))
		},
	})
}

func drain(c *cli.Context, io zkctl.Streams) error {
	ctx, q, done, err := open(c, 1, 1)
	if err != nil {
		return err
	}
	defer done()
	n := 0
	for {
		it, err := q.TryTake(ctx)
		if errors.Is(err, queue.ErrEmpty) {
			break
		}
		if err != nil {
			return err
		}
		if !c.Bool("quiet") {
			if err := printItem(c, io.Out, q, it); err != nil {
				return err // Close gives the item back
			}
		}
		if err := it.Ack(ctx); err != nil {
			return lostErr(err)
		}
		n++
	}
	if !c.Bool("quiet") {
		return nil
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"path": q.Path(), "drained": n})
	}
	_, err = fmt.Fprintln(io.Out, n)
	return err
}

// deadJSON is how -o json prints a dead letter.
type deadJSON struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Priority int       `json:"priority"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	Consumer string    `json:"consumer"`
	At       time.Time `json:"at"`
	Data     *string   `json:"data,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
}

func dead(c *cli.Context, io zkctl.Streams) error {
	ctx, q, done, err := open(c, 1, 1)
	if err != nil {
		return err
	}
	defer done()
	letters, err := q.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if zkctl.JSONOutput(c) {
		for _, d := range letters {
			n := zkctl.NodeJSON{}
			zkctl.DataJSON(&n, d.Data)
			j := deadJSON{ID: d.ID, Name: d.Name, Priority: d.Priority, Attempts: d.Attempts, Reason: d.Reason,
				Consumer: d.Consumer, At: d.At.UTC(), Data: n.Data, Encoding: n.Encoding}
			if err := zkctl.Emit(io.Out, j); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRIORITY\tATTEMPTS\tAT\tREASON\tDATA")
	for _, d := range letters {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%q\n", d.ID, d.Priority, d.Attempts, timeText(d.At), d.Reason, d.Data)
	}
	return tw.Flush()
}
