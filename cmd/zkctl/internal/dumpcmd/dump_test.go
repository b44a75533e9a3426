package dumpcmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// dumpTBigTree returns a tree of 1 + 10 + 100 + 10,000 nodes under "/":
// text data, binary data (not UTF-8) and empty data.
func dumpTBigTree() []zkctltest.Node {
	nodes := []zkctltest.Node{{Path: "/"}}
	for i := range 10 {
		a := fmt.Sprintf("/a%d", i)
		nodes = append(nodes, zkctltest.Node{Path: a, Data: []byte("level one " + a)})
		for j := range 10 {
			b := fmt.Sprintf("%s/b%d", a, j)
			nodes = append(nodes, zkctltest.Node{Path: b, Data: []byte{0xff, byte(i), byte(j), 0}})
			for k := range 100 {
				var data []byte
				if k%3 != 0 {
					data = []byte(fmt.Sprintf("leaf %d/%d/%d\nsecond line", i, j, k))
				}
				nodes = append(nodes, zkctltest.Node{Path: fmt.Sprintf("%s/c%03d", b, k), Data: data})
			}
		}
	}
	return nodes
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
		m[dumpTRel(root, n.Path)] = string(n.Data)
	}
	return m
}

// dumpTSame fails unless the subtree at root holds exactly want.
func dumpTSame(t *testing.T, what string, got map[string]string, want []zkctltest.Node) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d nodes, want %d", what, len(got), len(want))
	}
	bad := 0
	for _, n := range want {
		d, ok := got[n.Path]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, n.Path)
		case d != string(n.Data):
			t.Errorf("%s: %s has data %q, want %q", what, n.Path, d, n.Data)
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
func dumpTCleanup(t *testing.T, s backend.Session, tree []zkctltest.Node, roots ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		byDepth := map[int][]string{}
		maxDepth := 0
		for _, root := range roots {
			for _, n := range tree {
				if n.Path == "/" {
					continue
				}
				d := strings.Count(n.Path, "/")
				byDepth[d] = append(byDepth[d], zkctltest.Join(root, n.Path))
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

// TestDumpRestoreBig round-trips 10k nodes through dump and restore on each backend.
func TestDumpRestoreBig(t *testing.T) {
	tree := dumpTBigTree()
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			dumpTCleanup(t, s, tree, "/src", "/dst")
			zkctltest.Build(t, s, "/src", tree)
			r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", ep, "dump", "/src"), zkctl.ExitOK, "dump")
			if r.ErrOut != "" {
				t.Fatalf("dump wrote to stderr: %q", r.ErrOut)
			}
			var d struct {
				Format string
				Root   string
				Nodes  []json.RawMessage
			}
			if err := json.Unmarshal([]byte(r.Out), &d); err != nil {
				t.Fatalf("dump is not JSON: %v", err)
			}
			if d.Format != "zkctl-dump" || d.Root != "/src" || len(d.Nodes) != len(tree) {
				t.Fatalf("dump: format %q root %q with %d nodes; want zkctl-dump, /src, %d", d.Format, d.Root, len(d.Nodes), len(tree))
			}
			if n := strings.Count(r.Out, "\n"); n != len(tree)+2 {
				t.Errorf("dump has %d lines, want one per node plus 2", n)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, r.Out, "--endpoints", ep, "restore", "-", "--to", "/dst"), zkctl.ExitOK, "restore")
			if !strings.Contains(r.Out, fmt.Sprintf("%d created", len(tree))) || r.ErrOut != "" {
				t.Fatalf("restore printed %q, stderr %q", r.Out, r.ErrOut)
			}
			dumpTSame(t, "restored", dumpTRead(t, s, "/dst"), tree)
		})
	}
}

// TestDumpRestore checks the format, the conflict rules, --force, --dry-run
// and bad input, on each backend.
func TestDumpRestore(t *testing.T) {
	tree := zkctltest.SmallTree()
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			s := zkctltest.Observer(t, ep)
			zkctltest.Build(t, s, "/src", tree)
			ctx := context.Background()
			if _, err := s.Create(ctx, "/src/a/eph", []byte("mine"), backend.Ephemeral); err != nil {
				t.Fatal(err)
			}
			r := zkctltest.Want(t, zkctltest.Run(t, "", e("dump", "/src")...), zkctl.ExitOK, "dump")
			if !strings.Contains(r.ErrOut, "skipped 1 ephemeral") || strings.Contains(r.Out, "eph") {
				t.Fatalf("dump did not skip the ephemeral node with a note: stdout %q, stderr %q", r.Out, r.ErrOut)
			}
			for _, want := range []string{
				`{"path":"/a/b","data":"AAEC/v8=","encoding":"base64"}`,
				`{"path":"/a/b/c"}`,
				`{"path":"/","data":"root data"}`,
			} {
				if !strings.Contains(r.Out, want+",\n") && !strings.Contains(r.Out, want+"\n") {
					t.Errorf("dump lacks the line %s:\n%s", want, r.Out)
				}
			}
			if strings.Index(r.Out, `"/a/b/c/d"`) > strings.Index(r.Out, `"/a-b"`) {
				t.Errorf("dump does not list a subtree right after its root:\n%s", r.Out)
			}
			file := zkctltest.File(t, "dump.json", r.Out)

			// -o json changes nothing in a dump; a missing root is exit 3.
			if j := zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "dump", "/src")...), zkctl.ExitOK, "dump -o json"); j.Out != r.Out {
				t.Errorf("dump -o json differs from dump")
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("dump", "/nope")...), zkctl.ExitNoNode, "dump of a missing node")
			zkctltest.Want(t, zkctltest.Run(t, "", e("dump", "nope")...), zkctl.ExitUsage, "dump of a bad path")
			zkctltest.Want(t, zkctltest.Run(t, "", e("dump", "/src", "extra")...), zkctl.ExitUsage, "dump with two paths")

			// --dry-run changes nothing and says what it would do.
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--to", "/dst/x", "--dry-run")...), zkctl.ExitOK, "restore --dry-run")
			if !strings.Contains(r.Out, "create /dst/x/a/b/c/d (persistent, ") || strings.Count(r.Out, "create ") != len(tree) {
				t.Fatalf("restore --dry-run printed %q", r.Out)
			}
			if st, _ := s.Exists(ctx, "/dst"); st != nil {
				t.Fatalf("restore --dry-run created /dst")
			}
			// A real restore makes missing ancestors of --to.
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore")
			dumpTSame(t, "restored", dumpTRead(t, s, "/dst/x"), tree)
			// Again: everything exists with the same data, nothing to do.
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("-o", "json", "restore", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore again")
			if !strings.Contains(r.Out, fmt.Sprintf(`"created":0,"set":0,"unchanged":%d`, len(tree))) {
				t.Fatalf("restore again printed %q", r.Out)
			}
			// Changed data is a conflict, found before anything is written.
			if _, err := s.Set(ctx, "/dst/x/a", []byte("changed"), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "/dst/x/empty", backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--to", "/dst/x")...), zkctl.ExitConflict, "restore over changed data")
			if !strings.Contains(r.ErrOut, "/dst/x/a") || !strings.Contains(r.ErrOut, "--force") {
				t.Fatalf("conflict said %q", r.ErrOut)
			}
			if st, _ := s.Exists(ctx, "/dst/x/empty"); st != nil {
				t.Fatalf("a refused restore created a node")
			}
			r = zkctltest.Want(t, zkctltest.Run(t, "", e("restore", "--dry-run", "--force", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore --dry-run --force")
			if r.Out != "create /dst/x/empty (persistent, 0 B)\nset /dst/x/a (persistent, 1 B)\n" &&
				r.Out != "set /dst/x/a (persistent, 1 B)\ncreate /dst/x/empty (persistent, 0 B)\n" {
				t.Fatalf("restore --dry-run --force printed %q", r.Out)
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", "-f", file, "--to", "/dst/x")...), zkctl.ExitOK, "restore --force")
			dumpTSame(t, "restored with --force", dumpTRead(t, s, "/dst/x"), tree)

			// The dump's own root is the default target.
			zkctltest.Want(t, zkctltest.Run(t, "", e("rm", "-r", "/src")...), zkctl.ExitOK, "rm -r /src")
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file)...), zkctl.ExitOK, "restore to the dump's root")
			dumpTSame(t, "restored in place", dumpTRead(t, s, "/src"), tree)

			// Modes written in a dump are honoured; ACLs on etcd are dropped with a note.
			hand := `{"format":"zkctl-dump","version":1,"root":"/h","nodes":[
{"path":"/"},
{"path":"/c","mode":"container"},
{"path":"/c/kid","data":"x"},
{"path":"/t","mode":"persistent-ttl","ttl_ms":3600000},
{"path":"/acl","acl":[{"perms":31,"scheme":"world","id":"anyone"}]}
]}`
			r = zkctltest.Run(t, hand, e("restore", "-")...)
			if r.Code == zkctl.ExitError && strings.Contains(r.ErrOut, "unsupported") {
				t.Logf("this server has no TTL nodes: %s", r.ErrOut)
			} else {
				zkctltest.Want(t, r, zkctl.ExitOK, "restore of modes")
				if name == "etcd" && !strings.Contains(r.ErrOut, "without") {
					t.Errorf("restore of ACLs on etcd said nothing: %q", r.ErrOut)
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
				r := zkctltest.Want(t, zkctltest.Run(t, bad.in, e("restore", "-", "--to", "/bad")...), zkctl.ExitUsage, "restore of "+bad.what)
				if r.ErrOut == "" {
					t.Errorf("restore of %s said nothing", bad.what)
				}
			}
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", filepath.Join(t.TempDir(), "missing.json"))...), zkctl.ExitUsage, "restore of a missing file")
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore")...), zkctl.ExitUsage, "restore without a file")
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--to", "rel")...), zkctl.ExitUsage, "restore --to a bad path")
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--bogus")...), zkctl.ExitUsage, "restore with a bad flag")
			zkctltest.Want(t, zkctltest.Run(t, "", e("restore", file, "--workers", "0")...), zkctl.ExitUsage, "restore --workers 0")
			big := `{"format":"zkctl-dump","version":1,"root":"/","nodes":[{"path":"/"},{"path":"/big","data":"` + strings.Repeat("x", 2<<20) + `"}]}`
			r = zkctltest.Want(t, zkctltest.Run(t, big, e("restore", "-", "--to", "/big")...), zkctl.ExitError, "restore of data too large")
			if !strings.Contains(r.ErrOut, "too large") {
				t.Errorf("data too large said %q", r.ErrOut)
			}
		})
	}
}

// TestDumpCrossBackend moves a tree ZooKeeper -> etcd -> ZooKeeper, with
// dump and restore and with cp, and compares it node by node.
func TestDumpCrossBackend(t *testing.T) {
	eps := zkctltest.Clusters(t)
	zkEP, etcdEP := eps["zk"], eps["etcd"]
	zs, es := zkctltest.Observer(t, zkEP), zkctltest.Observer(t, etcdEP)
	tree := zkctltest.SmallTree()
	for i := range 200 { // enough for the workers to overlap
		tree = append(tree, zkctltest.Node{Path: fmt.Sprintf("/many/n%03d", i), Data: []byte{byte(i), 0xff}})
	}
	tree = append(tree, zkctltest.Node{Path: "/many", Data: nil})
	zkctltest.Build(t, zs, "/src", tree)

	// dump | restore, twice.
	r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", zkEP, "dump", "/src"), zkctl.ExitOK, "dump from ZooKeeper")
	zkctltest.Want(t, zkctltest.Run(t, r.Out, "--endpoints", etcdEP, "restore", "-", "--to", "/mid"), zkctl.ExitOK, "restore to etcd")
	dumpTSame(t, "etcd copy", dumpTRead(t, es, "/mid"), tree)
	r = zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", etcdEP, "dump", "/mid"), zkctl.ExitOK, "dump from etcd")
	zkctltest.Want(t, zkctltest.Run(t, r.Out, "--endpoints", zkEP, "restore", "-", "--to", "/back"), zkctl.ExitOK, "restore to ZooKeeper")
	dumpTSame(t, "ZooKeeper copy of the etcd copy", dumpTRead(t, zs, "/back"), tree)

	// cp, with full URLs: the clusters' endpoints carry the test's namespace.
	r = zkctltest.Want(t, zkctltest.Run(t, "", "cp", zkEP+"/src", etcdEP+"/cp"), zkctl.ExitOK, "cp ZooKeeper to etcd")
	if !strings.Contains(r.Out, fmt.Sprintf("%d created", len(tree))) {
		t.Errorf("cp printed %q", r.Out)
	}
	dumpTSame(t, "cp to etcd", dumpTRead(t, es, "/cp"), tree)
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp etcd to ZooKeeper")
	dumpTSame(t, "cp back to ZooKeeper", dumpTRead(t, zs, "/cpback"), tree)

	// cp shares restore's rules.
	if _, err := zs.Set(context.Background(), "/cpback/a", []byte("changed"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitConflict, "cp over changed data")
	r = zkctltest.Want(t, zkctltest.Run(t, "", "-o", "json", "cp", "--dry-run", "--force", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp --dry-run --force")
	if !strings.Contains(r.Out, `{"action":"set","path":"/`) || strings.Count(r.Out, "\n") != 1 {
		t.Errorf("cp --dry-run --force -o json printed %q", r.Out)
	}
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", "--force", etcdEP+"/cp", zkEP+"/cpback"), zkctl.ExitOK, "cp --force")
	dumpTSame(t, "cp --force", dumpTRead(t, zs, "/cpback"), tree)

	// Bad input.
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", zkEP+"/nope", etcdEP+"/x"), zkctl.ExitNoNode, "cp of a missing node")
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", "/src", etcdEP+"/x"), zkctl.ExitUsage, "cp without a URL")
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", zkEP+"/src"), zkctl.ExitUsage, "cp without DST")
	zkctltest.Want(t, zkctltest.Run(t, "", "cp", "redis://h/src", etcdEP+"/x"), zkctl.ExitUsage, "cp with an unknown scheme")
	zkctltest.Want(t, zkctltest.Run(t, "", "--request-timeout", "2s", "cp", zkEP+"/src", "etcd://127.0.0.1:1/x"), zkctl.ExitUnavailable, "cp to an unreachable cluster")
	zkctltest.Want(t, zkctltest.Run(t, "", "--request-timeout", "2s", "--endpoints", "zk://127.0.0.1:1", "dump", "/"), zkctl.ExitUnavailable, "dump of an unreachable cluster")
	zkctltest.Want(t, zkctltest.Run(t, "{}", "--request-timeout", "2s", "--endpoints", "etcd://127.0.0.1:1", "restore", "-"), zkctl.ExitUsage, "restore of a bad dump, checked before connecting")
}

// TestDumpACL: on ZooKeeper a dump keeps the ACLs someone set (not the
// default world:anyone) and restore puts them back; restored into etcd,
// they are dropped with a note.
func TestDumpACL(t *testing.T) {
	eps := zkctltest.Clusters(t)
	zkEP, etcdEP := eps["zk"], eps["etcd"]
	s := zkctltest.Observer(t, zkEP)
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
	r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", zkEP, "dump", "/acls"), zkctl.ExitOK, "dump")
	if !strings.Contains(r.Out, `{"path":"/ro","data":"x","acl":[{"perms":1,"scheme":"world","id":"anyone"},{"perms":31,"scheme":"ip","id":"127.0.0.1"}]}`) ||
		strings.Count(r.Out, `"acl"`) != 1 {
		t.Fatalf("dump of ACLs:\n%s", r.Out)
	}
	file := zkctltest.File(t, "dump.json", r.Out)
	zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", zkEP, "restore", file, "--to", "/acls2"), zkctl.ExitOK, "restore")
	acl, _, err := backend.GetACL(ctx, s, "/acls2/ro")
	if err != nil || !slices.Equal(acl, custom) {
		t.Fatalf("restored ACL %v, %v; want %v", acl, err, custom)
	}
	if acl, _, err := backend.GetACL(ctx, s, "/acls2/open"); err != nil || !slices.Equal(acl, backend.OpenACL) {
		t.Fatalf("restored default ACL %v, %v", acl, err)
	}
	r = zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", etcdEP, "restore", file, "--to", "/acls"), zkctl.ExitOK, "restore into etcd")
	if !strings.Contains(r.ErrOut, "without") {
		t.Fatalf("restore of ACLs into etcd said nothing: %q", r.ErrOut)
	}
}

// TestDumpModes: a dump from etcd keeps container and TTL modes (and the
// TTL), and restore recreates them, on etcd and on ZooKeeper; a dump from
// ZooKeeper, whose server does not report those modes, has them as
// persistent.
func TestDumpModes(t *testing.T) {
	eps := zkctltest.Clusters(t)
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

	se, sz := zkctltest.Observer(t, eps["etcd"]), zkctltest.Observer(t, eps["zk"])
	build(se)
	r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", eps["etcd"], "dump", "/modes"), zkctl.ExitOK, "dump from etcd")
	for _, want := range []string{`{"path":"/c","mode":"container"}`, `{"path":"/t","mode":"persistent-ttl","ttl_ms":3600000}`} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("etcd dump lacks %s:\n%s", want, r.Out)
		}
	}
	file := zkctltest.File(t, "dump.json", r.Out)
	zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", eps["etcd"], "restore", file, "--to", "/modes2"), zkctl.ExitOK, "restore into etcd")
	wantModes(se, "/modes2")
	r = zkctltest.Run(t, "", "--endpoints", eps["zk"], "restore", file, "--to", "/modes2")
	if r.Code == zkctl.ExitError && strings.Contains(r.ErrOut, "unsupported") {
		t.Logf("this ZooKeeper has no TTL nodes: %s", r.ErrOut)
	} else {
		zkctltest.Want(t, r, zkctl.ExitOK, "restore into ZooKeeper")
		if _, err := sz.Exists(ctx, "/modes2/t/kid"); err != nil {
			t.Fatal(err)
		}
	}

	build(sz)
	r = zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", eps["zk"], "dump", "/modes"), zkctl.ExitOK, "dump from ZooKeeper")
	if strings.Contains(r.Out, `"mode"`) {
		t.Errorf("a ZooKeeper dump claims modes it cannot read:\n%s", r.Out)
	}
}

// dumpTRel is p relative to root, as a dump names it.
func dumpTRel(root, p string) string {
	if root == "/" {
		return p
	}
	if p == root {
		return "/"
	}
	return strings.TrimPrefix(p, root)
}
