package lockcmd_test

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
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

func TestLockRunsCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "env")
			r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "/locks/job", "--",
				"sh", "-c", `echo "$ZKCTL_LOCK_PATH $ZKCTL_LOCK_TOKEN" > `+out+`; exit 7`)
			if r.Code != 7 {
				t.Fatalf("exit %d (stderr %q), want the command's 7", r.Code, r.ErrOut)
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
			s := zkctltest.Observer(t, ep)
			// (The directory is a container: the server may have removed
			// it already, which is empty too.)
			kids, _, err := s.Children(context.Background(), "/locks/job")
			if (err != nil && !errors.Is(err, backend.ErrNoNode)) || len(kids) != 0 {
				t.Fatalf("after the command: lock nodes %q, %v", kids, err)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "/locks/job", "--", "true"); r.Code != 0 {
				t.Fatalf("true under the lock: exit %d", r.Code)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "/locks/job", "--", "no-such-command-zkctl"); r.Code != zkctl.ExitNotFound {
				t.Fatalf("missing command: exit %d, want %d", r.Code, zkctl.ExitNotFound)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "/locks/job", "--", dir); r.Code != zkctl.ExitCannotRun {
				t.Fatalf("a directory as command: exit %d, want %d", r.Code, zkctl.ExitCannotRun)
			}
			if r := zkctltest.Run(t, "", "--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "1s", "lock", "--timeout", "2s", "/l", "--", "true"); r.Code != zkctl.ExitWrapperError {
				t.Fatalf("unreachable cluster while wrapping: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
			}
		})
	}
}

// TestLockLost: when the lock node is deleted under a running command, the
// command gets SIGTERM, then SIGKILL after the grace period if it ignores
// it, and zkctl exits with ExitLockLost.
func TestLockLost(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			for _, ignoreTerm := range []bool{false, true} {
				dir := t.TempDir()
				started := filepath.Join(dir, "started")
				script := "touch " + started + "; exec sleep 60"
				if ignoreTerm {
					script = "trap '' TERM; touch " + started + "; sleep 60; sleep 60"
				}
				done := make(chan zkctltest.Result, 1)
				go func() {
					done <- zkctltest.Run(t, "", "--endpoints", ep, "lock", "--grace", "500ms", "/locks/lost", "--", "sh", "-c", script)
				}()
				zkctltest.WaitFile(t, started, done)
				s := zkctltest.Observer(t, ep)
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
					if r.Code != zkctl.ExitLockLost {
						t.Fatalf("lock lost (ignore TERM %v): exit %d (%q), want %d", ignoreTerm, r.Code, r.ErrOut, zkctl.ExitLockLost)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("zkctl did not stop the command after the lock was lost")
				}
			}
		})
	}
}

func TestLockHolders(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			m, err := lock.New(s, "/locks/h", lock.WithData([]byte("me")))
			if err != nil {
				t.Fatal(err)
			}
			l, err := m.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock(context.Background())
			r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "holders", "/locks/h")
			if r.Code != 0 || !strings.Contains(r.Out, "holder") || !strings.Contains(r.Out, strconv.FormatInt(l.Token(), 10)) || !strings.Contains(r.Out, "me") {
				t.Fatalf("lock holders: exit %d, out %q", r.Code, r.Out)
			}
			r = zkctltest.Run(t, "", "--endpoints", ep, "-o", "json", "lock", "holders", "/locks/h")
			if !strings.Contains(r.Out, `"role":"holder"`) {
				t.Fatalf("lock holders -o json: %q", r.Out)
			}
			// TryLock semantics through --timeout: held elsewhere, zkctl gives up.
			r = zkctltest.Run(t, "", "--endpoints", ep, "lock", "--timeout", "300ms", "/locks/h", "--", "true")
			if r.Code != zkctl.ExitWrapperError {
				t.Fatalf("lock held elsewhere with --timeout: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
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
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			sem, err := lock.NewSemaphore(s, "/locks/sem", 2)
			if err != nil {
				t.Fatal(err)
			}
			sl, err := sem.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "-n", "2", "/locks/sem", "--", "true"); r.Code != 0 {
				t.Fatalf("lock -n 2 with one lease taken: exit %d (%q)", r.Code, r.ErrOut)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "-n", "1", "--timeout", "300ms", "/locks/sem", "--", "true"); r.Code != zkctl.ExitWrapperError {
				t.Fatalf("lock -n 1 on a taken semaphore: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
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
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "--read", "/locks/rw", "--", "true"); r.Code != 0 {
				t.Fatalf("lock --read beside another reader: exit %d (%q)", r.Code, r.ErrOut)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "--write", "--timeout", "300ms", "/locks/rw", "--", "true"); r.Code != zkctl.ExitWrapperError {
				t.Fatalf("lock --write beside a reader: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
			}
			_ = rl.Unlock(ctx)
			wl, err := rw.Lock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "lock", "--read", "--timeout", "300ms", "/locks/rw", "--", "true"); r.Code != zkctl.ExitWrapperError {
				t.Fatalf("lock --read beside a writer: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
			}
			_ = wl.Unlock(ctx)

			for _, bad := range [][]string{{"--read", "--write"}, {"-n", "2", "--read"}, {"-n", "-1"}} {
				args := append([]string{"--endpoints", ep, "lock"}, bad...)
				if r := zkctltest.Run(t, "", append(args, "/locks/x", "--", "true")...); r.Code != zkctl.ExitUsage {
					t.Fatalf("lock %v: exit %d, want %d", bad, r.Code, zkctl.ExitUsage)
				}
			}
		})
	}
}
