package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/recipes/election"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// TestExitCodes checks every row of the README's exit-code table on both
// backends: for each code, the command lines that must give it. Rows that
// were wrong before (and how to see them fail again):
//   - 6 for a session not made within --request-timeout: make zkctl.NoSession
//     return only its ErrConnectionLoss error and it is 5;
//   - 2 for a malformed endpoint: drop checkServer from zkctl.ParseEndpoints and
//     port 0 and an empty host are 5 after --request-timeout; drop the
//     Validate calls in connect too and a port "abc" or 99999 is 1;
//   - 2 for set -v -5: drop versionFlag's check and it is 4 (the server's
//     bad version);
//   - 130 for lock and elect without a command, interrupted: return nil on
//     interrupt in zkctl.HoldAndRun and it is 0.
func TestExitCodes(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			if _, err := s.Create(ctx, "/x/kid", []byte("v"), backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
				t.Fatal(err)
			}
			e := func(args ...string) []string { return append([]string{"--endpoints", ep}, args...) }
			dir := t.TempDir()
			rows := []struct {
				code  int
				what  string
				stdin string
				args  []string
			}{
				{zkctl.ExitOK, "success", "", e("get", "/x/kid")},
				{zkctl.ExitError, "data too large", strings.Repeat("x", 2<<20), e("set", "/x/kid", "-")},
				{zkctl.ExitUsage, "a bad flag", "", e("get", "--bogus", "/x")},
				{zkctl.ExitUsage, "a bad path", "", e("get", "x")},
				{zkctl.ExitUsage, "too many arguments", "", e("get", "/x", "/y")},
				{zkctl.ExitUsage, "a bad output format", "", e("-o", "yaml", "get", "/x")},
				{zkctl.ExitUsage, "a version below -1", "", e("set", "-v", "-5", "/x", "d")},
				{zkctl.ExitUsage, "a version beyond int32", "", e("rm", "-v", "4294967296", "/x")},
				{zkctl.ExitUsage, "a port that is not a number", "", []string{"--endpoints", "zk://127.0.0.1:abc", "get", "/x"}},
				{zkctl.ExitUsage, "a port beyond 65535", "", []string{"--endpoints", "zk://127.0.0.1:99999", "get", "/x"}},
				{zkctl.ExitUsage, "port 0", "", []string{"--endpoints", "etcd://127.0.0.1:0", "get", "/x"}},
				{zkctl.ExitUsage, "an empty host", "", []string{"--endpoints", "etcd://:2379", "get", "/x"}},
				{zkctl.ExitUsage, "an unknown scheme", "", []string{"--endpoints", "redis://127.0.0.1", "get", "/x"}},
				{zkctl.ExitUsage, "a session timeout the client refuses", "", e("--session-timeout", "-1s", "get", "/x")},
				{zkctl.ExitNoNode, "a missing node", "", e("get", "/nope")},
				{zkctl.ExitNoNode, "no candidate", "", e("elect", "leader", "/elections/none")},
				{zkctl.ExitConflict, "the node exists", "", e("create", "/x")},
				{zkctl.ExitConflict, "a stale version", "", e("set", "-v", "7", "/x", "d")},
				{zkctl.ExitConflict, "the node has children", "", e("rm", "/x")},
				{zkctl.ExitUnavailable, "an unreachable cluster", "", []string{"--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "2s", "get", "/x"}},
				{zkctl.ExitUnavailable, "an unreachable cluster", "", []string{"--endpoints", "zk://127.0.0.1:1", "--request-timeout", "2s", "get", "/x"}},
				// 1ns: no session can be made in time, and the cluster answers.
				{zkctl.ExitTimeout, "a session not made within --request-timeout", "", e("--request-timeout", "1ns", "get", "/x")},
				{zkctl.ExitUnhealthy, "fewer members up than --min-up", "", e("health", "--min-up", "2")},
				{7, "the command's own status", "", e("lock", "/locks/exit", "--", "sh", "-c", "exit 7")},
				{128 + 15, "128+signal when a signal ended the command", "", e("lock", "/locks/exit", "--", "sh", "-c", "kill -TERM $$")},
				{zkctl.ExitWrapperError, "a cluster unreachable while wrapping", "", []string{"--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "1s", "lock", "--timeout", "2s", "/l", "--", "true"}},
				{zkctl.ExitCannotRun, "a command that cannot run", "", e("lock", "/locks/exit", "--", dir)},
				{zkctl.ExitNotFound, "a command that is not found", "", e("elect", "/elections/exit", "--", "no-such-command-zkctl")},
			}
			for _, row := range rows {
				if name != "zk" && row.args[0] == "--endpoints" && row.args[1] != ep {
					continue // it names its own cluster: once is enough
				}
				r := zkctltest.Run(t, row.stdin, row.args...)
				if r.Code != row.code {
					t.Errorf("%d (%s): zkctl %s: exit %d (stderr %q), want %d", row.code, row.what, strings.Join(row.args, " "), r.Code, r.ErrOut, row.code)
				}
				if row.code != zkctl.ExitOK && row.code < 128 && row.code != 7 && strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 {
					t.Errorf("%d (%s): the error is not one line: %q", row.code, row.what, r.ErrOut)
				}
			}

			// 4 and 6 for --timeout, 125 for a wrapped command: a lock held elsewhere.
			m, err := lock.New(s, "/locks/held")
			if err != nil {
				t.Fatal(err)
			}
			l, err := m.Lock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctltest.Run(t, "", e("lock", "--timeout", "200ms", "/locks/held")...); r.Code != zkctl.ExitTimeout {
				t.Errorf("%d: lock --timeout without a command, held elsewhere: exit %d (%q)", zkctl.ExitTimeout, r.Code, r.ErrOut)
			}
			if r := zkctltest.Run(t, "", e("lock", "--timeout", "200ms", "/locks/held", "--", "true")...); r.Code != zkctl.ExitWrapperError {
				t.Errorf("%d: lock --timeout with a command, held elsewhere: exit %d (%q)", zkctl.ExitWrapperError, r.Code, r.ErrOut)
			}
			if err := l.Unlock(ctx); err != nil {
				t.Fatal(err)
			}

			// 124: the lock or leadership is lost while the command runs.
			for _, kind := range []string{"lock", "elect"} {
				started := filepath.Join(t.TempDir(), "started")
				path := "/lost/" + kind
				done := make(chan zkctltest.Result, 1)
				go func() {
					done <- zkctltest.Run(t, "", e(kind, "--grace", "500ms", path, "--", "sh", "-c", "touch "+started+"; exec sleep 60")...)
				}()
				zkctltest.WaitFile(t, started, done)
				var node string
				if kind == "lock" {
					lm, err := lock.New(s, path)
					if err != nil {
						t.Fatal(err)
					}
					hs, err := lm.Holders(ctx)
					if err != nil || len(hs) != 1 {
						t.Fatalf("holders %+v, %v", hs, err)
					}
					node = hs[0].Path
				} else {
					el, err := election.New(s, path)
					if err != nil {
						t.Fatal(err)
					}
					cd, err := el.Leader(ctx)
					if err != nil {
						t.Fatal(err)
					}
					node = cd.Path
				}
				if err := s.Delete(ctx, node, backend.AnyVersion); err != nil {
					t.Fatal(err)
				}
				if r := <-done; r.Code != zkctl.ExitLockLost {
					t.Errorf("%d: %s lost: exit %d (%q)", zkctl.ExitLockLost, kind, r.Code, r.ErrOut)
				}
			}

			// 130: interrupted; lock and elect without a command release first.
			for _, args := range [][]string{
				e("lock", "/locks/int"),
				e("elect", "/elections/int"),
				e("elect", "observe", "/elections/int"),
				e("watch", "/x"),
				e("health", "--watch", "1h"),
			} {
				r := zkctltest.Start(t, args...)
				if args[2] != "watch" {
					zkctltest.Until(t, r, fmt.Sprintf("zkctl %s printing", args[2]), nil, func(out string) bool { return strings.Contains(out, "\n") })
				}
				if code := r.Stop(t); code != zkctl.ExitInterrupted {
					t.Errorf("%d: zkctl %s interrupted: exit %d (stderr %q)", zkctl.ExitInterrupted, strings.Join(args[2:], " "), code, r.Err.String())
				}
			}
			for _, p := range []string{"/locks/int", "/elections/int"} {
				kids, _, err := s.Children(ctx, p)
				if err == nil && len(kids) != 0 {
					t.Errorf("%s after the interrupt: %q left", p, kids)
				}
			}
		})
	}
}
