package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
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
