package queue

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// replyTap is the dialer of a test's own client, for faults a proxy cannot aim:
// it recognises one request by a marker in its bytes (a node name, a
// claim's data) and then loses the reply to it, or calls a function as
// soon as it went out. A proxy sees bytes but not which request they
// carry, and a Take makes several reads before the write whose reply
// matters.
type replyTap struct {
	mu     sync.Mutex
	marker []byte        // nil: disarmed
	skip   int           // matching writes to let through first
	cut    bool          // lose the reply: the connection fails at its next read
	onSend func()        // called once the request went out
	sent   chan struct{} // closed once the request went out
}

// arm makes the nth write holding marker from now on (n from 1) the
// tapped request. With cut, the connection fails at the next read after
// it (so the reply, which comes only after the request, is lost; the
// client reconnects through the tap, disarmed). onSend, if not nil, is
// called once the request went out. The returned channel is closed then
// too.
func (d *replyTap) arm(marker string, nth int, cut bool, onSend func()) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marker, d.skip, d.cut, d.onSend, d.sent = []byte(marker), nth-1, cut, onSend, make(chan struct{})
	return d.sent
}

// multiWrite returns which of the requests of a Multi on the backend
// carrying a node's path is its write: an etcd Multi reads the nodes it
// checks in one transaction, then writes in a second (backend/etcd,
// multi.go); a ZooKeeper multi is one request.
func multiWrite(e *env) int {
	if e.Backend.Name == "etcd" {
		return 2
	}
	return 1
}

func (d *replyTap) wrap(c net.Conn) net.Conn { return &replyTapConn{Conn: c, d: d} }

type replyTapConn struct {
	net.Conn
	d      *replyTap
	doomed atomic.Bool
}

func (c *replyTapConn) Write(b []byte) (int, error) {
	d := c.d
	d.mu.Lock()
	hit := d.marker != nil && bytes.Contains(b, d.marker)
	if hit && d.skip > 0 {
		d.skip--
		hit = false
	}
	var onSend func()
	var sent chan struct{}
	if hit {
		onSend, sent = d.onSend, d.sent
		if d.cut {
			c.doomed.Store(true)
		}
		d.marker = nil
	}
	d.mu.Unlock()
	n, err := c.Conn.Write(b)
	if hit {
		if onSend != nil {
			onSend()
		}
		close(sent)
	}
	return n, err
}

func (c *replyTapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.doomed.Load() {
		_ = c.Conn.Close()
		return 0, errors.New("tap: the reply is lost")
	}
	return n, err
}

// tappedSession opens a session of e's backend whose connections go
// through d.
func tappedSession(t *testing.T, e *env, timeout time.Duration, d *replyTap) backend.Session {
	t.Helper()
	var c backend.Client
	switch e.Backend.Name {
	case "zk":
		zc, err := zk.New(zk.Config{Servers: e.Endpoints, Namespace: e.Namespace, SessionTimeout: timeout,
			Dialer: func(network, addr string, timeout time.Duration) (net.Conn, error) {
				conn, err := net.DialTimeout(network, addr, timeout)
				if err != nil {
					return nil, err
				}
				return d.wrap(conn), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { zc.Close() })
		c = zc
	case "etcd":
		ec, err := etcd.New(etcd.Config{Endpoints: e.Endpoints, Namespace: e.Namespace, SessionTimeout: timeout,
			DialContext: func(ctx context.Context, addr string) (net.Conn, error) {
				var nd net.Dialer
				conn, err := nd.DialContext(ctx, "tcp", addr)
				if err != nil {
					return nil, err
				}
				return d.wrap(conn), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ec.Close() })
		c = ec
	default:
		t.Fatalf("no backend %q", e.Backend.Name)
	}
	return e.SessionOf(t, c)
}

// faultSessionTimeout is the session timeout of the fault tests' proxied
// sessions: long enough that no fault here expires them.
const faultSessionTimeout = 10 * time.Second

// listIDs returns the ids of the queue's items, as List sees them.
func listIDs(t testing.TB, q *Queue) []string {
	t.Helper()
	var ids []string
	for _, i := range listItems(t, q) {
		ids = append(ids, i.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestPutReplyLost: a Put with an id whose reply is lost (the create
// landed, its reply was dropped, the connection reset) settles it
// again: it returns the id, and the queue holds exactly one item with it.
// Broken on purpose by making Put give up on a lost reply even with an id
// (createFindable not looking): Put failed with ErrUncertain. ZooKeeper
// only since a Put with an id became a transaction (with its marker): on
// etcd a transaction reads first, and a proxy that drops replies stops it
// at the read, before anything lands.
func TestPutReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		if e.Backend.Name == "etcd" {
			t.Skip("etcd: a dropped reply stops a transaction at its read, before it lands")
		}
		s, proxy := e.Proxied(t, faultSessionTimeout)
		q := newQueue(t, s, "/q")
		observer := newQueue(t, e.Session(t), "/q")
		mustPut(t, q, "before", WithID("before")) // the directories exist: the put is one create
		proxy.DropReplies()
		errc := make(chan error, 1)
		go func() {
			id, err := q.Put(ctxT(t), []byte("job"), WithID("job"))
			if err == nil && id != "job" {
				err = errors.New("id " + id)
			}
			errc <- err
		}()
		eventually(t, "the put landed", func() bool { return slices.Contains(listIDs(t, observer), "job") })
		select {
		case err := <-errc:
			t.Fatalf("Put returned (%v) while its reply was dropped", err)
		default:
		}
		proxy.Heal()
		proxy.Reset()
		if err := <-errc; err != nil {
			t.Fatalf("Put after a lost reply: %v", err)
		}
		if got, want := listIDs(t, observer), []string{"before", "job"}; !slices.Equal(got, want) {
			t.Fatalf("items %v, want %v", got, want)
		}
	})
}

// TestPutRequestLostIDInAnother: a Put with id "job-1" whose request is
// lost (blackholed: it never reached the server) must still put its item,
// though the queue holds an item "job-10" whose node name contains
// "job-1". Found failing on both backends (fixed by f886ad8) while Put
// looked for its node after a connection loss with
// backend.CreateWithGUID, which takes any child whose name contains the
// id (strings.Contains) for its own: it found job-10's node and returned
// "job-1", nil without creating anything, so the item was lost though Put
// said it was put (any id that is part of another item's node name was
// exposed: "1", "100", "job-1" beside "job-10"). Broken again on purpose
// by comparing ids by prefix: the same failure.
func TestPutRequestLostIDInAnother(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, faultSessionTimeout)
		q := newQueue(t, s, "/q")
		observer := newQueue(t, e.Session(t), "/q")
		mustPut(t, q, "ten", WithID("job-10"))
		proxy.Pause() // the create never reaches the server
		errc := make(chan error, 1)
		go func() {
			_, err := q.Put(ctxT(t), []byte("one"), WithID("job-1"))
			errc <- err
		}()
		// Let the client give the connection up, then heal: the Put learns
		// of a connection loss and looks for its node.
		if _, err := backend.WaitState(ctxT(t), s, backend.Suspended); err != nil {
			t.Fatal(err)
		}
		proxy.Heal()
		proxy.Reset()
		if err := <-errc; err != nil {
			t.Fatalf("Put after a lost request: %v", err)
		}
		if got, want := listIDs(t, observer), []string{"job-1", "job-10"}; !slices.Equal(got, want) {
			t.Fatalf("items %v after Put(job-1) returned ok, want %v: the lost-request search took job-10's node for job-1's", got, want)
		}
	})
}

// TestClaimReplyLost: the reply to a Take's claim (its transaction) is
// lost and the connection fails; the item is not lost: the Take returns it
// (the claim is found to be ours) or it is available again.
// Broken on purpose by making claim give up on a lost reply (return nil,
// nil, as if another consumer had it): the Take came back empty and the
// item stayed claimed by the live session, out of every consumer's reach.
func TestClaimReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		d := &replyTap{}
		s := tappedSession(t, e, faultSessionTimeout, d)
		q := newQueue(t, s, "/q", ConsumerID("tapped-consumer"), WithLossPolicy(OnLost))
		other := newQueue(t, e.Session(t), "/q")
		mustPut(t, other, "job")
		// The claim's create carries the consumer id as its data, and no
		// other request of this consumer does.
		sent := d.arm("tapped-consumer", 1, true, nil)
		it, err := q.TryTake(ctxT(t))
		select {
		case <-sent:
		default:
			t.Fatalf("TryTake (%v, %v) without the tapped claim", it, err)
		}
		if err != nil {
			t.Logf("TryTake after a lost claim reply: %v", err)
			var it2 *Item
			eventually(t, "the item is available again", func() bool {
				it2, err = other.TryTake(ctxT(t))
				return err == nil
			})
			mustAck(t, it2)
		} else {
			if string(it.Data) != "job" || it.Attempt != 1 {
				t.Fatalf("took %q attempt %d", it.Data, it.Attempt)
			}
			st, err := s.Exists(ctxT(t), "/q/taken/"+it.Name())
			if err != nil || st == nil || st.EphemeralOwner != s.ID() {
				t.Fatalf("claim of the taken item: %+v, %v", st, err)
			}
			if it2, err := other.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
				t.Fatalf("another consumer took %v (%v) while the item is ours", it2, err)
			}
			mustAck(t, it)
		}
		if n, err := other.Len(ctxT(t)); err != nil || n != 0 {
			t.Fatalf("Len = %d, %v after the ack", n, err)
		}
	})
}

// TestAckReplyLost: the reply to an Ack is lost (its transaction landed,
// then the connection failed before the reply was read): Ack returns nil,
// and the item is delivered again to no one, this consumer included.
// Broken on purpose by making landed always answer false (so the Ack is
// sent again): the second try met the fence and Ack returned ErrLost.
func TestAckReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		d := &replyTap{}
		s := tappedSession(t, e, faultSessionTimeout, d)
		q := newQueue(t, s, "/q", WithLossPolicy(OnLost))
		other := newQueue(t, e.Session(t), "/q")
		mustPut(t, other, "job")
		it := mustTake(t, q)
		sent := d.arm(it.Name(), multiWrite(e), true, nil)
		if err := it.Ack(ctxT(t)); err != nil {
			t.Fatalf("Ack after a lost reply: %v", err)
		}
		select {
		case <-sent:
		default:
			t.Fatal("Ack returned without the tapped request: nothing was tested")
		}
		for _, c := range []*Queue{q, other} {
			if it2, err := c.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
				t.Fatalf("the acknowledged item came back: %v, %v", it2, err)
			}
		}
		if n, err := other.Len(ctxT(t)); err != nil || n != 0 {
			t.Fatalf("Len = %d, %v after the ack", n, err)
		}
	})
}

// TestTakeCancelled: a blocked Take whose ctx ends leaves nothing claimed
// and no waiter, and the item put meanwhile is there for another consumer:
// when ctx ends just as the Take's claim went out (the claim is made, then
// given back), and when it ends while the Take's connection is stalled.
// Broken on purpose by skipping the Nack that gives back a claim made
// after ctx ended: DuringClaim found the claim left in taken/. Broken by
// skipping Take's Leave of the waiters: WhileStalled found the waiter left.
func TestTakeCancelled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		t.Run("DuringClaim", func(t *testing.T) {
			d := &replyTap{}
			s := tappedSession(t, e, faultSessionTimeout, d)
			observer := e.Session(t)
			q := newQueue(t, s, "/q1", ConsumerID("cancelled-consumer"))
			other := newQueue(t, observer, "/q1")
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			sent := d.arm("cancelled-consumer", 1, false, cancel)
			errc := make(chan error, 1)
			go func() {
				it, err := q.Take(ctx)
				if it != nil {
					err = errors.New("took " + string(it.Data))
				}
				errc <- err
			}()
			eventually(t, "the consumer waits", func() bool { return len(recipetest.Children(t, observer, "/q1/waiters")) == 1 })
			mustPut(t, other, "job")
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Take cancelled during its claim: %v, want context.Canceled", err)
			}
			select {
			case <-sent:
			default:
				t.Fatal("the Take ended before its claim went out: nothing was tested")
			}
			checkNothingClaimed(t, observer, other, "/q1")
		})
		t.Run("WhileStalled", func(t *testing.T) {
			s, proxy := e.Proxied(t, faultSessionTimeout)
			observer := e.Session(t)
			q := newQueue(t, s, "/q2")
			other := newQueue(t, observer, "/q2")
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				it, err := q.Take(ctx)
				if it != nil {
					err = errors.New("took " + string(it.Data))
				}
				errc <- err
			}()
			eventually(t, "the consumer waits", func() bool { return len(recipetest.Children(t, observer, "/q2/waiters")) == 1 })
			proxy.Stall()
			mustPut(t, other, "job") // the consumer's watch fires into the stall
			cancel()
			// Take does not return before its waiter's delete went through or
			// gave up (contender.CleanupTimeout): heal, so that it goes through.
			proxy.Heal()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Take cancelled while stalled: %v, want context.Canceled", err)
				}
			case <-time.After(wait):
				t.Fatalf("Take did not return within %v of its cancel and the heal", wait)
			}
			checkNothingClaimed(t, observer, other, "/q2")
		})
	})
}

// checkNothingClaimed checks that the queue at path has no claim and no
// waiter left (once the cancelled consumer's clean-up reached the server),
// and that other can take and acknowledge its one item "job".
func checkNothingClaimed(t *testing.T, observer backend.Session, other *Queue, path string) {
	t.Helper()
	eventually(t, "no waiter left", func() bool { return len(recipetest.Children(t, observer, path+"/waiters")) == 0 })
	if tk := recipetest.Children(t, observer, path+"/taken"); len(tk) != 0 {
		t.Fatalf("claims left: %v", tk)
	}
	it, err := other.TryTake(ctxT(t))
	if err != nil {
		t.Fatalf("the other consumer's TryTake: %v", err)
	}
	if string(it.Data) != "job" {
		t.Fatalf("the other consumer took %q", it.Data)
	}
	mustAck(t, it)
}

// pollUntil polls cond until it holds or d has passed, and reports whether it
// held.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		tm := time.NewTimer(5 * time.Millisecond)
		<-tm.C
	}
	return true
}

// TestSuspendedDuringFailedAck: under OnSuspend, a suspension of the
// session while an Ack is in flight, an Ack that then fails (its ctx ends
// before the connection is back), must close Item.Done: the claim can no
// longer be trusted, and the item is no longer being released.
//
// Found failing on both backends (fixed by be7ad30): the item's
// grant.Monitor ignored a loss while its holder released the node (Lose
// did nothing between BeginRelease and EndRelease), but its state watcher
// returned all the same after reporting the suspension, so after the
// failed Ack nothing watched the session's states and Done stayed open.
// The watcher's subscription to the states was never cancelled either:
// the statefeed goroutine feeding it blocked for good on the next state, a
// goroutine leak TestTotalQueue's workers met at exit.
//
// The monitor sees the suspension about when the test does; if it saw it
// only after the Ack ended, Done would close even with that bug and this
// test would pass. The test ends the Ack only once the client reconnects,
// long after the suspension, so that hardly happens.
func TestSuspendedDuringFailedAck(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, faultSessionTimeout)
		q := newQueue(t, s, "/q") // OnSuspend; its Close at cleanup frees what the test leaves
		other := newQueue(t, e.Session(t), "/q")
		for attempt := 1; ; attempt++ {
			mustPut(t, other, "job")
			it := mustTake(t, q)
			proxy.Cut()
			ctx, cancel := context.WithCancel(ctxT(t))
			errc := make(chan error, 1)
			go func() { errc <- it.Ack(ctx) }()
			if _, err := backend.WaitState(ctxT(t), s, backend.Suspended); err != nil {
				t.Fatal(err)
			}
			// The Ack keeps trying while cut off; end it once the client
			// has a connection again, before its next try can land.
			proxy.Heal()
			eventually(t, "the client connects again", func() bool { return proxy.Conns() > 0 })
			cancel()
			if err := <-errc; err == nil {
				// Its try landed first: nothing to see; again.
				if attempt == 3 {
					t.Fatal("the Ack landed in each of 3 runs: the test cannot make it fail")
				}
				continue
			}
			if _, err := backend.WaitState(ctxT(t), s, backend.Reconnected); err != nil {
				t.Fatal(err)
			}
			select {
			case <-it.Done():
				if !errors.Is(it.Err(), ErrLost) {
					t.Fatalf("Err after the suspension: %v, want ErrLost", it.Err())
				}
			case <-time.After(wait):
				t.Fatalf("Item.Done still open %v after a suspension under OnSuspend (during an Ack that failed)", wait)
			}
			return
		}
	})
}

// TestSuspendedClaimComesBack: under OnSuspend (the default) a consumer
// whose connection drops for a moment (its session survives) sees its
// item's Done close; it can no longer Ack or Nack it (ErrLost); the item
// must still come back to the queue, for another consumer, while the
// first consumer's session lives.
//
// Found failing on both backends (fixed by f886ad8) while Ack and Nack
// refused a claim the monitor gave up without deleting its claim node, and
// Close did the same: the claim node stayed as long as the consumer's
// session, so a moment's suspension took the item out of the queue for the
// consumer's lifetime.
func TestSuspendedClaimComesBack(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, faultSessionTimeout)
		q := newQueue(t, s, "/q")
		other := newQueue(t, e.Session(t), "/q")
		mustPut(t, other, "job")
		it := mustTake(t, q)
		proxy.Cut()
		recipetest.WaitClosed(t, it.Done(), "Done of an item whose connection was cut, under OnSuspend")
		proxy.Heal()
		if _, err := backend.WaitState(ctxT(t), s, backend.Reconnected); err != nil {
			t.Fatal(err)
		}
		if err := it.Nack(ctxT(t)); err != nil && !errors.Is(err, ErrLost) {
			t.Fatalf("Nack after the suspension: %v", err)
		}
		var it2 *Item
		if !pollUntil(wait, func() bool {
			var err error
			it2, err = other.TryTake(ctxT(t))
			if err != nil && !errors.Is(err, ErrEmpty) {
				t.Fatal(err)
			}
			return err == nil
		}) {
			t.Fatalf("the item is still claimed %v after its consumer's suspension, its session alive: claims %v",
				wait, recipetest.Children(t, s, "/q/taken"))
		}
		if string(it2.Data) != "job" {
			t.Fatalf("took %q", it2.Data)
		}
		mustAck(t, it2)
	})
}
