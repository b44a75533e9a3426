package mirrorcmd_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/mirrorcmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// subtree reads the subtree at root as "path=data" lines, sorted; empty
// when root does not exist.
func subtree(ctx context.Context, s backend.Session, root string) (string, error) {
	nodes, err := walk.Tree(ctx, s, root, walk.Options{Data: true})
	if errors.Is(err, backend.ErrNoNode) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	lines := make([]string, 0, len(nodes))
	for _, n := range nodes {
		lines = append(lines, fmt.Sprintf("%s=%q", n.Path, n.Data))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// converged waits until the destination's subtree at root equals the
// source's, and stays equal over a second read (a quiet period: nothing
// more is being applied), failing the test after a generous deadline.
func converged(t *testing.T, r *zkctltest.Background, src, dst backend.Session, root, what string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	equal := 0
	var want, got string
	for {
		var err1, err2 error
		want, err1 = subtree(ctx, src, root)
		got, err2 = subtree(ctx, dst, root)
		if err1 == nil && err2 == nil && want == got {
			if equal++; equal == 3 {
				return
			}
		} else {
			equal = 0
		}
		if r.Ended() {
			t.Fatalf("%s: mirror ended; stderr %q", what, tail(r.Err.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: destination not equal to the source within 60s (errors %v, %v)\nsource:\n%s\ndestination:\n%s\nstderr %q",
				what, err1, err2, want, got, tail(r.Err.String()))
		}
		<-tick.C
	}
}

// tail is the end of a long output, for messages.
func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// untilErr waits until the mirror's stderr matches re.
func untilErr(t *testing.T, r *zkctltest.Background, re *regexp.Regexp, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !re.MatchString(r.Err.String()) {
		if r.Ended() || time.Now().After(deadline) {
			t.Fatalf("%s: %v not on stderr (ended %v): %q", what, re, r.Ended(), tail(r.Err.String()))
		}
		<-tick.C
	}
}

// TestMirror runs zkctl mirror from ZooKeeper to etcd and from etcd to
// ZooKeeper: the first copy (over a destination holding a stray node and
// a stale one), then changes made while it runs (create, set, delete,
// delete and create again, a subtree removed, an ephemeral node), then the
// source's session expired (backend.Expirer) with changes made around the
// expiry, then the destination's connection cut (internal/faultnet) with
// changes made during the cut. After each step the destination must equal
// the source, read twice. Interrupted, it exits 0 after a last stats line.
//
// Seen to fail: with mirror.apply ignoring cache.Removed (return 0, nil),
// both directions timed out at "changes while running" (the deleted nodes
// still in the destination); with repair removing nothing (its `wanted`
// check made always true), "first copy" timed out with /m/stray kept.
func TestMirror(t *testing.T) {
	addr := map[string]string{"zk": testenv.ZooKeeper(t)[0], "etcd": testenv.Etcd(t)[0]}
	for _, dir := range [][2]string{{"zk", "etcd"}, {"etcd", "zk"}} {
		t.Run(dir[0]+"-to-"+dir[1], func(t *testing.T) {
			clusters := zkctltest.Clusters(t)
			dstCl, err := zkctl.ParseEndpoints(clusters[dir[1]])
			zkctltest.Must(t, err)
			ctx := context.Background()
			src := zkctltest.Observer(t, clusters[dir[0]])
			dst := zkctltest.Observer(t, clusters[dir[1]])
			proxy, err := faultnet.NewProxy(addr[dir[1]])
			zkctltest.Must(t, err)
			t.Cleanup(func() { proxy.Close() })
			dstURL := dir[1] + "://" + proxy.Addr() + dstCl.Namespace

			zkctltest.Build(t, src, "/m", zkctltest.SmallTree())
			zkctltest.Build(t, dst, "/m", []zkctltest.Node{{Path: "/"}, {Path: "/stray", Data: []byte("not in the source")}, {Path: "/a", Data: []byte("stale")}})

			var srcClient backend.Client
			mirrorcmd.SetSourceHook(func(c backend.Client) { srcClient = c })
			t.Cleanup(func() { mirrorcmd.SetSourceHook(nil) })
			r := zkctltest.Start(t, "mirror", clusters[dir[0]], dstURL, "/m", "--stats", "1s", "--request-timeout", "3s")
			untilErr(t, r, regexp.MustCompile(`mirror: copied /m: `), "first copy")
			converged(t, r, src, dst, "/m", "first copy")

			must := func(_ any, err error) { t.Helper(); zkctltest.Must(t, err) }
			// Changes while it runs.
			must(src.Create(ctx, "/m/new", []byte("n"), backend.Persistent))
			must(src.Create(ctx, "/m/new/kid", []byte("k"), backend.Persistent))
			must(src.Set(ctx, "/m/empty", []byte("now full"), backend.AnyVersion))
			zkctltest.Must(t, src.Delete(ctx, "/m/a-b", backend.AnyVersion))
			zkctltest.Must(t, src.Delete(ctx, "/m/a.b", backend.AnyVersion))
			must(src.Create(ctx, "/m/a.b", []byte("again"), backend.Persistent))
			zkctltest.Must(t, backend.DeleteAll(ctx, src, "/m/a"))
			must(src.Create(ctx, "/m/eph", []byte("e"), backend.Ephemeral))
			converged(t, r, src, dst, "/m", "changes while running")
			if st, err := dst.Exists(ctx, "/m/eph"); err != nil || st == nil || st.EphemeralOwner != 0 {
				t.Fatalf("copy of an ephemeral node: %+v, %v; want a persistent node", st, err)
			}

			// The source's session expired, with changes on both sides of it.
			s, err := srcClient.Session(ctx)
			zkctltest.Must(t, err)
			must(src.Create(ctx, "/m/before-expiry", nil, backend.Persistent))
			zkctltest.Must(t, s.(backend.Expirer).Expire(ctx))
			must(src.Set(ctx, "/m/new/kid", []byte("k2"), backend.AnyVersion))
			zkctltest.Must(t, backend.DeleteAll(ctx, src, "/m/new"))
			must(src.Create(ctx, "/m/after-expiry/x", []byte("x"), backend.Persistent, backend.WithParents(backend.Persistent)))
			untilErr(t, r, regexp.MustCompile(`mirror: resynced /m: `), "resync after the expiry")
			converged(t, r, src, dst, "/m", "source session expired")

			// The destination cut off, with changes meanwhile.
			proxy.Cut()
			must(src.Create(ctx, "/m/during-cut", []byte("c"), backend.Persistent))
			must(src.Set(ctx, "/m/a.b", []byte("set during the cut"), backend.AnyVersion))
			zkctltest.Must(t, backend.DeleteAll(ctx, src, "/m/after-expiry"))
			untilErr(t, r, regexp.MustCompile(`mirror: destination unreachable`), "the cut noticed")
			zkctltest.Must(t, src.Delete(ctx, "/m/lock-0000000007", backend.AnyVersion))
			proxy.Heal()
			untilErr(t, r, regexp.MustCompile(`mirror: destination back`), "the destination back")
			converged(t, r, src, dst, "/m", "destination cut")

			if code := r.Stop(t); code != zkctl.ExitOK {
				t.Fatalf("interrupted mirror: exit %d, want 0; stderr %q", code, r.Err.String())
			}
			lines := strings.Split(strings.TrimSpace(r.Err.String()), "\n")
			if last := lines[len(lines)-1]; !regexp.MustCompile(`^zkctl: mirror: applied [1-9][0-9]*, pending 0, oldest 0s$`).MatchString(last) {
				t.Fatalf("last stderr line %q, want the final stats line", last)
			}
		})
	}
}

// TestMirrorSkipEphemeral: with --skip-ephemeral an ephemeral source node
// is not copied, and one made while the mirror runs is not either.
// Seen to fail: with copied ignoring skipEph, /m/e and /m/e2 were copied.
func TestMirrorSkipEphemeral(t *testing.T) {
	clusters := zkctltest.Clusters(t)
	ctx := context.Background()
	src := zkctltest.Observer(t, clusters["etcd"])
	dst := zkctltest.Observer(t, clusters["zk"])
	_, err := src.Create(ctx, "/m/e", []byte("e"), backend.Ephemeral, backend.WithParents(backend.Persistent))
	zkctltest.Must(t, err)
	r := zkctltest.Start(t, "mirror", clusters["etcd"], clusters["zk"], "/m", "--skip-ephemeral")
	untilErr(t, r, regexp.MustCompile(`mirror: copied /m: `), "first copy")
	_, err = src.Create(ctx, "/m/e2", nil, backend.Ephemeral)
	zkctltest.Must(t, err)
	_, err = src.Create(ctx, "/m/p", nil, backend.Persistent)
	zkctltest.Must(t, err)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := subtree(ctx, dst, "/m")
		zkctltest.Must(t, err)
		if got == `/m/p=""`+"\n"+`/m=""` {
			break
		}
		if strings.Contains(got, "/m/e") || time.Now().After(deadline) {
			t.Fatalf("destination %q, want /m and /m/p only", got)
		}
		time.Sleep(50 * time.Millisecond) // polling the destination for a condition, not ordering events
	}
	if code := r.Stop(t); code != zkctl.ExitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestMirrorUsage: argument errors are usage errors (exit 2), and an
// unreachable destination at the start is exit 5.
func TestMirrorUsage(t *testing.T) {
	clusters := zkctltest.Clusters(t)
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"mirror", clusters["zk"]}, zkctl.ExitUsage},
		{[]string{"mirror", clusters["zk"], clusters["etcd"], "no-slash"}, zkctl.ExitUsage},
		{[]string{"mirror", clusters["zk"], clusters["zk"], "/x"}, zkctl.ExitUsage},
		{[]string{"mirror", clusters["zk"], clusters["etcd"], "--stats", "-1s"}, zkctl.ExitUsage},
		{[]string{"mirror", "--request-timeout", "2s", clusters["zk"], "etcd://127.0.0.1:1/x"}, zkctl.ExitUnavailable},
	} {
		zkctltest.Want(t, zkctltest.Run(t, "", tt.args...), tt.code, strings.Join(tt.args, " "))
	}
}

// TestMirrorSourceRefused: a mirror whose source cache ends with an error
// (here ZooKeeper refusing to read a creator-only node under the subtree:
// backend.ErrNoAuth) exits with the README's code for it, 1, and says why.
// (The node is made before the mirror starts: made while it runs, the
// cache did not end, see the report of issue 13.)
// Seen to fail: with startError wrapping the error in zkctl.UsageError, the
// exit was 2.
func TestMirrorSourceRefused(t *testing.T) {
	clusters := zkctltest.Clusters(t)
	ctx := context.Background()
	src := zkctltest.Observer(t, clusters["zk"])
	cl, err := zkctl.ParseEndpoints(clusters["zk"])
	zkctltest.Must(t, err)
	_, err = src.Create(ctx, "/m", nil, backend.Persistent)
	zkctltest.Must(t, err)
	alice, err := zk.New(zk.Config{Servers: cl.Servers, Namespace: cl.Namespace,
		Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("alice:pw")}}})
	zkctltest.Must(t, err)
	t.Cleanup(func() { alice.Close() })
	as, err := alice.Session(ctx)
	zkctltest.Must(t, err)
	_, err = as.Create(ctx, "/m/secret", []byte("s"), backend.Persistent) // creator-only: alice has credentials
	zkctltest.Must(t, err)
	if _, _, err := src.Get(ctx, "/m/secret"); !errors.Is(err, backend.ErrNoAuth) {
		t.Fatalf("anonymous read of alice's node: %v, want ErrNoAuth", err)
	}
	r := zkctltest.Want(t, zkctltest.Run(t, "", "mirror", clusters["zk"], clusters["etcd"], "/m"), zkctl.ExitError, "mirror of a refused source")
	if !strings.Contains(r.ErrOut, "not authorized") {
		t.Fatalf("stderr %q: want it to say not authorized", r.ErrOut)
	}
}
