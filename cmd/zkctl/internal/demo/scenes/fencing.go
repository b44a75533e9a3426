package scenes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// fencing is the demo's scene of the same name (see All).
var fencing = demo.Scene{
	Name:  "fencing",
	Title: "Fencing: a paused holder's session expires; its late writes are refused",
	Play:  playFencing,
}

// playFencing plays the scene: a holder stops (a long GC pause, a stopped VM) and its
// session expires; the lock goes to the next worker. When the first wakes
// up it still believes it holds the lock, but its writes are refused.
func playFencing(ctx context.Context, stage *demo.Stage) error {
	const lockPath = "/locks/report"
	a, err := stage.Actor(ctx, "worker-a")
	if err != nil {
		return err
	}
	b, err := stage.Actor(ctx, "worker-b")
	if err != nil {
		return err
	}

	ma, err := lock.New(a, lockPath, lock.WithData([]byte("worker-a")))
	if err != nil {
		return err
	}
	stage.Say("worker-a", "asks for %s", lockPath)
	leaseA, err := ma.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock(leaseA) // after the expiry, only frees the handle
	stage.Token("worker-a", leaseA.Token(), "holds the lock: fencing token %d", leaseA.Token())

	// worker-b queues behind worker-a.
	mb, err := lock.New(b, lockPath, lock.WithData([]byte("worker-b")))
	if err != nil {
		return err
	}
	granted := make(chan *lock.Lease, 1)
	lockErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an early return, stops worker-b
	defer cancel()
	stage.Say("worker-b", "asks for %s and waits", lockPath)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := mb.Lock(ctx)
		if err != nil {
			lockErr <- err
			return
		}
		granted <- l
	}()
	if _, err := waitQueue(ctx, b, mb, 2); err != nil {
		return err
	}

	stage.Pause(ctx)
	stage.Say("worker-a", "pauses (a long GC, a stopped VM) before it writes")
	expirer, ok := a.(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	stage.Say("server", "hears nothing from worker-a for a session timeout: expires its session, deletes its lock node")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}

	var leaseB *lock.Lease
	select {
	case leaseB = <-granted:
	case err := <-lockErr:
		return err
	}
	defer unlock(leaseB)
	stage.Token("worker-b", leaseB.Token(), "holds the lock: fencing token %d", leaseB.Token())
	if _, err := leaseB.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte("worker-b"), Version: backend.AnyVersion}); err != nil {
		return err
	}
	if err := stage.Store.Write(leaseB.Token(), "worker-b"); err != nil {
		return err
	}
	stage.Say("worker-b", "writes the report: guarded write done, storage accepts token %d", leaseB.Token())

	stage.Pause(ctx)
	stage.Say("worker-a", "wakes up and, still believing it holds the lock, writes the report")
	_, err = leaseA.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte("worker-a"), Version: backend.AnyVersion})
	if !errors.Is(err, lock.ErrLost) {
		return fmt.Errorf("worker-a's guarded write after its session expired: %v, want lock.ErrLost", err)
	}
	stage.Say("worker-a", "guarded write refused: %v", err)
	err = stage.Store.Write(leaseA.Token(), "worker-a")
	if !errors.Is(err, demo.ErrStaleToken) {
		return fmt.Errorf("worker-a's write with token %d: %v, want a stale token", leaseA.Token(), err)
	}
	stage.Say("storage", "refuses worker-a's write: %v", err)
	return nil
}
