package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestOrder: priorities first (lower first), FIFO within a priority, and
// an item is delivered once. Broken on purpose by sorting on the sequence
// alone (cmpEntry ignoring prio): the order check failed.
func TestOrder(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		q := lay.queue(t, e.Session(t), "/q")
		puts := []struct {
			data string
			prio int
		}{{"a", 100}, {"b", 5}, {"c", 100}, {"d", 999}, {"e", 5}, {"f", 0}}
		for _, p := range puts {
			mustPut(t, q, p.data, Priority(p.prio))
		}
		if n, err := q.Len(ctxT(t)); err != nil || n != len(puts) {
			t.Fatalf("Len = %d, %v; want %d", n, err, len(puts))
		}
		var got []string
		for range puts {
			it := mustTake(t, q)
			if it.Attempt != 1 {
				t.Errorf("%s: attempt %d, want 1", it.Data, it.Attempt)
			}
			got = append(got, string(it.Data))
			mustAck(t, it)
		}
		if want := []string{"f", "b", "e", "a", "c", "d"}; !slices.Equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		if _, err := q.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
			t.Fatalf("TryTake on an empty queue: %v, want ErrEmpty", err)
		}
		if n, err := q.Len(ctxT(t)); err != nil || n != 0 {
			t.Fatalf("Len after draining = %d, %v", n, err)
		}
	})
}

// TestTakeWaitsForPut: a blocked Take returns the item put after it
// started, and its waiter node is gone afterwards.
func TestTakeWaitsForPut(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		s := e.Session(t)
		q := lay.queue(t, s, "/q")
		got := make(chan *Item, 1)
		errc := make(chan error, 1)
		go func() {
			it, err := q.Take(ctxT(t))
			errc <- err
			got <- it
		}()
		eventually(t, "the consumer waits", func() bool { return len(recipetest.Children(t, s, "/q/waiters")) == 1 })
		mustPut(t, lay.queue(t, e.Session(t), "/q"), "late")
		if err := <-errc; err != nil {
			t.Fatalf("Take: %v", err)
		}
		it := <-got
		if string(it.Data) != "late" {
			t.Fatalf("took %q", it.Data)
		}
		mustAck(t, it)
		if w := recipetest.Children(t, s, "/q/waiters"); len(w) != 0 {
			t.Fatalf("waiters left: %v", w)
		}
	})
}

// TestCancelledTakeClaimsNothing: a Take whose ctx ends while it waits
// returns the context's error and leaves no claim and no waiter.
func TestCancelledTakeClaimsNothing(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		q := newQueue(t, s, "/q")
		ctx, cancel := context.WithCancel(ctxT(t))
		errc := make(chan error, 1)
		go func() { _, err := q.Take(ctx); errc <- err }()
		eventually(t, "the consumer waits", func() bool { return len(recipetest.Children(t, s, "/q/waiters")) == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Take after cancel: %v", err)
		}
		// The waiter node may have been seen before its create's reply
		// reached the consumer: Join then returns at the cancel and the
		// node is removed in the background (contender.Join). So: soon.
		eventually(t, "no waiter left", func() bool { return len(recipetest.Children(t, s, "/q/waiters")) == 0 })
		if tk := recipetest.Children(t, s, "/q/taken"); len(tk) != 0 {
			t.Fatalf("claims left: %v", tk)
		}
	})
}

// TestSessionLossRedelivers: an item whose consumer's session ends goes
// back to the queue; the next consumer gets it with attempt 2 and a larger
// fencing token, and the first consumer's Ack fails with ErrLost and
// leaves the item in place. Broken on purpose by a claim that checks the
// entry instead of setting it again (its version no longer counts claims):
// the redelivery came with attempt 1.
func TestSessionLossRedelivers(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		s1 := e.Session(t)
		q1 := lay.queue(t, s1, "/q")
		mustPut(t, q1, "job")
		it1 := mustTake(t, q1)
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, it1.Done(), "the lost item's Done")
		if !errors.Is(it1.Err(), ErrLost) {
			t.Fatalf("Err of the lost item: %v, want ErrLost", it1.Err())
		}
		q2 := lay.queue(t, e.Session(t), "/q")
		it2 := mustTake(t, q2)
		if string(it2.Data) != "job" || it2.Attempt != 2 || it2.Token() <= it1.Token() {
			t.Fatalf("redelivered %q attempt %d token %d (first token %d)", it2.Data, it2.Attempt, it2.Token(), it1.Token())
		}
		if err := it1.Ack(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Fatalf("Ack of the lost item: %v, want ErrLost", err)
		}
		mustAck(t, it2)
		if n, _ := q2.Len(ctxT(t)); n != 0 {
			t.Fatalf("Len after ack = %d", n)
		}
	})
}

// TestStaleAckFenced: a consumer whose claim was taken over (its claim
// node deleted by hand and the item claimed again by another consumer
// while its session lives) cannot Ack or Guard: the entry's version moved
// on. Broken on purpose with unfenced = true: the stale Ack removed the
// item the second consumer was working on and this test failed.
func TestStaleAckFenced(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		s1 := e.Session(t)
		q1 := lay.queue(t, s1, "/q", WithLossPolicy(OnLost))
		mustPut(t, q1, "job")
		it1 := mustTake(t, q1)
		admin := e.Session(t)
		if err := admin.Delete(ctxT(t), "/q/taken/"+it1.Name(), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		q2 := lay.queue(t, e.Session(t), "/q")
		it2 := mustTake(t, q2)
		if it2.Name() != it1.Name() || it2.Attempt != 2 {
			t.Fatalf("second claim %s attempt %d", it2.Name(), it2.Attempt)
		}
		// The token is the claim node's create token.
		if st, err := admin.Exists(ctxT(t), "/q/taken/"+it2.Name()); err != nil || st == nil || st.CreateToken != it2.Token() {
			t.Fatalf("claim node %+v, %v; token %d", st, err, it2.Token())
		}
		// The first consumer's monitor may not have seen the deletion yet;
		// the fence must hold either way.
		if _, err := it1.Guard(ctxT(t), backend.CreateOp{Path: "/effect-1", Mode: backend.Persistent}); !errors.Is(err, ErrLost) {
			t.Fatalf("stale Guard: %v, want ErrLost", err)
		}
		if err := it1.Ack(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Fatalf("stale Ack: %v, want ErrLost", err)
		}
		if st, _ := admin.Exists(ctxT(t), "/effect-1"); st != nil {
			t.Fatal("the stale guarded write landed")
		}
		if _, err := it2.Guard(ctxT(t), backend.CreateOp{Path: "/effect-2", Mode: backend.Persistent}); err != nil {
			t.Fatalf("Guard of the live claim: %v", err)
		}
		mustAck(t, it2)
	})
}

// TestNack: a Nack gives the item back in its place (attempt 2); a Nack
// with After holds it from every consumer until due, then it comes back;
// with MaxAttempts the last Nack moves it to the dead letters with its
// history.
func TestNack(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		q := lay.queue(t, e.Session(t), "/q", MaxAttempts(3))
		mustPut(t, q, "first")
		mustPut(t, q, "second")
		it := mustTake(t, q)
		if err := it.Nack(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		it = mustTake(t, q)
		if string(it.Data) != "first" || it.Attempt != 2 {
			t.Fatalf("after Nack: %q attempt %d, want first attempt 2", it.Data, it.Attempt)
		}
		held := time.Now()
		if err := it.Nack(ctxT(t), After(time.Second)); err != nil {
			t.Fatal(err)
		}
		other := mustTake(t, q)
		if string(other.Data) != "second" {
			t.Fatalf("while first is held: took %q", other.Data)
		}
		mustAck(t, other)
		infos, err := q.List(ctxT(t))
		if err != nil || len(infos) != 1 || infos[0].State != Held {
			t.Fatalf("List while held: %+v, %v", infos, err)
		}
		it = mustTake(t, q)
		if string(it.Data) != "first" || it.Attempt != 3 {
			t.Fatalf("after the hold: %q attempt %d", it.Data, it.Attempt)
		}
		if d := time.Since(held); d < time.Second {
			t.Fatalf("held item came back after %v, before its second", d)
		}
		if err := it.Nack(ctxT(t), Reason("boom")); err != nil {
			t.Fatal(err)
		}
		if _, err := q.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
			t.Fatalf("after the last attempt: %v, want ErrEmpty", err)
		}
		dl, err := q.DeadLetters(ctxT(t))
		if err != nil || len(dl) != 1 {
			t.Fatalf("dead letters: %+v, %v", dl, err)
		}
		if d := dl[0]; string(d.Data) != "first" || d.Attempts != 3 || d.Reason != "boom" || d.Consumer != q.ConsumerID() {
			t.Fatalf("dead letter %+v", d)
		}
	})
}

// TestMaxAttemptsLostConsumers: an item whose consumers keep being lost
// holding it is retired to the dead letters instead of being delivered
// again. Broken on purpose by dropping the check in claim: the fourth
// Take returned the item.
func TestMaxAttemptsLostConsumers(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		mustPut(t, lay.queue(t, e.Session(t), "/q"), "poison")
		for i := 1; i <= 2; i++ {
			s := e.Session(t)
			it := mustTake(t, lay.queue(t, s, "/q", MaxAttempts(2)))
			if it.Attempt != i {
				t.Fatalf("attempt %d, want %d", it.Attempt, i)
			}
			_ = s.Close()
		}
		q := lay.queue(t, e.Session(t), "/q", MaxAttempts(2))
		eventually(t, "the item retired", func() bool {
			_, err := q.TryTake(ctxT(t))
			dl, _ := q.DeadLetters(ctxT(t))
			return errors.Is(err, ErrEmpty) && len(dl) == 1
		})
	})
}

// TestDelay: a delayed item stays invisible until due (by the producer's
// clock), then comes before later items of its priority that were put
// after it became due. A producer whose clock runs ahead by the delay
// makes the item due at once: the skew shifts delivery one for one.
func TestDelay(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		q := lay.queue(t, e.Session(t), "/q")
		start := time.Now()
		id := mustPut(t, q, "later", Delay(1500*time.Millisecond))
		mustPut(t, q, "now")
		if it := mustTake(t, q); string(it.Data) != "now" {
			t.Fatalf("took %q first", it.Data)
		} else {
			mustAck(t, it)
		}
		if _, err := q.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
			t.Fatalf("before due: %v", err)
		}
		it := mustTake(t, q)
		if string(it.Data) != "later" || it.ID != id {
			t.Fatalf("took %q id %s, want later id %s", it.Data, it.ID, id)
		}
		if d := time.Since(start); d < 1500*time.Millisecond {
			t.Fatalf("delayed item delivered after %v", d)
		}
		mustAck(t, it)

		ahead := lay.queue(t, e.Session(t), "/q", WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
		mustPut(t, ahead, "skewed", Delay(time.Hour))
		skewStart := time.Now()
		if it := mustTake(t, q); string(it.Data) != "skewed" {
			t.Fatalf("took %q", it.Data)
		} else {
			mustAck(t, it)
		}
		t.Logf("%s: an item delayed 1 h by a producer 1 h behind came after %v", e.Backend.Name, time.Since(skewStart).Round(time.Millisecond))
	})
}

// TestBadInput: bad arguments are typed errors and write nothing.
func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		q := newQueue(t, s, "/q")
		ctx := ctxT(t)
		big := make([]byte, s.Capabilities().MaxDataSize+1)
		cases := []struct {
			name string
			err  error
			put  func() error
		}{
			{"priority 1000", ErrBadPriority, func() error { _, err := q.Put(ctx, nil, Priority(1000)); return err }},
			{"priority -1", ErrBadPriority, func() error { _, err := q.Put(ctx, nil, Priority(-1)); return err }},
			{"negative delay", ErrBadDelay, func() error { _, err := q.Put(ctx, nil, Delay(-time.Second)); return err }},
			{"due in the past", ErrBadDelay, func() error { _, err := q.Put(ctx, nil, At(time.Now().Add(-time.Minute))); return err }},
			{"id with a slash", ErrBadID, func() error { _, err := q.Put(ctx, nil, WithID("a/b")); return err }},
			{"empty id", ErrBadID, func() error { _, err := q.Put(ctx, nil, WithID("")); return err }},
			{"too large", backend.ErrTooLarge, func() error { _, err := q.Put(ctx, big); return err }},
			{"PutAll with an id", ErrBadID, func() error { _, err := q.PutAll(ctx, [][]byte{nil}, WithID("x")); return err }},
			{"cancelled", context.Canceled, func() error {
				c, cancel := context.WithCancel(ctx)
				cancel()
				_, err := q.Put(c, []byte("x"))
				return err
			}},
		}
		for _, c := range cases {
			if err := c.put(); !errors.Is(err, c.err) {
				t.Errorf("%s: %v, want %v", c.name, err, c.err)
			}
		}
		if n, err := q.Len(ctx); err != nil || n != 0 {
			t.Fatalf("Len after bad puts = %d, %v", n, err)
		}
		if _, err := New(s, "no-slash"); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("New with a bad path: %v", err)
		}
		if _, err := New(s, "/q", MaxAttempts(-1)); !errors.Is(err, ErrBadOption) {
			t.Errorf("MaxAttempts(-1): %v", err)
		}
		_ = q.Close()
		if _, err := q.Put(ctx, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close: %v", err)
		}
	})
}

// TestIDsAndRemove: WithID ids survive delay and Remove finds items by id
// (or node name) in every state.
func TestIDsAndRemove(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		q := lay.queue(t, e.Session(t), "/q")
		mustPut(t, q, "x", WithID("order-17"))
		mustPut(t, q, "y", WithID("order-18"), Delay(time.Hour))
		plain := mustPut(t, q, "z")
		if !strings.Contains(plain, "entry-100-") {
			t.Fatalf("plain id %q", plain)
		}
		for _, id := range []string{"order-17", "order-18", plain} {
			if n, err := q.Remove(ctxT(t), id); err != nil || n != 1 {
				t.Fatalf("Remove(%s) = %d, %v", id, n, err)
			}
		}
		if _, err := q.Remove(ctxT(t), "order-17"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Remove twice: %v", err)
		}
		if n, _ := q.Len(ctxT(t)); n != 0 {
			t.Fatalf("Len = %d", n)
		}
	})
}

// TestPutAll: all or nothing, in order.
func TestPutAll(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		q := lay.queue(t, e.Session(t), "/q")
		var data [][]byte
		for i := range 10 {
			data = append(data, fmt.Appendf(nil, "%d", i))
		}
		ids, err := q.PutAll(ctxT(t), data, Priority(7))
		if err != nil || len(ids) != 10 {
			t.Fatalf("PutAll: %v, %v", ids, err)
		}
		for i := range 10 {
			it := mustTake(t, q)
			if string(it.Data) != fmt.Sprint(i) || it.Priority != 7 {
				t.Fatalf("item %d: %q prio %d", i, it.Data, it.Priority)
			}
			mustAck(t, it)
		}
		// Over the backend's limit (etcd: 128 operations; ZooKeeper: the
		// request size): nothing written.
		big := make([][]byte, 200)
		for i := range big {
			big[i] = make([]byte, 8<<10)
		}
		if _, err := q.PutAll(ctxT(t), big); !errors.Is(err, backend.ErrTooLarge) {
			t.Fatalf("PutAll over the limit: %v", err)
		}
		if n, _ := q.Len(ctxT(t)); n != 0 {
			t.Fatalf("Len after a refused PutAll = %d", n)
		}
	})
}

// TestNoHerd: with several consumers waiting, one put wakes only the first
// waiter: the others wait on their predecessors among the waiters, not on
// the directories, so at most one consumer waits on the directories'
// watches at any time. Broken on purpose by having every waiter act as the
// first (skipping contender.Wait in Take): five waited there at once.
func TestNoHerd(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const consumers = 5
		admin := e.Session(t)
		p := newQueue(t, admin, "/q")
		if _, err := p.Len(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		type res struct {
			it  *Item
			err error
		}
		results := make(chan res, consumers)
		for range consumers {
			q := newQueue(t, e.Session(t), "/q")
			go func() {
				it, err := q.Take(ctxT(t))
				results <- res{it, err}
			}()
		}
		eventually(t, "all consumers wait", func() bool { return len(recipetest.Children(t, admin, "/q/waiters")) == consumers })
		eventually(t, "the first waiter watches", func() bool { return headsWaiting.Load() == 1 })
		maxHeadsWaiting.Store(0)
		before := cversion(t, admin, "/q/waiters")
		mustPut(t, p, "one")
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		mustAck(t, r.it)
		// Exactly the taker left the waiters: one deletion.
		eventually(t, "one waiter left", func() bool { return len(recipetest.Children(t, admin, "/q/waiters")) == consumers-1 })
		if d := cversion(t, admin, "/q/waiters") - before; d != 1 {
			t.Fatalf("waiters changed %d times for one put, want 1 (the taker leaving)", d)
		}
		for i := range consumers - 1 {
			mustPut(t, p, fmt.Sprint(i))
		}
		for range consumers - 1 {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			mustAck(t, r.it)
		}
		if m := maxHeadsWaiting.Load(); m > 1 {
			t.Fatalf("%d consumers watched the directories at once, want 1", m)
		}
	})
}

func cversion(t testing.TB, s backend.Session, p string) int32 {
	t.Helper()
	st, err := s.Exists(ctxT(t), p)
	if err != nil || st == nil {
		t.Fatalf("Exists(%s): %v, %v", p, st, err)
	}
	return st.CVersion
}

// TestTakeAcrossDisconnection: a Take started while the connection is cut
// outlives the cut (shorter than the session timeout) and takes the item
// put after the connection came back. Broken on purpose by returning the
// connection loss from Take instead of waiting it out, it still passed:
// the backend's own retries (30 s by default) wait out a cut shorter than
// the session, so Take's wait for the connection is reached only under a
// shorter backend.RetryPolicy. What this test guards is the behaviour, not
// that branch.
func TestTakeAcrossDisconnection(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 8*time.Second)
		q := newQueue(t, s, "/q", WithLossPolicy(OnLost))
		if err := q.ensure(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		admin := e.Session(t)
		type res struct {
			it  *Item
			err error
		}
		results := make(chan res, 1)
		proxy.Cut()
		if _, err := backend.WaitState(ctxT(t), s, backend.Suspended); err != nil {
			t.Fatal(err)
		}
		// The Take starts while the connection is down: its first looks fail.
		go func() {
			it, err := q.Take(ctxT(t))
			results <- res{it, err}
		}()
		proxy.Heal()
		if _, err := backend.WaitState(ctxT(t), s, backend.Connected, backend.Reconnected); err != nil {
			t.Fatal(err)
		}
		mustPut(t, newQueue(t, admin, "/q"), "after")
		r := <-results
		if r.err != nil {
			t.Fatalf("Take across the cut: %v", r.err)
		}
		if string(r.it.Data) != "after" {
			t.Fatalf("took %q", r.it.Data)
		}
		mustAck(t, r.it)
	})
}

// TestOrphanWaiterRemoved: a Take cancelled while its connection stalls
// cannot delete its waiter node within the clean-up bound; the node would
// stand at the head of the waiters for the session's lifetime, with every
// waiting consumer behind it. It is deleted in the background once the
// connection is back. Broken on purpose by orphan doing nothing: the
// waiter node stayed.
func TestOrphanWaiterRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out the clean-up bound")
	}
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 40*time.Second)
		q := newQueue(t, s, "/q", WithLossPolicy(OnLost))
		admin := e.Session(t)
		ctx, cancel := context.WithCancel(ctxT(t))
		errc := make(chan error, 1)
		go func() { _, err := q.Take(ctx); errc <- err }()
		eventually(t, "the consumer waits", func() bool { return len(recipetest.Children(t, admin, "/q/waiters")) == 1 })
		proxy.Stall()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Take: %v", err)
		}
		proxy.Heal()
		eventually(t, "the orphaned waiter deleted", func() bool { return len(recipetest.Children(t, admin, "/q/waiters")) == 0 })
	})
}
