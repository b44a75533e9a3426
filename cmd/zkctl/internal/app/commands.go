package app

import (
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/barriercmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/configcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/countercmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo/scenes"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/devcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/dubbocmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/dumpcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/electcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/health"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/lockcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/mirrorcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/partitioncmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/queuecmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/registrycmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/shell"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/taskcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/tree"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/watchcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// commands lists zkctl's command groups, in the order help shows them. A
// recipe's commands are a package of their own under cmd/zkctl/internal,
// returning them from Commands, and a line here; its demo scene is a file
// in demo/scenes.
func commands(io zkctl.Streams) []*cli.Command {
	return slices.Concat(
		tree.Commands(io),
		watchcmd.Commands(io),
		dumpcmd.Commands(io),
		mirrorcmd.Commands(io),
		lockcmd.Commands(io),
		electcmd.Commands(io),
		queuecmd.Commands(io),
		taskcmd.Commands(io),
		partitioncmd.Commands(io),
		barriercmd.Commands(io),
		countercmd.Commands(io),
		registrycmd.Commands(io),
		dubbocmd.Commands(io),
		configcmd.Commands(io),
		health.Commands(io),
		shell.Commands(io, Run),
		devcmd.Commands(io),
		demo.Commands(io, scenes.All()),
	)
}
