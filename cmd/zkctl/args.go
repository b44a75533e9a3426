package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// positional returns the command's positional arguments after applying the
// flags given among them: urfave/cli stops reading flags at the first
// argument, and `zkctl ls /a -l` or `zkctl find / --name 'x*'` should work
// as they read. A word is taken as a flag only when it names one of the
// command's own flags (so data such as "-5" stays data); "-" is stdin;
// from "--" on, everything is positional, "--" included, for the commands
// that run a COMMAND. Calling it again gives the same result.
func positional(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := commandFlag(c.Command, name)
		if f == nil && c.App != nil {
			f = findFlag(c.App.Flags, name) // a global flag given after the command
		}
		if f == nil {
			out = append(out, a)
			continue
		}
		switch {
		case hasVal:
		case isBoolFlag(f):
			val = "true"
		case i+1 < len(args):
			i++
			val = args[i]
		default:
			return nil, usagef("%s: flag needs an argument: %s", c.Command.Name, a)
		}
		if err := c.Set(f.Names()[0], val); err != nil {
			return nil, usagef("%s: invalid value %q for flag %s: %v", c.Command.Name, val, a, err)
		}
		if f.Names()[0] == "output" && val != "text" && val != "json" {
			return nil, usagef("--output %q: want text or json", val)
		}
	}
	return out, nil
}

func commandFlag(cmd *cli.Command, name string) cli.Flag {
	if cmd == nil || name == "" {
		return nil
	}
	return findFlag(cmd.Flags, name)
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func isBoolFlag(f cli.Flag) bool {
	_, ok := f.(*cli.BoolFlag)
	return ok
}
