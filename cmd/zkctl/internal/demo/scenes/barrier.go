package scenes

import (
	"context"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/barrier"
	"github.com/zkrecipes/zkrecipes/recipes/counter"
)

// doubleBarrier is the demo's scene of recipes/barrier and recipes/counter
// (see All).
var doubleBarrier = demo.Scene{
	Name:  "double barrier",
	Title: "Double barrier: three workers start a batch together, each counts its part, and they leave together",
	Play:  playBarrier,
}

// playBarrier plays the scene: three workers are members of a double
// barrier for 3. The first two enter and wait: nobody passes while only two
// are inside. The third enters; all three pass, each adds its part to a
// shared counter (compare-and-set: no add is lost), and they leave; Leave
// returns only when all have left. The counter then holds every part.
func playBarrier(ctx context.Context, stage *demo.Stage) error {
	const path, total = "/barriers/batch", "/counters/batch"
	names := []string{"worker-1", "worker-2", "worker-3"}
	parts := map[string]int64{"worker-1": 10, "worker-2": 20, "worker-3": 30}

	obs, err := stage.Actor(ctx, "observer")
	if err != nil {
		return err
	}
	look, err := barrier.NewDouble(obs, path, len(names))
	if err != nil {
		return err
	}
	sum, err := counter.NewAtomic(obs, total)
	if err != nil {
		return err
	}
	defer sum.Close()

	// The workers run until they are done or the scene ends early.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	passed := make(chan string, len(names)) // who passed Enter
	errs := make(chan error, len(names))
	// What each worker saw when it passed: the creation token of ready, and
	// of its own member node. ready must be younger than every member.
	var mu sync.Mutex
	readyTokens, memberTokens := map[string]int64{}, map[string]int64{}
	start := func(who string) error {
		s, err := stage.Actor(ctx, who)
		if err != nil {
			return err
		}
		d, err := barrier.NewDouble(s, path, len(names))
		if err != nil {
			return err
		}
		c, err := counter.NewAtomic(s, total)
		if err != nil {
			return err
		}
		stage.Say(who, "enters %s (a barrier for %d) as member %.8s...", path, len(names), d.Name())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			errs <- func() error {
				if err := d.Enter(ctx); err != nil {
					return fmt.Errorf("%s: enter: %w", who, err)
				}
				passed <- who
				// Nobody finishes leaving while this member is inside, so
				// ready is still there.
				ready, err := s.Exists(ctx, path+"/"+barrier.ReadyName)
				if err != nil || ready == nil {
					return fmt.Errorf("%s: passed, but ready is %v (%v)", who, ready, err)
				}
				own, err := s.Exists(ctx, path+"/"+d.Name())
				if err != nil || own == nil {
					return fmt.Errorf("%s: passed, but its node is %v (%v)", who, own, err)
				}
				mu.Lock()
				readyTokens[who], memberTokens[who] = ready.CreateToken, own.CreateToken
				mu.Unlock()
				ch, err := c.Add(ctx, parts[who])
				if err != nil {
					return fmt.Errorf("%s: add: %w", who, err)
				}
				stage.Say(who, "passes with all %d inside, counts its part: %s %d -> %d", len(names), total, ch.Pre, ch.Post)
				if err := d.Leave(ctx); err != nil {
					return fmt.Errorf("%s: leave: %w", who, err)
				}
				stage.Say(who, "leaves: every member has left")
				return nil
			}()
		}()
		return nil
	}

	for _, who := range names[:2] {
		if err := start(who); err != nil {
			return err
		}
	}
	// Wait until both are inside, as the observer sees it.
	if err := waitMembers(ctx, obs, look, 2, passed); err != nil {
		return err
	}
	select {
	case who := <-passed:
		return fmt.Errorf("%s passed the barrier with 2 of 3 members inside", who)
	default:
	}
	stage.Say("observer", "2 of 3 members inside %s; nobody has passed", path)
	stage.Pause(ctx)

	if err := start(names[2]); err != nil {
		return err
	}
	for range names {
		select {
		case err := <-errs:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	v, err := sum.Get(ctx)
	if err != nil {
		return err
	}
	ms, err := look.Members(ctx)
	if err != nil {
		return err
	}
	if v.N != 60 || len(ms) != 0 {
		return fmt.Errorf("after the batch: %s = %d with %d members left; want 60 and none", total, v.N, len(ms))
	}
	mu.Lock()
	defer mu.Unlock()
	last := max(memberTokens["worker-1"], memberTokens["worker-2"], memberTokens["worker-3"])
	for _, who := range names {
		if readyTokens[who] <= last {
			return fmt.Errorf("%s passed through ready created at %d, before the last member joined at %d", who, readyTokens[who], last)
		}
	}
	stage.Say("observer", "each worker passed through %s/ready, created after the third member joined", path)
	stage.Say("observer", "%s = %d: every part counted; %d members left in %s", total, v.N, len(ms), path)
	return nil
}

// waitMembers waits until the double barrier d has at least n members,
// watching its node on session s. A member that passes meanwhile (a name
// on passed) is an error: the barrier let it through with fewer inside.
func waitMembers(ctx context.Context, s backend.Session, d *barrier.DoubleBarrier, n int, passed <-chan string) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		changed, again, err := watchChildren(wctx, s, d.Path())
		if err != nil || again {
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		ms, err := d.Members(ctx)
		if err != nil || len(ms) >= n {
			cancel()
			return err
		}
		select {
		case <-changed:
		case who := <-passed:
			cancel()
			return fmt.Errorf("%s passed the barrier with fewer than %d members inside", who, n+1)
		case <-ctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
