package watchcmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

func TestWatchNode(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/w", []byte("v0"), backend.Persistent)
			zkctltest.Must(t, err)
			r := zkctltest.Start(t, "--endpoints", ep, "watch", "/w")
			set := func(i int) { s.Set(ctx, "/w", []byte(fmt.Sprint("v", i+1)), backend.AnyVersion) }
			zkctltest.Until(t, r, "data-changed", set, zkctltest.Has("data-changed /w"))
			_, err = s.Create(ctx, "/w/kid", nil, backend.Persistent)
			zkctltest.Must(t, err)
			zkctltest.Until(t, r, "children-changed", nil, zkctltest.Has("children-changed /w"))
			zkctltest.Must(t, backend.DeleteAll(ctx, s, "/w"))
			zkctltest.Until(t, r, "deleted", nil, zkctltest.Has("deleted /w"))
			// The watch goes on while the node is missing, and sees it come back.
			_, err = s.Create(ctx, "/w", []byte("back"), backend.Persistent)
			zkctltest.Must(t, err)
			zkctltest.Until(t, r, "created", nil, zkctltest.Has("created /w"))
			if code := r.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
			for _, l := range strings.Split(strings.TrimSpace(r.Out.String()), "\n") {
				if f := strings.Fields(l); len(f) != 2 || f[1] != "/w" {
					t.Errorf("watch printed %q, want TYPE PATH", l)
				}
			}
		})
	}
}

func TestWatchJSONAndCount(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/j", nil, backend.Persistent)
			zkctltest.Must(t, err)
			// -n 1 ends the watch by itself after one event.
			r := zkctltest.Start(t, "--endpoints", ep, "-o", "json", "watch", "/j", "-n", "1")
			set := func(i int) { s.Set(ctx, "/j", []byte{0xff, byte(i)}, backend.AnyVersion) }
			zkctltest.Until(t, r, "the end after one event", set, func(string) bool { return r.Ended() })
			if code := r.Wait(t); code != zkctl.ExitOK {
				t.Fatalf("watch -n 1: exit %d (stderr %q), want 0", code, r.Err.String())
			}
			lines := strings.Split(strings.TrimSpace(r.Out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("watch -n 1 printed %q", r.Out.String())
			}
			var ev struct{ Type, Path, Data, Encoding string }
			zkctltest.Must(t, json.Unmarshal([]byte(lines[0]), &ev))
			if ev.Type != "data-changed" || ev.Path != "/j" || !strings.HasPrefix(ev.Data, "/w") || ev.Encoding != "base64" {
				t.Fatalf("data event %q: want data-changed /j with the new data in base64", lines[0])
			}

			r = zkctltest.Start(t, "--endpoints", ep, "-o", "json", "watch", "/j")
			zkctltest.Until(t, r, "data-changed", func(i int) { s.Set(ctx, "/j", []byte("text"), backend.AnyVersion) },
				zkctltest.Has(`{"type":"data-changed","path":"/j","data":"text"}`))
			zkctltest.Must(t, s.Delete(ctx, "/j", backend.AnyVersion))
			zkctltest.Until(t, r, "deleted", nil, zkctltest.Has(`{"type":"deleted","path":"/j"}`))
		})
	}
}

func TestWatchRecursive(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/r/old", []byte("x"), backend.Persistent, backend.WithParents(backend.Persistent))
			zkctltest.Must(t, err)
			r := zkctltest.Start(t, "--endpoints", ep, "-o", "json", "watch", "-R", "/r")
			set := func(i int) { s.Set(ctx, "/r", []byte(fmt.Sprint("v", i)), backend.AnyVersion) }
			zkctltest.Until(t, r, "data-changed on the root", set, func(out string) bool { return strings.Contains(out, `"type":"data-changed","path":"/r"`) })
			_, err = s.Create(ctx, "/r/a/b", []byte("deep"), backend.Persistent, backend.WithParents(backend.Persistent))
			zkctltest.Must(t, err)
			_, err = s.Set(ctx, "/r/old", []byte("new"), backend.AnyVersion)
			zkctltest.Must(t, err)
			// Changes that come together may be reported as one (ZooKeeper):
			// wait for each before the next.
			zkctltest.Until(t, r, "subtree events", nil, zkctltest.Has(
				`{"type":"created","path":"/r/a/b","data":"deep"}`,
				`{"type":"data-changed","path":"/r/old","data":"new"}`,
			))
			zkctltest.Must(t, s.Delete(ctx, "/r/old", backend.AnyVersion))
			zkctltest.Until(t, r, "subtree events", nil, zkctltest.Has(`{"type":"deleted","path":"/r/old"}`))
			if strings.Contains(r.Out.String(), `"type":"created","path":"/r/old"`) {
				t.Errorf("watch -R reported the initial state as changes: %q", r.Out.String())
			}
			if code := r.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch -R: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
		})
	}
}

// TestWatchRecursiveCount: watch -R -n 2 ends by itself after two events.
// (It hung after printing them when the subtree stream was drained before
// its context was cancelled: drop the stop() in watchTree's deferred drain
// to see this test time out.)
func TestWatchRecursiveCount(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/rc", nil, backend.Persistent)
			zkctltest.Must(t, err)
			r := zkctltest.Start(t, "--endpoints", ep, "watch", "-R", "-n", "2", "/rc")
			set := func(i int) { s.Set(ctx, "/rc", []byte(fmt.Sprint(i)), backend.AnyVersion) }
			zkctltest.Until(t, r, "the end after two events", set, func(string) bool { return r.Ended() })
			if code := r.Wait(t); code != zkctl.ExitOK {
				t.Fatalf("watch -R -n 2: exit %d (stderr %q), want 0", code, r.Err.String())
			}
			if lines := strings.Split(strings.TrimSpace(r.Out.String()), "\n"); len(lines) != 2 {
				t.Fatalf("watch -R -n 2 printed %q, want two events", r.Out.String())
			}
		})
	}
}

// TestWatchRecursiveInitial: watch -R --initial prints the subtree as it
// is (created, parents first), then initialized ROOT, then the changes;
// -n counts the changes only. Seen failing with the initial lines counted
// towards -n (the watch ended before the change) and with them left out.
func TestWatchRecursiveInitial(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			for _, p := range []string{"/i", "/i/a", "/i/a/b", "/i/c"} {
				_, err := s.Create(ctx, p, []byte("d"+p), backend.Persistent)
				zkctltest.Must(t, err)
			}
			r := zkctltest.Start(t, "--endpoints", ep, "watch", "-R", "--initial", "-n", "1", "/i")
			zkctltest.Until(t, r, "initialized", nil, zkctltest.Has("initialized /i"))
			_, err := s.Set(ctx, "/i/c", []byte("new"), backend.AnyVersion)
			zkctltest.Must(t, err)
			if code := r.Wait(t); code != zkctl.ExitOK {
				t.Fatalf("watch -R --initial -n 1: exit %d (stderr %q), want 0", code, r.Err.String())
			}
			want := "created /i\ncreated /i/a\ncreated /i/a/b\ncreated /i/c\ninitialized /i\ndata-changed /i/c\n"
			if got := r.Out.String(); got != want {
				t.Fatalf("watch -R --initial printed %q, want %q", got, want)
			}

			r = zkctltest.Start(t, "--endpoints", ep, "-o", "json", "watch", "-R", "--initial", "/i/a")
			zkctltest.Until(t, r, "the initial state", nil, zkctltest.Has(
				`{"type":"created","path":"/i/a/b","data":"d/i/a/b"}`,
				`{"type":"initialized","path":"/i/a"}`,
			))
			if code := r.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch -R --initial: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
		})
	}
}

func TestWatchCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/c", nil, backend.Persistent)
			zkctltest.Must(t, err)
			r := zkctltest.Start(t, "--endpoints", ep, "watch", "/c", "-R", "--", "sh", "-c", `echo "got $ZKCTL_EVENT_TYPE $ZKCTL_EVENT_PATH"; exit 3`)
			set := func(i int) { s.Set(ctx, "/c", []byte(fmt.Sprint(i)), backend.AnyVersion) }
			zkctltest.Until(t, r, "the command's output", set, zkctltest.Has("got data-changed /c"))
			_, err = s.Create(ctx, "/c/k", nil, backend.Persistent)
			zkctltest.Must(t, err)
			zkctltest.Until(t, r, "the command for a create", nil, zkctltest.Has("got created /c/k"))
			// A failing command is reported and the watch goes on.
			if !strings.Contains(r.Err.String(), "exit status 3") {
				t.Errorf("a failing command was not reported: stderr %q", r.Err.String())
			}
			if code := r.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}

			// A command that is not found ends the watch with 127.
			r = zkctltest.Start(t, "--endpoints", ep, "watch", "/c", "--", "/nonexistent/zkctl-test-cmd")
			zkctltest.Until(t, r, "the watch to end", set, func(string) bool { return r.Ended() })
			if code := r.Wait(t); code != zkctl.ExitNotFound {
				t.Fatalf("watch with a missing command: exit %d (stderr %q), want %d", code, r.Err.String(), zkctl.ExitNotFound)
			}
		})
	}
}

func TestWatchBadInput(t *testing.T) {
	ep := zkctltest.Clusters(t)["etcd"]
	for _, tt := range []struct {
		what string
		args []string
		code int
	}{
		{"no path", []string{"watch"}, zkctl.ExitUsage},
		{"a bad path", []string{"watch", "rel"}, zkctl.ExitUsage},
		{"an extra argument", []string{"watch", "/a", "extra"}, zkctl.ExitUsage},
		{"a bad flag", []string{"watch", "--bogus", "/a"}, zkctl.ExitUsage},
		{"a negative count", []string{"watch", "-n", "-1", "/a"}, zkctl.ExitUsage},
		{"--initial without -R", []string{"watch", "--initial", "/a"}, zkctl.ExitUsage},
		{"only a command", []string{"watch", "--", "true"}, zkctl.ExitUsage},
	} {
		zkctltest.Want(t, zkctltest.Run(t, "", append([]string{"--endpoints", ep}, tt.args...)...), tt.code, "watch with "+tt.what)
	}
	zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", "zk://127.0.0.1:1", "--request-timeout", "2s", "watch", "/a"), zkctl.ExitUnavailable, "watch of an unreachable cluster")
}
