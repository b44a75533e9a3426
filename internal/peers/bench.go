package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LockRun is what one bench-lock command measured (see the package doc):
// the same quantities, measured the same way, as the Go lock benchmarks
// (recipes/lock/bench_test.go).
type LockRun struct {
	Cycles     int           // grants counted: after the warm-up (the first N), unless CYCLES <= N
	Window     time.Duration // from the warm-up's last grant to the last counted grant
	Handoffs   int           // counted grants that followed a release
	HandoffP50 time.Duration // from a holder calling release to the next holder's acquire returning
	HandoffP99 time.Duration
}

// CyclesPerSecond returns the counted grants per second of the window.
func (r LockRun) CyclesPerSecond() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Cycles) / r.Window.Seconds()
}

// BenchLock has the peer run `bench-lock path n cycles`: n contenders, each
// on a session of its own, loop lock, unlock on path (InterProcessMutex,
// kazoo Lock) until cycles grants are counted. It returns what the peer
// measured once it answers, or an error when the peer reports one, exits,
// or ctx ends first. Unlike Send it never fails the test, so any goroutine
// may call it; only one bench-lock at a time per path.
func (p *Peer) BenchLock(ctx context.Context, path string, n, cycles int) (LockRun, error) {
	if err := p.write(fmt.Sprintf("bench-lock %s %d %d", path, n, cycles)); err != nil {
		return LockRun{}, err
	}
	line, err := p.Expect(ctx, "benched-lock "+path+" ")
	if err != nil {
		return LockRun{}, err
	}
	return parseLockRun(line)
}

// parseLockRun parses "benched-lock PATH cycles=C window-ns=W handoffs=H
// p50-ns=X p99-ns=Y".
func parseLockRun(line string) (LockRun, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return LockRun{}, fmt.Errorf("peers: bad bench-lock answer %q", line)
	}
	var r LockRun
	seen := map[string]bool{}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return LockRun{}, fmt.Errorf("peers: bad bench-lock answer %q: %q", line, kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return LockRun{}, fmt.Errorf("peers: bad bench-lock answer %q: %w", line, err)
		}
		switch k {
		case "cycles":
			r.Cycles = int(n)
		case "window-ns":
			r.Window = time.Duration(n)
		case "handoffs":
			r.Handoffs = int(n)
		case "p50-ns":
			r.HandoffP50 = time.Duration(n)
		case "p99-ns":
			r.HandoffP99 = time.Duration(n)
		default:
			continue
		}
		seen[k] = true
	}
	if len(seen) != 5 {
		return LockRun{}, fmt.Errorf("peers: bad bench-lock answer %q: want cycles, window-ns, handoffs, p50-ns and p99-ns", line)
	}
	return r, nil
}

// BenchCache has the peer run `bench-cache path n`: n caches (Curator's
// CuratorCache, kazoo's TreeCache), each on a session of its own, on the subtree at path.
// ready is called once every cache has its initial state; the caller then
// writes, and last creates path/end. BenchCache returns the create, change
// and delete events the caches reported after their initial read, summed
// over them (path/end not counted), once every cache has seen path/end,
// or an error when the peer reports one, exits, or ctx ends first. Unlike
// Send it never fails the test, so any goroutine may call it.
func (p *Peer) BenchCache(ctx context.Context, path string, n int, ready func() error) (int64, error) {
	if err := p.write(fmt.Sprintf("bench-cache %s %d", path, n)); err != nil {
		return 0, err
	}
	if _, err := p.Expect(ctx, "cache-ready "+path); err != nil {
		return 0, err
	}
	if err := ready(); err != nil {
		return 0, err
	}
	line, err := p.Expect(ctx, "benched-cache "+path+" ")
	if err != nil {
		return 0, err
	}
	_, v, ok := strings.Cut(line, " events=")
	if !ok {
		return 0, fmt.Errorf("peers: bad bench-cache answer %q", line)
	}
	return strconv.ParseInt(v, 10, 64)
}

// QueueRun is what one bench-queue command measured (see the package doc):
// the same quantities, measured the same way, as the Go queue benchmark
// (recipes/queue/peerbench_test.go).
type QueueRun struct {
	Items  int           // items received, each once
	Window time.Duration // from before the first put to the last item's receipt
	P50    time.Duration // put-to-take latency: from the producer reading the clock before its put
	P99    time.Duration // to a consumer receiving the item, on the peer process's one clock
}

// ItemsPerSecond returns the items received per second of the window.
func (r QueueRun) ItemsPerSecond() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Items) / r.Window.Seconds()
}

// BenchQueue has the peer run `bench-queue path items consumers [kind]`:
// one producer puts items items on the queue at path while consumers
// consumers, each on a session of its own, take them. kind "" is the
// peer's default: kazoo's LockingQueue (get, consume) or Curator's
// DistributedQueue with a lock path (at least once); "SimpleDistributedQueue"
// runs Curator's at-most-once queue instead. It returns what the peer
// measured once it answers, or an error when the peer reports one, exits,
// or ctx ends first. Unlike Send it never fails the test, so any goroutine
// may call it.
func (p *Peer) BenchQueue(ctx context.Context, path string, items, consumers int, kind string) (QueueRun, error) {
	cmd := fmt.Sprintf("bench-queue %s %d %d", path, items, consumers)
	if kind != "" {
		cmd += " " + kind
	}
	if err := p.write(cmd); err != nil {
		return QueueRun{}, err
	}
	line, err := p.Expect(ctx, "benched-queue "+path+" ")
	if err != nil {
		return QueueRun{}, err
	}
	return parseQueueRun(line)
}

// parseQueueRun parses "benched-queue PATH items=N window-ns=W p50-ns=X
// p99-ns=Y".
func parseQueueRun(line string) (QueueRun, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return QueueRun{}, fmt.Errorf("peers: bad bench-queue answer %q", line)
	}
	var r QueueRun
	seen := map[string]bool{}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return QueueRun{}, fmt.Errorf("peers: bad bench-queue answer %q: %q", line, kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return QueueRun{}, fmt.Errorf("peers: bad bench-queue answer %q: %w", line, err)
		}
		switch k {
		case "items":
			r.Items = int(n)
		case "window-ns":
			r.Window = time.Duration(n)
		case "p50-ns":
			r.P50 = time.Duration(n)
		case "p99-ns":
			r.P99 = time.Duration(n)
		default:
			continue
		}
		seen[k] = true
	}
	if len(seen) != 4 {
		return QueueRun{}, fmt.Errorf("peers: bad bench-queue answer %q: want items, window-ns, p50-ns and p99-ns", line)
	}
	return r, nil
}
