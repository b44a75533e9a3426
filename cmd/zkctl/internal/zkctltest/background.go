package zkctltest

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
)

// Background is zkctl running in-process in the background (Start).
type Background struct {
	Out, Err *Buffer
	cancel   context.CancelFunc
	done     chan struct{} // closed when zkctl has ended
	code     int           // its exit code, once done
}

// Start runs zkctl with args in the background, as main would, with a
// context the test cancels (Stop, as SIGINT would). No other zkctl may
// run in the process meanwhile (urfave/cli has global state): the test
// changes the tree through a backend session. It is stopped at cleanup.
func Start(t testing.TB, args ...string) *Background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Background{Out: &Buffer{}, Err: &Buffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = app.Run(ctx, append([]string{"zkctl"}, args...), strings.NewReader(""), r.Out, r.Err)
	}()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Ended reports whether zkctl has ended.
func (r *Background) Ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Stop interrupts zkctl and returns its exit code.
func (r *Background) Stop(t testing.TB) int {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.code
	case <-time.After(60 * time.Second):
		t.Fatalf("zkctl did not end within 60s of the interrupt; stdout %q, stderr %q", r.Out.String(), r.Err.String())
		return -1
	}
}

// Wait returns zkctl's exit code once it ends by itself.
func (r *Background) Wait(t testing.TB) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(20 * time.Second):
		t.Fatalf("zkctl did not end; stdout %q, stderr %q", r.Out.String(), r.Err.String())
		return -1
	}
}

// Until waits until cond holds for r's output, calling poke (when not
// nil) every 100 ms meanwhile: a watch is set at some unknown moment after
// zkctl starts, so the first change is repeated until the watch shows it.
func Until(t testing.TB, r *Background, what string, poke func(i int), cond func(out string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if poke != nil {
			poke(i)
		}
		if cond(r.Out.String()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen in time; stdout %q, stderr %q", what, r.Out.String(), r.Err.String())
		}
		select {
		case <-tick.C:
		case <-r.done:
			if !cond(r.Out.String()) {
				t.Fatalf("%s: zkctl ended with %d; stdout %q, stderr %q", what, r.code, r.Out.String(), r.Err.String())
			}
			return
		}
	}
}

// Has returns a condition for Until: every line is in the output.
func Has(lines ...string) func(string) bool {
	return func(out string) bool {
		for _, l := range lines {
			if !strings.Contains(out, l+"\n") {
				return false
			}
		}
		return true
	}
}

// WaitOut waits until r's output matches re and returns the first
// submatch. Another zkctl may run only after this: urfave/cli writes
// package globals while it parses flags, and reading the output through
// the buffer's mutex orders that parsing before the next run's.
func (r *Background) WaitOut(t testing.TB, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(r.Out.String()); m != nil {
			return m[1]
		}
		select {
		case <-r.done:
			if m := re.FindStringSubmatch(r.Out.String()); m != nil {
				return m[1]
			}
			t.Fatalf("zkctl exited %d before printing %v; stdout %q, stderr %q", r.code, re, r.Out.String(), r.Err.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v on stdout within 60s; stdout %q, stderr %q", re, r.Out.String(), r.Err.String())
		}
		time.Sleep(10 * time.Millisecond) // polling another goroutine's output
	}
}

// Refused reports whether nothing accepts connections at addr (a server
// zkctl started has stopped).
func Refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}
