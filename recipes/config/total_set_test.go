package config

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/configcheck"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// totalSetSubscriber is what one set subscriber (a SetWatcher) recorded.
type totalSetSubscriber struct {
	name string
	done chan struct{}

	mu       sync.Mutex
	applies  []configcheck.SetApply
	rejected int
	ended    string
}

// totalSetApply is the record of the values a set subscriber applied.
func totalSetApply(values map[string]Snapshot[string]) configcheck.SetApply {
	a := configcheck.SetApply{Values: map[string]string{}, Time: time.Now()}
	for p, s := range values {
		if s.Exists {
			a.Values[p] = s.Value
		}
	}
	return a
}

// sameSnapshots reports whether two sets of values are of the same nodes.
func sameSnapshots(a, b map[string]Snapshot[string]) bool {
	return maps.EqualFunc(a, b, func(x, y Snapshot[string]) bool {
		return x.Exists == y.Exists && x.Token == y.Token && x.Ticket == y.Ticket
	})
}

// totalSubscribeSet follows paths with WatchAll on c and records what it
// applies, as totalSubscribe does for one key. It returns the watcher's
// Close.
func totalSubscribeSet(t *testing.T, ctx context.Context, c *Center, paths []string, s *totalSetSubscriber, reload time.Duration) func() error {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, recipetest.Wait)
	w, err := WatchAll(wctx, c, paths, String())
	cancel()
	if err != nil {
		t.Fatalf("WatchAll(%v) for %s: %v", paths, s.name, err)
	}
	first := w.Values()
	s.applies = append(s.applies, totalSetApply(first))
	go func() {
		defer close(s.done)
		for n := 0; ; n++ {
			ch, err := w.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					s.ended = err.Error()
					s.mu.Unlock()
				}
				return
			}
			if ch.Err != nil {
				s.mu.Lock()
				s.rejected++
				s.mu.Unlock()
				continue
			}
			if n == 0 && sameSnapshots(ch.New, first) {
				continue // applied between WatchAll's return and Values
			}
			a := totalSetApply(ch.New)
			s.mu.Lock()
			s.applies = append(s.applies, a)
			s.mu.Unlock()
			if reload > 0 {
				tm := time.NewTimer(reload)
				select {
				case <-tm.C:
				case <-ctx.Done():
					tm.Stop()
				}
			}
		}
	}()
	return w.Close
}

// runTotalConfigSet is runTotalConfig for keys published together: the
// publisher publishes batch 0 (every key), then the subscribers follow
// the keys with WatchAll, then the publisher publishes batches 1 ..
// batches-1 with PublishAll, each writing every key ("<key>-<batch>"),
// under the nemesis; then it waits, at most recipetest.Wait after the
// healing, until every subscriber holds the last batch.
//
// With overlap, batch j writes every key only when j is a multiple of
// keys; otherwise it writes key 0 and key j%keys: batches that share key
// 0 and leave other keys alone.
func runTotalConfigSet(t *testing.T, e *recipetest.Env, sz totalSize, keys int, overlap bool, seed uint64) (configcheck.SetRun, totalOut) {
	t.Helper()
	var out totalOut
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var paths []string
	for k := range keys {
		paths = append(paths, fmt.Sprintf("/total/set/k%d", k))
	}
	run := configcheck.SetRun{Keys: paths, Bound: totalBound}

	publisher, err := New(e.Backend.Open(t, e.Endpoints, e.Namespace, totalSession), WithAuthor("publisher"))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(j int) {
		b := configcheck.Batch{Values: map[string]string{}, Invoked: time.Now()}
		values := map[string][]byte{}
		for i, p := range paths {
			if overlap && i > 0 && j%keys != 0 && i != j%keys {
				continue
			}
			b.Values[p] = fmt.Sprintf("%s-%d", backend.Base(p), j)
			values[p] = []byte(b.Values[p])
		}
		pctx, cancel := context.WithTimeout(ctx, recipetest.Wait)
		_, err := publisher.PublishAll(pctx, values)
		cancel()
		b.Returned = time.Now()
		if err != nil {
			// Not proxied: unexpected. It may have landed, so the
			// history cannot be checked.
			t.Fatalf("batch %d: %v", j, err)
		}
		run.Batches = append(run.Batches, b)
	}
	publish(0)

	clients := make([]*totalClient, sz.clients)
	for i := range clients {
		p, err := faultnet.NewProxy(e.Endpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, totalSession)
		center, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = &totalClient{name: fmt.Sprintf("client%d", i), client: c, proxy: p, center: center}
	}
	subs := make([]*totalSetSubscriber, sz.subscribers)
	var closers []func() error
	defer func() {
		cancel()
		for _, c := range closers {
			_ = c()
		}
		for _, s := range subs {
			if s != nil {
				<-s.done
			}
		}
	}()
	for i := range subs {
		c := clients[i%len(clients)]
		s := &totalSetSubscriber{name: fmt.Sprintf("s%02d@%s", i, c.name), done: make(chan struct{})}
		var reload time.Duration
		if i%4 == 3 {
			reload = totalReload
		}
		closers = append(closers, totalSubscribeSet(t, ctx, c.center, paths, s, reload))
		subs[i] = s
	}

	nem := startTotalNemesis(seed, clients)
	start := time.Now()
	for j := 1; j < sz.publishes; j++ {
		publish(j)
	}
	out.publishes = time.Since(start)
	out.faults, out.faultErrs = nem.stop()
	for _, c := range clients {
		c.proxy.Heal()
	}
	run.Healed = time.Now()

	final := map[string]string{} // the state after the last batch
	for _, b := range run.Batches {
		maps.Copy(final, b.Values)
	}
	deadline := time.Now().Add(recipetest.Wait)
	for !out.allConverged && time.Now().Before(deadline) {
		out.allConverged = !slices.ContainsFunc(subs, func(s *totalSetSubscriber) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return !maps.Equal(s.applies[len(s.applies)-1].Values, final)
		})
		if !out.allConverged {
			tm := time.NewTimer(5 * time.Millisecond)
			<-tm.C
		}
	}
	out.converged = time.Since(run.Healed)

	cancel()
	for _, c := range closers {
		_ = c()
	}
	closers = nil
	for _, s := range subs {
		<-s.done
		s.mu.Lock()
		run.Subscribers = append(run.Subscribers, configcheck.SetSubscriber{Name: s.name, Applies: s.applies})
		if s.ended != "" {
			out.ended = append(out.ended, s.name+": "+s.ended)
		}
		out.rejected += s.rejected
		s.mu.Unlock()
	}
	subs = nil
	return run, out
}

// TestTotalConfigSet is the all-or-nothing proof: subscribers
// follow 3 keys with WatchAll, on clients behind fault proxies of their
// own (one in four slow to reload), while a publisher publishes batches
// with PublishAll, each writing every key, and the nemesis of
// TestTotalConfig cuts the clients' connections and expires their
// sessions. configcheck.CheckSet checks every subscriber's history: each
// set of values applied is the state after some batch (never part of one,
// never a value not published), the states go forward, and every
// subscriber holds the last batch within totalBound of the healing.
//
// Sizes for CI: 10 subscribers on 5 clients; 150 batches on ZooKeeper, 60
// on etcd. ZKRECIPES_CONFIG_LARGE=1: 50 subscribers and 1,000 batches.
//
// The tampered subtest is the broken run the checker must catch: one
// subscriber's apply with one key taken from the batch before (part of a
// batch), two applies of another swapped, and a third's last apply
// dropped; CheckSet reports partial, order and converge.
//
// Broken on purpose, in a copy of the tree: with WatchAll's batchOf
// returning nil at once (every key applied alone, no batch waited for),
// CheckSet reported 1,445 violations on ZooKeeper, e.g. "partial
// s00@client0: apply 1: {k0="k0-0" k1="k1-36" k2="k2-0"}: no prefix of
// the batches leaves the keys so".
func TestTotalConfigSet(t *testing.T) { testTotalConfigSet(t, false) }

// TestTotalConfigSetOverlap is TestTotalConfigSet with batches that write
// some of the keys: key 0 always, every key in one batch of three, else
// key 1 or key 2. Here a key's follower skipping versions matters: when
// k0's write of batch 148 (k0, k1) is overtaken by batch 149's (k0, k2)
// before k0's cache reads it, only WatchAll's reading of the skipped
// versions' records (skippedBatches) tells it to wait for k1-148 too.
// It runs in CI: 5 to 10 s per backend with -race.
//
// Broken on purpose: with skippedBatches returning at once (the skipped
// versions not read, as WatchAll was before issue 18), CheckSet reported
// partial applies in each of 2 runs on both backends, 1 to 8 a run, e.g.
// on ZooKeeper "partial s04@client4: apply 98: {k0="k0-149" k1="k1-142"
// k2="k2-149"}: no prefix of the batches leaves the keys so" (after batch
// 149, which wrote k0 and k2, k1 holds k1-148) and on etcd
// "{k0="k0-50" k1="k1-45" k2="k2-50"}". With it, 10 runs in a row
// (-count=10 -race) passed on both, 0 violations.
func TestTotalConfigSetOverlap(t *testing.T) { testTotalConfigSet(t, true) }

func testTotalConfigSet(t *testing.T, overlap bool) {
	if testing.Short() {
		t.Skip("-short: a nemesis run")
	}
	sizes := map[string]totalSize{
		"zk":   {clients: 5, subscribers: 10, publishes: 150},
		"etcd": {clients: 5, subscribers: 10, publishes: 60},
	}
	large := os.Getenv(totalLargeEnv) == "1"
	seed := totalSeed(t)
	recipetest.ForEach(t, totalSession, func(t *testing.T, e *recipetest.Env) {
		sz := sizes[e.Backend.Name]
		if large || sz.publishes == 0 {
			sz = totalSize{clients: 5, subscribers: 50, publishes: 1000}
		}
		t.Logf("seed %d (%s=%d runs it again)", seed, totalSeedEnv, seed)
		run, out := runTotalConfigSet(t, e, sz, 3, overlap, seed)
		res := configcheck.CheckSet(run)
		t.Logf("%s: %d set subscribers on %d clients, %d batches of %d keys in %v (%.0f/s) under faults %v; all held the last batch %v after the healing: %v",
			e.Backend.Name, sz.subscribers, sz.clients, len(run.Batches), len(run.Keys), out.publishes.Round(time.Millisecond),
			float64(len(run.Batches))/out.publishes.Seconds(), out.faults, out.converged.Round(time.Millisecond), out.allConverged)
		t.Logf("%s: %v", e.Backend.Name, res)
		if err := res.Err(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !out.allConverged {
			t.Fatalf("not every subscriber held the last batch within %v", recipetest.Wait)
		}
		if len(out.ended) > 0 {
			t.Errorf("watchers ended before the test closed them: %v", out.ended)
		}
		if out.rejected > 0 {
			t.Errorf("%d changes came with an error; String rejects nothing", out.rejected)
		}
		if len(out.faultErrs) > 0 {
			t.Errorf("expiries that failed: %v", out.faultErrs)
		}
		if out.faults[totalFaultCut] == 0 || out.faults[totalFaultExpire] == 0 {
			t.Errorf("faults %v: want cuts and expiries", out.faults)
		}
		t.Run("tampered", func(t *testing.T) { checkSetTampered(t, run) })
	})
}

// checkSetTampered breaks a valid set run's history three ways, one at a
// time and all at once, and wants CheckSet to report each.
func checkSetTampered(t *testing.T, run configcheck.SetRun) {
	clone := func() configcheck.SetRun {
		r := run
		r.Subscribers = slices.Clone(run.Subscribers)
		for i := range r.Subscribers {
			r.Subscribers[i].Applies = slices.Clone(r.Subscribers[i].Applies)
		}
		return r
	}
	var long []int
	for i, s := range run.Subscribers {
		if len(s.Applies) >= 3 {
			long = append(long, i)
		}
	}
	if len(long) < 3 {
		t.Fatalf("%d subscribers applied three states or more; want 3 to tamper with", len(long))
	}
	tampers := []struct {
		kind   string
		tamper func(r *configcheck.SetRun)
	}{
		{configcheck.KindPartial, func(r *configcheck.SetRun) {
			// The second apply with its first key's value from the first.
			a := r.Subscribers[long[0]].Applies
			k := r.Keys[0]
			a[1].Values = maps.Clone(a[1].Values)
			a[1].Values[k] = a[0].Values[k]
		}},
		{configcheck.KindOrder, func(r *configcheck.SetRun) {
			a := r.Subscribers[long[1]].Applies
			a[0].Values, a[1].Values = a[1].Values, a[0].Values
		}},
		{configcheck.KindConverge, func(r *configcheck.SetRun) {
			s := &r.Subscribers[long[2]]
			s.Applies = s.Applies[:len(s.Applies)-1]
		}},
	}
	all := clone()
	for _, c := range tampers {
		r := clone()
		c.tamper(&r)
		c.tamper(&all)
		if res := configcheck.CheckSet(r); !res.Has(c.kind) {
			t.Errorf("history tampered for %s: %v: %v", c.kind, res, res.Err())
		}
	}
	res := configcheck.CheckSet(all)
	for _, c := range tampers {
		if !res.Has(c.kind) {
			t.Errorf("history tampered three ways: no %s: %v", c.kind, res.Err())
		}
	}
	t.Logf("tampered: %v", res.Err())
}
