package partition

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestRebalanceAfterDeath: 50 members share 1,000 items; one member's
// session expires (a dead member) and the 49 others take its items,
// balanced, within a bound. It logs how many items moved and how long the
// rebalance took, for Sticky and Range: Sticky moves only the dead
// member's 20 items, Range moves most of the set.
//
// Measured (2 slow cores shared with other test runs, no -race): 50
// members, 1,000 items; after the death Sticky moved the dead member's 20
// items, Range 146; the group was whole again in 1.4 s (Sticky) and
// 2.0–3.1 s (Range) on etcd, 5.9 s on ZooKeeper (not CPU-bound: 8 s of
// CPU in a 14 s run on two cores; where it waits is not found yet).
//
// Broken on purpose by making Sticky keep nothing (current ignored):
// failed under -race (20 members, 400 items), "sticky moved 118 items,
// want 20".
func TestRebalanceAfterDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("50 members, 1,000 items: not in -short")
	}
	members, items := bigMembers, bigItems
	if raceEnabled {
		// Under the race detector 50 members with their caches in one
		// process starve the machine: a fifth of the size keeps the
		// protocol's shape (run without -race for the full size).
		members, items = members*2/5, items*2/5
	}
	// Sessions of 10 s: 50 members in one test process on a small machine
	// must not expire from CPU starvation alone.
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *env) {
		for _, strategy := range []Strategy{Sticky, Range} {
			t.Run(strategy.String(), func(t *testing.T) {
				path := "/big-" + strategy.String()
				names := itemNames(items)
				ms := make([]*member, members)
				// Open every session first, then start the members
				// together: one burst of joins inside the settle
				// window, so the group settles once rather than
				// passing all 1,000 items around while it grows.
				ss := make([]backend.Session, members)
				for i := range ss {
					ss[i] = e.Session(t)
				}
				t0 := time.Now()
				for i := range ms {
					ms[i] = start(t, ss[i], path, Member(fmt.Sprintf("m%02d", i)), Items(names...), Settle(bigSettle), WithStrategy(strategy))
				}
				before := waitSplitWithin(t, bigWait, names, ms...)
				t.Logf("%s %s: %d members hold %d items %v after the first join", e.Backend.Name, strategy, members, items, time.Since(t0).Round(time.Millisecond))
				dead := ms[members/3]
				lostItems := len(dead.items())
				died := time.Now()
				if err := dead.s.(backend.Expirer).Expire(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				rest := append(ms[:members/3:members/3], ms[members/3+1:]...)
				after := waitSplitWithin(t, bigWait, names, rest...)
				took := time.Since(died)
				moved := 0
				for it, m := range after {
					if before[it] != m {
						moved++
					}
				}
				t.Logf("%s %s: rebalanced %v after a member died; %d items moved (the dead member had %d)", e.Backend.Name, strategy, took.Round(time.Millisecond), moved, lostItems)
				if strategy == Sticky && moved != lostItems {
					t.Errorf("sticky moved %d items, want %d", moved, lostItems)
				}
			})
		}
	})
}

// The size of TestRebalanceAfterDeath, and its settle window.
var (
	bigMembers, bigItems = 50, 1000
	bigSettle            = time.Second
	bigWait              = time.Minute // for the whole group to settle
)
