package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The counter commands (see the package doc): Curator's SharedCount,
// DistributedAtomicLong and DistributedAtomicInteger, kazoo's Counter, and
// bench-counter on both. Like the queue wrappers they never fail the test,
// so any goroutine may call them; one call of a kind at a time per path.

// VersionedCount is a SharedCount value with the znode version it was
// read at, as Curator's VersionedValue holds them.
type VersionedCount struct {
	Value   int32
	Version int32
}

// SharedCountStart has the Curator peer start a SharedCount on path with
// seed (created with it when path does not exist) and a listener that
// prints every value it is told of: `sharedcount-start PATH SEED`. It
// returns the value the SharedCount holds once started; SharedCountNext
// returns the listener's later ones.
func (p *Peer) SharedCountStart(ctx context.Context, path string, seed int32) (VersionedCount, error) {
	if err := p.write(fmt.Sprintf("sharedcount-start %s %d", path, seed)); err != nil {
		return VersionedCount{}, err
	}
	return p.SharedCountNext(ctx, path)
}

// SharedCountNext waits for the next `sharedcount PATH VALUE VERSION` line
// that no earlier call returned: after SharedCountStart's own, one per
// call of the SharedCount's listener (countHasChanged).
func (p *Peer) SharedCountNext(ctx context.Context, path string) (VersionedCount, error) {
	prefix := "sharedcount " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return VersionedCount{}, err
	}
	f := strings.Fields(strings.TrimPrefix(line, prefix))
	if len(f) != 2 {
		return VersionedCount{}, fmt.Errorf("peers: bad sharedcount answer %q", line)
	}
	v, err1 := strconv.ParseInt(f[0], 10, 32)
	ver, err2 := strconv.ParseInt(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return VersionedCount{}, fmt.Errorf("peers: bad sharedcount answer %q", line)
	}
	return VersionedCount{Value: int32(v), Version: int32(ver)}, nil
}

// SharedCountTrySet has the Curator peer's SharedCount on path try to set
// n over the value it holds now (trySetCount(getVersionedValue(), n)):
// `sharedcount-tryset PATH N`. It returns Curator's answer.
func (p *Peer) SharedCountTrySet(ctx context.Context, path string, n int32) (bool, error) {
	return p.trySet(ctx, path, fmt.Sprintf("sharedcount-tryset %s %d", path, n))
}

// SharedCountTrySetFrom is SharedCountTrySet over an earlier value: the
// one the peer printed with version (a stale one once the count has moved
// on): `sharedcount-tryset PATH N VERSION`. Curator refuses it without
// asking the server when its SharedCount already holds a newer value, and
// by the server's version check when it does not yet.
func (p *Peer) SharedCountTrySetFrom(ctx context.Context, path string, n, version int32) (bool, error) {
	return p.trySet(ctx, path, fmt.Sprintf("sharedcount-tryset %s %d %d", path, n, version))
}

func (p *Peer) trySet(ctx context.Context, path, cmd string) (bool, error) {
	if err := p.write(cmd); err != nil {
		return false, err
	}
	prefix := "sharedcount-tryset " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return false, err
	}
	return parseBool(line, strings.TrimPrefix(line, prefix))
}

// AtomicResult is what a Curator DistributedAtomicLong or
// DistributedAtomicInteger add returned (its AtomicValue).
type AtomicResult struct {
	Succeeded bool  // false when the retries ran out
	Pre, Post int64 // the value before and after the add
}

// AtomicLongAdd has the Curator peer add delta to the
// DistributedAtomicLong (8 bytes, big-endian) at path: `atomiclong-add
// PATH DELTA`. The peer retries a failed compare-and-set at once, up to a
// million times.
func (p *Peer) AtomicLongAdd(ctx context.Context, path string, delta int64) (AtomicResult, error) {
	return p.atomicAdd(ctx, "atomiclong", path, delta)
}

// AtomicIntAdd is AtomicLongAdd for a DistributedAtomicInteger (4 bytes,
// big-endian): `atomicint-add PATH DELTA`.
func (p *Peer) AtomicIntAdd(ctx context.Context, path string, delta int32) (AtomicResult, error) {
	return p.atomicAdd(ctx, "atomicint", path, int64(delta))
}

func (p *Peer) atomicAdd(ctx context.Context, kind, path string, delta int64) (AtomicResult, error) {
	if err := p.write(fmt.Sprintf("%s-add %s %d", kind, path, delta)); err != nil {
		return AtomicResult{}, err
	}
	prefix := kind + " " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return AtomicResult{}, err
	}
	f := strings.Fields(strings.TrimPrefix(line, prefix))
	if len(f) != 3 {
		return AtomicResult{}, fmt.Errorf("peers: bad %s answer %q", kind, line)
	}
	ok, err := parseBool(line, f[0])
	if err != nil {
		return AtomicResult{}, err
	}
	pre, err1 := strconv.ParseInt(f[1], 10, 64)
	post, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return AtomicResult{}, fmt.Errorf("peers: bad %s answer %q", kind, line)
	}
	return AtomicResult{Succeeded: ok, Pre: pre, Post: post}, nil
}

// CounterFormat is how a kazoo Counter stores its value.
type CounterFormat string

const (
	// CounterASCII is kazoo's default: the value's repr in ASCII, e.g. "42".
	CounterASCII CounterFormat = "ascii"
	// CounterCurator is support_curator=True: a 4-byte big-endian int, as
	// Curator's SharedCount and DistributedAtomicInteger store it.
	CounterCurator CounterFormat = "curator"
)

// CounterAdd has the kazoo peer add delta to a Counter at path in format
// (Counter(PATH, support_curator=...) += DELTA) and returns the value its
// add set (post_value): `counter-add PATH DELTA FORMAT`. The peer's Counter
// retries a failed set at once, for ever, where kazoo's default backs off
// from 0.1 s.
func (p *Peer) CounterAdd(ctx context.Context, path string, delta int64, format CounterFormat) (int64, error) {
	if err := p.write(fmt.Sprintf("counter-add %s %d %s", path, delta, format)); err != nil {
		return 0, err
	}
	prefix := "counter " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimPrefix(line, prefix), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("peers: bad counter answer %q: %w", line, err)
	}
	return v, nil
}

// CounterRun is what one bench-counter command measured.
type CounterRun struct {
	Ops    int           // increments that succeeded, over every client
	Window time.Duration // from the common start to the last client's last increment
}

// OpsPerSecond returns the increments per second of the window.
func (r CounterRun) OpsPerSecond() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Window.Seconds()
}

// BenchCounter has the peer run `bench-counter PATH CLIENTS N`: clients
// threads, each with a session of its own, each increment the counter at
// path n times (Curator DistributedAtomicLong, kazoo Counter in ASCII),
// retrying contended sets at once. It returns what the peer measured once
// it answers.
func (p *Peer) BenchCounter(ctx context.Context, path string, clients, n int) (CounterRun, error) {
	if err := p.write(fmt.Sprintf("bench-counter %s %d %d", path, clients, n)); err != nil {
		return CounterRun{}, err
	}
	line, err := p.expectLine(ctx, "benched-counter "+path+" ")
	if err != nil {
		return CounterRun{}, err
	}
	var r CounterRun
	seen := 0
	for _, kv := range strings.Fields(line)[2:] {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return CounterRun{}, fmt.Errorf("peers: bad bench-counter answer %q: %w", line, err)
		}
		switch k {
		case "ops":
			r.Ops, seen = int(n), seen+1
		case "window-ns":
			r.Window, seen = time.Duration(n), seen+1
		}
	}
	if seen != 2 {
		return CounterRun{}, fmt.Errorf("peers: bad bench-counter answer %q: want ops and window-ns", line)
	}
	return r, nil
}

// parseBool parses a true|false answer field (Java's and Python's
// spellings).
func parseBool(line, v string) (bool, error) {
	switch v {
	case "true", "True":
		return true, nil
	case "false", "False":
		return false, nil
	}
	return false, fmt.Errorf("peers: bad answer %q: %q is not true or false", line, v)
}
