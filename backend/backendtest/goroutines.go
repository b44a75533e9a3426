package backendtest

import (
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// backendPrefix is where the code of the backends lives: a goroutine
// created there was started by a backend.
const backendPrefix = "github.com/zkrecipes/zkrecipes/backend/"

// backendGoroutines returns the goroutines now running that a backend's
// session started, by id, with their stacks: those created by code of a
// backend package, except this suite's, a Client's (which a session's Close
// does not wait for), and the StateChanges feeders, which the contract lets
// outlive Close until their reader is done. Goroutines of the drivers
// (go-zookeeper, clientv3, gRPC) are not counted: their owners' Close
// decides when they end.
func backendGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		f := strings.Fields(header) // goroutine 42 [chan receive]:
		if len(f) < 3 || f[0] != "goroutine" {
			continue
		}
		i := strings.LastIndex(g, "\ncreated by ")
		if i < 0 {
			continue
		}
		creator, _, _ := strings.Cut(g[i+len("\ncreated by "):], "\n")
		if !strings.HasPrefix(creator, backendPrefix) ||
			strings.HasPrefix(creator, backendPrefix+"backendtest.") ||
			strings.HasPrefix(creator, backendPrefix+"internal/statefeed.") ||
			strings.Contains(creator, ".(*Client).") {
			continue
		}
		out[f[1]] = g
	}
	return out
}

// finishing reports whether the goroutine of stack g has nothing left to
// run but its own return: it is runnable, in the function it was started
// with alone, at that function's closing brace, where the deferred calls
// run (a WaitGroup's Done among them, which may still be on the stack), or
// already in the runtime's goexit.
// Such a goroutine told a Close that waits for it that it is done, and is
// still there for an instant; the Close has waited enough. The brace is
// read from the source file the stack names; if it cannot be read (a
// -trimpath build), a lone runnable frame is taken for one finishing.
func finishing(g string) bool {
	header, rest, _ := strings.Cut(g, "\n")
	if !strings.HasSuffix(header, " [runnable]:") && !strings.HasSuffix(header, " [running]:") {
		return false
	}
	body, _, _ := strings.Cut(rest, "\ncreated by ")
	lines := strings.Split(body, "\n") // function, then file:line, per frame
	// The WaitGroup's Done, and the atomic add inlined into it, which a
	// stack may show as frames of their own.
	for len(lines) >= 2 && (strings.HasPrefix(lines[0], "sync.(*WaitGroup).") || strings.HasPrefix(lines[0], "sync/atomic.")) {
		lines = lines[2:]
	}
	if len(lines) >= 2 && strings.HasPrefix(lines[0], "runtime.goexit") {
		return true // past its return already
	}
	if len(lines) != 2 {
		return false // not exactly one frame of its own
	}
	where, _, _ := strings.Cut(strings.TrimSpace(lines[1]), " +0x")
	file, line, ok := strings.Cut(where, ":")
	n, err := strconv.Atoi(line)
	if !ok || err != nil {
		return false
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return true
	}
	text := strings.Split(string(src), "\n")
	if n < 1 || n > len(text) {
		return true
	}
	// The end of a function ("}" in the first column) or of a function
	// literal run by a go statement ("}()"), not of a block inside one.
	return text[n-1] == "}" || strings.HasPrefix(strings.TrimSpace(text[n-1]), "}(")
}

// newGoroutines returns the stacks of the goroutines of now that are not in
// before, leaving out those finishing.
func newGoroutines(before, now map[string]string) []string {
	var extra []string
	for _, id := range slices.Sorted(maps.Keys(now)) {
		if _, ok := before[id]; !ok && !finishing(now[id]) {
			extra = append(extra, now[id])
		}
	}
	return extra
}

// waitGoroutines waits until the backends' goroutines started since before
// have ended, failing t with their stacks if some are still running after
// the deadline. It is for goroutines that end on their own soon after an
// event the test saw (a watch's goroutine after its last event); a Close
// that must wait for them is checked without waiting.
func waitGoroutines(t *testing.T, before map[string]string, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		extra := newGoroutines(before, backendGoroutines())
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines of the backend still running after %v:\n\n%s", what, len(extra), wait, strings.Join(extra, "\n\n"))
		}
		pause(t, 10*time.Millisecond)
	}
}
