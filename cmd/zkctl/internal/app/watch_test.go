package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// watchTBuffer is a buffer safe to write from zkctl while the test reads it.
type watchTBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *watchTBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *watchTBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// watchTRun is zkctl running in the background.
type watchTRun struct {
	out, err *watchTBuffer
	cancel   context.CancelFunc
	done     chan struct{} // closed when zkctl has ended
	code     int           // its exit code, once done
}

func (r *watchTRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// watchTStart runs zkctl with args in the background, as main would, with
// a context the test cancels (as SIGINT would). No other zkctl may run in
// the process meanwhile (urfave/cli has global state): the test changes
// the tree through a backend session.
func watchTStart(t *testing.T, args ...string) *watchTRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &watchTRun{out: &watchTBuffer{}, err: &watchTBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = Run(ctx, append([]string{"zkctl"}, args...), strings.NewReader(""), r.out, r.err)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop interrupts zkctl and returns its exit code.
func (r *watchTRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.code
	case <-time.After(20 * time.Second):
		t.Fatalf("zkctl did not end after it was interrupted; stdout %q", r.out.String())
		return -1
	}
}

// wait returns zkctl's exit code once it ends by itself.
func (r *watchTRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(20 * time.Second):
		t.Fatalf("zkctl did not end; stdout %q, stderr %q", r.out.String(), r.err.String())
		return -1
	}
}

// watchTUntil waits until cond holds, calling poke (when not nil) every
// 100 ms meanwhile: a watch is set at some unknown moment after it starts,
// so the first change is repeated until the watch shows it.
func watchTUntil(t *testing.T, r *watchTRun, what string, poke func(i int), cond func(out string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if poke != nil {
			poke(i)
		}
		if cond(r.out.String()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen in time; stdout %q, stderr %q", what, r.out.String(), r.err.String())
		}
		select {
		case <-tick.C:
		case <-r.done:
			if !cond(r.out.String()) {
				t.Fatalf("%s: zkctl ended with %d; stdout %q, stderr %q", what, r.code, r.out.String(), r.err.String())
			}
			return
		}
	}
}

func watchTHas(lines ...string) func(string) bool {
	return func(out string) bool {
		for _, l := range lines {
			if !strings.Contains(out, l+"\n") {
				return false
			}
		}
		return true
	}
}

func watchTMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWatchNode(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/w", []byte("v0"), backend.Persistent)
			watchTMust(t, err)
			r := watchTStart(t, "--endpoints", ep, "watch", "/w")
			set := func(i int) { s.Set(ctx, "/w", []byte(fmt.Sprint("v", i+1)), backend.AnyVersion) }
			watchTUntil(t, r, "data-changed", set, watchTHas("data-changed /w"))
			_, err = s.Create(ctx, "/w/kid", nil, backend.Persistent)
			watchTMust(t, err)
			watchTUntil(t, r, "children-changed", nil, watchTHas("children-changed /w"))
			watchTMust(t, backend.DeleteAll(ctx, s, "/w"))
			watchTUntil(t, r, "deleted", nil, watchTHas("deleted /w"))
			// The watch goes on while the node is missing, and sees it come back.
			_, err = s.Create(ctx, "/w", []byte("back"), backend.Persistent)
			watchTMust(t, err)
			watchTUntil(t, r, "created", nil, watchTHas("created /w"))
			if code := r.stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
			for _, l := range strings.Split(strings.TrimSpace(r.out.String()), "\n") {
				if f := strings.Fields(l); len(f) != 2 || f[1] != "/w" {
					t.Errorf("watch printed %q, want TYPE PATH", l)
				}
			}
		})
	}
}

func TestWatchJSONAndCount(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/j", nil, backend.Persistent)
			watchTMust(t, err)
			// -n 1 ends the watch by itself after one event.
			r := watchTStart(t, "--endpoints", ep, "-o", "json", "watch", "/j", "-n", "1")
			set := func(i int) { s.Set(ctx, "/j", []byte{0xff, byte(i)}, backend.AnyVersion) }
			watchTUntil(t, r, "the end after one event", set, func(string) bool { return r.ended() })
			if code := r.wait(t); code != zkctl.ExitOK {
				t.Fatalf("watch -n 1: exit %d (stderr %q), want 0", code, r.err.String())
			}
			lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("watch -n 1 printed %q", r.out.String())
			}
			var ev struct{ Type, Path, Data, Encoding string }
			watchTMust(t, json.Unmarshal([]byte(lines[0]), &ev))
			if ev.Type != "data-changed" || ev.Path != "/j" || !strings.HasPrefix(ev.Data, "/w") || ev.Encoding != "base64" {
				t.Fatalf("data event %q: want data-changed /j with the new data in base64", lines[0])
			}

			r = watchTStart(t, "--endpoints", ep, "-o", "json", "watch", "/j")
			watchTUntil(t, r, "data-changed", func(i int) { s.Set(ctx, "/j", []byte("text"), backend.AnyVersion) },
				watchTHas(`{"type":"data-changed","path":"/j","data":"text"}`))
			watchTMust(t, s.Delete(ctx, "/j", backend.AnyVersion))
			watchTUntil(t, r, "deleted", nil, watchTHas(`{"type":"deleted","path":"/j"}`))
		})
	}
}

func TestWatchRecursive(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/r/old", []byte("x"), backend.Persistent, backend.WithParents(backend.Persistent))
			watchTMust(t, err)
			r := watchTStart(t, "--endpoints", ep, "-o", "json", "watch", "-R", "/r")
			set := func(i int) { s.Set(ctx, "/r", []byte(fmt.Sprint("v", i)), backend.AnyVersion) }
			watchTUntil(t, r, "data-changed on the root", set, func(out string) bool { return strings.Contains(out, `"type":"data-changed","path":"/r"`) })
			_, err = s.Create(ctx, "/r/a/b", []byte("deep"), backend.Persistent, backend.WithParents(backend.Persistent))
			watchTMust(t, err)
			_, err = s.Set(ctx, "/r/old", []byte("new"), backend.AnyVersion)
			watchTMust(t, err)
			// Changes that come together may be reported as one (ZooKeeper):
			// wait for each before the next.
			watchTUntil(t, r, "subtree events", nil, watchTHas(
				`{"type":"created","path":"/r/a/b","data":"deep"}`,
				`{"type":"data-changed","path":"/r/old","data":"new"}`,
			))
			watchTMust(t, s.Delete(ctx, "/r/old", backend.AnyVersion))
			watchTUntil(t, r, "subtree events", nil, watchTHas(`{"type":"deleted","path":"/r/old"}`))
			if strings.Contains(r.out.String(), `"type":"created","path":"/r/old"`) {
				t.Errorf("watch -R reported the initial state as changes: %q", r.out.String())
			}
			if code := r.stop(t); code != zkctl.ExitInterrupted {
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
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/rc", nil, backend.Persistent)
			watchTMust(t, err)
			r := watchTStart(t, "--endpoints", ep, "watch", "-R", "-n", "2", "/rc")
			set := func(i int) { s.Set(ctx, "/rc", []byte(fmt.Sprint(i)), backend.AnyVersion) }
			watchTUntil(t, r, "the end after two events", set, func(string) bool { return r.ended() })
			if code := r.wait(t); code != zkctl.ExitOK {
				t.Fatalf("watch -R -n 2: exit %d (stderr %q), want 0", code, r.err.String())
			}
			if lines := strings.Split(strings.TrimSpace(r.out.String()), "\n"); len(lines) != 2 {
				t.Fatalf("watch -R -n 2 printed %q, want two events", r.out.String())
			}
		})
	}
}

func TestWatchCommand(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := observer(t, ep)
			ctx := context.Background()
			_, err := s.Create(ctx, "/c", nil, backend.Persistent)
			watchTMust(t, err)
			r := watchTStart(t, "--endpoints", ep, "watch", "/c", "-R", "--", "sh", "-c", `echo "got $ZKCTL_EVENT_TYPE $ZKCTL_EVENT_PATH"; exit 3`)
			set := func(i int) { s.Set(ctx, "/c", []byte(fmt.Sprint(i)), backend.AnyVersion) }
			watchTUntil(t, r, "the command's output", set, watchTHas("got data-changed /c"))
			_, err = s.Create(ctx, "/c/k", nil, backend.Persistent)
			watchTMust(t, err)
			watchTUntil(t, r, "the command for a create", nil, watchTHas("got created /c/k"))
			// A failing command is reported and the watch goes on.
			if !strings.Contains(r.err.String(), "exit status 3") {
				t.Errorf("a failing command was not reported: stderr %q", r.err.String())
			}
			if code := r.stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}

			// A command that is not found ends the watch with 127.
			r = watchTStart(t, "--endpoints", ep, "watch", "/c", "--", "/nonexistent/zkctl-test-cmd")
			watchTUntil(t, r, "the watch to end", set, func(string) bool { return r.ended() })
			if code := r.wait(t); code != zkctl.ExitNotFound {
				t.Fatalf("watch with a missing command: exit %d (stderr %q), want %d", code, r.err.String(), zkctl.ExitNotFound)
			}
		})
	}
}

func TestWatchBadInput(t *testing.T) {
	ep := clusters(t)["etcd"]
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
		{"only a command", []string{"watch", "--", "true"}, zkctl.ExitUsage},
	} {
		dumpTWant(t, zkctlRun(t, "", append([]string{"--endpoints", ep}, tt.args...)...), tt.code, "watch with "+tt.what)
	}
	dumpTWant(t, zkctlRun(t, "", "--endpoints", "zk://127.0.0.1:1", "--request-timeout", "2s", "watch", "/a"), zkctl.ExitUnavailable, "watch of an unreachable cluster")
}
