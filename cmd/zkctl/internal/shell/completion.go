package shell

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

const completionDescription = `Prints a completion script for SHELL (bash, zsh or fish). The script asks
zkctl itself for the candidates (the hidden command "zkctl __complete"), so it
completes commands, subcommands and flags, and node paths when a cluster is
given on the line (--endpoints) or in ZKCTL_ENDPOINTS.

  bash:  source <(zkctl completion bash)        # or save it in /etc/bash_completion.d/zkctl
  zsh:   source <(zkctl completion zsh)         # or save it as _zkctl on your $fpath
  fish:  zkctl completion fish | source         # or save it in ~/.config/fish/completions/zkctl.fish`

func completionCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:        "completion",
		Usage:       "print a shell completion script (bash, zsh, fish)",
		ArgsUsage:   "bash|zsh|fish",
		Description: completionDescription,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return zkctl.Usagef("completion: want one of bash, zsh, fish")
			}
			var script string
			switch c.Args().First() {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				script = fishCompletion
			default:
				return zkctl.Usagef("completion: unknown shell %q: want bash, zsh or fish", c.Args().First())
			}
			_, err := io.Out.Write([]byte(script))
			return err
		},
	}
}

// completeCommand is the hidden command the completion scripts call:
// `zkctl __complete -- WORD... CURRENT` prints the candidates for CURRENT,
// one a line.
func completeCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		SkipFlagParsing: true,
		Action:          func(c *cli.Context) error { return completeWords(c, io.Out) },
	}
}

func completeWords(c *cli.Context, out io.Writer) error {
	words := c.Args().Slice()
	if len(words) > 0 && words[0] == "--" {
		words = words[1:]
	}
	cur := ""
	if len(words) > 0 {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	sc := &shellCompleter{commands: c.App.Commands, globals: c.App.Flags}
	if ep := typedEndpoints(c.App, words); ep != "" {
		if err := c.Set("endpoints", ep); err != nil {
			return err
		}
	}
	if strings.HasPrefix(cur, "/") && strings.TrimSpace(c.String("endpoints")) != "" {
		lister := &shellLister{c: c}
		defer lister.close()
		sc.children = lister.children
	}
	ctx, cancel := context.WithTimeout(c.Context, 3*time.Second)
	defer cancel()
	cands, _ := sc.candidates(ctx, words, cur)
	for _, cand := range cands {
		if cand == "__complete" {
			continue
		}
		fmt.Fprintln(out, cand)
	}
	return nil
}

// typedEndpoints returns the value of the global --endpoints (-e) flag
// typed among words, before or after the command, as run would read it
// (zkctl.PlaceArgs).
func typedEndpoints(app *cli.App, words []string) string {
	global := zkctl.PlaceArgs(app, append([]string{"zkctl"}, words...)).Flags[0]
	ep := ""
	for i := 0; i < len(global); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(global[i], "-"), "=")
		f := zkctl.FindFlag(app.Flags, name)
		switch {
		case f == nil || !zkctl.FlagTakesValue(f) || hasVal:
		case i+1 < len(global):
			i++
			val = global[i]
		}
		if name == "endpoints" || name == "e" {
			ep = val
		}
	}
	return ep
}

// takesValue reports whether the flag named in word (-x, --xyz; not
// --xyz=v) takes the next word as its value, among flags.
func takesValue(flags []cli.Flag, word string) bool {
	if strings.Contains(word, "=") {
		return false
	}
	name := strings.TrimLeft(word, "-")
	for _, f := range flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		if df, ok := f.(cli.DocGenerationFlag); ok {
			return df.TakesValue()
		}
	}
	return false
}

// bashCompletion splits the line itself, on blanks only: COMP_WORDS would
// also split zk://host:port at the colons.
const bashCompletion = `# bash completion for zkctl: source <(zkctl completion bash)
_zkctl_complete() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local -a words
    read -r -a words <<< "$line"
    local cur=""
    if [[ "$line" != *[[:space:]] && ${#words[@]} -gt 0 ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    local cmd="${words[0]:-zkctl}"
    local IFS=$'\n' cand
    COMPREPLY=()
    for cand in $("$cmd" __complete -- "${words[@]:1}" "$cur" 2>/dev/null); do
        # Paths may go on: no space after them.
        if [[ "$cand" == /* ]]; then
            COMPREPLY+=("$cand")
        else
            COMPREPLY+=("$cand ")
        fi
    done
    # Bash replaces only the part of the word after the last COMP_WORDBREAKS
    # character (: or =): drop what precedes it from the candidates.
    local prefix="${cur%"${cur##*[:=]}"}"
    if [[ -n "$prefix" ]]; then
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${COMPREPLY[i]#"$prefix"}"
        done
    fi
}
complete -o nospace -F _zkctl_complete zkctl
`

const zshCompletion = `#compdef zkctl
# zsh completion for zkctl: source <(zkctl completion zsh), or save as _zkctl on $fpath
_zkctl() {
    local -a cands paths others
    cands=("${(@f)$("${words[1]}" __complete -- "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    local c
    for c in "${cands[@]}"; do
        [[ -z "$c" ]] && continue
        if [[ "$c" == /* ]]; then paths+=("$c"); else others+=("$c"); fi
    done
    (( ${#paths} )) && compadd -S '' -- "${paths[@]}"
    (( ${#others} )) && compadd -- "${others[@]}"
    return 0
}
if [[ "$funcstack[1]" == "_zkctl" ]]; then
    _zkctl "$@"
else
    compdef _zkctl zkctl
fi
`

const fishCompletion = `# fish completion for zkctl: zkctl completion fish | source
function __zkctl_complete
    set -l words (commandline -opc)
    set -e words[1]
    zkctl __complete -- $words (commandline -ct) 2>/dev/null
end
complete -c zkctl -f -a '(__zkctl_complete)'
`
