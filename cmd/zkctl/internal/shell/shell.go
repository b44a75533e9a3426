package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// ErrUnterminatedQuote is a shell line whose quote is not closed.
var ErrUnterminatedQuote = errors.New("shell: unterminated quote")

const shellDescription = `Reads commands, one per line, and runs each as zkctl's arguments with the
global flags the shell was started with: "ls /", "get /a", "-o json stat /a".
Words are split as a POSIX shell splits them: 'single' and "double" quotes,
backslash escapes; a # at the start of a word begins a comment.

On a terminal it shows a prompt, keeps the session's history (up and down
arrows) and completes with TAB: command names, flags, and node paths (the
children of the typed path's parent). "exit [N]", Ctrl-D or Ctrl-C at the
prompt leave; Ctrl-C while a command runs interrupts it and ends the shell.

When standard input is not a terminal (zkctl shell < script) the lines run
without a prompt and the shell exits with the status of the last command, or
at once with the status of the first failing one when --errexit is given.`

// Runner runs zkctl with args (args[0] is the program) and returns its
// exit code: app.Run, which the shell runs each line with.
type Runner func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Commands are shell and completion (and the hidden __complete the
// completion scripts call). run runs each line of the shell.
func Commands(io zkctl.Streams, run Runner) []*cli.Command {
	return []*cli.Command{shellCommand(io, run), completionCommand(io), completeCommand(io)}
}

func shellCommand(io zkctl.Streams, run Runner) *cli.Command {
	return &cli.Command{
		Name:        "shell",
		Usage:       "an interactive prompt running zkctl commands, with history and completion",
		Description: shellDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "errexit", Aliases: []string{"e"}, Usage: "stop at the first failing command"},
		},
		Action: func(c *cli.Context) error { return shell(c, io, run) },
	}
}

// zkShell runs lines as zkctl commands.
type zkShell struct {
	ctx     context.Context
	run     Runner
	globals []string // the global flags the shell was started with
	io      zkctl.Streams
	comp    *shellCompleter
}

func shell(c *cli.Context, io zkctl.Streams, run Runner) error {
	if c.NArg() > 0 {
		return zkctl.Usagef("shell takes no arguments; pipe a script to its standard input")
	}
	sh := &zkShell{ctx: c.Context, run: run, globals: shellGlobals(c), io: io}
	sh.comp = &shellCompleter{commands: c.App.Commands, globals: c.App.Flags, inShell: true}
	if strings.TrimSpace(c.String("endpoints")) != "" {
		lister := &shellLister{c: c}
		defer lister.close()
		sh.comp.children = lister.children
		sh.ctx = zkctl.WithSharedSession(sh.ctx, c, lister.open)
	}
	if in, ok := io.In.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		if out, ok := io.Out.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
			return sh.interactive(in, out)
		}
	}
	return sh.script(c.Bool("errexit"))
}

// shellGlobals returns the global flags set on the command line or in the
// environment, as arguments for each line's run.
func shellGlobals(c *cli.Context) []string {
	var args []string
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if c.IsSet(name) {
			args = append(args, fmt.Sprintf("--%s=%v", name, c.Value(name)))
		}
	}
	return args
}

// script runs the lines of standard input without a prompt.
func (sh *zkShell) script(errexit bool) error {
	sc := bufio.NewScanner(sh.io.In)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	code := zkctl.ExitOK
	for sc.Scan() {
		c, quit := sh.runLine(sc.Text(), sh.io.Out, sh.io.Err)
		if c >= 0 {
			code = c
		}
		if quit || (errexit && code != zkctl.ExitOK) || sh.ctx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("shell: reading commands: %w", err)
	}
	if err := sh.ctx.Err(); err != nil {
		return err
	}
	if code != zkctl.ExitOK {
		return zkctl.StatusError{Code: code}
	}
	return nil
}

// interactive runs a prompt on a terminal: raw mode while a line is edited,
// the terminal's own mode while its command runs (so Ctrl-C interrupts it).
func (sh *zkShell) interactive(in, out *os.File) error {
	fd := int(in.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	defer term.Restore(fd, state)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "zkctl> ")
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			return "", 0, false
		}
		newLine, newPos, cands := sh.comp.complete(sh.ctx, line, pos)
		if newLine == line && len(cands) > 1 {
			fmt.Fprintln(t, strings.Join(cands, "  "))
		}
		return newLine, newPos, true
	}
	for {
		if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 {
			t.SetSize(w, h)
		}
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(t)
			return nil
		}
		if err != nil {
			return fmt.Errorf("shell: %w", err)
		}
		term.Restore(fd, state)
		code, quit := sh.runLine(line, out, sh.io.Err)
		if quit {
			if code > 0 {
				return zkctl.StatusError{Code: code}
			}
			return nil
		}
		if sh.ctx.Err() != nil {
			return sh.ctx.Err()
		}
		if _, err := term.MakeRaw(fd); err != nil {
			return fmt.Errorf("shell: %w", err)
		}
	}
}

// runLine runs one line and returns its exit status (-1 for an empty line)
// and whether the shell should end.
func (sh *zkShell) runLine(line string, out, errOut io.Writer) (int, bool) {
	words, err := SplitWords(line)
	if err != nil {
		fmt.Fprintf(errOut, "zkctl: %v\n", err)
		return zkctl.ExitUsage, false
	}
	if len(words) == 0 {
		return -1, false
	}
	switch words[0] {
	case "exit", "quit":
		if len(words) > 1 {
			n, err := strconv.Atoi(words[1])
			if err != nil || n < 0 || n > 255 {
				fmt.Fprintf(errOut, "zkctl: exit %q: want a status 0-255\n", words[1])
				return zkctl.ExitUsage, false
			}
			return n, true
		}
		return zkctl.ExitOK, true
	case "shell":
		fmt.Fprintln(errOut, "zkctl: already in a shell")
		return zkctl.ExitUsage, false
	}
	args := append([]string{"zkctl"}, sh.globals...)
	return sh.run(sh.ctx, append(args, words...), strings.NewReader(""), out, errOut), false
}

// SplitWords splits a line as a POSIX shell does, without expansions:
// whitespace separates words; 'single quotes' keep everything; "double
// quotes" keep everything but \" and \\; a backslash outside quotes keeps
// the next character; a # starting a word starts a comment.
func SplitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words, nil
		case r == '\\':
			inWord = true
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
		case r == '\'':
			inWord = true
			end := slices.Index(rs[i+1:], '\'')
			if end < 0 {
				return nil, ErrUnterminatedQuote
			}
			cur.WriteString(string(rs[i+1 : i+1+end]))
			i += end + 1
		case r == '"':
			inWord = true
			closed := false
			for i++; i < len(rs); i++ {
				if rs[i] == '"' {
					closed = true
					break
				}
				if rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
					i++
				}
				cur.WriteRune(rs[i])
			}
			if !closed {
				return nil, ErrUnterminatedQuote
			}
		default:
			inWord = true
			cur.WriteRune(r)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// shellBuiltins are the words the shell itself handles.
var shellBuiltins = []string{"exit", "quit"}

// shellCompleter completes a shell line: command names, subcommand names,
// flags and node paths.
type shellCompleter struct {
	commands []*cli.Command
	globals  []cli.Flag // the app's global flags, to skip their values
	inShell  bool       // completing in zkctl shell: builtins, and no nested shell
	// children lists a node's children; nil when no cluster is configured.
	children func(ctx context.Context, path string) ([]string, error)
}

// complete returns the line with the word at pos completed as far as it is
// unambiguous, the new cursor position, and the candidates for the word.
func (sc *shellCompleter) complete(ctx context.Context, line string, pos int) (string, int, []string) {
	before, after := line[:pos], line[pos:]
	start := strings.LastIndexAny(before, " \t") + 1
	word := before[start:]
	cands, final := sc.candidates(ctx, strings.Fields(before[:start]), word)
	if len(cands) == 0 {
		return line, pos, nil
	}
	repl := cands[0]
	for _, c := range cands[1:] {
		repl = commonPrefix(repl, c)
	}
	if len(cands) == 1 && final {
		repl += " "
	}
	if len(repl) < len(word) {
		repl = word
	}
	return before[:start] + repl + after, start + len(repl), cands
}

// candidates returns the sorted completions of word after the words
// before it, and whether a single completion ends the word (a command or
// flag, not a path that may go on).
func (sc *shellCompleter) candidates(ctx context.Context, before []string, word string) ([]string, bool) {
	// Skip global flags and find the command (and subcommand) typed so far.
	var cmd *cli.Command
	cmds := sc.commands
	positional := 0
	for i := 0; i < len(before); i++ {
		w := before[i]
		if strings.HasPrefix(w, "-") {
			flags := sc.globals
			if cmd != nil {
				flags = cmd.Flags
			}
			if takesValue(flags, w) {
				i++
			}
			continue
		}
		if next := zkctl.FindCommand(cmds, w); next != nil && positional == 0 {
			cmd, cmds = next, next.Subcommands
			continue
		}
		positional++
	}
	var out []string
	final := true
	switch {
	case strings.HasPrefix(word, "-") && cmd != nil:
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				flag := "--" + n
				if len(n) == 1 {
					flag = "-" + n
				}
				if strings.HasPrefix(flag, word) {
					out = append(out, flag)
				}
			}
		}
	case strings.HasPrefix(word, "/"):
		final = false
		if sc.children == nil {
			return nil, false
		}
		dir := word[:strings.LastIndex(word, "/")+1]
		parent := strings.TrimSuffix(dir, "/")
		if parent == "" {
			parent = "/"
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		kids, err := sc.children(ctx, parent)
		if err != nil {
			return nil, false
		}
		for _, k := range kids {
			if p := dir + k; strings.HasPrefix(p, word) {
				out = append(out, p)
			}
		}
	case positional == 0 && (cmd == nil || len(cmd.Subcommands) > 0):
		if cmd == nil && sc.inShell {
			for _, b := range shellBuiltins {
				if strings.HasPrefix(b, word) {
					out = append(out, b)
				}
			}
		}
		for _, c := range cmds {
			if c.Hidden || (sc.inShell && cmd == nil && c.Name == "shell") {
				continue
			}
			for _, n := range c.Names() {
				if strings.HasPrefix(n, word) {
					out = append(out, n)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), final
}

func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

// shellLister is the shell's own client, opened at the first need and kept
// until the shell ends: it lists children for path completion, and its
// session is the one the shell's commands share (see zkctl.WithSharedSession).
type shellLister struct {
	c      *cli.Context
	mu     sync.Mutex
	client backend.Client
}

// session returns the client's live session, connecting the client first
// and opening a new session when the last one was lost.
func (l *shellLister) open(ctx context.Context) (backend.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil {
		client, err := zkctl.Connect(l.c)
		if err != nil {
			return nil, err
		}
		l.client = client
	}
	return l.client.Session(ctx)
}

func (l *shellLister) children(ctx context.Context, path string) ([]string, error) {
	s, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	kids, _, err := s.Children(ctx, path)
	slices.Sort(kids)
	return kids, err
}

func (l *shellLister) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		l.client.Close()
		l.client = nil
	}
}
