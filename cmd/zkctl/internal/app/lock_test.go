package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// observer opens a session on the cluster ep names, for checking what zkctl did.
func observer(t *testing.T, ep string) backend.Session {
	t.Helper()
	cl, err := zkctl.ParseEndpoints(ep)
	if err != nil {
		t.Fatal(err)
	}
	var c backend.Client
	if cl.Backend == "zk" {
		c, err = zk.New(zk.Config{Servers: cl.Servers, Namespace: cl.Namespace})
	} else {
		c, err = etcd.New(etcd.Config{Endpoints: cl.Servers, Namespace: cl.Namespace})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFile waits until the child under test has created path.
func waitFile(t *testing.T, path string, done <-chan result) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("zkctl exited (%d, %q) before the child started", r.code, r.errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process creates
	}
}

func TestLockRunsCommand(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "env")
			r := zkctlRun(t, "", "--endpoints", ep, "lock", "/locks/job", "--",
				"sh", "-c", `echo "$ZKCTL_LOCK_PATH $ZKCTL_LOCK_TOKEN" > `+out+`; exit 7`)
			if r.code != 7 {
				t.Fatalf("exit %d (stderr %q), want the command's 7", r.code, r.errOut)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(string(b))
			if len(fields) != 2 || fields[0] != "/locks/job" {
				t.Fatalf("child saw %q", b)
			}
			if tok, err := strconv.ParseInt(fields[1], 10, 64); err != nil || tok <= 0 {
				t.Fatalf("ZKCTL_LOCK_TOKEN = %q", fields[1])
			}
			// Released: the lock directory is empty again.
			s := observer(t, ep)
			// (The directory is a container: the server may have removed
			// it already, which is empty too.)
			kids, _, err := s.Children(context.Background(), "/locks/job")
			if (err != nil && !errors.Is(err, backend.ErrNoNode)) || len(kids) != 0 {
				t.Fatalf("after the command: lock nodes %q, %v", kids, err)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "/locks/job", "--", "true"); r.code != 0 {
				t.Fatalf("true under the lock: exit %d", r.code)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "/locks/job", "--", "no-such-command-zkctl"); r.code != zkctl.ExitNotFound {
				t.Fatalf("missing command: exit %d, want %d", r.code, zkctl.ExitNotFound)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "/locks/job", "--", dir); r.code != zkctl.ExitCannotRun {
				t.Fatalf("a directory as command: exit %d, want %d", r.code, zkctl.ExitCannotRun)
			}
			if r := zkctlRun(t, "", "--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "1s", "lock", "--timeout", "2s", "/l", "--", "true"); r.code != zkctl.ExitWrapperError {
				t.Fatalf("unreachable cluster while wrapping: exit %d (%q), want %d", r.code, r.errOut, zkctl.ExitWrapperError)
			}
		})
	}
}

// TestLockLost: when the lock node is deleted under a running command, the
// command gets SIGTERM, then SIGKILL after the grace period if it ignores
// it, and zkctl exits with ExitLockLost.
func TestLockLost(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			for _, ignoreTerm := range []bool{false, true} {
				dir := t.TempDir()
				started := filepath.Join(dir, "started")
				script := "touch " + started + "; exec sleep 60"
				if ignoreTerm {
					script = "trap '' TERM; touch " + started + "; sleep 60; sleep 60"
				}
				done := make(chan result, 1)
				go func() {
					done <- zkctlRun(t, "", "--endpoints", ep, "lock", "--grace", "500ms", "/locks/lost", "--", "sh", "-c", script)
				}()
				waitFile(t, started, done)
				s := observer(t, ep)
				m, err := lock.New(s, "/locks/lost")
				if err != nil {
					t.Fatal(err)
				}
				hs, err := m.Holders(context.Background())
				if err != nil || len(hs) != 1 {
					t.Fatalf("holders %+v, %v", hs, err)
				}
				if err := s.Delete(context.Background(), hs[0].Path, backend.AnyVersion); err != nil {
					t.Fatal(err)
				}
				select {
				case r := <-done:
					if r.code != zkctl.ExitLockLost {
						t.Fatalf("lock lost (ignore TERM %v): exit %d (%q), want %d", ignoreTerm, r.code, r.errOut, zkctl.ExitLockLost)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("zkctl did not stop the command after the lock was lost")
				}
			}
		})
	}
}

func TestLockHolders(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			m, err := lock.New(s, "/locks/h", lock.WithData([]byte("me")))
			if err != nil {
				t.Fatal(err)
			}
			l, err := m.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock(context.Background())
			r := zkctlRun(t, "", "--endpoints", ep, "lock", "holders", "/locks/h")
			if r.code != 0 || !strings.Contains(r.out, "holder") || !strings.Contains(r.out, strconv.FormatInt(l.Token(), 10)) || !strings.Contains(r.out, "me") {
				t.Fatalf("lock holders: exit %d, out %q", r.code, r.out)
			}
			r = zkctlRun(t, "", "--endpoints", ep, "-o", "json", "lock", "holders", "/locks/h")
			if !strings.Contains(r.out, `"role":"holder"`) {
				t.Fatalf("lock holders -o json: %q", r.out)
			}
			// TryLock semantics through --timeout: held elsewhere, zkctl gives up.
			r = zkctlRun(t, "", "--endpoints", ep, "lock", "--timeout", "300ms", "/locks/h", "--", "true")
			if r.code != zkctl.ExitWrapperError {
				t.Fatalf("lock held elsewhere with --timeout: exit %d (%q), want %d", r.code, r.errOut, zkctl.ExitWrapperError)
			}
		})
	}
}

// TestLockShared: with one semaphore lease of two, or a read lock, held by
// another session, zkctl lock -n 2 and --read still run their command at
// once; with the write lock held elsewhere, --read waits (and gives up at
// --timeout). Conflicting flags are usage errors. (urfave/cli keeps state
// in package variables, so two zkctl runs cannot share one test process.)
func TestLockShared(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			sem, err := lock.NewSemaphore(s, "/locks/sem", 2)
			if err != nil {
				t.Fatal(err)
			}
			sl, err := sem.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "-n", "2", "/locks/sem", "--", "true"); r.code != 0 {
				t.Fatalf("lock -n 2 with one lease taken: exit %d (%q)", r.code, r.errOut)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "-n", "1", "--timeout", "300ms", "/locks/sem", "--", "true"); r.code != zkctl.ExitWrapperError {
				t.Fatalf("lock -n 1 on a taken semaphore: exit %d (%q), want %d", r.code, r.errOut, zkctl.ExitWrapperError)
			}
			_ = sl.Release(ctx)

			rw, err := lock.NewRWMutex(s, "/locks/rw")
			if err != nil {
				t.Fatal(err)
			}
			rl, err := rw.RLock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "--read", "/locks/rw", "--", "true"); r.code != 0 {
				t.Fatalf("lock --read beside another reader: exit %d (%q)", r.code, r.errOut)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "--write", "--timeout", "300ms", "/locks/rw", "--", "true"); r.code != zkctl.ExitWrapperError {
				t.Fatalf("lock --write beside a reader: exit %d (%q), want %d", r.code, r.errOut, zkctl.ExitWrapperError)
			}
			_ = rl.Unlock(ctx)
			wl, err := rw.Lock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "lock", "--read", "--timeout", "300ms", "/locks/rw", "--", "true"); r.code != zkctl.ExitWrapperError {
				t.Fatalf("lock --read beside a writer: exit %d (%q), want %d", r.code, r.errOut, zkctl.ExitWrapperError)
			}
			_ = wl.Unlock(ctx)

			for _, bad := range [][]string{{"--read", "--write"}, {"-n", "2", "--read"}, {"-n", "-1"}} {
				args := append([]string{"--endpoints", ep, "lock"}, bad...)
				if r := zkctlRun(t, "", append(args, "/locks/x", "--", "true")...); r.code != zkctl.ExitUsage {
					t.Fatalf("lock %v: exit %d, want %d", bad, r.code, zkctl.ExitUsage)
				}
			}
		})
	}
}
