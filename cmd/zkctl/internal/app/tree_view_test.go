package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// treeVTree is the tree the tree, find and grep tests read, under /t.
var treeVTree = []dumpTNode{
	{"/", nil},
	{"/app", []byte("name=app")},
	{"/app/config", []byte("port=80\nhost=example\nPORT=81")},
	{"/app/config-old", []byte("port=79")},
	{"/app/config/blob", []byte{0xff, 'p', 'o', 'r', 't'}},
	{"/app/locks", nil},
	{"/other", []byte("nothing here")},
}

func TestTreeViewCommands(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := observer(t, ep)
			dumpTBuild(t, s, "/t", treeVTree)

			r := dumpTWant(t, zkctlRun(t, "", e("tree", "/t")...), zkctl.ExitOK, "tree")
			want := "/t [0 B, 2 children]\n" +
				"  app [8 B, 3 children]\n" +
				"    config [28 B, 1 children]\n" +
				"      blob [5 B]\n" +
				"    config-old [7 B]\n" +
				"    locks [0 B]\n" +
				"  other [12 B]\n"
			if r.out != want {
				t.Fatalf("tree printed\n%s\nwant\n%s", r.out, want)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("tree", "/t", "--depth", "1")...), zkctl.ExitOK, "tree --depth 1")
			if r.out != "/t [0 B, 2 children]\n  app [8 B, 3 children]\n  other [12 B]\n" {
				t.Fatalf("tree --depth 1 printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("-o", "json", "tree", "/t/app/config")...), zkctl.ExitOK, "tree -o json")
			if r.out != `{"path":"/t/app/config","depth":0,"size":28,"children":1}`+"\n"+`{"path":"/t/app/config/blob","depth":1,"size":5,"children":0}`+"\n" {
				t.Fatalf("tree -o json printed %q", r.out)
			}
			if r := dumpTWant(t, zkctlRun(t, "", e("tree")...), zkctl.ExitOK, "tree of /"); !strings.HasPrefix(r.out, "/ [") || !strings.Contains(r.out, "\n  t [") {
				t.Fatalf("tree without PATH printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("tree", "/nope")...), zkctl.ExitNoNode, "tree of a missing node")
			dumpTWant(t, zkctlRun(t, "", e("tree", "nope")...), zkctl.ExitUsage, "tree of a bad path")
			dumpTWant(t, zkctlRun(t, "", e("tree", "/t", "--depth", "-1")...), zkctl.ExitUsage, "tree --depth -1")
			dumpTWant(t, zkctlRun(t, "", e("tree", "/t", "--workers", "0")...), zkctl.ExitUsage, "tree --workers 0")
			r = dumpTWant(t, zkctlRun(t, "", e("tree", "/t", "--workers", "1")...), zkctl.ExitOK, "tree --workers 1")
			if r.out != want {
				t.Fatalf("tree --workers 1 printed %q", r.out)
			}

			// find: the glob is matched against names; flags may follow ROOT.
			r = dumpTWant(t, zkctlRun(t, "", e("find", "/t", "--name", "config*")...), zkctl.ExitOK, "find --name")
			if r.out != "/t/app/config\n/t/app/config-old\n" {
				t.Fatalf("find --name printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("find", "--name", "*", "/t/app/config")...), zkctl.ExitOK, "find --name before ROOT")
			if r.out != "/t/app/config\n/t/app/config/blob\n" {
				t.Fatalf("find printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("-o", "json", "find", "/t", "--name", "l?cks")...), zkctl.ExitOK, "find -o json")
			if r.out != `{"path":"/t/app/locks"}`+"\n" {
				t.Fatalf("find -o json printed %q", r.out)
			}
			if r := dumpTWant(t, zkctlRun(t, "", e("find", "/t", "--name", "zzz")...), zkctl.ExitOK, "find without a match"); r.out != "" {
				t.Fatalf("find without a match printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("find", "/t", "--name", "[")...), zkctl.ExitUsage, "find with a bad glob")
			dumpTWant(t, zkctlRun(t, "", e("find", "/nope", "--name", "x")...), zkctl.ExitNoNode, "find under a missing node")
			dumpTWant(t, zkctlRun(t, "", e("find")...), zkctl.ExitUsage, "find without ROOT")

			// grep: PATH: LINE per matching line; -l paths only; binary data.
			r = dumpTWant(t, zkctlRun(t, "", e("grep", "/t", "port=8")...), zkctl.ExitOK, "grep")
			if r.out != "/t/app/config: port=80\n" {
				t.Fatalf("grep printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("grep", "-i", "/t", "^port=8")...), zkctl.ExitOK, "grep -i")
			if r.out != "/t/app/config: port=80\n/t/app/config: PORT=81\n" {
				t.Fatalf("grep -i printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("grep", "/t", "port", "-l")...), zkctl.ExitOK, "grep -l")
			if r.out != "/t/app/config\n/t/app/config/blob\n/t/app/config-old\n" {
				t.Fatalf("grep -l printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("grep", "/t/app/config", "ort$")...), zkctl.ExitOK, "grep of binary data")
			if r.out != "/t/app/config/blob: binary data matches\n" {
				t.Fatalf("grep of binary data printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("-o", "json", "grep", "/t", "host")...), zkctl.ExitOK, "grep -o json")
			var m struct {
				Path, Text string
				Line       int
			}
			if err := json.Unmarshal([]byte(r.out), &m); err != nil || m.Path != "/t/app/config" || m.Line != 2 || m.Text != "host=example" {
				t.Fatalf("grep -o json printed %q (%v)", r.out, err)
			}
			if r := dumpTWant(t, zkctlRun(t, "", e("grep", "/t", "absent")...), zkctl.ExitOK, "grep without a match"); r.out != "" {
				t.Fatalf("grep without a match printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("grep", "/t", "(")...), zkctl.ExitUsage, "grep with a bad pattern")
			dumpTWant(t, zkctlRun(t, "", e("grep", "/t")...), zkctl.ExitUsage, "grep without a pattern")
			dumpTWant(t, zkctlRun(t, "", e("grep", "/nope", "x")...), zkctl.ExitNoNode, "grep under a missing node")

			// rm -r takes a whole subtree, deepest first, and leaves its siblings.
			dumpTWant(t, zkctlRun(t, "", e("rm", "-r", "/t/app")...), zkctl.ExitOK, "rm -r of a subtree")
			r = dumpTWant(t, zkctlRun(t, "", e("tree", "/t")...), zkctl.ExitOK, "tree after rm -r")
			if r.out != "/t [0 B, 1 children]\n  other [12 B]\n" {
				t.Fatalf("tree after rm -r printed %q", r.out)
			}
		})
	}
}

// TestTreeViewBasics covers what the basic commands do beyond
// TestTreeCommands: flags after the path, every mode flag, -o json for
// rm, and bad input.
func TestTreeViewBasics(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := observer(t, ep)
			ctx := context.Background()

			// Flags may follow the path, as the usage lines show them.
			dumpTWant(t, zkctlRun(t, "", e("create", "/p/q", "data", "-p")...), zkctl.ExitOK, "create PATH DATA -p")
			r := dumpTWant(t, zkctlRun(t, "", e("get", "/p/q", "--stat", "-o", "json")...), zkctl.ExitOK, "get PATH --stat -o json")
			if !strings.Contains(r.out, `"data":"data"`) || !strings.Contains(r.out, `"version":0`) {
				t.Fatalf("get PATH --stat -o json printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("get", "/p/q", "-o", "yaml")...), zkctl.ExitUsage, "get PATH -o yaml")
			dumpTWant(t, zkctlRun(t, "", e("set", "/p/q", "new", "-v", "7")...), zkctl.ExitConflict, "set PATH DATA -v with a wrong version")
			dumpTWant(t, zkctlRun(t, "", e("set", "/p/q", "new", "-v", "0")...), zkctl.ExitOK, "set PATH DATA -v")
			dumpTWant(t, zkctlRun(t, "", e("set", "/p/q", "-5")...), zkctl.ExitOK, "set of data that looks like a flag")
			if r := zkctlRun(t, "", e("get", "/p/q")...); r.out != "-5\n" {
				t.Fatalf("get after set -5 printed %q", r.out)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("ls", "/p", "-l")...), zkctl.ExitOK, "ls PATH -l")
			if !strings.HasPrefix(r.out, "NAME") || !strings.Contains(r.out, "q ") {
				t.Fatalf("ls PATH -l printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("rm", "/p/q", "-v", "0")...), zkctl.ExitConflict, "rm PATH -v with a wrong version")
			r = dumpTWant(t, zkctlRun(t, "", e("-o", "json", "rm", "/p", "-r")...), zkctl.ExitOK, "rm -r -o json")
			if r.out != `{"path":"/p","deleted":true}`+"\n" {
				t.Fatalf("rm -o json printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("rm", "/p", "-r")...), zkctl.ExitNoNode, "rm -r of a missing node")
			dumpTWant(t, zkctlRun(t, "", e("rm", "/p")...), zkctl.ExitNoNode, "rm of a missing node")
			dumpTWant(t, zkctlRun(t, "", e("rm", "/p", "-r", "-v", "1")...), zkctl.ExitUsage, "rm -r -v")

			// Modes.
			r = dumpTWant(t, zkctlRun(t, "", e("create", "-e", "/eph")...), zkctl.ExitOK, "create -e")
			if r.out != "/eph\n" {
				t.Fatalf("create -e printed %q", r.out)
			}
			if st, err := s.Exists(ctx, "/eph"); err != nil || st != nil {
				t.Fatalf("an ephemeral made by zkctl outlived its session: %v %v", st, err)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("create", "-e", "-s", "/eseq-")...), zkctl.ExitOK, "create -e -s")
			if !strings.HasPrefix(r.out, "/eseq-") {
				t.Fatalf("create -e -s printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("create", "-c", "/cont")...), zkctl.ExitOK, "create -c")
			dumpTWant(t, zkctlRun(t, "", e("create", "/cont/kid")...), zkctl.ExitOK, "create under a container")
			r = zkctlRun(t, "", e("create", "--ttl", "1h", "/ttl", "x")...)
			if r.code == zkctl.ExitError && strings.Contains(r.errOut, "unsupported") {
				t.Logf("no TTL nodes on this server: %s", r.errOut)
			} else {
				dumpTWant(t, r, zkctl.ExitOK, "create --ttl")
				r = dumpTWant(t, zkctlRun(t, "", e("create", "-s", "--ttl", "1h", "/ttl/s-")...), zkctl.ExitOK, "create -s --ttl")
				if !strings.HasPrefix(r.out, "/ttl/s-") {
					t.Fatalf("create -s --ttl printed %q", r.out)
				}
			}
			dumpTWant(t, zkctlRun(t, "", e("create", "-c", "-e", "/x")...), zkctl.ExitUsage, "create -c -e")
			dumpTWant(t, zkctlRun(t, "", e("create", "--ttl", "1h", "-e", "/x")...), zkctl.ExitUsage, "create --ttl -e")
			dumpTWant(t, zkctlRun(t, "", e("create", "/no/parent")...), zkctl.ExitNoNode, "create without its parent")
			r = dumpTWant(t, zkctlRun(t, "x", e("-o", "json", "create", "/stdin", "-")...), zkctl.ExitOK, "create from stdin -o json")
			if r.out != `{"path":"/stdin"}`+"\n" {
				t.Fatalf("create -o json printed %q", r.out)
			}
			if d, _, err := s.Get(ctx, "/stdin"); err != nil || string(d) != "x" {
				t.Fatalf("create from stdin made %q (%v)", d, err)
			}
			big := strings.Repeat("x", 2<<20)
			r = dumpTWant(t, zkctlRun(t, big, e("create", "/big", "-")...), zkctl.ExitError, "create of data too large")
			if !strings.Contains(r.errOut, "too large") {
				t.Fatalf("data too large said %q", r.errOut)
			}
			if st, _ := s.Exists(ctx, "/big"); st != nil {
				t.Fatalf("data too large created the node")
			}
			if _, err := s.Create(ctx, "/sess-eph", nil, backend.Ephemeral); err != nil {
				t.Fatal(err)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("tree", "/")...), zkctl.ExitOK, "tree with an ephemeral")
			if !strings.Contains(r.out, "  sess-eph [0 B, ephemeral]\n") {
				t.Fatalf("tree does not mark the ephemeral node: %q", r.out)
			}
		})
	}
}
