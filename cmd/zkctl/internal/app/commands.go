package app

import (
	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/dumpcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/tree"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/watchcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// commands lists zkctl's commands in the order help shows them.
func commands(io zkctl.Streams) []*cli.Command {
	var cmds []*cli.Command
	cmds = append(cmds, tree.Commands(io)...)
	cmds = append(cmds, watchcmd.Commands(io)...)
	cmds = append(cmds, dumpcmd.Commands(io)...)
	cmds = append(cmds, lockCommand(io))
	cmds = append(cmds, electCommand(io))
	cmds = append(cmds, healthCommand(io), shellCommand(io), completionCommand(io), completeCommand(io))
	cmds = append(cmds, devCommand(io))
	cmds = append(cmds, demoCommand(io))
	return cmds
}
