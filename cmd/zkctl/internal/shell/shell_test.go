package shell_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/shell"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"  ls   /a  ", []string{"ls", "/a"}, nil},
		{`set /a "hello world"`, []string{"set", "/a", "hello world"}, nil},
		{`set /a 'it''s' x`, []string{"set", "/a", "its", "x"}, nil},
		{`set /a "say \"hi\" \\ \n"`, []string{"set", "/a", `say "hi" \ \n`}, nil},
		{`create /a\ b`, []string{"create", "/a b"}, nil},
		{`set /a ''`, []string{"set", "/a", ""}, nil},
		{"get /a # a comment", []string{"get", "/a"}, nil},
		{"get /a#b", []string{"get", "/a#b"}, nil},
		{"# only a comment", nil, nil},
		{`set /a "open`, nil, shell.ErrUnterminatedQuote},
		{`set /a 'open`, nil, shell.ErrUnterminatedQuote},
	}
	for _, tt := range tests {
		got, err := shell.SplitWords(tt.in)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("shell.SplitWords(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestShellScript(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			script := strings.Join([]string{
				`# set up`,
				`create -p /s/a "hello world"`,
				`get /s/a`,
				`create '/s/b c' 'two words'`,
				``,
				`ls /s`,
				`-o json get "/s/b c"`,
				`get /s/nope`,
				`stat /s/a`,
			}, "\n")
			r := zkctltest.Run(t, script, "--endpoints", ep, "shell")
			if r.Code != zkctl.ExitOK {
				t.Fatalf("shell: exit %d, want the last command's 0 (stderr %q)", r.Code, r.ErrOut)
			}
			for _, want := range []string{"hello world\n", "a\nb c\n", `"path":"/s/b c"`, `"data":"two words"`, "num_children = 0\n"} {
				if !strings.Contains(r.Out, want) {
					t.Errorf("shell stdout %q lacks %q", r.Out, want)
				}
			}
			if strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 || !strings.Contains(r.ErrOut, "/s/nope") {
				t.Errorf("shell stderr %q, want one line about /s/nope", r.ErrOut)
			}
			if strings.Contains(r.Out, "zkctl>") {
				t.Errorf("a prompt without a terminal: %q", r.Out)
			}

			// The status of the last command; --errexit stops at the first failure.
			if r := zkctltest.Run(t, "get /s/a\nget /s/nope\n", "--endpoints", ep, "shell"); r.Code != zkctl.ExitNoNode {
				t.Errorf("last command failing: exit %d, want %d", r.Code, zkctl.ExitNoNode)
			}
			r = zkctltest.Run(t, "get /s/nope\ncreate /s/after\n", "--endpoints", ep, "shell", "--errexit")
			if r.Code != zkctl.ExitNoNode {
				t.Errorf("--errexit: exit %d, want %d", r.Code, zkctl.ExitNoNode)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "stat", "/s/after"); r.Code != zkctl.ExitNoNode {
				t.Errorf("--errexit ran the line after the failure: stat exit %d", r.Code)
			}
			// exit N ends the shell with N; a bad line is a usage error and the shell goes on.
			r = zkctltest.Run(t, "get \"/s/a\nexit 4\ncreate /s/never\n", "--endpoints", ep, "shell")
			if r.Code != 4 || !strings.Contains(r.ErrOut, "unterminated quote") {
				t.Errorf("exit 4 after a bad line: exit %d, stderr %q", r.Code, r.ErrOut)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "stat", "/s/never"); r.Code != zkctl.ExitNoNode {
				t.Errorf("the shell ran a line after exit: stat exit %d", r.Code)
			}
		})
	}
}

func TestShellNoEndpoints(t *testing.T) {
	t.Setenv("ZKCTL_ENDPOINTS", "")
	r := zkctltest.Run(t, "get /x\n", "shell")
	if r.Code != zkctl.ExitUsage || strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 || !strings.Contains(r.ErrOut, "zkctl dev") {
		t.Fatalf("shell without a cluster: exit %d, stderr %q; want %d and the one-line hint", r.Code, r.ErrOut, zkctl.ExitUsage)
	}
	for _, args := range [][]string{{"health"}, {"get", "/x"}, {"--endpoints", " ", "ls", "/"}} {
		r := zkctltest.Run(t, "", args...)
		if r.Code != zkctl.ExitUsage || strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 ||
			!strings.Contains(r.ErrOut, "--endpoints zk://127.0.0.1:2181") || !strings.Contains(r.ErrOut, "etcd://127.0.0.1:2379") ||
			!strings.Contains(r.ErrOut, "ZKCTL_ENDPOINTS") || !strings.Contains(r.ErrOut, "zkctl dev") {
			t.Errorf("%q without a cluster: exit %d, stderr %q; want %d and the one-line hint", args, r.Code, r.ErrOut, zkctl.ExitUsage)
		}
	}
}

// shcContext returns a cli.Context with the app's global flags, --endpoints
// set to ep, as a command's action would see it.
func shcContext(t *testing.T, ep string) (*cli.App, *cli.Context) {
	t.Helper()
	a := app.New(zkctl.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	set := flag.NewFlagSet("zkctl", flag.ContinueOnError)
	for _, f := range a.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--endpoints", ep}); err != nil {
		t.Fatal(err)
	}
	c := cli.NewContext(a, set, nil)
	c.Context = t.Context()
	return a, c
}

func TestShellCompletion(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			for _, p := range []string{"/comp/alpha", "/comp/alps", "/comp/beta", "/comp/alpha/x"} {
				if r := zkctltest.Run(t, "", "--endpoints", ep, "create", "-p", p); r.Code != zkctl.ExitOK {
					t.Fatalf("create %s: %q", p, r.ErrOut)
				}
			}
			a, c := shcContext(t, ep)
			lister := shell.NewLister(c)
			defer lister.Close()
			sc := shell.NewCompleter(a.Commands, a.Flags, lister.Children, true)
			tests := []struct {
				line, want string
				cands      []string
			}{
				{"ge", "get ", []string{"get"}},
				{"he", "health ", []string{"health"}},
				{"ex", "exit ", []string{"exit"}},
				{"sh", "sh", nil}, // no shell in the shell
				{"get /comp/al", "get /comp/alp", []string{"/comp/alpha", "/comp/alps"}},
				{"get /comp/b", "get /comp/beta", []string{"/comp/beta"}},
				{"get /co", "get /comp", []string{"/comp"}},
				{"ls /comp/alpha/", "ls /comp/alpha/x", []string{"/comp/alpha/x"}},
				{"get /comp/zzz", "get /comp/zzz", nil},
				{"get /nowhere/x", "get /nowhere/x", nil},
				{"ls --rec", "ls --recursive ", []string{"--recursive"}},
				{"-o json ge", "-o json get ", []string{"get"}},
				{"--endpoints zk://h:1 ge", "--endpoints zk://h:1 get ", []string{"get"}},
				{"get /comp/alpha ", "get /comp/alpha ", nil}, // a second argument of get: nothing
			}
			for _, tt := range tests {
				got, pos, cands := sc.Complete(t.Context(), tt.line, len(tt.line))
				if got != tt.want || pos != len(tt.want) || !slices.Equal(cands, tt.cands) {
					t.Errorf("complete(%q) = %q at %d, candidates %q; want %q at end, %q", tt.line, got, pos, cands, tt.want, tt.cands)
				}
			}
			// All commands for an empty line, and the cursor inside a line.
			_, _, cands := sc.Complete(t.Context(), "", 0)
			for _, want := range []string{"ls", "get", "health", "completion", "exit"} {
				if !slices.Contains(cands, want) {
					t.Errorf("empty line: candidates %q lack %q", cands, want)
				}
			}
			if slices.Contains(cands, "__complete") || slices.Contains(cands, "shell") {
				t.Errorf("empty line: candidates %q show __complete or shell", cands)
			}
			line := "get /comp/b -o json"
			got, pos, _ := sc.Complete(t.Context(), line, len("get /comp/b"))
			if got != "get /comp/beta -o json" || pos != len("get /comp/beta") {
				t.Errorf("complete in the middle = %q at %d", got, pos)
			}
		})
	}
}

func TestShellCompletionCancelled(t *testing.T) {
	// Without a cluster, paths complete to nothing and commands still do.
	a := app.New(zkctl.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	sc := shell.NewCompleter(a.Commands, a.Flags, nil, true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got, _, _ := sc.Complete(ctx, "get /a", 6); got != "get /a" {
		t.Errorf("path without a cluster: %q", got)
	}
	if got, _, _ := sc.Complete(ctx, "cre", 3); got != "create " {
		t.Errorf("command without a cluster: %q", got)
	}
}
