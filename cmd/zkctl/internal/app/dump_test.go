package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// dumpTNode is one node of the trees the tests build: relative path and data.
type dumpTNode struct {
	path string
	data []byte
}

// dumpTBigTree returns a tree of 1 + 10 + 100 + 10,000 nodes under "/":
// text data, binary data (not UTF-8) and empty data.
func dumpTBigTree() []dumpTNode {
	nodes := []dumpTNode{{"/", nil}}
	for i := range 10 {
		a := fmt.Sprintf("/a%d", i)
		nodes = append(nodes, dumpTNode{a, []byte("level one " + a)})
		for j := range 10 {
			b := fmt.Sprintf("%s/b%d", a, j)
			nodes = append(nodes, dumpTNode{b, []byte{0xff, byte(i), byte(j), 0}})
			for k := range 100 {
				var data []byte
				if k%3 != 0 {
					data = []byte(fmt.Sprintf("leaf %d/%d/%d\nsecond line", i, j, k))
				}
				nodes = append(nodes, dumpTNode{fmt.Sprintf("%s/c%03d", b, k), data})
			}
		}
	}
	return nodes
}

// dumpTSmallTree is a tree with the awkward cases: binary and empty data,
// names that sort differently from paths, sequential-looking names, depth.
func dumpTSmallTree() []dumpTNode {
	return []dumpTNode{
		{"/", []byte("root data")},
		{"/a", []byte("A")},
		{"/a/b", []byte{0, 1, 2, 0xfe, 0xff}},
		{"/a/b/c", nil},
		{"/a/b/c/d", []byte("deep\nmulti-line ✓")},
		{"/a-b", []byte("dash")},
		{"/a.b", nil},
		{"/lock-0000000007", []byte("sequential name")},
		{"/empty", nil},
	}
}

// dumpTBuild creates nodes under root through the backend, level by level,
// many at a time.
func dumpTBuild(t *testing.T, s backend.Session, root string, nodes []dumpTNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	byDepth := map[int][]dumpTNode{}
	maxDepth := 0
	for _, n := range nodes {
		d := strings.Count(n.path, "/")
		if n.path == "/" {
			d = 0
		}
		byDepth[d] = append(byDepth[d], n)
		maxDepth = max(maxDepth, d)
	}
	for d := 0; d <= maxDepth; d++ {
		level := byDepth[d]
		if d == 0 {
			for _, n := range level {
				p := dumpTJoin(root, n.path)
				var err error
				if p == "/" {
					_, err = s.Set(ctx, p, n.data, backend.AnyVersion)
				} else {
					_, err = s.Create(ctx, p, n.data, backend.Persistent, backend.WithParents(backend.Persistent))
				}
				if err != nil {
					t.Fatalf("building the tree under %s: %v", root, err)
				}
			}
			continue
		}
		// Below the root, Multi batches of 40 creates, many at a time.
		const batch = 40
		err := walk.ForEach(ctx, (len(level)+batch-1)/batch, 16, func(ctx context.Context, i int) error {
			var ops []backend.Op
			for _, n := range level[i*batch : min(len(level), (i+1)*batch)] {
				ops = append(ops, backend.CreateOp{Path: dumpTJoin(root, n.path), Data: n.data, Mode: backend.Persistent})
			}
			_, err := s.Multi(ctx, ops...)
			return err
		})
		if err != nil {
			t.Fatalf("building the tree under %s: %v", root, err)
		}
	}
}

func dumpTJoin(root, rel string) string {
	if rel == "/" {
		return root
	}
	if root == "/" {
		return rel
	}
	return root + rel
}

// dumpTRead reads the subtree at root as relative path -> data.
func dumpTRead(t *testing.T, s backend.Session, root string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes, err := walk.Tree(ctx, s, root, walk.Options{Data: true, Workers: 64})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		m[relPath(root, n.Path)] = string(n.Data)
	}
	return m
}

// dumpTSame fails unless the subtree at root holds exactly want.
func dumpTSame(t *testing.T, what string, got map[string]string, want []dumpTNode) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d nodes, want %d", what, len(got), len(want))
	}
	bad := 0
	for _, n := range want {
		d, ok := got[n.path]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, n.path)
		case d != string(n.data):
			t.Errorf("%s: %s has data %q, want %q", what, n.path, d, n.data)
		default:
			continue
		}
		if bad++; bad > 5 {
			t.Fatalf("%s: more differences left out", what)
		}
	}
}

// dumpTCleanup removes the big trees a test made on the shared servers:
// the nodes of tree under each root, deepest first, in Multi batches, with
// no reads.
func dumpTCleanup(t *testing.T, s backend.Session, tree []dumpTNode, roots ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		byDepth := map[int][]string{}
		maxDepth := 0
		for _, root := range roots {
			for _, n := range tree {
				if n.path == "/" {
					continue
				}
				d := strings.Count(n.path, "/")
				byDepth[d] = append(byDepth[d], dumpTJoin(root, n.path))
				maxDepth = max(maxDepth, d)
			}
		}
		for d := maxDepth; d > 0; d-- {
			level := byDepth[d]
			const batch = 50
			err := walk.ForEach(ctx, (len(level)+batch-1)/batch, 16, func(ctx context.Context, i int) error {
				var ops []backend.Op
				for _, p := range level[i*batch : min(len(level), (i+1)*batch)] {
					ops = append(ops, backend.DeleteOp{Path: p, Version: backend.AnyVersion})
				}
				_, err := s.Multi(ctx, ops...)
				return err
			})
			if err != nil {
				t.Logf("cleaning up: %v", err)
			}
		}
		for _, root := range roots {
			if err := walk.Remove(ctx, s, root, 16); err != nil && !errors.Is(err, backend.ErrNoNode) {
				t.Errorf("removing %s: %v", root, err)
			}
		}
	})
}

// dumpTWant is what a test needs of a zkctl run.
func dumpTWant(t *testing.T, r result, code int, what string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d (stderr %q), want %d", what, r.code, r.errOut, code)
	}
	if code != zkctl.ExitOK && strings.Count(strings.TrimSpace(r.errOut), "\n") != 0 {
		t.Fatalf("%s: error is not one line: %q", what, r.errOut)
	}
	if strings.ContainsAny(r.errOut, "\r\x1b") {
		t.Fatalf("%s: progress drawn on a stderr that is not a terminal: %q", what, r.errOut)
	}
	return r
}

func dumpTFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDumpRestoreBig round-trips 10k nodes through dump and restore on each backend.
func TestDumpRestoreBig(t *testing.T) {
	tree := dumpTBigTree()
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			dumpTCleanup(t, s, tree, "/src", "/dst")
			dumpTBuild(t, s, "/src", tree)
			r := dumpTWant(t, zkctlRun(t, "", "--endpoints", ep, "dump", "/src"), zkctl.ExitOK, "dump")
			if r.errOut != "" {
				t.Fatalf("dump wrote to stderr: %q", r.errOut)
			}
			var d struct {
				Format string
				Root   string
				Nodes  []json.RawMessage
			}
			if err := json.Unmarshal([]byte(r.out), &d); err != nil {
				t.Fatalf("dump is not JSON: %v", err)
			}
			if d.Format != "zkctl-dump" || d.Root != "/src" || len(d.Nodes) != len(tree) {
				t.Fatalf("dump: format %q root %q with %d nodes; want zkctl-dump, /src, %d", d.Format, d.Root, len(d.Nodes), len(tree))
			}
			if n := strings.Count(r.out, "\n"); n != len(tree)+2 {
				t.Errorf("dump has %d lines, want one per node plus 2", n)
			}
			r = dumpTWant(t, zkctlRun(t, r.out, "--endpoints", ep, "restore", "-", "--to", "/dst"), zkctl.ExitOK, "restore")
			if !strings.Contains(r.out, fmt.Sprintf("%d created", len(tree))) || r.errOut != "" {
				t.Fatalf("restore printed %q, stderr %q", r.out, r.errOut)
			}
			dumpTSame(t, "restored", dumpTRead(t, s, "/dst"), tree)
		})
	}
}

// TestDumpRestore checks the format, the conflict rules, --force, --dry-run
// and bad input, on each backend.
func TestDumpRestore(t *testing.T) {
	tree := dumpTSmallTree()
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := observer(t, ep)
			dumpTBuild(t, s, "/src", tree)
			ctx := context.Background()
			if _, err := s.Create(ctx, "/src/a/eph", []byte("mine"), backend.Ephemeral); err != nil {
				t.Fatal(err)
			}
			r := dumpTWant(t, zkctlRun(t, "", e("dump", "/src")...), zkctl.ExitOK, "dump")
			if !strings.Contains(r.errOut, "skipped 1 ephemeral") || strings.Contains(r.out, "eph") {
				t.Fatalf("dump did not skip the ephemeral node with a note: stdout %q, stderr %q", r.out, r.errOut)
			}
			for _, want := range []string{
				`{"path":"/a/b","data":"AAEC/v8=","encoding":"base64"}`,
				`{"path":"/a/b/c"}`,
				`{"path":"/","data":"root data"}`,
			} {
				if !strings.Contains(r.out, want+",\n") && !strings.Contains(r.out, want+"\n") {
					t.Errorf("dump lacks the line %s:\n%s", want, r.out)
				}
			}
			if strings.Index(r.out, `"/a/b/c/d"`) > strings.Index(r.out, `"/a-b"`) {
				t.Errorf("dump does not list a subtree right after its root:\n%s", r.out)
			}
			file := dumpTFile(t, r.out)

			// -o json changes nothing in a dump; a missing root is exit 3.
			if j := dumpTWant(t, zkctlRun(t, "", e("-o", "json", "dump", "/src")...), zkctl.ExitOK, "dump -o json"); j.out != r.out {
				t.Errorf("dump -o json differs from dump")
			}
			dumpTWant(t, zkctlRun(t, "", e("dump", "/nope")...), zkctl.ExitNoNode, "dump of a missing node")
			dumpTWant(t, zkctlRun(t, "", e("dump", "nope")...), zkctl.ExitUsage, "dump of a bad path")
			dumpTWant(t, zkctlRun(t, "", e("dump", "/src", "extra")...), zkctl.ExitUsage, "dump with two paths")

			// --dry-run changes nothing and says what it would do.
			r = dumpTWant(t, zkctlRun(t, "", e("restore", file, "--to", "/dst/x", "--dry-run")...), zkctl.ExitOK, "restore --dry-run")
			if !strings.Contains(r.out, "create /dst/x/a/b/c/d (persistent, ") || strings.Count(r.out, "create ") != len(tree) {
				t.Fatalf("restore --dry-run printed %q", r.out)
			}
			if st, _ := s.Exists(ctx, "/dst"); st != nil {
				t.Fatalf("restore --dry-run created /dst")
			}
			// A real restore makes missing ancestors of --to.
			dumpTWant(t, zkctlRun(t, "", e("restore", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore")
			dumpTSame(t, "restored", dumpTRead(t, s, "/dst/x"), tree)
			// Again: everything exists with the same data, nothing to do.
			r = dumpTWant(t, zkctlRun(t, "", e("-o", "json", "restore", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore again")
			if !strings.Contains(r.out, fmt.Sprintf(`"created":0,"set":0,"unchanged":%d`, len(tree))) {
				t.Fatalf("restore again printed %q", r.out)
			}
			// Changed data is a conflict, found before anything is written.
			if _, err := s.Set(ctx, "/dst/x/a", []byte("changed"), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "/dst/x/empty", backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			r = dumpTWant(t, zkctlRun(t, "", e("restore", file, "--to", "/dst/x")...), zkctl.ExitConflict, "restore over changed data")
			if !strings.Contains(r.errOut, "/dst/x/a") || !strings.Contains(r.errOut, "--force") {
				t.Fatalf("conflict said %q", r.errOut)
			}
			if st, _ := s.Exists(ctx, "/dst/x/empty"); st != nil {
				t.Fatalf("a refused restore created a node")
			}
			r = dumpTWant(t, zkctlRun(t, "", e("restore", "--dry-run", "--force", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore --dry-run --force")
			if r.out != "create /dst/x/empty (persistent, 0 B)\nset /dst/x/a (persistent, 1 B)\n" &&
				r.out != "set /dst/x/a (persistent, 1 B)\ncreate /dst/x/empty (persistent, 0 B)\n" {
				t.Fatalf("restore --dry-run --force printed %q", r.out)
			}
			dumpTWant(t, zkctlRun(t, "", e("restore", "-f", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore --force")
			dumpTSame(t, "restored with --force", dumpTRead(t, s, "/dst/x"), tree)

			// The dump's own root is the default target.
			dumpTWant(t, zkctlRun(t, "", e("rm", "-r", "/src")...), zkctl.ExitOK, "rm -r /src")
			dumpTWant(t, zkctlRun(t, "", e("restore", file)...), zkctl.ExitOK, "restore to the dump's root")
			dumpTSame(t, "restored in place", dumpTRead(t, s, "/src"), tree)

			// Modes written in a dump are honoured; ACLs on etcd are dropped with a note.
			hand := `{"format":"zkctl-dump","version":1,"root":"/h","nodes":[
{"path":"/"},
{"path":"/c","mode":"container"},
{"path":"/c/kid","data":"x"},
{"path":"/t","mode":"persistent-ttl","ttl_ms":3600000},
{"path":"/acl","acl":[{"perms":31,"scheme":"world","id":"anyone"}]}
]}`
			r = zkctlRun(t, hand, e("restore", "-")...)
			if r.code == zkctl.ExitError && strings.Contains(r.errOut, "unsupported") {
				t.Logf("this server has no TTL nodes: %s", r.errOut)
			} else {
				dumpTWant(t, r, zkctl.ExitOK, "restore of modes")
				if name == "etcd" && !strings.Contains(r.errOut, "without") {
					t.Errorf("restore of ACLs on etcd said nothing: %q", r.errOut)
				}
				// A container's only child going makes the server reap it
				// (later); here it is enough that the child was made under it.
				if _, _, err := s.Get(ctx, "/h/c/kid"); err != nil {
					t.Errorf("restored container child: %v", err)
				}
			}

			// Bad input.
			for _, bad := range []struct{ what, in string }{
				{"not JSON", "nope"},
				{"wrong format", `{"format":"other","version":1,"root":"/","nodes":[]}`},
				{"wrong version", `{"format":"zkctl-dump","version":9,"root":"/","nodes":[]}`},
				{"bad path", `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"x"}]}`},
				{"orphan", `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"/a/b"}]}`},
				{"duplicate", `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"/a"},{"path":"/a"}]}`},
				{"bad base64", `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/","data":"!","encoding":"base64"}]}`},
				{"ephemeral mode", `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"/e","mode":"ephemeral"}]}`},
			} {
				r := dumpTWant(t, zkctlRun(t, bad.in, e("restore", "-", "--to", "/bad")...), zkctl.ExitUsage, "restore of "+bad.what)
				if r.errOut == "" {
					t.Errorf("restore of %s said nothing", bad.what)
				}
			}
			dumpTWant(t, zkctlRun(t, "", e("restore", filepath.Join(t.TempDir(), "missing.json"))...), zkctl.ExitUsage, "restore of a missing file")
			dumpTWant(t, zkctlRun(t, "", e("restore")...), zkctl.ExitUsage, "restore without a file")
			dumpTWant(t, zkctlRun(t, "", e("restore", file, "--to", "rel")...), zkctl.ExitUsage, "restore --to a bad path")
			dumpTWant(t, zkctlRun(t, "", e("restore", file, "--bogus")...), zkctl.ExitUsage, "restore with a bad flag")
			dumpTWant(t, zkctlRun(t, "", e("restore", file, "--workers", "0")...), zkctl.ExitUsage, "restore --workers 0")
			big := `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"/big","data":"` + strings.Repeat("x", 2<<20) + `"}]}`
			r = dumpTWant(t, zkctlRun(t, big, e("restore", "-", "--to", "/big")...), zkctl.ExitError, "restore of data too large")
			if !strings.Contains(r.errOut, "too large") {
				t.Errorf("data too large said %q", r.errOut)
			}
		})
	}
}

// TestDumpCrossBackend moves a tree ZooKeeper -> etcd -> ZooKeeper, with
// dump and restore and with cp, and compares it node by node.
func TestDumpCrossBackend(t *testing.T) {
	eps := clusters(t)
	zkEP, etcdEP := eps["zk"], eps["etcd"]
	zs, es := observer(t, zkEP), observer(t, etcdEP)
	tree := dumpTSmallTree()
	for i := range 200 { // enough for the workers to overlap
		tree = append(tree, dumpTNode{fmt.Sprintf("/many/n%03d", i), []byte{byte(i), 0xff}})
	}
	tree = append(tree, dumpTNode{"/many", nil})
	dumpTBuild(t, zs, "/src", tree)

	// dump | restore, twice.
	r := dumpTWant(t, zkctlRun(t, "", "--endpoints", zkEP, "dump", "/src"), zkctl.ExitOK, "dump from ZooKeeper")
	dumpTWant(t, zkctlRun(t, r.out, "--endpoints", etcdEP, "restore", "-", "--to", "/mid"), zkctl.ExitOK, "restore to etcd")
	dumpTSame(t, "etcd copy", dumpTRead(t, es, "/mid"), tree)
	r = dumpTWant(t, zkctlRun(t, "", "--endpoints", etcdEP, "dump", "/mid"), zkctl.ExitOK, "dump from etcd")
	dumpTWant(t, zkctlRun(t, r.out, "--endpoints", zkEP, "restore", "-", "--to", "/back"), zkctl.ExitOK, "restore to ZooKeeper")
	dumpTSame(t, "ZooKeeper copy of the etcd copy", dumpTRead(t, zs, "/back"), tree)

	// cp, with full URLs: the clusters' endpoints carry the test's namespace.
	r = dumpTWant(t, zkctlRun(t, "", "cp", zkEP+"/src", etcdEP+"/cp"), zkctl.ExitOK, "cp ZooKeeper to etcd")
	if !strings.Contains(r.out, fmt.Sprintf("%d created", len(tree))) {
		t.Errorf("cp printed %q", r.out)
	}
	dumpTSame(t, "cp to etcd", dumpTRead(t, es, "/cp"), tree)
	dumpTWant(t, zkctlRun(t, "", "cp", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp etcd to ZooKeeper")
	dumpTSame(t, "cp back to ZooKeeper", dumpTRead(t, zs, "/cpback"), tree)

	// cp shares restore's rules.
	if _, err := zs.Set(context.Background(), "/cpback/a", []byte("changed"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	dumpTWant(t, zkctlRun(t, "", "cp", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitConflict, "cp over changed data")
	r = dumpTWant(t, zkctlRun(t, "", "-o", "json", "cp", "--dry-run", "--force", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp --dry-run --force")
	if !strings.Contains(r.out, `{"action":"set","path":"/`) || strings.Count(r.out, "\n") != 1 {
		t.Errorf("cp --dry-run --force -o json printed %q", r.out)
	}
	dumpTWant(t, zkctlRun(t, "", "cp", "--force", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp --force")
	dumpTSame(t, "cp --force", dumpTRead(t, zs, "/cpback"), tree)

	// Bad input.
	dumpTWant(t, zkctlRun(t, "", "cp", zkEP+"/nope", etcdEP+"/x"), zkctl.ExitNoNode, "cp of a missing node")
	dumpTWant(t, zkctlRun(t, "", "cp", "/src", etcdEP+"/x"), zkctl.ExitUsage, "cp without a URL")
	dumpTWant(t, zkctlRun(t, "", "cp", zkEP+"/src"), zkctl.ExitUsage, "cp without DST")
	dumpTWant(t, zkctlRun(t, "", "cp", "redis://h/src", etcdEP+"/x"), zkctl.ExitUsage, "cp with an unknown scheme")
	dumpTWant(t, zkctlRun(t, "", "--request-timeout", "2s", "cp", zkEP+"/src", "etcd://127.0.0.1:1/x"), zkctl.ExitUnavailable, "cp to an unreachable cluster")
	dumpTWant(t, zkctlRun(t, "", "--request-timeout", "2s", "--endpoints", "zk://127.0.0.1:1", "dump", "/"), zkctl.ExitUnavailable, "dump of an unreachable cluster")
	dumpTWant(t, zkctlRun(t, "{}", "--request-timeout", "2s", "--endpoints", "etcd://127.0.0.1:1", "restore", "-"), zkctl.ExitUsage, "restore of a bad dump, checked before connecting")
}

// TestDumpPathOrder checks the order a dump lists nodes in.
func TestDumpPathOrder(t *testing.T) {
	in := []string{"/a-b", "/a/b/c", "/", "/a", "/b", "/a/b", "/a.b/c", "/a.b", "/ab"}
	want := []string{"/", "/a", "/a/b", "/a/b/c", "/a-b", "/a.b", "/a.b/c", "/ab", "/b"}
	nodes := make([]walk.Node, len(in))
	for i, p := range in {
		nodes[i].Path = p
	}
	var buf bytes.Buffer
	for _, n := range walk.Sorted(nodes) {
		buf.WriteString(n.Path + " ")
	}
	if got := strings.Fields(buf.String()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestDumpACL: on ZooKeeper a dump keeps the ACLs someone set (not the
// default world:anyone) and restore puts them back; restored into etcd,
// they are dropped with a note.
func TestDumpACL(t *testing.T) {
	eps := clusters(t)
	zkEP, etcdEP := eps["zk"], eps["etcd"]
	s := observer(t, zkEP)
	ctx := context.Background()
	custom := []backend.ACL{
		{Perms: backend.PermRead, Scheme: "world", ID: "anyone"},
		{Perms: backend.PermAll, Scheme: "ip", ID: "127.0.0.1"},
	}
	for _, n := range []struct {
		path string
		acl  []backend.CreateOption
	}{{"/acls", nil}, {"/acls/open", nil}, {"/acls/ro", []backend.CreateOption{backend.WithACL(custom...)}}} {
		if _, err := s.Create(ctx, n.path, []byte("x"), backend.Persistent, n.acl...); err != nil {
			t.Fatal(err)
		}
	}
	r := dumpTWant(t, zkctlRun(t, "", "--endpoints", zkEP, "dump", "/acls"), zkctl.ExitOK, "dump")
	if !strings.Contains(r.out, `{"path":"/ro","data":"x","acl":[{"perms":1,"scheme":"world","id":"anyone"},{"perms":31,"scheme":"ip","id":"127.0.0.1"}]}`) ||
		strings.Count(r.out, `"acl"`) != 1 {
		t.Fatalf("dump of ACLs:\n%s", r.out)
	}
	file := dumpTFile(t, r.out)
	dumpTWant(t, zkctlRun(t, "", "--endpoints", zkEP, "restore", file, "--to", "/acls2"), zkctl.ExitOK, "restore")
	acl, _, err := backend.GetACL(ctx, s, "/acls2/ro")
	if err != nil || !slices.Equal(acl, custom) {
		t.Fatalf("restored ACL %v, %v; want %v", acl, err, custom)
	}
	if acl, _, err := backend.GetACL(ctx, s, "/acls2/open"); err != nil || !slices.Equal(acl, backend.OpenACL) {
		t.Fatalf("restored default ACL %v, %v", acl, err)
	}
	r = dumpTWant(t, zkctlRun(t, "", "--endpoints", etcdEP, "restore", file, "--to", "/acls"), zkctl.ExitOK, "restore into etcd")
	if !strings.Contains(r.errOut, "without") {
		t.Fatalf("restore of ACLs into etcd said nothing: %q", r.errOut)
	}
}

// TestDumpModes: a dump from etcd keeps container and TTL modes (and the
// TTL), and restore recreates them, on etcd and on ZooKeeper; a dump from
// ZooKeeper, whose server does not report those modes, has them as
// persistent.
func TestDumpModes(t *testing.T) {
	eps := clusters(t)
	ctx := context.Background()
	const ttl = time.Hour
	build := func(s backend.Session) {
		for _, n := range []struct {
			path string
			mode backend.Mode
		}{{"/modes", backend.Persistent}, {"/modes/c", backend.Container}, {"/modes/c/kid", backend.Persistent},
			{"/modes/t", backend.PersistentTTL}, {"/modes/t/kid", backend.Persistent}} {
			var opts []backend.CreateOption
			if n.mode.IsTTL() {
				opts = append(opts, backend.WithTTL(ttl))
			}
			if _, err := s.Create(ctx, n.path, nil, n.mode, opts...); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantModes := func(s backend.Session, root string) {
		t.Helper()
		for p, want := range map[string]backend.Mode{"/c": backend.Container, "/t": backend.PersistentTTL, "/c/kid": backend.Persistent} {
			_, st, err := s.Get(ctx, root+p)
			if err != nil {
				t.Fatal(err)
			}
			mode, gotTTL := st.Mode, st.TTL
			if !s.Capabilities().ExactMode {
				// ZooKeeper cannot say; the node at least exists.
				continue
			}
			if mode != want || (want.IsTTL() && gotTTL != ttl) {
				t.Errorf("%s%s restored as %v (ttl %v), want %v", root, p, mode, gotTTL, want)
			}
		}
	}

	se, sz := observer(t, eps["etcd"]), observer(t, eps["zk"])
	build(se)
	r := dumpTWant(t, zkctlRun(t, "", "--endpoints", eps["etcd"], "dump", "/modes"), zkctl.ExitOK, "dump from etcd")
	for _, want := range []string{`{"path":"/c","mode":"container"}`, `{"path":"/t","mode":"persistent-ttl","ttl_ms":3600000}`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("etcd dump lacks %s:\n%s", want, r.out)
		}
	}
	file := dumpTFile(t, r.out)
	dumpTWant(t, zkctlRun(t, "", "--endpoints", eps["etcd"], "restore", file, "--to", "/modes2"), zkctl.ExitOK, "restore into etcd")
	wantModes(se, "/modes2")
	r = zkctlRun(t, "", "--endpoints", eps["zk"], "restore", file, "--to", "/modes2")
	if r.code == zkctl.ExitError && strings.Contains(r.errOut, "unsupported") {
		t.Logf("this ZooKeeper has no TTL nodes: %s", r.errOut)
	} else {
		dumpTWant(t, r, zkctl.ExitOK, "restore into ZooKeeper")
		if _, err := sz.Exists(ctx, "/modes2/t/kid"); err != nil {
			t.Fatal(err)
		}
	}

	build(sz)
	r = dumpTWant(t, zkctlRun(t, "", "--endpoints", eps["zk"], "dump", "/modes"), zkctl.ExitOK, "dump from ZooKeeper")
	if strings.Contains(r.out, `"mode"`) {
		t.Errorf("a ZooKeeper dump claims modes it cannot read:\n%s", r.out)
	}
}
