package zkctl

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
)

// urfave/cli reads the global flags before the command name only, and a
// command's flags before its first argument only. Users write
// `zkctl ls / -l`, `zkctl ls -e zk://h:2181 /`, `zkctl lock /l --timeout
// 1s -- make`: PlaceArgs moves each flag to where urfave/cli reads it
// before the app parses anything, so every command takes flags anywhere
// before "--".

// placed is a command line sorted out by PlaceArgs.
type Placed struct {
	// Path is the commands named, the command and its subcommands.
	Path []*cli.Command
	// flags[0] are the global flags, flags[i+1] those of path[i], each
	// with its value when it takes one.
	Flags [][]string
	// Positional are the other words before "--", in their order: the
	// command's arguments, and words that look like flags but name none
	// of the command's or the global ones (urfave/cli reports those, and
	// data such as "-5" stays data).
	Positional []string
	// Rest is "--" and what follows it, untouched; or, for a command that
	// parses no flags (__complete), everything after its name.
	Rest []string
	// Unknown are the words of positional that look like flags.
	Unknown []string
	// Help is set when -h or --help was given before "--".
	Help bool
}

// PlaceArgs sorts args (args[0] is the program) into the global flags,
// the command path, each command's flags and the positional words. A word
// that starts with "-" is a flag when it names a flag of the deepest
// command named so far, else of one of its parents, else a global flag (so
// `create -e` is create's --ephemeral and `ls -e URL` the global
// --endpoints); -h or --help asks for the help of the command named. A flag that
// takes a value takes the next word, whatever it is (`set -v -1`). A word
// names a subcommand only before the command's first positional word.
// "--" ends the flags: it and what follows stay at the end as they are.
func PlaceArgs(app *cli.App, args []string) Placed {
	p := Placed{Flags: [][]string{nil}}
	if len(args) < 2 {
		return p
	}
	words := args[1:]
	commands := app.Commands
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			p.Rest = words[i:]
			break
		}
		if w == "-h" || w == "--help" {
			p.Help = true
			continue
		}
		if len(w) > 1 && w[0] == '-' {
			level, f := p.Owner(app, w)
			if f == nil {
				p.Positional = append(p.Positional, w)
				p.Unknown = append(p.Unknown, w)
				continue
			}
			tokens := []string{w}
			if FlagTakesValue(f) && !strings.Contains(w, "=") && i+1 < len(words) {
				i++
				tokens = append(tokens, words[i])
			}
			p.Flags[level] = append(p.Flags[level], tokens...)
			continue
		}
		if len(p.Positional) == 0 {
			if cmd := FindCommand(commands, w); cmd != nil {
				p.Path = append(p.Path, cmd)
				p.Flags = append(p.Flags, nil)
				commands = cmd.Subcommands
				if cmd.SkipFlagParsing {
					p.Rest = words[i+1:]
					break
				}
				continue
			}
		}
		p.Positional = append(p.Positional, w)
	}
	return p
}

// owner finds the flag named in word and the level it belongs to: 0 for
// the app, i+1 for p.path[i]. It returns a nil flag for a word that names
// none.
func (p *Placed) Owner(app *cli.App, word string) (int, cli.Flag) {
	name, _, _ := strings.Cut(strings.TrimLeft(word, "-"), "=")
	if name == "" {
		return 0, nil
	}
	for i := len(p.Path) - 1; i >= 0; i-- {
		if f := FindFlag(p.Path[i].Flags, name); f != nil {
			return i + 1, f
		}
	}
	return 0, FindFlag(app.Flags, name)
}

// args returns the command line in urfave/cli's order: the program, the
// global flags, then each command of the path with its flags, the
// positional words and the rest. With --help it is the help of the
// command named, whatever else the line holds.
func (p Placed) Args(program string) []string {
	out := append([]string{program}, p.Flags[0]...)
	for i, cmd := range p.Path {
		out = append(out, cmd.Name)
		if !p.Help {
			out = append(out, p.Flags[i+1]...)
		}
	}
	if p.Help {
		return append(out, "--help")
	}
	out = append(out, p.Positional...)
	return append(out, p.Rest...)
}

// positional returns the command's positional arguments: run has placed
// every flag before them (PlaceArgs), so they are the command's arguments,
// less a "--" among them, after which everything is positional
// (`zkctl set /a -- -e`). The commands that run a COMMAND after "--" read
// it with CommandArgs instead.
func Positional(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if i := slices.Index(args, "--"); i >= 0 {
		args = slices.Delete(slices.Clone(args), i, i+1)
	}
	return args, nil
}

// CommandArgs splits a wrapping command's arguments at "--": the words
// before it (the command's own arguments) and the COMMAND after it, nil
// when there is none.
func CommandArgs(c *cli.Context) (own, argv []string) {
	args := c.Args().Slice()
	if i := slices.Index(args, "--"); i >= 0 {
		return args[:i], args[i+1:]
	}
	return args, nil
}

// FindCommand returns the command of cmds named name (or one of its
// aliases), or nil.
func FindCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if slices.Contains(c.Names(), name) {
			return c
		}
	}
	return nil
}

// FindFlag returns the flag of flags named name (or one of its aliases),
// or nil.
func FindFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// FlagTakesValue reports whether f takes a value (the next word when the flag
// is not written --flag=value).
func FlagTakesValue(f cli.Flag) bool {
	if df, ok := f.(cli.DocGenerationFlag); ok {
		return df.TakesValue()
	}
	return false
}

// PathArgs checks that the command got between min and max arguments
// (flags may come among them: see Positional) and that the first is a path.
func PathArgs(c *cli.Context, min, max int) (string, error) {
	args, err := Positional(c)
	if err != nil {
		return "", err
	}
	if n := len(args); n < min || n > max {
		return "", Usagef("%s: want %s, got %d arguments", c.Command.Name, c.Command.ArgsUsage, n)
	}
	p := args[0]
	if err := backend.ValidatePath(p); err != nil {
		return "", UsageError{Err: err}
	}
	return p, nil
}

// RootArg reads an optional or required first argument that is a path.
func RootArg(c *cli.Context, min, max int, def string) (string, error) {
	args, err := Positional(c)
	if err != nil {
		return "", err
	}
	if len(args) == 0 && min == 0 {
		return def, nil
	}
	return PathArgs(c, min, max)
}
