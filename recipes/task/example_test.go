package task_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/task"
)

// newSession connects the example to an etcd started inside the test
// binary (internal/devetcd), so that it runs with nothing installed. In
// your code, list your cluster's members; on ZooKeeper use
// zk.New(zk.Config{Servers: ...}): the rest is the same.
func newSession(ctx context.Context, namespace string) (backend.Client, backend.Session) {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	c, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: namespace, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return c, s
}

// A producer submits tasks, a master assigns them, a worker runs them; the
// worker's result is committed once, with the task's state.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, s := newSession(ctx, "/example-task")
	defer c.Close()

	// The master: any number may run; one is elected.
	master, err := task.NewMaster(s, "/jobs")
	if err != nil {
		log.Fatal(err)
	}
	mctx, stopMaster := context.WithCancel(ctx)
	masterDone := make(chan error, 1)
	go func() { masterDone <- master.Run(mctx) }()
	defer func() { stopMaster(); <-masterDone }()

	// A worker that upper-cases its specs, two at a time.
	w, err := task.Register(ctx, s, "/jobs", "worker-1", task.Capacity(2))
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- w.Run(wctx, func(ctx context.Context, a *task.Assignment) ([]byte, error) {
			// a.Token() goes with every write outside the tree;
			// ctx ends the moment the assignment can't be trusted.
			if err := a.Progress(ctx, []byte("working")); err != nil {
				return nil, err
			}
			return []byte(strings.ToUpper(string(a.Spec()))), nil
		})
	}()
	defer func() { stopWorker(); <-workerDone }()

	// The producer.
	b, err := task.NewBoard(s, "/jobs")
	if err != nil {
		log.Fatal(err)
	}
	for _, spec := range []string{"resize photo 1", "resize photo 2"} {
		id, err := b.Submit(ctx, []byte(spec), task.ID(strings.ReplaceAll(spec, " ", "-")))
		if err != nil {
			log.Fatal(err)
		}
		rec, err := b.Wait(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s by %s on attempt %d: %s\n", id, rec.State, rec.Worker, rec.Attempt, rec.Result)
	}
	// Output:
	// resize-photo-1: done by worker-1 on attempt 1: RESIZE PHOTO 1
	// resize-photo-2: done by worker-1 on attempt 1: RESIZE PHOTO 2
}
