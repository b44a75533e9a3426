package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
)

// The Curator interop tests' queue and lock paths, in the test's
// namespace, and the window in which a Curator consumer must not get an
// item another consumer holds.
const (
	curatorPath  = "/cq"
	curatorLock  = "/cq-locks"
	curatorQuiet = 2 * time.Second
)

// curatorSide starts a Curator peer rooted in a namespace of the test's own
// and opens our session there: on ZooKeeper only, since Curator's queues
// are ZooKeeper recipes. It skips without Curator (fails under CI=true).
func curatorSide(t *testing.T, opts ...peers.Option) (backend.Session, *peers.Peer) {
	t.Helper()
	zkb := recipetest.Backends[0]
	if zkb.Name != "zk" {
		t.Fatal("recipetest.Backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	e := &recipetest.Env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: interopSession}
	s := e.Session(t) // creates the namespace node the peer is rooted in
	opts = append([]peers.Option{peers.WithNamespace(e.Namespace)}, opts...)
	return s, peers.Curator(t, strings.Join(eps, ","), opts...)
}

// curatorQueue is our queue at curatorPath on s in a Curator layout,
// closed at cleanup.
func curatorQueue(t *testing.T, s backend.Session, layout queue.Option) *queue.Queue {
	t.Helper()
	q, err := queue.New(s, curatorPath, layout)
	if err != nil {
		t.Fatalf("queue.New: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// curatorTakes takes one item and checks that it carries want alone, on
// its first delivery.
func curatorTakes(t *testing.T, q *queue.Queue, want string) *queue.Item {
	t.Helper()
	it := interopTake(t, q)
	if string(it.Data) != want || len(it.Messages) != 1 || it.Attempt != 1 {
		t.Fatalf("Take: data %q, %d messages, attempt %d; want %q, 1, 1", it.Data, len(it.Messages), it.Attempt, want)
	}
	return it
}

// itemString names an item and its data for a failure message.
func itemString(it *queue.Item) string {
	if it == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %q", it.Name(), it.Data)
}

// curatorGone waits until the queue and the lock path have no children
// left: every item deleted, every lock released.
func curatorGone(t *testing.T, s backend.Session) {
	t.Helper()
	for _, dir := range []string{curatorPath, curatorLock} {
		recipetest.Eventually(t, dir+" empty", func() bool {
			return len(recipetest.Children(t, s, dir)) == 0
		})
	}
}

// curatorGets waits for the Curator consumer's next message and checks it.
func curatorGets(t *testing.T, got func(context.Context, string) (string, error), want string) {
	t.Helper()
	data, err := got(recipetest.Ctx(t), curatorPath)
	if err != nil {
		t.Fatal(err)
	}
	if data != want {
		t.Fatalf("Curator's consumer got %q; want %q", data, want)
	}
}

// TestCuratorInterop shares one queue with Curator 5.4.0's queues (a real
// Curator process, internal/peers) on ZooKeeper: DistributedQueue with a
// lock path (CuratorQueue), DistributedDelayQueue (CuratorDelayQueue) and
// SimpleDistributedQueue (CuratorSimpleQueue). Items cross in order both
// ways with their data, an item is gone for both sides once either has
// consumed it, each side keeps off an item the other holds, and an item
// whose Curator consumer dies comes back to ours.
//
// Broken on purpose, in a copy of the tree, each subtest failed:
//   - CuratorPutsWeTake: decode handing out the node's data unframed:
//     Take's data was Curator's framing around "one".
//   - WePutCuratorConsumes: encode writing the data unframed: Curator's
//     consumer dropped the items as corrupted and printed nothing.
//   - CuratorDiesHolding: New keeping claims under path-zkrecipes/taken
//     instead of the lock path: TryTake took the item Curator held; and
//     look not watching the claims' directory: Take still waited Wait
//     after Curator's session expired.
//   - WeHoldCuratorWaits: claims under path-zkrecipes/taken again:
//     Curator's consumer got the item we held; and poke returning no
//     operations (a Nack that only deletes the claim): Curator's consumer,
//     which looks again only when the queue's children change, did not
//     get the item after our Nack.
//   - CuratorDelaysWeTake: parseItem dropping the due time: TryTake got
//     the item 40 ms after a put due in 1.5 s.
//   - WeDelayCuratorConsumes: itemBase naming the item with the clock's
//     now instead of its due time: Curator's consumer got it at once.
//   - Simple: framed true for the simple queue too: sq-take got Curator's
//     framing around "back".
func TestCuratorInterop(t *testing.T) {
	t.Run("CuratorPutsWeTake", func(t *testing.T) {
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		want := []string{"one", "two", "three"}
		for _, d := range want {
			if err := peer.DQPut(ctx, curatorPath, curatorLock, d); err != nil {
				t.Fatal(err)
			}
		}
		q := curatorQueue(t, s, queue.CuratorQueue(curatorLock))
		for _, w := range want {
			it := curatorTakes(t, q, w)
			if l := recipetest.Children(t, s, curatorLock); len(l) != 1 || l[0] != it.Name() {
				t.Fatalf("locks while we hold %s: %v; want our claim alone", it.Name(), l)
			}
			if err := it.Ack(ctx); err != nil {
				t.Fatalf("Ack %q: %v", it.Data, err)
			}
		}
		curatorGone(t, s)
		if it, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake after every Ack: %s, %v; want ErrEmpty", itemString(it), err)
		}
	})

	t.Run("WePutCuratorConsumes", func(t *testing.T) {
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorQueue(curatorLock))
		want := []string{"first", "second", "third"}
		for _, d := range want {
			if _, err := q.Put(ctx, []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range recipetest.Children(t, s, curatorPath) {
			if !strings.HasPrefix(n, "queue-") {
				t.Fatalf("item %q under %s: want Curator's queue-<seq>", n, curatorPath)
			}
		}
		if err := peer.DQConsume(ctx, curatorPath, curatorLock, peers.ConsumeAck); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			curatorGets(t, peer.DQGot, w)
		}
		curatorGone(t, s)
		if n, err := q.Len(ctx); err != nil || n != 0 {
			t.Fatalf("Len after Curator consumed every item: %d, %v; want 0", n, err)
		}
		if err := peer.DQStop(ctx, curatorPath); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CuratorDiesHolding", func(t *testing.T) {
		s, peer := curatorSide(t, peers.WithSessionTimeout(interopPeerSession))
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorQueue(curatorLock))
		if _, err := q.Put(ctx, []byte("orphan")); err != nil {
			t.Fatal(err)
		}
		if err := peer.DQConsume(ctx, curatorPath, curatorLock, peers.ConsumeHold); err != nil {
			t.Fatal(err)
		}
		curatorGets(t, peer.DQGot, "orphan") // Curator's lock on it came first
		if it, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake while Curator holds the only item: %s, %v; want ErrEmpty", itemString(it), err)
		}

		type taken struct {
			it  *queue.Item
			err error
		}
		ch := make(chan taken, 1)
		tctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			it, err := q.Take(tctx)
			ch <- taken{it, err}
		})
		t.Cleanup(func() { cancel(); wg.Wait() })
		recipetest.Eventually(t, "our Take waits", func() bool {
			return len(recipetest.Children(t, s, curatorPath+"-zkrecipes/waiters")) == 1
		})
		select {
		case r := <-ch:
			t.Fatalf("Take returned (%s, %v) while Curator holds the item", itemString(r.it), r.err)
		default:
		}
		peer.Kill() // its session, and its lock on the item, live until the server expires it
		var r taken
		select {
		case r = <-ch:
		case <-time.After(recipetest.Wait):
			t.Fatalf("Take did not return within %v of Curator's death", recipetest.Wait)
		}
		if r.err != nil || string(r.it.Data) != "orphan" {
			t.Fatalf("Take after Curator died: %s, %v; want the item Curator held", itemString(r.it), r.err)
		}
		if err := r.it.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		curatorGone(t, s)
	})

	t.Run("WeHoldCuratorWaits", func(t *testing.T) {
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorQueue(curatorLock))
		if _, err := q.Put(ctx, []byte("shared")); err != nil {
			t.Fatal(err)
		}
		it := curatorTakes(t, q, "shared")
		if err := peer.DQConsume(ctx, curatorPath, curatorLock, peers.ConsumeAck); err != nil {
			t.Fatal(err)
		}
		quiet, cancel := context.WithTimeout(ctx, curatorQuiet)
		data, err := peer.DQGot(quiet, curatorPath)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Curator's consumer while we hold the only item: %q, %v; want nothing within %v", data, err, curatorQuiet)
		}
		if err := it.Nack(ctx); err != nil {
			t.Fatal(err)
		}
		// Curator's consumer skipped the item when its lock was ours, and
		// looks again only when the queue's children change (its
		// ChildrenCache watches nothing else): the Nack must change them.
		data, err = peer.DQGot(ctx, curatorPath)
		if err != nil || data != "shared" {
			t.Fatalf("Curator's consumer after our Nack: %q, %v; want \"shared\" (a Nack that leaves %s's children "+
				"as they were does not make Curator's consumer look again)", data, err, curatorPath)
		}
		curatorGone(t, s)
		if it, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake after Curator consumed the item: %s, %v; want ErrEmpty", itemString(it), err)
		}
	})

	t.Run("CuratorDelaysWeTake", func(t *testing.T) {
		const delay = 1500 * time.Millisecond
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorDelayQueue(curatorLock))
		before := time.Now() // Curator reads its clock for the due time after this
		if err := peer.DelayQPut(ctx, curatorPath, curatorLock, "later", delay); err != nil {
			t.Fatal(err)
		}
		it, err := q.TryTake(ctx)
		switch {
		case errors.Is(err, queue.ErrEmpty):
			it = curatorTakes(t, q, "later")
		case err != nil:
			t.Fatalf("TryTake before the item is due: %v", err)
		case time.Since(before) < delay:
			t.Fatalf("TryTake got %q %v after a put due in %v", it.Data, time.Since(before), delay)
		default: // this machine was too slow to try before the due time
			t.Logf("TryTake ran %v after the put, the item already due: its ErrEmpty not checked", time.Since(before))
		}
		if string(it.Data) != "later" {
			t.Fatalf("Take: data %q; want \"later\"", it.Data)
		}
		if waited := time.Since(before); waited < delay-10*time.Millisecond {
			t.Fatalf("Take got the item %v after a put due in %v", waited, delay)
		}
		if err := it.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		curatorGone(t, s)
	})

	t.Run("WeDelayCuratorConsumes", func(t *testing.T) {
		const delay, early = 1500 * time.Millisecond, time.Second
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorDelayQueue(curatorLock))
		if err := peer.DelayQConsume(ctx, curatorPath, curatorLock); err != nil {
			t.Fatal(err)
		}
		before := time.Now() // Put reads its clock for the due time after this
		if _, err := q.Put(ctx, []byte("soon"), queue.Delay(delay)); err != nil {
			t.Fatal(err)
		}
		// A line that arrives before before+early is there when this wait
		// looks, or wakes it.
		quiet, cancel := context.WithDeadline(ctx, before.Add(early))
		data, err := peer.DelayQGot(quiet, curatorPath)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Curator's delay consumer within %v of a put due in %v: %q, %v; want nothing", early, delay, data, err)
		}
		curatorGets(t, peer.DelayQGot, "soon")
		t.Logf("Curator's consumer got the item %v after the put", time.Since(before).Round(time.Millisecond))
		curatorGone(t, s)
	})

	t.Run("Simple", func(t *testing.T) {
		s, peer := curatorSide(t)
		ctx := recipetest.Ctx(t)
		q := curatorQueue(t, s, queue.CuratorSimpleQueue())
		want := []string{"a1", "a2"}
		for _, d := range want {
			if err := peer.SQPut(ctx, curatorPath, d); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range want {
			it := curatorTakes(t, q, w)
			if err := it.Ack(ctx); err != nil {
				t.Fatalf("Ack %q: %v", w, err)
			}
		}
		if l := recipetest.Children(t, s, curatorPath); len(l) != 0 {
			t.Fatalf("items after every Ack: %v; want none", l)
		}
		if _, err := q.Put(ctx, []byte("back")); err != nil {
			t.Fatal(err)
		}
		data, ok, err := peer.SQTake(ctx, curatorPath, recipetest.Wait)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || data != "back" {
			t.Fatalf("sq-take: %q, %v; want \"back\"", data, ok)
		}
		if l := recipetest.Children(t, s, curatorPath); len(l) != 0 {
			t.Fatalf("items after Curator took the last: %v; want none", l)
		}
		if it, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake after Curator took the last item: %s, %v; want ErrEmpty", itemString(it), err)
		}
		if data, ok, err := peer.SQTake(ctx, curatorPath, 0); err != nil || ok {
			t.Fatalf("sq-take from the empty queue: %q, %v, %v; want nothing", data, ok, err)
		}
	})
}
