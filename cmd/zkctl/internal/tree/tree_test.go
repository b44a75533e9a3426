package tree_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

func TestTreeCommands(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			want := func(r zkctltest.Result, code int, what string) {
				t.Helper()
				if r.Code != code {
					t.Fatalf("%s: exit %d (stderr %q), want %d", what, r.Code, r.ErrOut, code)
				}
				if code != zkctl.ExitOK && strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 {
					t.Fatalf("%s: error is not one line: %q", what, r.ErrOut)
				}
			}
			want(zkctltest.Run(t, "", e("create", "-p", "/a/b", "hello")...), zkctl.ExitOK, "create -p")
			r := zkctltest.Run(t, "", e("get", "/a/b")...)
			want(r, zkctl.ExitOK, "get")
			if r.Out != "hello\n" {
				t.Fatalf("get printed %q", r.Out)
			}
			r = zkctltest.Run(t, "", e("get", "--raw", "/a/b")...)
			if r.Out != "hello" {
				t.Fatalf("get --raw printed %q", r.Out)
			}
			want(zkctltest.Run(t, "from stdin", e("set", "-v", "0", "/a/b", "-")...), zkctl.ExitOK, "set from stdin")
			r = zkctltest.Run(t, "", e("-o", "json", "get", "--stat", "/a/b")...)
			var n struct {
				Path, Data string
				Stat       struct{ Version int32 }
			}
			if err := json.Unmarshal([]byte(r.Out), &n); err != nil || n.Data != "from stdin" || n.Stat.Version != 1 {
				t.Fatalf("get -o json = %q (%v)", r.Out, err)
			}
			want(zkctltest.Run(t, "", e("set", "-v", "0", "/a/b", "stale")...), zkctl.ExitConflict, "set with a stale version")
			want(zkctltest.Run(t, "", e("create", "/a/b")...), zkctl.ExitConflict, "create existing")
			want(zkctltest.Run(t, "", e("get", "/nope")...), zkctl.ExitNoNode, "get missing")
			want(zkctltest.Run(t, "", e("get", "nope")...), zkctl.ExitUsage, "bad path")
			want(zkctltest.Run(t, "", e("get", "--bogus", "/a")...), zkctl.ExitUsage, "bad flag")
			want(zkctltest.Run(t, "", e("rm", "/a")...), zkctl.ExitConflict, "rm with children")
			r = zkctltest.Run(t, "", e("create", "-s", "/a/s-")...)
			want(r, zkctl.ExitOK, "create -s")
			if !strings.HasPrefix(r.Out, "/a/s-") || len(strings.TrimSpace(r.Out)) != len("/a/s-")+10 {
				t.Fatalf("create -s printed %q", r.Out)
			}
			r = zkctltest.Run(t, "", e("ls", "/a")...)
			if lines := strings.Fields(r.Out); len(lines) != 2 || lines[0] != "b" {
				t.Fatalf("ls printed %q", r.Out)
			}
			r = zkctltest.Run(t, "", e("ls", "-R", "/")...)
			if !strings.Contains(r.Out, "/a/b\n") {
				t.Fatalf("ls -R printed %q", r.Out)
			}
			r = zkctltest.Run(t, "", e("ls", "-l", "/a")...)
			if !strings.Contains(r.Out, "NAME") || !strings.Contains(r.Out, "10") {
				t.Fatalf("ls -l printed %q", r.Out)
			}
			r = zkctltest.Run(t, "", e("-o", "json", "stat", "/a")...)
			if !strings.Contains(r.Out, `"num_children":2`) {
				t.Fatalf("stat -o json printed %q", r.Out)
			}
			big := strings.Repeat("x", 2<<20)
			r = zkctltest.Run(t, big, e("set", "/a/b", "-")...)
			want(r, zkctl.ExitError, "data too large")
			if !strings.Contains(r.ErrOut, "too large") {
				t.Fatalf("data too large said %q", r.ErrOut)
			}
			want(zkctltest.Run(t, "", e("rm", "-r", "/a")...), zkctl.ExitOK, "rm -r")
			want(zkctltest.Run(t, "", e("stat", "/a")...), zkctl.ExitNoNode, "stat removed")
			want(zkctltest.Run(t, "", e("-o", "yaml", "stat", "/")...), zkctl.ExitUsage, "bad output format")
		})
	}
}

func TestUnreachable(t *testing.T) {
	// Port 1 on loopback refuses connections.
	r := zkctltest.Run(t, "", "--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "2s", "get", "/x")
	if r.Code != zkctl.ExitUnavailable {
		t.Fatalf("unreachable etcd: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitUnavailable)
	}
	r = zkctltest.Run(t, "", "--endpoints", "zk://127.0.0.1:1", "--request-timeout", "2s", "get", "/x")
	if r.Code != zkctl.ExitUnavailable {
		t.Fatalf("unreachable zk: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitUnavailable)
	}
}
