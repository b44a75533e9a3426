package tree_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// treeVTree is the tree the tree, find and grep tests read, under /t.
var treeVTree = []zkctltest.Node{
	{Path: "/", Data: nil},
	{Path: "/app", Data: []byte("name=app")},
	{Path: "/app/config", Data: []byte("port=80\nhost=example\nPORT=81")},
	{Path: "/app/config-old", Data: []byte("port=79")},
	{Path: "/app/config/blob", Data: []byte{0xff, 'p', 'o', 'r', 't'}},
	{Path: "/app/locks", Data: nil},
	{Path: "/other", Data: []byte("nothing here")},
}

func TestTreeViewCommands(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := zkctltest.Observer(t, ep)
			zkctltest.Build(t, s, "/t", treeVTree)

			r := zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t")...), zkctl.ExitOK, "tree")
			want := "/t [0 B, 2 children]\n" +
				"  app [8 B, 3 children]\n" +
				"    config [28 B, 1 children]\n" +
				"      blob [5 B]\n" +
				"    config-old [7 B]\n" +
				"    locks [0 B]\n" +
				"  other [12 B]\n"
			if r.Out != want {
				t.Fatalf("tree printed\n%s\nwant\n%s", r.Out, want)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t", "--depth", "1")...), zkctl.ExitOK, "tree --depth 1")
			if r.Out != "/t [0 B, 2 children]\n  app [8 B, 3 children]\n  other [12 B]\n" {
				t.Fatalf("tree --depth 1 printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "tree", "/t/app/config")...), zkctl.ExitOK, "tree -o json")
			if r.Out != `{"path":"/t/app/config","depth":0,"size":28,"children":1}`+"\n"+`{"path":"/t/app/config/blob","depth":1,"size":5,"children":0}`+"\n" {
				t.Fatalf("tree -o json printed %q", r.Out)
			}
			if r := zkctltest.Want(t, zkctltest.Run(t, "", e("tree")...), zkctl.ExitOK, "tree of /"); !strings.HasPrefix(r.Out, "/ [") || !strings.Contains(r.Out, "\n  t [") {
				t.Fatalf("tree without PATH printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/nope")...), zkctl.ExitNoNode, "tree of a missing node")
			zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "nope")...), zkctl.ExitUsage, "tree of a bad path")
			zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t", "--depth", "-1")...), zkctl.ExitUsage, "tree --depth -1")
			zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t", "--workers", "0")...), zkctl.ExitUsage, "tree --workers 0")
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t", "--workers", "1")...), zkctl.ExitOK, "tree --workers 1")
			if r.Out != want {
				t.Fatalf("tree --workers 1 printed %q", r.Out)
			}

			// find: the glob is matched against names; flags may follow ROOT.
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("find", "/t", "--name", "config*")...), zkctl.ExitOK, "find --name")
			if r.Out != "/t/app/config\n/t/app/config-old\n" {
				t.Fatalf("find --name printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("find", "--name", "*", "/t/app/config")...), zkctl.ExitOK, "find --name before ROOT")
			if r.Out != "/t/app/config\n/t/app/config/blob\n" {
				t.Fatalf("find printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "find", "/t", "--name", "l?cks")...), zkctl.ExitOK, "find -o json")
			if r.Out != `{"path":"/t/app/locks"}`+"\n" {
				t.Fatalf("find -o json printed %q", r.Out)
			}
			if r := zkctltest.Want(t, zkctltest.Run(t, "", e("find", "/t", "--name", "zzz")...), zkctl.ExitOK, "find without a match"); r.Out != "" {
				t.Fatalf("find without a match printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("find", "/t", "--name", "[")...), zkctl.ExitUsage, "find with a bad glob")
			zkctltest.Want(t, zkctltest.Run(t, "", e("find", "/nope", "--name", "x")...), zkctl.ExitNoNode, "find under a missing node")
			zkctltest.Want(t, zkctltest.Run(t, "", e("find")...), zkctl.ExitUsage, "find without ROOT")

			// grep: PATH: LINE per matching line; -l paths only; binary data.
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t", "port=8")...), zkctl.ExitOK, "grep")
			if r.Out != "/t/app/config: port=80\n" {
				t.Fatalf("grep printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "-i", "/t", "^port=8")...), zkctl.ExitOK, "grep -i")
			if r.Out != "/t/app/config: port=80\n/t/app/config: PORT=81\n" {
				t.Fatalf("grep -i printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t", "port", "-l")...), zkctl.ExitOK, "grep -l")
			if r.Out != "/t/app/config\n/t/app/config/blob\n/t/app/config-old\n" {
				t.Fatalf("grep -l printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t/app/config", "ort$")...), zkctl.ExitOK, "grep of binary data")
			if r.Out != "/t/app/config/blob: binary data matches\n" {
				t.Fatalf("grep of binary data printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "grep", "/t", "host")...), zkctl.ExitOK, "grep -o json")
			var m struct {
				Path, Text string
				Line       int
			}
			if err := json.Unmarshal([]byte(r.Out), &m); err != nil || m.Path != "/t/app/config" || m.Line != 2 || m.Text != "host=example" {
				t.Fatalf("grep -o json printed %q (%v)", r.Out, err)
			}
			if r := zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t", "absent")...), zkctl.ExitOK, "grep without a match"); r.Out != "" {
				t.Fatalf("grep without a match printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t", "(")...), zkctl.ExitUsage, "grep with a bad pattern")
			zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/t")...), zkctl.ExitUsage, "grep without a pattern")
			zkctltest.Want(t, zkctltest.Run(t, "", e("grep", "/nope", "x")...), zkctl.ExitNoNode, "grep under a missing node")

			// rm -r takes a whole subtree, deepest first, and leaves its siblings.
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "-r", "/t/app")...), zkctl.ExitOK, "rm -r of a subtree")
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/t")...), zkctl.ExitOK, "tree after rm -r")
			if r.Out != "/t [0 B, 1 children]\n  other [12 B]\n" {
				t.Fatalf("tree after rm -r printed %q", r.Out)
			}
		})
	}
}

// TestTreeViewBasics covers what the basic commands do beyond
// TestTreeCommands: flags after the path, every mode flag, -o json for
// rm, and bad input.
func TestTreeViewBasics(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()

			// Flags may follow the path, as the usage lines show them.
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "/p/q", "data", "-p")...), zkctl.ExitOK, "create PATH DATA -p")
			r := zkctltest.Want(t, zkctltest.Run(t, "", e("get", "/p/q", "--stat", "-o", "json")...), zkctl.ExitOK, "get PATH --stat -o json")
			if !strings.Contains(r.Out, `"data":"data"`) || !strings.Contains(r.Out, `"version":0`) {
				t.Fatalf("get PATH --stat -o json printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("get", "/p/q", "-o", "yaml")...), zkctl.ExitUsage, "get PATH -o yaml")
			zkctltest.Want(t, zkctltest.Run(t, "", e("set", "/p/q", "new", "-v", "7")...), zkctl.ExitConflict, "set PATH DATA -v with a wrong version")
			zkctltest.Want(t, zkctltest.Run(t, "", e("set", "/p/q", "new", "-v", "0")...), zkctl.ExitOK, "set PATH DATA -v")
			zkctltest.Want(t, zkctltest.Run(t, "", e("set", "/p/q", "-5")...), zkctl.ExitOK, "set of data that looks like a flag")
			if r := zkctltest.Run(t, "", e("get", "/p/q")...); r.Out != "-5\n" {
				t.Fatalf("get after set -5 printed %q", r.Out)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("ls", "/p", "-l")...), zkctl.ExitOK, "ls PATH -l")
			if !strings.HasPrefix(r.Out, "NAME") || !strings.Contains(r.Out, "q ") {
				t.Fatalf("ls PATH -l printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "/p/q", "-v", "0")...), zkctl.ExitConflict, "rm PATH -v with a wrong version")
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "rm", "/p", "-r")...), zkctl.ExitOK, "rm -r -o json")
			if r.Out != `{"path":"/p","deleted":true}`+"\n" {
				t.Fatalf("rm -o json printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "/p", "-r")...), zkctl.ExitNoNode, "rm -r of a missing node")
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "/p")...), zkctl.ExitNoNode, "rm of a missing node")
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "/p", "-r", "-v", "1")...), zkctl.ExitUsage, "rm -r -v")

			// Modes.
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("create", "-e", "/eph")...), zkctl.ExitOK, "create -e")
			if r.Out != "/eph\n" {
				t.Fatalf("create -e printed %q", r.Out)
			}
			if st, err := s.Exists(ctx, "/eph"); err != nil || st != nil {
				t.Fatalf("an ephemeral made by zkctl outlived its session: %v %v", st, err)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("create", "-e", "-s", "/eseq-")...), zkctl.ExitOK, "create -e -s")
			if !strings.HasPrefix(r.Out, "/eseq-") {
				t.Fatalf("create -e -s printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "-c", "/cont")...), zkctl.ExitOK, "create -c")
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "/cont/kid")...), zkctl.ExitOK, "create under a container")
			r = zkctltest.Run(t, "", e("create", "--ttl", "1h", "/ttl", "x")...)
			if r.Code == zkctl.ExitError && strings.Contains(r.ErrOut, "unsupported") {
				t.Logf("no TTL nodes on this server: %s", r.ErrOut)
			} else {
				zkctltest.Want(t, r, zkctl.ExitOK, "create --ttl")
				r = zkctltest.Want(t, zkctltest.Run(t, "", e("create", "-s", "--ttl", "1h", "/ttl/s-")...), zkctl.ExitOK, "create -s --ttl")
				if !strings.HasPrefix(r.Out, "/ttl/s-") {
					t.Fatalf("create -s --ttl printed %q", r.Out)
				}
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "-c", "-e", "/x")...), zkctl.ExitUsage, "create -c -e")
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "--ttl", "1h", "-e", "/x")...), zkctl.ExitUsage, "create --ttl -e")
			zkctltest.Want(t, zkctltest.Run(t, "", e("create", "/no/parent")...), zkctl.ExitNoNode, "create without its parent")
			r = zkctltest.Want(t, zkctltest.Run(t, "x", e("-o", "json", "create", "/stdin", "-")...), zkctl.ExitOK, "create from stdin -o json")
			if r.Out != `{"path":"/stdin"}`+"\n" {
				t.Fatalf("create -o json printed %q", r.Out)
			}
			if d, _, err := s.Get(ctx, "/stdin"); err != nil || string(d) != "x" {
				t.Fatalf("create from stdin made %q (%v)", d, err)
			}
			big := strings.Repeat("x", 2<<20)
			r = zkctltest.Want(t, zkctltest.Run(t, big, e("create", "/big", "-")...), zkctl.ExitError, "create of data too large")
			if !strings.Contains(r.ErrOut, "too large") {
				t.Fatalf("data too large said %q", r.ErrOut)
			}
			if st, _ := s.Exists(ctx, "/big"); st != nil {
				t.Fatalf("data too large created the node")
			}
			if _, err := s.Create(ctx, "/sess-eph", nil, backend.Ephemeral); err != nil {
				t.Fatal(err)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("tree", "/")...), zkctl.ExitOK, "tree with an ephemeral")
			if !strings.Contains(r.Out, "  sess-eph [0 B, ephemeral]\n") {
				t.Fatalf("tree does not mark the ephemeral node: %q", r.Out)
			}
		})
	}
}
