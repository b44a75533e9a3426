package scenes

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// lockQueue is the demo's scene of the same name (see All).
var lockQueue = demo.Scene{
	Name:  "lock queue",
	Title: "One lock, three workers: they queue, and each grant has a larger fencing token",
	Play:  playLockQueue,
}

// playLockQueue plays the scene: three workers, each with its own session, want the
// same lock. They queue in arrival order; each grant carries a fencing
// token larger than the one before.
func playLockQueue(ctx context.Context, stage *demo.Stage) error {
	const lockPath = "/locks/report"
	observer, err := stage.Actor(ctx, "observer")
	if err != nil {
		return err
	}
	if _, err := observer.Create(ctx, "/reports/last", nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
		return err
	}
	queue, err := lock.New(observer, lockPath) // only to look at the queue
	if err != nil {
		return err
	}

	release := make(chan struct{}) // the first holder works once all queue
	held := make(chan struct{}, 3)
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an early return, stops the workers
	defer cancel()

	worker := func(name string, s backend.Session) error {
		m, err := lock.New(s, lockPath, lock.WithData([]byte(name)))
		if err != nil {
			return err
		}
		stage.Say(name, "asks for %s", lockPath)
		lease, err := m.Lock(ctx) // blocks until this worker holds the lock
		if err != nil {
			return err
		}
		stage.Token(name, lease.Token(), "holds the lock: fencing token %d", lease.Token())
		held <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			unlock(lease)
			return ctx.Err()
		}
		// The work, fenced twice: the write to the coordination service is
		// guarded by the lock node, and the write elsewhere carries the token.
		if _, err := lease.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte(name), Version: backend.AnyVersion}); err != nil {
			return err
		}
		if err := stage.Store.Write(lease.Token(), name); err != nil {
			return err
		}
		stage.Say(name, "writes the report: guarded write done, storage accepts token %d", lease.Token())
		stage.Pause(ctx)
		stage.Say(name, "unlocks")
		return lease.Unlock(ctx)
	}

	for i, name := range []string{"worker-1", "worker-2", "worker-3"} {
		s, err := stage.Actor(ctx, name)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(name, s)
		}()
		// Let the workers arrive one after another, so the story is the same
		// every time: the first holds, the others wait in order.
		if i == 0 {
			if err := recv(ctx, held, errs); err != nil {
				return err
			}
		} else if _, err := waitQueue(ctx, observer, queue, i+1); err != nil {
			return err
		}
	}
	holders, err := queue.Holders(ctx)
	if err != nil {
		return err
	}
	var line []string
	for i, h := range holders {
		role := "waits"
		if i == 0 {
			role = "holds"
		}
		line = append(line, fmt.Sprintf("%s %s (token %d)", h.Data, role, h.Token))
	}
	stage.Say("observer", "queue of %s: %s", lockPath, strings.Join(line, ", "))
	stage.Pause(ctx)
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}
