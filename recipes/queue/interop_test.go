package queue_test

import (
	"context"
	"errors"
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

// interopSession is the session timeout of the interop tests' own
// sessions; interopPeerSession the kazoo peer's where its death is waited
// for (the server may raise it to its minimum, 2 ticks).
const (
	interopSession     = 4 * time.Second
	interopPeerSession = 2 * time.Second
)

// interopPath is the queue both sides use, in the test's namespace.
const interopPath = "/q"

// kazooSide starts a kazoo peer rooted in a namespace of the test's own and
// opens our session there: on ZooKeeper only, since LockingQueue is a
// ZooKeeper recipe. It skips without kazoo (fails under CI=true).
func kazooSide(t *testing.T, opts ...peers.Option) (backend.Session, *peers.Peer) {
	t.Helper()
	zkb := recipetest.Backends[0]
	if zkb.Name != "zk" {
		t.Fatal("recipetest.Backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	e := &recipetest.Env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: interopSession}
	s := e.Session(t) // creates the namespace node kazoo's chroot needs
	opts = append([]peers.Option{peers.WithNamespace(e.Namespace)}, opts...)
	return s, peers.Kazoo(t, strings.Join(eps, ","), opts...)
}

// interopQueue is our queue at interopPath on s, closed at cleanup.
func interopQueue(t *testing.T, s backend.Session) *queue.Queue {
	t.Helper()
	q, err := queue.New(s, interopPath)
	if err != nil {
		t.Fatalf("queue.New: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// interopTake takes one item, failing the test after recipetest.Wait.
func interopTake(t *testing.T, q *queue.Queue) *queue.Item {
	t.Helper()
	it, err := q.Take(recipetest.Ctx(t))
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return it
}

// interopLens checks the queue's length as both sides count it.
func interopLens(t *testing.T, q *queue.Queue, peer *peers.Peer, want int) {
	t.Helper()
	ctx := recipetest.Ctx(t)
	if n, err := q.Len(ctx); err != nil || n != want {
		t.Fatalf("our Len: %d, %v; want %d", n, err, want)
	}
	if n, err := peer.QueueLen(ctx, interopPath); err != nil || n != want {
		t.Fatalf("kazoo's len: %d, %v; want %d", n, err, want)
	}
}

// kazooGetsNothing checks that a kazoo get finds nothing it can take
// within a short timeout.
func kazooGetsNothing(t *testing.T, peer *peers.Peer, why string) {
	t.Helper()
	data, ok, err := peer.QueueGet(recipetest.Ctx(t), interopPath, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatalf("kazoo got %q %s", data, why)
	}
}

// kazooGets has kazoo get an item (waiting up to recipetest.Wait) and
// checks its data.
func kazooGets(t *testing.T, peer *peers.Peer, want string) {
	t.Helper()
	data, ok, err := peer.QueueGet(recipetest.Ctx(t), interopPath, recipetest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || data != want {
		t.Fatalf("kazoo get: %q, %v; want %q", data, ok, want)
	}
}

// TestKazooInterop shares one queue with kazoo 2.8's LockingQueue (a real
// kazoo process, internal/peers) on ZooKeeper: items cross in priority
// order both ways, an acknowledgement on either side removes the item for
// both, and a claim on either side keeps the other side off the item until
// it is released, acknowledged, or its session ends. Curator's
// DistributedQueue uses another layout (queue-<seq> nodes holding Curator's
// item framing), which this package does not read: no Curator test here.
//
// Broken on purpose, in a copy of the tree, each subtest failed:
//   - KazooPutsWeTake: cmpEntry ordering by sequence only (priority
//     ignored): Take returned "low" first.
//   - WePutKazooGets: entryBase writing the priority with %d instead of
//     %03d: kazoo's lexical sort got "p300" before "p5".
//   - KazooDiesHolding: look ignoring taken/ (every entry available):
//     TryTake, its claims refused, looked again until its context ended
//     instead of ErrEmpty (WeHoldKazooWaits too); and look not watching
//     taken/: Take still waited Wait after kazoo's session expired.
//   - WeHoldKazooWaits: claim's Multi without the create of taken/<name>:
//     kazoo got the item we held; Nack leaving taken/<name> in place: kazoo
//     did not get it after the Nack.
//   - NackAfterHoldsFromKazoo: Nack with After doing what a plain Nack does
//     (delete taken/<name>): kazoo got the item inside the hold.
func TestKazooInterop(t *testing.T) {
	t.Run("KazooPutsWeTake", func(t *testing.T) {
		s, peer := kazooSide(t)
		ctx := recipetest.Ctx(t)
		for _, p := range []struct {
			prio int
			data string
		}{{200, "low"}, {10, "high"}, {100, "mid"}} {
			if err := peer.QueuePut(ctx, interopPath, p.prio, p.data); err != nil {
				t.Fatal(err)
			}
		}
		q := interopQueue(t, s)
		for _, want := range []struct {
			data string
			prio int
		}{{"high", 10}, {"mid", 100}, {"low", 200}} {
			it := interopTake(t, q)
			if string(it.Data) != want.data || it.Priority != want.prio || it.Attempt != 1 {
				t.Fatalf("Take: data %q, priority %d, attempt %d; want %q, %d, 1", it.Data, it.Priority, it.Attempt, want.data, want.prio)
			}
			if err := it.Ack(ctx); err != nil {
				t.Fatalf("Ack %q: %v", it.Data, err)
			}
		}
		interopLens(t, q, peer, 0)
		if _, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake after every Ack: %v; want ErrEmpty", err)
		}
	})

	t.Run("WePutKazooGets", func(t *testing.T) {
		s, peer := kazooSide(t)
		ctx := recipetest.Ctx(t)
		q := interopQueue(t, s)
		for _, p := range []struct {
			prio int
			data string
		}{{300, "p300"}, {5, "p5"}, {queue.DefaultPriority, "p100"}, {50, "p50"}} {
			if _, err := q.Put(ctx, []byte(p.data), queue.Priority(p.prio)); err != nil {
				t.Fatal(err)
			}
		}
		interopLens(t, q, peer, 4)
		for _, want := range []string{"p5", "p50", "p100", "p300"} {
			kazooGets(t, peer, want)
			if ok, err := peer.QueueConsume(ctx, interopPath); err != nil || !ok {
				t.Fatalf("kazoo consume %q: %v, %v; want true", want, ok, err)
			}
		}
		interopLens(t, q, peer, 0)
		kazooGetsNothing(t, peer, "from an empty queue")
	})

	t.Run("KazooDiesHolding", func(t *testing.T) {
		s, peer := kazooSide(t, peers.WithSessionTimeout(interopPeerSession))
		ctx := recipetest.Ctx(t)
		if err := peer.QueuePut(ctx, interopPath, 7, "orphan"); err != nil {
			t.Fatal(err)
		}
		kazooGets(t, peer, "orphan")
		q := interopQueue(t, s)
		if it, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake while kazoo holds the only item: %v, %v; want ErrEmpty", it, err)
		}
		if l, err := q.List(ctx); err != nil || len(l) != 1 || l[0].State != queue.Taken || l[0].Priority != 7 {
			t.Fatalf("List while kazoo holds the item: %+v, %v; want one Taken item of priority 7", l, err)
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
			return len(recipetest.Children(t, s, interopPath+"/waiters")) == 1
		})
		select {
		case r := <-ch:
			t.Fatalf("Take returned (%v, %v) while kazoo holds the item", r.it, r.err)
		default:
		}
		peer.Kill() // its session, and the lock node under taken/, live until the server expires it
		var r taken
		select {
		case r = <-ch:
		case <-time.After(recipetest.Wait):
			t.Fatalf("Take did not return within %v of kazoo's death", recipetest.Wait)
		}
		if r.err != nil || string(r.it.Data) != "orphan" || r.it.Priority != 7 {
			t.Fatalf("Take after kazoo died: %+v, %v; want the item kazoo held", r.it, r.err)
		}
		if err := r.it.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := q.Len(ctx); err != nil || n != 0 {
			t.Fatalf("Len after Ack: %d, %v; want 0", n, err)
		}
	})

	t.Run("WeHoldKazooWaits", func(t *testing.T) {
		s, peer := kazooSide(t)
		ctx := recipetest.Ctx(t)
		q := interopQueue(t, s)
		if _, err := q.Put(ctx, []byte("shared")); err != nil {
			t.Fatal(err)
		}
		it := interopTake(t, q)
		kazooGetsNothing(t, peer, "while our consumer holds the only item")
		if err := it.Nack(ctx); err != nil {
			t.Fatal(err)
		}
		kazooGets(t, peer, "shared")
		if it2, err := q.TryTake(ctx); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("TryTake while kazoo holds the only item: %v, %v; want ErrEmpty", it2, err)
		}
		if ok, err := peer.QueueConsume(ctx, interopPath); err != nil || !ok {
			t.Fatalf("kazoo consume: %v, %v; want true", ok, err)
		}
		interopLens(t, q, peer, 0)
	})

	t.Run("NackAfterHoldsFromKazoo", func(t *testing.T) {
		const hold = 2 * time.Second
		s, peer := kazooSide(t)
		ctx := recipetest.Ctx(t)
		q := interopQueue(t, s)
		if _, err := q.Put(ctx, []byte("later")); err != nil {
			t.Fatal(err)
		}
		it := interopTake(t, q)
		nacked := time.Now()
		if err := it.Nack(ctx, queue.After(hold)); err != nil {
			t.Fatal(err)
		}
		// Only a zkrecipes consumer ends a hold: kazoo, alone, would see the
		// item taken for ever. A get inside the window finds nothing.
		kazooGetsNothing(t, peer, "while our Nack(After) holds the item")
		it = interopTake(t, q) // waits for the hold's end
		if waited := time.Since(nacked); waited < hold-10*time.Millisecond {
			t.Fatalf("Take got the item %v after Nack(After(%v))", waited, hold)
		}
		if string(it.Data) != "later" || it.Attempt != 2 {
			t.Fatalf("Take after the hold: data %q, attempt %d; want \"later\", 2", it.Data, it.Attempt)
		}
		if err := it.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		interopLens(t, q, peer, 0)
	})
}
