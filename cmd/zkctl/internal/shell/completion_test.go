package shell_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestCompletionScripts(t *testing.T) {
	checkers := map[string][]string{
		"bash": {"bash", "-n"},
		"zsh":  {"zsh", "-n"},
		"fish": {"fish", "--no-execute"},
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			r := zkctltest.Run(t, "", "completion", sh)
			if r.Code != zkctl.ExitOK || !strings.Contains(r.Out, "zkctl") || !strings.Contains(r.Out, "__complete") {
				t.Fatalf("completion %s: exit %d, stdout %q, stderr %q", sh, r.Code, r.Out, r.ErrOut)
			}
			check := checkers[sh]
			bin, err := exec.LookPath(check[0])
			if err != nil {
				t.Skipf("%s is not installed: no syntax check", check[0])
			}
			file := filepath.Join(t.TempDir(), "zkctl."+sh)
			if err := os.WriteFile(file, []byte(r.Out), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, append(check[1:], file)...).CombinedOutput(); err != nil {
				t.Fatalf("%s rejects the script: %v\n%s", check[0], err, out)
			}
		})
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		if r := zkctltest.Run(t, "", args...); r.Code != zkctl.ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, r.Code, zkctl.ExitUsage)
		}
	}
}

// TestCompletionBash runs the bash script's function with a stand-in zkctl
// that records its arguments, to check how the line is split and what
// COMPREPLY holds.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := zkctltest.Run(t, "", "completion", "bash").Out
	dir := t.TempDir()
	tests := []struct {
		line    string
		answers string // what the stand-in prints
		args    string // the arguments it should get
		reply   string // COMPREPLY, joined with |
	}{
		{"zkctl ge", "get", "__complete -- ge", "get |"},
		{"zkctl --endpoints zk://127.0.0.1:2181/app get /a", "/a/b\n/a/c", "__complete -- --endpoints zk://127.0.0.1:2181/app get /a", "/a/b|/a/c|"},
		{"zkctl ls ", "", "__complete -- ls ", ""},
		{"zkctl -e etcd://h:1 ls /x:y", "/x:yz", "__complete -- -e etcd://h:1 ls /x:y", "yz|"},
	}
	for _, tt := range tests {
		argsFile := filepath.Join(dir, "args")
		prog := script + `
zkctl() { printf '%s ' "$@" > "$ARGS"; [ -n "$ANSWERS" ] && printf '%s\n' "$ANSWERS"; }
COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}
_zkctl_complete
printf '%s|' "${COMPREPLY[@]}"
`
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Env = append(os.Environ(), "ARGS="+argsFile, "ANSWERS="+tt.answers, "LINE="+tt.line)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tt.line, err, out)
		}
		args, _ := os.ReadFile(argsFile)
		if got := strings.TrimSuffix(string(args), " "); got != tt.args {
			t.Errorf("%q: zkctl got %q, want %q", tt.line, got, tt.args)
		}
		if string(out) != tt.reply && !(tt.reply == "" && string(out) == "|") {
			t.Errorf("%q: COMPREPLY %q, want %q", tt.line, out, tt.reply)
		}
	}
}

func TestCompleteCommand(t *testing.T) {
	lines := func(s string) []string { return strings.Fields(s) }
	r := zkctltest.Run(t, "", "__complete", "--", "ge")
	if r.Code != zkctl.ExitOK || !slices.Equal(lines(r.Out), []string{"get"}) {
		t.Fatalf("__complete ge: exit %d, %q", r.Code, r.Out)
	}
	r = zkctltest.Run(t, "", "__complete", "--", "")
	if got := lines(r.Out); !slices.Contains(got, "shell") || !slices.Contains(got, "health") || slices.Contains(got, "__complete") || slices.Contains(got, "exit") {
		t.Fatalf("__complete of nothing: %q", got)
	}
	r = zkctltest.Run(t, "", "__complete", "--", "health", "--max-o")
	if !slices.Equal(lines(r.Out), []string{"--max-outstanding"}) {
		t.Fatalf("__complete health --max-o: %q", r.Out)
	}
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			for _, p := range []string{"/cc/one", "/cc/two"} {
				if r := zkctltest.Run(t, "", "--endpoints", ep, "create", "-p", p); r.Code != zkctl.ExitOK {
					t.Fatalf("create %s: %q", p, r.ErrOut)
				}
			}
			// The cluster typed on the line.
			r := zkctltest.Run(t, "", "__complete", "--", "--endpoints", ep, "get", "/cc/")
			if !slices.Equal(lines(r.Out), []string{"/cc/one", "/cc/two"}) {
				t.Fatalf("__complete paths (typed endpoints): exit %d, %q, stderr %q", r.Code, r.Out, r.ErrOut)
			}
			// The cluster typed after the command.
			r = zkctltest.Run(t, "", "__complete", "--", "get", "-e", ep, "/cc/o")
			if !slices.Equal(lines(r.Out), []string{"/cc/one"}) {
				t.Fatalf("__complete paths (endpoints after the command): exit %d, %q, stderr %q", r.Code, r.Out, r.ErrOut)
			}
			// The cluster from the environment.
			t.Setenv("ZKCTL_ENDPOINTS", ep)
			r = zkctltest.Run(t, "", "__complete", "--", "ls", "/cc/t")
			if !slices.Equal(lines(r.Out), []string{"/cc/two"}) {
				t.Fatalf("__complete paths (ZKCTL_ENDPOINTS): exit %d, %q, stderr %q", r.Code, r.Out, r.ErrOut)
			}
		})
	}
}
