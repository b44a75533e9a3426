// Command zkctl works with ZooKeeper and etcd trees and runs zkrecipes'
// recipes from the shell. See `zkctl --help` and docs/zkctl.md.
package main

import (
	"os"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
)

//go:generate env ZKCTL_UPDATE_DOCS=1 go test -run TestReferenceUpToDate ./internal/app

func main() { os.Exit(app.Main()) }
