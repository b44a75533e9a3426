package watchcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
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
			"With -- COMMAND, runs COMMAND once per event, one at a time, with ZKCTL_EVENT_TYPE\n" +
			"and ZKCTL_EVENT_PATH in its environment; events that come while it runs wait. A\n" +
			"COMMAND that fails is reported on stderr and the watch goes on; one that cannot run\n" +
			"ends the watch (126, or 127 when not found).\n\n" +
			zkctl.SupervisedDescription,
		ArgsUsage: "PATH [-- COMMAND [ARGS...]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "watch the whole subtree"},
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
	handle := func(ev watchEvent) error {
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
		n++
		if max := c.Int("count"); max > 0 && n >= max {
			return errWatchDone
		}
		return nil
	}
	if c.Bool("recursive") {
		err = watchTree(ctx, s, p, handle)
	} else {
		err = watchNode(ctx, s, p, handle)
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

// watchTree reports the changes WatchTree sees after its initial state.
func watchTree(ctx context.Context, s backend.Session, p string, handle func(watchEvent) error) error {
	wctx, stop := context.WithCancel(ctx)
	events, err := s.WatchTree(wctx, p)
	if err != nil {
		stop()
		return err
	}
	// On return (after --count events too) end the stream, then drain it
	// so its goroutine can end: the stream closes only once its context
	// is done.
	defer func() {
		stop()
		for range events {
		}
	}()
	initialized := false
	for ev := range events {
		var we watchEvent
		switch ev.Type {
		case backend.TreeInitialized:
			initialized = true
			continue
		case backend.TreeEnded:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ev.Err != nil {
				return ev.Err
			}
			return s.Err()
		case backend.NodeAdded:
			we = watchEvent{Type: backend.EventCreated.String(), Path: ev.Path, data: ev.Data, hasData: true}
		case backend.NodeUpdated:
			we = watchEvent{Type: backend.EventDataChanged.String(), Path: ev.Path, data: ev.Data, hasData: true}
		case backend.NodeRemoved:
			we = watchEvent{Type: backend.EventDeleted.String(), Path: ev.Path}
		default:
			continue
		}
		if !initialized {
			continue // the state when the watch began, not a change
		}
		if err := handle(we); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Err()
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
