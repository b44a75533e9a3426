package counter

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// The proof runs' common shape (TestTotalCounter, TestTotalIDs).
const (
	// totalClients is the number of clients, each with a session of its
	// own behind a fault proxy of its own.
	totalClients = 16
	// totalSession is the clients' session timeout: long enough that no
	// fault of the nemesis (at most totalHoldMax, then a healthy gap)
	// expires a session, so every error a client sees comes from a fault
	// in flight, not from a lost session.
	totalSession = 8 * time.Second
	// totalHoldMax is the longest a fault lasts, under a third of
	// totalSession.
	totalHoldMax = 1500 * time.Millisecond
	// totalLargeEnv, set to 1, runs the sizes (10,000 increments and
	// 2,000 ID calls per client), by hand.
	totalLargeEnv = "ZKRECIPES_COUNTER_LARGE"
	// totalSeedEnv, when set, is the seed of the nemesis: a failed run logs
	// its seed, to run it again.
	totalSeedEnv = "ZKRECIPES_COUNTER_SEED"
)

// totalLarge reports whether the sizes were asked for.
func totalLarge() bool { return os.Getenv(totalLargeEnv) == "1" }

// totalSeed is the nemesis's seed: totalSeedEnv's, else the time.
func totalSeed(t *testing.T) uint64 {
	t.Helper()
	v := os.Getenv(totalSeedEnv)
	if v == "" {
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", totalSeedEnv, v, err)
	}
	return seed
}

// The nemesis's faults.
const (
	faultCut   = "cut"          // Cut, then Heal: the server is gone, and back
	faultDrop  = "drop-replies" // DropReplies, then Heal and Reset: requests land, replies are lost
	faultStall = "stall"        // Stall, then Heal: everything waits, then arrives
	faultReset = "reset"        // Reset: every connection closed once
)

// nemesis injects faults into every proxy at random, one fault at a time
// per proxy, until Stop: a fault (faultCut, faultDrop, faultStall or
// faultReset) held from 50 ms to totalHoldMax; then, once healed, it waits
// until the proxied session answers a read again (its client reconnected:
// go-zookeeper waits a second between rounds of reconnection, so without
// this faults in a row could keep a session from hearing its server for
// its whole timeout) and a healthy gap of 300 ms to 1.5 s. The first fault
// comes within 300 ms of the start.
type nemesis struct {
	stop   chan struct{}
	ctx    context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	counts map[string]int // faults by kind
}

// nemesisTarget is a proxy and the session whose connection runs through it.
type nemesisTarget struct {
	proxy   *faultnet.Proxy
	session backend.Session
}

// startNemesis starts a goroutine per target, each with a random source of
// its own drawn from seed.
func startNemesis(seed uint64, targets []nemesisTarget) *nemesis {
	n := &nemesis{stop: make(chan struct{}), counts: map[string]int{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for i, tg := range targets {
		n.wg.Add(1)
		go n.run(tg, rand.New(rand.NewPCG(seed, uint64(i))))
	}
	return n
}

// hold waits a random time in [lo, hi), or until Stop; false: stopped.
func (n *nemesis) hold(rng *rand.Rand, lo, hi time.Duration) bool {
	tm := time.NewTimer(lo + time.Duration(rng.Int64N(int64(hi-lo))))
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-n.stop:
		return false
	}
}

// answered waits until s answers a read, or Stop, or s ends (the test
// reports what its client saw). The retrying session retries the read
// across the reconnection.
func (n *nemesis) answered(s backend.Session) {
	ctx, cancel := context.WithTimeout(n.ctx, recipetest.Wait)
	defer cancel()
	_, _ = s.Exists(ctx, "/")
}

func (n *nemesis) run(tg nemesisTarget, rng *rand.Rand) {
	defer n.wg.Done()
	p := tg.proxy
	defer p.Heal()
	kinds := []string{faultCut, faultDrop, faultDrop, faultStall, faultReset} // lost replies twice as often
	gap := func() bool {
		n.answered(tg.session)
		return n.hold(rng, 300*time.Millisecond, 1500*time.Millisecond)
	}
	for ok := n.hold(rng, time.Millisecond, 300*time.Millisecond); ok; ok = gap() {
		kind := kinds[rng.IntN(len(kinds))]
		n.mu.Lock()
		n.counts[kind]++
		n.mu.Unlock()
		switch kind {
		case faultCut:
			p.Cut()
			n.hold(rng, 50*time.Millisecond, totalHoldMax)
			p.Heal()
		case faultDrop:
			p.DropReplies()
			n.hold(rng, 50*time.Millisecond, totalHoldMax)
			p.Heal()
			p.Reset() // the streams lost bytes
		case faultStall:
			p.Stall()
			n.hold(rng, 50*time.Millisecond, totalHoldMax)
			p.Heal()
		case faultReset:
			p.Reset()
		}
	}
}

// Stop ends the faults, leaves every proxy healed and returns the faults
// injected, by kind.
func (n *nemesis) Stop() map[string]int {
	close(n.stop)
	n.cancel()
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.counts)
}

// faultString formats faults by kind, sorted, with their total.
func faultString(counts map[string]int) string {
	var parts []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		total += counts[k]
	}
	return fmt.Sprintf("%d faults (%s)", total, strings.Join(parts, ", "))
}
