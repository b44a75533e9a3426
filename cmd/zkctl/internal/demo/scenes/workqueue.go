package scenes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
)

// workQueue is the demo's scene of a work queue (see All).
var workQueue = demo.Scene{
	Name:  "work queue",
	Title: "Work queue: two workers take jobs by priority; one dies mid-job and its job goes to the other",
	Play:  playWorkQueue,
}

// playWorkQueue plays the scene: a producer puts three jobs with
// priorities into a recipes/queue queue; worker-1 takes the most urgent,
// worker-2 the others, acknowledging each, then waits. worker-1 dies
// mid-job (its session expires): its claim goes, and its job is delivered
// to worker-2, attempt 2, with a larger fencing token. worker-1's late
// acknowledgement and write are refused.
func playWorkQueue(ctx context.Context, stage *demo.Stage) error {
	const path = "/queues/jobs"
	producer, err := stage.Actor(ctx, "producer")
	if err != nil {
		return err
	}
	pq, err := queue.New(producer, path)
	if err != nil {
		return err
	}
	defer pq.Close()
	for _, job := range []struct {
		data string
		prio int
	}{{"rebuild the search index", 200}, {"resize photo 7", 100}, {"send invoice #42", 10}} {
		if _, err := pq.Put(ctx, []byte(job.data), queue.Priority(job.prio)); err != nil {
			return err
		}
		stage.Say("producer", "puts %q, priority %d (lower goes first)", job.data, job.prio)
	}

	worker := func(name string) (backend.Session, *queue.Queue, error) {
		s, err := stage.Actor(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		q, err := queue.New(s, path, queue.ConsumerID(name))
		return s, q, err
	}
	take := func(name string, q *queue.Queue) (*queue.Item, error) {
		it, err := q.Take(ctx) // blocks until an item can be taken
		if err != nil {
			return nil, err
		}
		stage.Token(name, it.Token(), "takes %q (attempt %d): fencing token %d", it.Data, it.Attempt, it.Token())
		return it, nil
	}
	s1, q1, err := worker("worker-1")
	if err != nil {
		return err
	}
	defer q1.Close()
	_, q2, err := worker("worker-2")
	if err != nil {
		return err
	}
	defer q2.Close()

	invoice, err := take("worker-1", q1)
	if err != nil {
		return err
	}
	stage.Say("worker-1", "starts sending the invoice")
	for range 2 {
		it, err := take("worker-2", q2)
		if err != nil {
			return err
		}
		if err := it.Ack(ctx); err != nil {
			return err
		}
		stage.Say("worker-2", "done: acknowledges it, the queue removes it")
	}

	// worker-2 waits for work while worker-1 dies.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an early return, stops worker-2
	defer cancel()
	type taken struct {
		it  *queue.Item
		err error
	}
	next := make(chan taken, 1)
	stage.Say("worker-2", "waits for the next job (the invoice is worker-1's)")
	wg.Add(1)
	go func() {
		defer wg.Done()
		it, err := take("worker-2", q2)
		next <- taken{it, err}
	}()

	stage.Pause(ctx)
	expirer, ok := s1.(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	stage.Say("server", "worker-1 crashed mid-job: expires its session, deletes its claim on the invoice")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}
	var again taken
	select {
	case again = <-next:
	case <-ctx.Done():
		return ctx.Err()
	}
	if again.err != nil {
		return again.err
	}
	if again.it.ID != invoice.ID || again.it.Attempt != 2 || again.it.Token() <= invoice.Token() {
		return fmt.Errorf("worker-2 got %q, attempt %d, token %d; want worker-1's job again, attempt 2, a token above %d",
			again.it.Data, again.it.Attempt, again.it.Token(), invoice.Token())
	}
	if err := stage.Store.Write(again.it.Token(), "invoice #42 sent by worker-2"); err != nil {
		return err
	}
	if err := again.it.Ack(ctx); err != nil {
		return err
	}
	stage.Say("worker-2", "sends the invoice: storage accepts token %d (> %d of worker-1's claim); acknowledges it", again.it.Token(), invoice.Token())

	stage.Pause(ctx)
	err = invoice.Ack(ctx)
	if !errors.Is(err, queue.ErrLost) {
		return fmt.Errorf("worker-1's acknowledgement after its session expired: %v, want queue.ErrLost", err)
	}
	stage.Say("worker-1", "wakes up and acknowledges the invoice: refused: %v", err)
	err = stage.Store.Write(invoice.Token(), "invoice #42 sent by worker-1")
	if !errors.Is(err, demo.ErrStaleToken) {
		return fmt.Errorf("worker-1's write with token %d: %v, want a stale token", invoice.Token(), err)
	}
	stage.Say("storage", "refuses worker-1's write: %v", err)
	n, err := pq.Len(ctx)
	if err != nil {
		return err
	}
	stage.Say("producer", "%s holds %d jobs: each was done once, the invoice on its second delivery", path, n)
	return nil
}
