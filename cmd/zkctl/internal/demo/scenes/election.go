package scenes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

// leaderElection is the demo's scene of the same name (see All).
var leaderElection = demo.Scene{
	Name:  "leader election",
	Title: "Leader election: the leader dies, the next node takes over with a larger token",
	Play:  playElection,
}

// playElection plays the scene: three nodes run for leader of a scheduler; the
// leader dies (its session is expired, as after a crash) and the next in
// line takes over, with a larger fencing token.
func playElection(ctx context.Context, stage *demo.Stage) error {
	const electionPath = "/election/scheduler"
	observer, err := stage.Actor(ctx, "observer")
	if err != nil {
		return err
	}
	watch, err := election.New(observer, electionPath) // only to look at the candidates
	if err != nil {
		return err
	}

	leading := make(chan string, 3)
	ended := make(map[string]chan error)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // at the end (or an early return), stops the nodes
	defer cancel()

	// A node: Run blocks until it leads, calls the function with a context
	// cancelled the moment leadership is lost, and returns after the term.
	node := func(name string, s backend.Session) error {
		e, err := election.New(s, electionPath, election.WithValue([]byte(name)))
		if err != nil {
			return err
		}
		return e.Run(ctx, func(leaderCtx context.Context, term *election.Term) error {
			stage.Token(name, term.Token(), "leads the scheduler: fencing token %d", term.Token())
			leading <- name
			<-leaderCtx.Done() // the leader's work would go here, until then
			if ctx.Err() == nil {
				stage.Say(name, "stops leading: %v", context.Cause(leaderCtx))
			}
			return nil
		})
	}

	sessions := make(map[string]backend.Session)
	for i, name := range []string{"node-1", "node-2", "node-3"} {
		s, err := stage.Actor(ctx, name)
		if err != nil {
			return err
		}
		sessions[name] = s
		done := make(chan error, 1)
		ended[name] = done
		stage.Say(name, "runs for leader")
		wg.Add(1)
		go func() {
			defer wg.Done()
			done <- node(name, s)
		}()
		// One after another, so node-1 leads and the others follow in order.
		if i == 0 {
			if err := recvName(ctx, leading, "node-1"); err != nil {
				return err
			}
		} else if err := waitCandidates(ctx, observer, watch, i+1); err != nil {
			return err
		}
	}
	candidates, err := watch.Participants(ctx)
	if err != nil {
		return err
	}
	var line []string
	for _, c := range candidates {
		role := "follows"
		if c.Leader {
			role = "leads"
		}
		line = append(line, fmt.Sprintf("%s %s", c.Value, role))
	}
	stage.Say("observer", "candidates of %s: %s", electionPath, strings.Join(line, ", "))

	stage.Pause(ctx)
	expirer, ok := sessions["node-1"].(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	stage.Say("server", "node-1 crashed: expires its session, deletes its candidate node")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}
	if err := recvName(ctx, leading, "node-2"); err != nil {
		return err
	}
	select { // node-1 learns it lost: its Run returns
	case err := <-ended["node-1"]:
		if !errors.Is(err, election.ErrLost) {
			return fmt.Errorf("node-1's Run after its session expired: %v, want election.ErrLost", err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	leader, err := watch.Leader(ctx)
	if err != nil {
		return err
	}
	stage.Say("observer", "leader of %s: %s, with token %d > %d of the dead leader", electionPath, leader.Value, leader.Token, candidates[0].Token)
	return nil
}
