package barriercmd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/barrier"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// runner returns a function that runs zkctl against the cluster ep.
func runner(t *testing.T, ep string) func(stdin string, args ...string) zkctltest.Result {
	return func(stdin string, args ...string) zkctltest.Result {
		t.Helper()
		return zkctltest.Run(t, stdin, append([]string{"--endpoints", ep}, args...)...)
	}
}

// members lists the member nodes under a double barrier (not ready).
func members(t *testing.T, s backend.Session, path string) []string {
	t.Helper()
	kids := recipetest.Children(t, s, path)
	return slices.DeleteFunc(kids, func(k string) bool { return k == barrier.ReadyName })
}

// TestSingle: set raises the barrier (its node exists), wait blocks while
// it is up (--timeout exits 6) and returns once another session lowers it,
// rm lowers it, and wait on a lowered barrier returns at once.
//
// Broken on purpose: wait calling IsSet instead of Wait (returning at
// once) -> fails with "wait --timeout on a raised barrier: exit 0 (stderr
// \"\"), want 6".
func TestSingle(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			zkctltest.Want(t, run("", "barrier", "set", "/gate"), 0, "set")
			zkctltest.Want(t, run("", "barrier", "set", "/gate"), 0, "set again")
			if st, err := obs.Exists(recipetest.Ctx(t), "/gate"); err != nil || st == nil {
				t.Fatalf("after set: /gate %v, %v; want it to exist", st, err)
			}
			zkctltest.Want(t, run("", "barrier", "wait", "/gate", "--timeout", "300ms"), zkctl.ExitTimeout, "wait --timeout on a raised barrier")

			w := zkctltest.Start(t, "--endpoints", ep, "barrier", "wait", "/gate")
			if err := obs.Delete(recipetest.Ctx(t), "/gate", backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			if code := w.Wait(t); code != 0 {
				t.Fatalf("wait after the barrier was lowered: exit %d (%q)", code, w.Err.String())
			}

			zkctltest.Want(t, run("", "barrier", "set", "/gate"), 0, "set")
			zkctltest.Want(t, run("", "barrier", "rm", "/gate"), 0, "rm")
			zkctltest.Want(t, run("", "barrier", "rm", "/gate"), 0, "rm again")
			if st, err := obs.Exists(recipetest.Ctx(t), "/gate"); err != nil || st != nil {
				t.Fatalf("after rm: /gate %v, %v; want it gone", st, err)
			}
			zkctltest.Want(t, run("", "barrier", "wait", "/gate", "--timeout", "5s"), 0, "wait on a lowered barrier")
			zkctltest.Want(t, run("", "barrier", "set", "bad"), zkctl.ExitUsage, "set with a relative path")
		})
	}
}

// TestEnterRunsCommand: three zkctl processes enter a double barrier for
// 3, each with a command. While two are inside no command runs; once the
// third enters all three run, each with the barrier's path and its own
// member name in the environment. Then each leaves: zkctl does not exit
// while the third's command still runs (so the barrier holds the fast
// members until the slow one is done), and every zkctl exits with its
// command's status once all have left.
//
// Broken on purpose: enter building the barrier for N-1 members -> fails
// with "zkctl [... barrier enter /batch -n 3 ...] still runs after 20s"
// (two passed and left without the third, which waits alone); enter not
// calling Leave -> fails with "zkctl 0 exited (7) while the third
// member's command still ran".
func TestEnterRunsCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			obs := zkctltest.Observer(t, ep)
			dir := t.TempDir()
			hold := dir + ".go" // the held command runs until this file exists
			// Each command records its path and member name in a file named
			// after the member; the one with HOLD set then waits for hold.
			// All exit 7.
			script := `echo "$ZKCTL_BARRIER_PATH $ZKCTL_BARRIER_MEMBER" > "$0/$ZKCTL_BARRIER_MEMBER"; ` +
				`if [ -n "$HOLD" ]; then while [ ! -e "$0.go" ]; do sleep 0.05; done; fi; exit 7`
			start := func(env ...string) *zkctltest.Process {
				return zkctltest.StartProcess(t, env, "--endpoints", ep, "barrier", "enter", "/batch", "-n", "3", "--", "sh", "-c", script, dir)
			}
			procs := []*zkctltest.Process{start(), start()}
			recipetest.Eventually(t, "two members inside", func() bool { return len(members(t, obs, "/batch")) == 2 })
			inside := members(t, obs, "/batch")
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Fatalf("a command ran with 2 of 3 members inside: %v", files)
			}
			procs = append(procs, start("HOLD=1"))
			recipetest.Eventually(t, "three commands ran", func() bool {
				files, _ := os.ReadDir(dir)
				return len(files) == 3
			})
			// The held command runs: the others' zkctl must still be
			// leaving, not exited. Without Leave they exit within a few
			// milliseconds of their commands; a second is ample.
			for i, p := range procs[:2] {
				select {
				case <-p.Done():
					t.Fatalf("zkctl %d exited (%d) while the third member's command still ran", i, p.Code())
				case <-time.After(time.Second):
				}
			}
			if err := os.WriteFile(hold, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			for i, p := range procs {
				if code := p.Wait(t, recipetest.Wait); code != 7 {
					t.Fatalf("zkctl %d: exit %d (stderr %q), want the command's 7", i, code, p.Err.String())
				}
			}
			files, err := os.ReadDir(dir)
			if err != nil || len(files) != 3 {
				t.Fatalf("commands run: %v, %v; want 3", files, err)
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f.Name()))
				if err != nil || string(b) != "/batch "+f.Name()+"\n" {
					t.Fatalf("command of member %s saw %q, %v; want the path and its member name", f.Name(), b, err)
				}
			}
			for _, m := range inside {
				if !slices.ContainsFunc(files, func(f os.DirEntry) bool { return f.Name() == m }) {
					t.Fatalf("member %s, inside before the third came, ran no command (%v)", m, files)
				}
			}
			if ms := members(t, obs, "/batch"); len(ms) != 0 {
				t.Fatalf("members %v left after every zkctl exited", ms)
			}
		})
	}
}

// TestEnterWithoutCommand: enter alone prints the member name and leaves;
// -o json prints it as an object; an enter that times out exits 6 (125
// with a command, which cannot be taken for the command's status) and
// leaves no member behind; bad calls exit 2.
//
// Broken on purpose: enter's timeout not marked as zkctl's own failure
// when there is a command (wrapped(false, ...)) -> fails with "enter
// --timeout with a command: exit 6 ..., want 125".
func TestEnterWithoutCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			r := zkctltest.Want(t, run("", "barrier", "enter", "/solo", "-n", "1", "--name", "me"), 0, "enter -n 1")
			if r.Out != "me\n" {
				t.Fatalf("enter -n 1 --name me printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "barrier", "enter", "/solo", "-n", "1"), 0, "enter -o json")
			var out struct{ Path, Member string }
			if err := json.Unmarshal([]byte(r.Out), &out); err != nil || out.Path != "/solo" || len(out.Member) != 36 {
				t.Fatalf("enter -o json printed %q (%v); want the path and a UUID member", r.Out, err)
			}
			if ms := members(t, obs, "/solo"); len(ms) != 0 {
				t.Fatalf("members %v after enter alone; want none", ms)
			}

			zkctltest.Want(t, run("", "barrier", "enter", "/two", "-n", "2", "--timeout", "300ms"), zkctl.ExitTimeout, "enter --timeout")
			zkctltest.Want(t, run("", "barrier", "enter", "/two", "-n", "2", "--timeout", "300ms", "--", "true"), zkctl.ExitWrapperError, "enter --timeout with a command")
			if ms := members(t, obs, "/two"); len(ms) != 0 {
				t.Fatalf("members %v after enters that timed out; want none", ms)
			}

			zkctltest.Want(t, run("", "barrier", "enter", "/x"), zkctl.ExitUsage, "enter without -n")
			zkctltest.Want(t, run("", "barrier", "enter", "/x", "-n", "0"), zkctl.ExitUsage, "enter -n 0")
			zkctltest.Want(t, run("", "barrier", "enter", "/x", "-n", "2", "extra"), zkctl.ExitUsage, "enter with a word after PATH")
			zkctltest.Want(t, run("", "barrier", "enter", "/x", "-n", "2", "--name", "ready"), zkctl.ExitUsage, "enter --name ready")
		})
	}
}

// TestLeaveObserver: leave waits, without being a member, until no member
// is left: at once for a barrier without members, --timeout (exit 6) while
// one is inside, and as soon as the last member's node goes.
//
// Broken on purpose: waitEmpty counting ready as a member -> fails with
// "leave on a barrier without members: exit 6 (stderr \"zkctl: waiting
// for the members to leave /b: not within 5s (--timeout) ...\"), want 0".
func TestLeaveObserver(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			zkctltest.Want(t, run("", "barrier", "leave", "/none", "--timeout", "5s"), 0, "leave on no barrier")
			ctx := recipetest.Ctx(t)
			if _, err := obs.Create(ctx, "/b/ready", nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
				t.Fatal(err)
			}
			zkctltest.Want(t, run("", "barrier", "leave", "/b", "--timeout", "5s"), 0, "leave on a barrier without members")
			member, err := obs.Create(ctx, "/b/m1", nil, backend.Ephemeral)
			if err != nil {
				t.Fatal(err)
			}
			zkctltest.Want(t, run("", "barrier", "leave", "/b", "--timeout", "300ms"), zkctl.ExitTimeout, "leave while a member is inside")
			w := zkctltest.Start(t, "--endpoints", ep, "barrier", "leave", "/b")
			if err := obs.Delete(ctx, member, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			if code := w.Wait(t); code != 0 {
				t.Fatalf("leave after the last member went: exit %d (%q)", code, w.Err.String())
			}
		})
	}
}

// TestEnterSessionLost: the session of a zkctl whose command runs inside
// the barrier ends on the server; the command is stopped and zkctl exits
// 124. Run on etcd, where the test can end the session by revoking its
// lease (the member node's owner) with the raw client; ZooKeeper's session
// cannot be expired from another process without its password.
//
// Broken on purpose: enter passing a nil lost channel to RunChild (never
// closed) -> fails with "zkctl [...] still runs after 20s".
func TestEnterSessionLost(t *testing.T) {
	ep := zkctltest.Clusters(t)["etcd"]
	obs := zkctltest.Observer(t, ep)
	dir := t.TempDir()
	p := zkctltest.StartProcess(t, nil, "--endpoints", ep, "barrier", "enter", "/lost", "-n", "1", "--grace", "1s", "--",
		"sh", "-c", `touch "$0/started"; sleep 60`, dir)
	recipetest.Eventually(t, "the command started", func() bool {
		_, err := os.Stat(filepath.Join(dir, "started"))
		return err == nil
	})
	ms := members(t, obs, "/lost")
	if len(ms) != 1 {
		t.Fatalf("members %v; want the one zkctl", ms)
	}
	st, err := obs.Exists(recipetest.Ctx(t), "/lost/"+ms[0])
	if err != nil || st == nil || st.EphemeralOwner == 0 {
		t.Fatalf("member node: %+v, %v", st, err)
	}
	eps := strings.TrimPrefix(ep, "etcd://")
	eps = eps[:strings.Index(eps, "/")]
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), DialTimeout: recipetest.Wait, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Revoke(recipetest.Ctx(t), clientv3.LeaseID(st.EphemeralOwner)); err != nil {
		t.Fatalf("revoke lease %x: %v", st.EphemeralOwner, err)
	}
	if code := p.Wait(t, recipetest.Wait); code != zkctl.ExitLockLost {
		t.Fatalf("zkctl after its session ended: exit %d (stderr %q), want %d", code, p.Err.String(), zkctl.ExitLockLost)
	}
}
