package app_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// TestPlaceArgs: every flag goes where urfave/cli reads it, and nothing
// after "--" moves. (Before zkctl.PlaceArgs, `lock /l --timeout 1s -- true` ran a
// program named --timeout and `demo --endpoints URL` failed: make run skip
// zkctl.PlaceArgs to see TestFlagsAnywhere and this test fail.)
func TestPlaceArgs(t *testing.T) {
	app := app.New(zkctl.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	for _, tt := range []struct{ in, want string }{
		{"ls / -l", "ls -l /"},
		{"ls / -l -R", "ls -l -R /"},
		{"ls -e zk://h /", "-e zk://h ls /"},
		{"ls / -e zk://h", "-e zk://h ls /"},
		{"ls / --endpoints=zk://h -o json", "--endpoints=zk://h -o json ls /"},
		{"-o json get /x", "-o json get /x"},
		{"demo --endpoints zk://h --pace 0", "--endpoints zk://h demo --pace 0"},
		{"create -e /x", "create -e /x"},     // create's --ephemeral, not --endpoints
		{"create /x -e", "create -e /x"},     // the same after the path
		{"shell -e", "shell -e"},             // shell's --errexit
		{"set -v -1 /x d", "set -v -1 /x d"}, // a value that looks like a flag
		{"set /x -5", "set /x -5"},           // data that names no flag stays data
		{"set /x -- -e", "set /x -- -e"},     // after "--", data
		{"get /x --bogus", "get /x --bogus"}, // unknown: left for urfave/cli to refuse
		{"get /x --request-timeout 5s", "--request-timeout 5s get /x"},
		{"lock /l --timeout 1s -- true", "lock --timeout 1s /l -- true"},
		{"lock /l -n 2 --read -- sh -c x -e y", "lock -n 2 --read /l -- sh -c x -e y"},
		{"lock /l --bogus -- true", "lock /l --bogus -- true"},
		{"lock holders /l -o json --layout kazoo", "-o json lock holders --layout kazoo /l"},
		{"lock --timeout 1s holders /l", "lock --timeout 1s holders /l"},
		{"elect /e --id n1 --value v -- cmd --id", "elect --id n1 --value v /e -- cmd --id"},
		{"elect leader /e --layout kazoo", "elect leader --layout kazoo /e"},
		{"elect /leader", "elect /leader"},
		{"watch /p -R -n 2 -- cmd", "watch -R -n 2 /p -- cmd"},
		{"restore f.json --to /x -n", "restore --to /x -n f.json"},
		{"ls / --help", "ls --help"},
		{"lock /l --help -- x", "lock --help"},
		{"__complete -- ls -e", "__complete -- ls -e"},
		{"nosuchcommand -o json", "-o json nosuchcommand"},
	} {
		got := zkctl.PlaceArgs(app, append([]string{"zkctl"}, strings.Fields(tt.in)...)).Args("zkctl")
		if g := strings.Join(got[1:], " "); g != tt.want {
			t.Errorf("zkctl %s: placed as %q, want %q", tt.in, g, tt.want)
		}
	}
}

// TestFlagsAnywhere runs command lines with flags after the arguments and
// global flags after the command; for the commands that wrap a COMMAND, a
// word before "--" that is neither a flag nor PATH is a usage error and
// the COMMAND never runs.
func TestFlagsAnywhere(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ran := filepath.Join(dir, "ran")
			for _, row := range []struct {
				args []string
				code int
				out  string // what stdout must hold
			}{
				{[]string{"create", "/a/b", "hello", "-p", "--endpoints", ep}, zkctl.ExitOK, "/a/b"},
				{[]string{"get", "/a/b", "--stat", "-o", "json", "--endpoints", ep}, zkctl.ExitOK, `"stat":{"version":0`},
				{[]string{"ls", "-e", ep, "/a"}, zkctl.ExitOK, "b\n"},
				{[]string{"set", "/a/b", "-e", ep, "--", "-e"}, zkctl.ExitOK, ""},
				{[]string{"get", "/a/b", "-e", ep}, zkctl.ExitOK, "-e\n"},
				{[]string{"-e", ep, "create", "/eph", "-e"}, zkctl.ExitOK, "/eph"}, // -e after create: --ephemeral
				{[]string{"-e", ep, "stat", "/eph"}, zkctl.ExitNoNode, ""},         // gone with the session
				{[]string{"lock", "/locks/f", "--timeout", "20s", "-e", ep, "--", "sh", "-c", "echo ran-$ZKCTL_LOCK_PATH"}, zkctl.ExitOK, "ran-/locks/f\n"},
				{[]string{"lock", "/locks/f", "-n", "2", "-e", ep, "--", "true"}, zkctl.ExitOK, ""},
				{[]string{"elect", "/e", "--id", "n1", "--value", "v", "-e", ep, "--", "sh", "-c", "echo led-$ZKCTL_ELECTION_PATH"}, zkctl.ExitOK, "led-/e\n"},
				{[]string{"lock", "/locks/f", "--bogus", "-e", ep, "--", "touch", ran}, zkctl.ExitUsage, ""},
				{[]string{"lock", "/locks/f", "extra", "-e", ep, "--", "touch", ran}, zkctl.ExitUsage, ""},
				{[]string{"lock", "/locks/f", "touch", ran, "-e", ep}, zkctl.ExitUsage, ""},
				{[]string{"elect", "/e", "--timeout", "1s", "--nope", "-e", ep, "--", "touch", ran}, zkctl.ExitUsage, ""},
				{[]string{"watch", "/a", "-R", "--bogus", "-e", ep, "--", "touch", ran}, zkctl.ExitUsage, ""},
				{[]string{"watch", "/a", "touch", ran, "-e", ep}, zkctl.ExitUsage, ""},
			} {
				r := zkctltest.Run(t, "", row.args...)
				if r.Code != row.code || !strings.Contains(r.Out, row.out) {
					t.Errorf("zkctl %s: exit %d, stdout %q (stderr %q); want %d and %q", strings.Join(row.args, " "), r.Code, r.Out, r.ErrOut, row.code, row.out)
				}
			}
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("a command line with a usage error ran its command")
			}
		})
	}
}
