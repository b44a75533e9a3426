package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// referencePath is the generated reference, relative to this package.
const referencePath = "../../../../docs/zkctl.md"

// exitStatuses are the exit codes the reference lists, in order.
var exitStatuses = []struct {
	code int
	name string
	what string
}{
	{zkctl.ExitOK, "ExitOK", "success"},
	{zkctl.ExitError, "ExitError", "any other error, e.g. not authorized (an ACL or the cluster's auth refused the operation)"},
	{zkctl.ExitUsage, "ExitUsage", "bad flags, arguments or paths; no cluster configured"},
	{zkctl.ExitNoNode, "ExitNoNode", "the node does not exist"},
	{zkctl.ExitConflict, "ExitConflict", "the node exists, a version did not match, the node has children, a lock is held"},
	{zkctl.ExitUnavailable, "ExitUnavailable", "the cluster could not be reached, or the session was lost; health: no member is up"},
	{zkctl.ExitTimeout, "ExitTimeout", "--request-timeout or --timeout ran out"},
	{zkctl.ExitUnhealthy, "ExitUnhealthy", "health: a member is down or not serving, no leader, an alarm, or a threshold breached"},
	{zkctl.ExitLockLost, "ExitLockLost", "lock, elect: the lock or leadership was lost and the child was stopped; queue take, queue drain: the item was lost before it was acknowledged"},
	{zkctl.ExitWrapperError, "ExitWrapperError", "a command wrapping a child (lock, elect, watch --, queue take --): zkctl itself failed"},
	{zkctl.ExitCannotRun, "ExitCannotRun", "the child command was found but could not run"},
	{zkctl.ExitNotFound, "ExitNotFound", "the child command was not found"},
	{zkctl.ExitInterrupted, "ExitInterrupted", "SIGINT or SIGTERM"},
}

// referenceMarkdown renders docs/zkctl.md from the app itself: the global
// flags with their environment variables, every visible command and
// subcommand with its usage, description and flags, then the exit statuses.
// (urfave/cli's own ToMarkdown leaves out descriptions, arguments and
// environment variables.)
func referenceMarkdown() (string, error) {
	app := New(zkctl.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	var b strings.Builder
	b.WriteString("<!-- Generated from zkctl's commands by `go generate ./cmd/zkctl` (ZKCTL_UPDATE_DOCS=1 go test -run TestReferenceUpToDate ./cmd/zkctl/internal/app). Do not edit. -->\n\n")
	fmt.Fprintf(&b, "# zkctl\n\n%s\n\n```\nzkctl [global options] COMMAND [options] [arguments]\n```\n\n", refUpper(app.Usage))
	b.WriteString("Flags go anywhere before `--`: a command's flags before or after its arguments, global flags before or after the command (`zkctl ls / -l -e zk://127.0.0.1:2181`). A word that names a flag of the command is the command's (`create -e` is `--ephemeral`), else a global one (`ls -e` is `--endpoints`). For the commands that run a COMMAND (lock, elect, watch, queue take, task worker, barrier enter), everything before `--` is flags and PATH: any other word there is a usage error (exit 2), never run. `task worker` has no PATH and also takes its COMMAND without `--`, after its flags.\n\n")
	b.WriteString("Data goes to stdout, diagnostics to stderr. Every global flag can also be set by its environment variable.\n\n")
	b.WriteString("## Global options\n\n")
	refFlags(&b, app.Flags)
	b.WriteString("## Commands\n\n")
	for _, c := range app.Commands {
		if !c.Hidden {
			fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", c.Name, refAnchor("zkctl "+c.Name), c.Usage)
		}
	}
	b.WriteString("\n")
	for _, c := range app.Commands {
		refCommand(&b, "zkctl", c)
	}
	b.WriteString("## Exit status\n\n| code | name | meaning |\n|---|---|---|\n")
	for _, s := range exitStatuses {
		fmt.Fprintf(&b, "| %d | %s | %s |\n", s.code, s.name, s.what)
	}
	return b.String(), nil
}

func refCommand(b *strings.Builder, parent string, c *cli.Command) {
	if c.Hidden {
		return
	}
	name := parent + " " + c.Name
	fmt.Fprintf(b, "### %s\n\n%s\n\n", name, refUpper(c.Usage))
	if len(c.Aliases) > 0 {
		fmt.Fprintf(b, "Aliases: %s\n\n", strings.Join(c.Aliases, ", "))
	}
	usage := c.UsageText
	if usage == "" {
		usage = name
		if len(c.VisibleFlags()) > 0 {
			usage += " [options]"
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			usage += " COMMAND"
		}
		if c.ArgsUsage != "" {
			usage += " " + c.ArgsUsage
		}
	}
	fmt.Fprintf(b, "```\n%s\n```\n\n", strings.TrimSpace(usage))
	if d := strings.TrimSpace(c.Description); d != "" {
		fmt.Fprintf(b, "```text\n%s\n```\n\n", d)
	}
	refFlags(b, c.Flags)
	for _, sub := range c.Subcommands {
		refCommand(b, name, sub)
	}
}

// refFlags writes a table of flags: names, default, environment, usage.
func refFlags(b *strings.Builder, flags []cli.Flag) {
	var rows []string
	for _, f := range flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		var names []string
		for _, n := range df.Names() {
			if len(n) == 1 {
				names = append(names, "`-"+n+"`")
			} else {
				names = append(names, "`--"+n+"`")
			}
		}
		def := ""
		if df.TakesValue() {
			def = df.GetDefaultText()
			if def == "" {
				def = df.GetValue()
			}
			switch def {
			case "", "0", "0s", `""`, "false":
				def = ""
			default:
				def = "`" + def + "`"
			}
		}
		var env []string
		for _, e := range df.GetEnvVars() {
			env = append(env, "`"+e+"`")
		}
		usage := strings.ReplaceAll(df.GetUsage(), "|", `\|`)
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |", strings.Join(names, ", "), def, strings.Join(env, ", "), usage))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("| flag | default | environment | meaning |\n|---|---|---|---|\n")
	b.WriteString(strings.Join(rows, "\n"))
	b.WriteString("\n\n")
}

// refAnchor is the anchor GitHub gives a heading.
func refAnchor(heading string) string {
	var a strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			a.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			a.WriteRune(r)
		}
	}
	return a.String()
}

func refUpper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
