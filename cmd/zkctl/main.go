// Command zkctl works with ZooKeeper and etcd trees and runs zkrecipes'
// recipes from the shell. See `zkctl --help` and docs/zkctl.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(mainRun()) }

// mainRun is zkctl as a process: SIGINT and SIGTERM cancel the command's
// context, and the exit code is returned for main to exit with.
func mainRun() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
}
