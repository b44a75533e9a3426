package app

import (
	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo/scenes"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/devcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/dumpcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/electcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/health"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/lockcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/shell"
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
	cmds = append(cmds, lockcmd.Commands(io)...)
	cmds = append(cmds, electcmd.Commands(io)...)
	cmds = append(cmds, health.Commands(io)...)
	cmds = append(cmds, shell.Commands(io, Run)...)
	cmds = append(cmds, devcmd.Commands(io)...)
	cmds = append(cmds, demo.Commands(io, scenes.All())...)
	return cmds
}
