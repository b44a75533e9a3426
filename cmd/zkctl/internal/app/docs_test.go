package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/shell"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// The documents whose zkctl command lines TestDocCommandLines checks,
// relative to this package.
var docFiles = []string{"../../../../README.md", "../../../../docs/zkctl.md"}

// docSnippet is a piece of a document that shows zkctl.
type docSnippet struct {
	where string // file:line
	text  string
}

// docSnippets are what a document shows of zkctl: scripts (fenced sh
// blocks of the README with a zkctl line, run as they are), command lines
// (code spans starting with "zkctl " or "go run ./cmd/zkctl", and the
// synopses of the reference's plain fenced blocks), and forms (code spans
// in the README's zkctl section naming a command without "zkctl", such as
// "ls [-R] [-l]", and flags named alone, such as "--grace").
type docSnippets struct {
	scripts, lines, forms []docSnippet
}

var docSpan = regexp.MustCompile("`([^`]+)`")

func readDocSnippets(t *testing.T, app *cli.App) docSnippets {
	t.Helper()
	var d docSnippets
	for _, file := range docFiles {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		readme := filepath.Base(file) == "README.md"
		var para []string
		paraAt, section := 0, ""
		flush := func() {
			text := strings.Join(para, " ")
			for _, m := range docSpan.FindAllStringSubmatch(text, -1) {
				span := strings.TrimSpace(m[1])
				at := docSnippet{fmt.Sprintf("%s:%d", filepath.Base(file), paraAt), span}
				first, _, _ := strings.Cut(span, " ")
				switch {
				case strings.HasPrefix(span, "zkctl ") || span == "zkctl" || strings.HasPrefix(span, "go run ./cmd/zkctl"):
					d.lines = append(d.lines, at)
				case readme && section != "zkctl":
				case zkctl.FindCommand(app.Commands, first) != nil, isFlagWord(first):
					d.forms = append(d.forms, at)
				}
			}
			para = nil
		}
		var fence []string // the open fenced block's lines; nil outside one
		fenceInfo, fenceAt, inFence := "", 0, false
		for i, line := range strings.Split(string(b), "\n") {
			if info, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
				flush()
				if !inFence {
					inFence, fenceInfo, fenceAt, fence = true, info, i+2, nil
					continue
				}
				inFence = false
				var shows bool
				for _, l := range fence {
					l = strings.TrimSpace(l)
					shows = shows || strings.HasPrefix(l, "zkctl ") || strings.HasPrefix(l, "go run ./cmd/zkctl")
				}
				switch {
				case !shows:
				case readme && (fenceInfo == "" || fenceInfo == "sh"):
					d.scripts = append(d.scripts, docSnippet{fmt.Sprintf("%s:%d", filepath.Base(file), fenceAt), strings.Join(fence, "\n")})
				case fenceInfo == "":
					for k, l := range fence {
						if strings.HasPrefix(l, "zkctl") {
							d.lines = append(d.lines, docSnippet{fmt.Sprintf("%s:%d", filepath.Base(file), fenceAt+k), l})
						}
					}
				}
				continue
			}
			if inFence && fenceInfo != "text" {
				fence = append(fence, line)
				continue
			}
			if h, ok := strings.CutPrefix(line, "## "); ok {
				section = strings.TrimSpace(h)
			}
			if strings.TrimSpace(line) == "" {
				flush()
				continue
			}
			if para == nil {
				paraAt = i + 1
			}
			para = append(para, strings.TrimSpace(line))
		}
		flush()
	}
	return d
}

// docWords splits a command line as a shell would, less its "zkctl" or
// "go run ./cmd/zkctl".
func docWords(line string) ([]string, error) {
	words, err := shell.SplitWords(line)
	if err != nil {
		return nil, err
	}
	switch {
	case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/zkctl":
		return words[3:], nil
	case len(words) >= 1 && words[0] == "zkctl":
		return words[1:], nil
	}
	return words, nil
}

var docPlaceholder = regexp.MustCompile(`^[A-Z][A-Z0-9_-]*$`)

// isSynopsis reports whether words show a form (PATH, [-R], DATA|-, ARGS...)
// rather than a line to run.
func isSynopsis(words []string) bool {
	for _, w := range words {
		if docPlaceholder.MatchString(w) || strings.ContainsAny(w, "[]|") || strings.HasSuffix(w, "...") {
			return true
		}
	}
	return false
}

// checkForm checks a form against the parser: its command (and
// subcommand) exist and every flag it names is one of theirs or a global
// one. Alternatives (a|b) are each checked; brackets are dropped. A form
// that starts with a flag (--grace, -o json) names flags only: each must
// be a flag of some command or a global one.
func checkForm(app *cli.App, words []string) error {
	var tokens [][]string
	for _, w := range words {
		w = strings.Trim(strings.TrimSuffix(strings.Trim(w, "[]"), "..."), "[]")
		if w == "--" {
			break // what follows is the wrapped command
		}
		if w != "" {
			tokens = append(tokens, strings.Split(w, "|"))
		}
	}
	if len(tokens) > 0 && isFlagWord(tokens[0][0]) {
		for _, alts := range tokens {
			for _, a := range alts {
				if isFlagWord(a) && !anyFlag(app, a) {
					return fmt.Errorf("%s is not a flag of zkctl or of any of its commands", a)
				}
			}
		}
		return nil
	}
	var p zkctl.Placed
	commands := app.Commands
	for i := 0; i < len(tokens); i++ {
		alts := tokens[i]
		word := alts[0]
		if isFlagWord(word) {
			value := false
			for _, a := range alts {
				if !isFlagWord(a) {
					continue
				}
				if a == "-h" || a == "--help" {
					continue
				}
				_, f := p.Owner(app, a)
				if f == nil {
					return fmt.Errorf("%s is not a flag of %s or a global one", a, docPath(p))
				}
				value = value || (zkctl.FlagTakesValue(f) && !strings.Contains(a, "="))
			}
			if value && i+1 < len(tokens) && !isFlagWord(tokens[i+1][0]) {
				i++ // the flag's value
			}
			continue
		}
		if i == 0 && (docPlaceholder.MatchString(word) || word == "global") {
			commands = nil // "zkctl [global options] COMMAND": no command to check
			continue
		}
		var found []*cli.Command
		for _, a := range alts {
			if c := zkctl.FindCommand(commands, a); c != nil {
				found = append(found, c)
			}
		}
		switch {
		case len(found) == 0 && len(p.Path) == 0 && commands != nil:
			return fmt.Errorf("no command %q", word)
		case len(found) == 0:
			commands = nil // an argument: no subcommand after it
		case len(found) != len(alts):
			return fmt.Errorf("%q: some of these are not commands of %s", strings.Join(alts, "|"), docPath(p))
		default:
			p.Path = append(p.Path, found[0])
			commands = found[0].Subcommands
		}
	}
	return nil
}

// isFlagWord reports whether w is written as a flag: not "-" (stdin), not
// a number ("-1").
func isFlagWord(w string) bool {
	return len(w) > 1 && w[0] == '-' && (w[1] == '-' || ('a' <= w[1] && w[1] <= 'z') || ('A' <= w[1] && w[1] <= 'Z'))
}

// anyFlag reports whether word names a global flag or a flag of any command.
func anyFlag(app *cli.App, word string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(word, "-"), "=")
	if name == "help" || name == "h" || zkctl.FindFlag(app.Flags, name) != nil {
		return true
	}
	var walk func([]*cli.Command) bool
	walk = func(cmds []*cli.Command) bool {
		for _, c := range cmds {
			if zkctl.FindFlag(c.Flags, name) != nil || walk(c.Subcommands) {
				return true
			}
		}
		return false
	}
	return walk(app.Commands)
}

func docPath(p zkctl.Placed) string {
	names := []string{"zkctl"}
	for _, c := range p.Path {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

// TestDocCommandLines runs every zkctl command line of the README and
// docs/zkctl.md against the real servers, and checks every form they show
// (`ls [-R] [-l]`, `lock [--read|--write|-n N] PATH -- COMMAND`) against
// the parser, so that the documents and the parser cannot drift apart.
//
// A line runs in a shell with this test binary as zkctl on the PATH: the
// README's fenced sh blocks as scripts (set -e), once per backend (the
// export of ZKCTL_ENDPOINTS names the other backend the second time);
// code spans that are whole command lines once per backend, with
// ZKCTL_ENDPOINTS set (once when they name their cluster). zk://127.0.0.1:2181 and etcd://127.0.0.1:2379 stand
// for the real servers, in a namespace of the run's own; `go run
// ./cmd/zkctl` is zkctl; a demo gets --pace 0. A bare "zkctl COMMAND" is a
// mention: only its command is checked. Each must exit 0.
//
// (Before flags could come anywhere, the README's `zkctl demo --endpoints
// URL` failed here: make run skip zkctl.PlaceArgs to see it.)
func TestDocCommandLines(t *testing.T) {
	app := app.New(zkctl.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	d := readDocSnippets(t, app)
	if len(d.scripts) < 2 || len(d.lines) < 10 || len(d.forms) < 10 {
		t.Fatalf("found %d scripts, %d command lines, %d forms: the documents' layout changed under this test", len(d.scripts), len(d.lines), len(d.forms))
	}
	var runs []docSnippet
	for _, l := range d.lines {
		words, err := docWords(l.text)
		if err != nil {
			t.Errorf("%s: %q: %v", l.where, l.text, err)
			continue
		}
		p := zkctl.PlaceArgs(app, append([]string{"zkctl"}, words...))
		if isSynopsis(words) || len(words) == len(p.Path) {
			if err := checkForm(app, words); err != nil {
				t.Errorf("%s: %q: %v", l.where, l.text, err)
			}
			continue
		}
		if len(p.Unknown) > 0 {
			t.Errorf("%s: %q: %v are not flags of %s", l.where, l.text, p.Unknown, docPath(p))
		}
		runs = append(runs, l)
	}
	for _, f := range d.forms {
		words, err := shell.SplitWords(f.text)
		if err == nil {
			err = checkForm(app, words)
		}
		if err != nil {
			t.Errorf("%s: %q: %v", f.where, f.text, err)
		}
	}
	if t.Failed() {
		return
	}

	bin := zkctltest.OnPath(t)
	zkServers := strings.Join(testenv.ZooKeeper(t), ",")
	etcdServers := strings.Join(testenv.Etcd(t), ",")
	ns := testenv.Namespace(t)
	// run runs text in sh in a directory of its own, once for the backend.
	run := func(t *testing.T, backend, where, text string, env ...string) {
		t.Helper()
		runNS := ns + "/" + backend
		text = strings.ReplaceAll(text, "go run ./cmd/zkctl", "zkctl")
		if backend == "etcd" {
			text = strings.ReplaceAll(text, "export ZKCTL_ENDPOINTS=zk://127.0.0.1:2181", "export ZKCTL_ENDPOINTS=etcd://127.0.0.1:2379")
		}
		text = strings.ReplaceAll(text, "zk://127.0.0.1:2181", "zk://"+zkServers+runNS)
		text = strings.ReplaceAll(text, "etcd://127.0.0.1:2379", "etcd://"+etcdServers+runNS)
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if w, _ := docWords(l); len(w) > 0 && w[0] == "demo" && strings.HasPrefix(strings.TrimSpace(l), "zkctl") {
				l += " --pace 0"
			}
			lines = append(lines, l)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-e", "-x", "-c", strings.Join(lines, "\n"))
		cmd.Dir = t.TempDir()
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "ZKCTL_") }),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Env = append(cmd.Env, env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("%s (%s): %v; the shell said:\n%s", where, backend, err, out.String())
		}
	}
	for _, backend := range []string{"zk", "etcd"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel() // processes of their own, in namespaces of their own
			for _, s := range d.scripts {
				if backend == "etcd" && !strings.Contains(s.text, "export ZKCTL_ENDPOINTS=zk://") {
					continue // it does not depend on the backend: once is enough
				}
				run(t, backend, s.where, s.text)
			}
			endpoints := "zk://" + zkServers + ns + "/" + backend
			if backend == "etcd" {
				endpoints = "etcd://" + etcdServers + ns + "/" + backend
			}
			for _, l := range runs {
				if backend == "etcd" && strings.Contains(l.text, "://") {
					continue // it names its cluster: once is enough
				}
				run(t, backend, l.where, l.text, "ZKCTL_ENDPOINTS="+endpoints)
			}
		})
	}
}
