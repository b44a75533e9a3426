package watchcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// Commands is `zkctl watch`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{watchCommand(io)} }

// watchCommand is `zkctl watch`: print, or act on, changes to a node or a subtree.
func watchCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "print changes to a node (or with -R its subtree) as they happen",
		Description: "Prints one line per change, TYPE PATH, until interrupted (or after --count events).\n" +
			"TYPE is created, deleted, data-changed or children-changed (the last without -R\n" +
			"only: with -R the children's own created and deleted events say it). A missing\n" +
			"PATH is waited for. With -o json, one object per event: type, path, and for\n" +
			"created and data-changed the data read with the event (data as in `get -o json`;\n" +
			"without -R it is the data when the watch was set again, which may be newer).\n" +
			"Events that happen together may be reported as one (ZooKeeper's watches are\n" +
			"one-shot; see backend/zk).\n\n" +
			"With -R the subtree is kept by a tree cache (recipes/cache), which outlives a\n" +
			"lost session: after a reconnection, an etcd compaction or a new session it reads\n" +
			"the subtree again, reports what changed meanwhile (a node deleted and created\n" +
			"again as deleted, then created), then prints resynced PATH. With --initial (-R\n" +
			"only), the nodes that exist when the watch starts are printed first, as created,\n" +
			"parents first, then initialized PATH. --count counts the lines after that. While\n" +
			"the output is slower than the changes, a node's changes may be printed as one, with\n" +
			"its latest data; a node seen created is always seen deleted.\n\n" +
			"With -- COMMAND, runs COMMAND once per event, one at a time, with ZKCTL_EVENT_TYPE\n" +
			"and ZKCTL_EVENT_PATH in its environment; events that come while it runs wait. A\n" +
			"COMMAND that fails is reported on stderr and the watch goes on; one that cannot run\n" +
			"ends the watch (126, or 127 when not found).\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "watch the whole subtree"},
			&cli.BoolFlag{Name: "initial", Usage: "with -R, print the nodes that exist first, then initialized PATH"},
			&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Usage: "exit after this many events (0: never)"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "time between SIGTERM and SIGKILL for COMMAND when zkctl is interrupted"},
		},
		Action: func(c *cli.Context) error { return watch(c, io) },
	}
}

// watchEvent is one event as watch prints it.
type watchEvent struct {
	Type     string  `json:"type"`
	Path     string  `json:"path"`
	Data     *string `json:"data,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
	data     []byte
	hasData  bool
}

func watch(c *cli.Context, io zkctl.Streams) error {
	own, argv := zkctl.CommandArgs(c)
	if err := zkctl.OnePath("watch", own); err != nil {
		return err
	}
	p := own[0]
	if err := backend.ValidatePath(p); err != nil {
		return zkctl.UsageError{Err: err}
	}
	if c.Bool("initial") && !c.Bool("recursive") {
		return zkctl.Usagef("watch: --initial needs -R")
	}
	if c.Int("count") < 0 {
		return zkctl.Usagef("watch: --count %d: want 0 or more", c.Int("count"))
	}
	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	sctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	s, err := client.Session(sctx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			return zkctl.NoSession(c, c.Duration("request-timeout"))
		}
		return err
	}
	ctx, stop := context.WithCancel(c.Context)
	defer stop()

	n := 0
	// handle prints (or runs COMMAND for) one event; counted says whether
	// it counts towards --count (the initial state does not).
	handle := func(ev watchEvent, counted bool) error {
		if len(argv) > 0 {
			env := []string{"ZKCTL_EVENT_TYPE=" + ev.Type, "ZKCTL_EVENT_PATH=" + ev.Path}
			err := zkctl.RunChild(ctx, io, argv, env, nil, nil, c.Duration("grace"))
			var ee zkctl.StatusError
			switch {
			case err == nil:
			case errors.As(err, &ee) && (ee.Code == zkctl.ExitNotFound || ee.Code == zkctl.ExitCannotRun || ee.Code == zkctl.ExitInterrupted):
				return err
			default:
				fmt.Fprintf(io.Err, "zkctl: watch: %s for %s %s: %v\n", argv[0], ev.Type, ev.Path, err)
			}
		} else if zkctl.JSONOutput(c) {
			if ev.hasData {
				nj := zkctl.NodeJSON{}
				zkctl.DataJSON(&nj, ev.data)
				ev.Data, ev.Encoding = nj.Data, nj.Encoding
			}
			if err := zkctl.Emit(io.Out, ev); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(io.Out, "%s %s\n", ev.Type, ev.Path)
		}
		if !counted {
			return nil
		}
		n++
		if max := c.Int("count"); max > 0 && n >= max {
			return errWatchDone
		}
		return nil
	}
	if c.Bool("recursive") {
		err = watchTree(ctx, client, p, c.Bool("initial"), handle)
	} else {
		err = watchNode(ctx, s, p, func(ev watchEvent) error { return handle(ev, true) })
	}
	switch {
	case errors.Is(err, errWatchDone):
		return nil
	case c.Context.Err() != nil && errors.Is(err, context.Canceled):
		// Interrupted: the usual end of a watch, nothing to explain.
		return zkctl.StatusError{Code: zkctl.ExitInterrupted}
	}
	return err
}

// errWatchDone ends a watch after --count events.
var errWatchDone = errors.New("watch: done")

// watchTree reports the changes a tree cache of the subtree sees after its
// initial state, and the initial state too with initial.
func watchTree(ctx context.Context, client backend.Client, p string, initial bool, handle func(watchEvent, bool) error) error {
	tree, err := cache.New(client, p)
	if err != nil {
		return err
	}
	defer tree.Close()
	l := tree.Listen()
	defer l.Close()
	if err := tree.Start(ctx); err != nil {
		return err
	}
	initialized := false
	for {
		ev, err := l.Next(ctx)
		if err != nil {
			return err
		}
		var we watchEvent
		switch ev.Type {
		case cache.Initialized:
			initialized = true
			if !initial {
				continue
			}
			we = watchEvent{Type: "initialized", Path: ev.Path}
			if err := handle(we, false); err != nil {
				return err
			}
			continue
		case cache.Resynced:
			we = watchEvent{Type: "resynced", Path: ev.Path}
		case cache.Added:
			we = watchEvent{Type: backend.EventCreated.String(), Path: ev.Path, data: ev.New.Data, hasData: true}
		case cache.Updated:
			we = watchEvent{Type: backend.EventDataChanged.String(), Path: ev.Path, data: ev.New.Data, hasData: true}
		case cache.Removed:
			we = watchEvent{Type: backend.EventDeleted.String(), Path: ev.Path}
		default:
			continue
		}
		if !initialized {
			if !initial {
				continue // the state when the watch began, not a change
			}
			if err := handle(we, false); err != nil {
				return err
			}
			continue
		}
		if err := handle(we, true); err != nil {
			return err
		}
	}
}

// watchNode reports the changes to one node with one-shot watches set
// again after each event: GetW (ExistsW while the node is missing) for its
// data and existence, ChildrenW for its children.
func watchNode(ctx context.Context, s backend.Session, p string, handle func(watchEvent) error) error {
	var dataCh, kidsCh <-chan backend.Event
	var data []byte
	// armData sets the data watch and reports whether the node exists.
	armData := func() (bool, error) {
		for {
			d, _, ch, err := s.GetW(ctx, p)
			if err == nil {
				data, dataCh = d, ch
				return true, nil
			}
			if !errors.Is(err, backend.ErrNoNode) {
				return false, err
			}
			st, ch, err := s.ExistsW(ctx, p)
			if err != nil {
				return false, err
			}
			if st == nil {
				dataCh = ch
				return false, nil
			}
			// Created in between: forget this watch (it ends with ctx) and read again.
		}
	}
	armKids := func() error {
		_, _, ch, err := s.ChildrenW(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			kidsCh = nil // reported by the data watch
			return nil
		}
		kidsCh = ch
		return err
	}
	exists, err := armData()
	if err != nil {
		return err
	}
	if exists {
		if err := armKids(); err != nil {
			return err
		}
	}
	for {
		var ev backend.Event
		var ok bool
		select {
		case ev, ok = <-dataCh:
			dataCh = nil
		case ev, ok = <-kidsCh:
			kidsCh = nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			continue
		}
		switch ev.Type {
		case backend.EventNotWatching:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ev.Err != nil {
				return ev.Err
			}
			return s.Err()
		case backend.EventChildrenChanged:
			if err := armKids(); err != nil {
				return err
			}
			if err := handle(watchEvent{Type: ev.Type.String(), Path: p}); err != nil {
				return err
			}
		case backend.EventDeleted:
			if dataCh != nil {
				continue // the children watch saw it; the data watch reports it
			}
			kidsCh = nil
			exists, err := armData()
			if err != nil {
				return err
			}
			if err := handle(watchEvent{Type: ev.Type.String(), Path: p}); err != nil {
				return err
			}
			if exists {
				// Made again before the watch was set again: say so.
				if err := armKids(); err != nil {
					return err
				}
				if err := handle(watchEvent{Type: backend.EventCreated.String(), Path: p, data: data, hasData: true}); err != nil {
					return err
				}
			}
		case backend.EventCreated, backend.EventDataChanged:
			exists, err := armData()
			if err != nil {
				return err
			}
			if ev.Type == backend.EventCreated && exists {
				if err := armKids(); err != nil {
					return err
				}
			}
			if err := handle(watchEvent{Type: ev.Type.String(), Path: p, data: data, hasData: exists}); err != nil {
				return err
			}
			if !exists {
				// Deleted before the watch was set again: say so.
				kidsCh = nil
				if err := handle(watchEvent{Type: backend.EventDeleted.String(), Path: p}); err != nil {
					return err
				}
			}
		}
	}
}
