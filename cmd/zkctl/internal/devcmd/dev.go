package devcmd

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
)

// Commands is `zkctl dev`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{devCommand(io)} }

// devCommand is `zkctl dev`: a local etcd for development, nothing to install.
func devCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a local etcd for development until interrupted (nothing to install)",
		Description: "Starts a single-member etcd inside zkctl on 127.0.0.1 and prints the line that points\n" +
			"zkctl (and ZKCTL_ENDPOINTS users) at it:\n\n" +
			"    export ZKCTL_ENDPOINTS=etcd://127.0.0.1:PORT\n\n" +
			"It serves until interrupted (Ctrl-C), then stops and exits 0. Its data lives in\n" +
			"--data-dir, kept for the next run, or in a temporary directory removed at exit.\n" +
			"It has no TLS, no authentication and does not fsync: it is for development only.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Usage: "keep the data in this directory", DefaultText: "a temporary one, removed at exit"},
			&cli.IntFlag{Name: "port", Usage: "client port on 127.0.0.1", DefaultText: "a free one"},
			&cli.BoolFlag{Name: "log", Usage: "print etcd's own log to stderr"},
		},
		Action: func(c *cli.Context) error { return devRun(c, io) },
	}
}

func devRun(c *cli.Context, io zkctl.Streams) error {
	if c.NArg() > 0 {
		return zkctl.Usagef("dev takes no arguments")
	}
	port := c.Int("port")
	if port < 0 || port > 65535 {
		return zkctl.Usagef("--port %d: want 1 to 65535", port)
	}
	opts := devetcd.Options{Dir: c.String("data-dir"), ClientPort: port}
	if c.Bool("log") {
		opts.Log, opts.Verbose = io.Err, true
	}
	srv, err := devetcd.Start(c.Context, opts)
	if err != nil {
		if c.Context.Err() != nil {
			return nil // interrupted while starting: nothing is left running
		}
		return err
	}
	defer srv.Close()

	endpoints := "etcd://" + srv.Endpoints()[0]
	if err := devAnnounce(c, io, endpoints, opts.Dir == "", srv.Dir()); err != nil {
		return err
	}
	select {
	case <-c.Context.Done():
		// Interrupted on purpose: the way to stop it. Exit 0.
	case err := <-srv.Err():
		return fmt.Errorf("dev: etcd failed: %w", err)
	}
	if err := srv.Close(); err != nil {
		return err
	}
	fmt.Fprintln(io.Err, "zkctl dev: stopped")
	return nil
}

// devAnnounce prints where the server is: data on stdout, a hint on stderr.
func devAnnounce(c *cli.Context, io zkctl.Streams, endpoints string, temporary bool, dir string) error {
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"endpoints": endpoints, "data_dir": dir, "temporary": temporary})
	}
	if _, err := fmt.Fprintf(io.Out, "export ZKCTL_ENDPOINTS=%s\n", endpoints); err != nil {
		return err
	}
	kept := "kept"
	if temporary {
		kept = "removed at exit"
	}
	fmt.Fprintf(io.Err, "zkctl dev: etcd serving at %s, data in %s (%s); Ctrl-C stops it\n", endpoints, dir, kept)
	return nil
}
