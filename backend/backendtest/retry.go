package backendtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// proxied opens a session whose connection runs through a fault proxy.
func (h *harness) proxied(t *testing.T, timeout time.Duration) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	return h.proxiedWith(t, Options{SessionTimeout: timeout})
}

// proxiedWith opens a session with o whose connection runs through a fault
// proxy (o.Endpoints is replaced).
func (h *harness) proxiedWith(t *testing.T, o Options) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	proxy, err := faultnet.NewProxy(h.cfg.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	o.Endpoints = []string{proxy.Addr()}
	return sessionOf(t, h.clientWith(t, o)), proxy
}

type result struct {
	data []byte
	err  error
}

// testRetryReadAcrossCut: a read issued while the connection is cut
// succeeds once the cut heals, without the caller retrying.
func testRetryReadAcrossCut(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	mustCreate(t, s, "/n", []byte("v"), backend.Persistent)
	states := s.StateChanges(ctx(t))
	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	done := make(chan result, 1)
	go func() {
		data, _, err := s.Get(ctx(t), "/n")
		done <- result{data, err}
	}()
	proxy.Heal()
	select {
	case r := <-done:
		if r.err != nil || string(r.data) != "v" {
			t.Fatalf("read across a cut = %q, %v; want v", r.data, r.err)
		}
	case <-time.After(wait):
		t.Fatal("read across a healed cut did not return")
	}
}

// loseReply runs write while the proxy drops replies, waits until observe
// says the write landed, then resets the connection and heals it.
func loseReply(t *testing.T, proxy *faultnet.Proxy, write func() error, landed func() bool) error {
	t.Helper()
	proxy.DropReplies()
	done := make(chan error, 1)
	go func() { done <- write() }()
	deadline := time.Now().Add(wait)
	for !landed() {
		if time.Now().After(deadline) {
			t.Fatal("the write never landed on the server")
		}
		select {
		case err := <-done:
			t.Fatalf("the write returned (%v) while its reply was being dropped", err)
		default:
		}
		pause(t, 5*time.Millisecond)
	}
	proxy.Reset()
	proxy.Heal()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatal("the write did not return after its connection was reset")
	}
	return nil
}

// pause waits a little between polls of state another session can see.
// Polling is what a test of a lost reply needs: nothing else signals it.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	<-timer.C
}

// countingPolicy is the default retry policy, counting how often a call
// asked it for a retry; retried is closed at the first ask.
type countingPolicy struct {
	asked   atomic.Int32
	once    sync.Once
	retried chan struct{}
}

func newCountingPolicy() *countingPolicy { return &countingPolicy{retried: make(chan struct{})} }

// Next implements backend.RetryPolicy.
func (p *countingPolicy) Next(attempt int, elapsed time.Duration) (time.Duration, bool) {
	p.asked.Add(1)
	p.once.Do(func() { close(p.retried) })
	return backend.DefaultRetryPolicy.Next(attempt, elapsed)
}

// lostReply is one write of testLostReplies, made in a directory of its own.
type lostReply struct {
	name   string
	setup  func(t *testing.T, s backend.Session, dir string)
	write  func(ctx context.Context, s backend.Session, dir string) error
	landed func(t *testing.T, s backend.Session, dir string) bool
	once   func(t *testing.T, s backend.Session, dir string) // the write was applied once
	// retried: a versioned write, which the wrapper retries; raw: made on
	// the session under the wrapper, which never retries.
	retried, raw bool
	// grace: the write reads before it writes on some backend (etcd's
	// Multi), so its reply lost is the read's and it never lands: after
	// the grace the connection is reset anyway, and the write must fail
	// having been applied at most once.
	grace bool
}

// multiGrace is how long a Multi's write may take to land before its
// connection is reset anyway. If it was not even sent by then (a stalled
// machine), it succeeds after the reset without the policy being asked:
// the case is then inconclusive and skipped, never failed.
const multiGrace = 500 * time.Millisecond

// testLostReplies loses the reply of a write the server applied (the proxy
// drops replies, then resets the connection), for each class of write the
// retry wrapper tells apart, through a client whose policy counts retries:
//
//   - a create, a Multi and a set or delete with AnyVersion are never
//     repeated: the policy is never asked, the caller gets ErrOutcomeUnknown
//     (which also matches ErrConnectionLoss), and the write was applied once;
//   - a versioned set or delete is retried; the retry meets the change its
//     own first try made, and the caller gets ErrOutcomeUnknown, not
//     ErrBadVersion or ErrNoNode;
//   - the session under the wrapper (backend.Unwrap) never retries: the
//     caller gets the plain connection loss, not ErrOutcomeUnknown.
//
// Every one of these errors keeps the driver's error in its chain.
//
// Broken on purpose to see it fail: retrying Create in backend.Retrying
// (the sequential create is made twice and succeeds); retrying Multi (a
// second sequential child); sending AnyVersion deletes through the
// versioned path (the policy is asked); returning a conflict after a retry
// as it is (ErrBadVersion, ErrNoNode); Unwrap returning the wrapper (it is
// the session it was given, and the unwrapped set reports
// ErrOutcomeUnknown); conflictAfterRetry leaving the first try's error out
// of the chain, as it did before this test (no driver error).
func testLostReplies(t *testing.T, h *harness) {
	observer := h.session(t)
	u := backend.Unwrap(observer)
	if u == observer || backend.Unwrap(u) != u || u.ID() != observer.ID() {
		t.Fatalf("Unwrap(%T) = %T (id %d, session %d): want the session under the client's retry wrapper, which Unwrap leaves as it is",
			observer, u, u.ID(), observer.ID())
	}
	kids := func(t *testing.T, s backend.Session, dir string) []string {
		t.Helper()
		k, _, err := s.Children(ctx(t), dir)
		if err != nil {
			t.Fatalf("Children(%s): %v", dir, err)
		}
		return k
	}
	version := func(t *testing.T, s backend.Session, p string) int32 {
		t.Helper()
		_, st, err := s.Get(ctx(t), p)
		if err != nil {
			t.Fatalf("Get(%s): %v", p, err)
		}
		return st.Version
	}
	node := func(t *testing.T, s backend.Session, dir string) {
		mustCreate(t, s, dir, []byte("old"), backend.Persistent)
	}
	gone := func(t *testing.T, s backend.Session, dir string) bool { return !exists(t, s, dir) }
	setOnce := func(t *testing.T, s backend.Session, dir string) {
		t.Helper()
		data, st, err := s.Get(ctx(t), dir)
		if err != nil || string(data) != "new" || st.Version != 1 {
			t.Fatalf("after the lost reply %s holds %q at version %d (%v); want the set applied exactly once", dir, data, st.Version, err)
		}
	}
	cases := []lostReply{
		{
			name:  "create",
			setup: node,
			write: func(c context.Context, s backend.Session, dir string) error {
				_, err := s.Create(c, dir+"/n-", nil, backend.PersistentSequential)
				return err
			},
			landed: func(t *testing.T, s backend.Session, dir string) bool { return len(kids(t, s, dir)) > 0 },
			once: func(t *testing.T, s backend.Session, dir string) {
				if k := kids(t, s, dir); len(k) != 1 {
					t.Fatalf("after the lost reply %s holds %q; want the create made exactly once", dir, k)
				}
			},
		},
		{
			name: "multi",
			setup: func(t *testing.T, s backend.Session, dir string) {
				node(t, s, dir)
				node(t, s, dir+"/v")
			},
			write: func(c context.Context, s backend.Session, dir string) error {
				_, err := s.Multi(c,
					backend.CreateOp{Path: dir + "/n-", Mode: backend.PersistentSequential},
					backend.SetOp{Path: dir + "/v", Data: []byte("new"), Version: backend.AnyVersion})
				return err
			},
			landed: func(t *testing.T, s backend.Session, dir string) bool { return version(t, s, dir+"/v") > 0 },
			once: func(t *testing.T, s backend.Session, dir string) {
				if k := kids(t, s, dir); len(k) == 1 && version(t, s, dir+"/v") == 0 {
					return // never landed: etcd's Multi lost the reply to its read
				}
				setOnce(t, s, dir+"/v")
				if k := kids(t, s, dir); len(k) != 2 {
					t.Fatalf("after the lost reply %s holds %q; want v and one sequential child", dir, k)
				}
			},
			grace: true,
		},
		{
			name:  "set-any-version",
			setup: node,
			write: func(c context.Context, s backend.Session, dir string) error {
				_, err := s.Set(c, dir, []byte("new"), backend.AnyVersion)
				return err
			},
			landed: func(t *testing.T, s backend.Session, dir string) bool { return version(t, s, dir) > 0 },
			once:   setOnce,
		},
		{
			name:  "delete-any-version",
			setup: node,
			write: func(c context.Context, s backend.Session, dir string) error {
				return s.Delete(c, dir, backend.AnyVersion)
			},
			landed: gone,
			once:   func(*testing.T, backend.Session, string) {},
		},
		{
			name:  "set-versioned",
			setup: node,
			write: func(c context.Context, s backend.Session, dir string) error {
				_, err := s.Set(c, dir, []byte("new"), 0)
				return err
			},
			landed:  func(t *testing.T, s backend.Session, dir string) bool { return version(t, s, dir) > 0 },
			once:    setOnce,
			retried: true,
		},
		{
			name:    "delete-versioned",
			setup:   node,
			write:   func(c context.Context, s backend.Session, dir string) error { return s.Delete(c, dir, 0) },
			landed:  gone,
			once:    func(*testing.T, backend.Session, string) {},
			retried: true,
		},
		{
			name:  "unwrapped-set",
			setup: node,
			write: func(c context.Context, s backend.Session, dir string) error {
				_, err := backend.Unwrap(s).Set(c, dir, []byte("new"), 0)
				return err
			},
			landed: func(t *testing.T, s backend.Session, dir string) bool { return version(t, s, dir) > 0 },
			once:   setOnce,
			raw:    true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			policy := newCountingPolicy()
			s, proxy := h.proxiedWith(t, Options{SessionTimeout: 10 * time.Second, RetryPolicy: policy})
			dir := "/" + c.name
			c.setup(t, observer, dir)
			start := time.Now()
			err := loseReply(t, proxy,
				func() error { return c.write(ctx(t), s, dir) },
				func() bool {
					return c.landed(t, observer, dir) || c.grace && time.Since(start) > multiGrace
				})
			if err == nil && c.grace && policy.asked.Load() == 0 {
				t.Skipf("the write was not sent within %v, so its connection was reset before it: inconclusive", multiGrace)
			}
			if c.raw {
				if !errors.Is(err, backend.ErrConnectionLoss) || errors.Is(err, backend.ErrOutcomeUnknown) || errors.Is(err, backend.ErrBadVersion) {
					t.Fatalf("lost reply on the unwrapped session: %v; want the plain ErrConnectionLoss of a session that never retries", err)
				}
			} else if !errors.Is(err, backend.ErrOutcomeUnknown) || !errors.Is(err, backend.ErrConnectionLoss) ||
				errors.Is(err, backend.ErrBadVersion) || errors.Is(err, backend.ErrNoNode) {
				t.Fatalf("lost reply: %v; want ErrOutcomeUnknown and ErrConnectionLoss, and no conflict", err)
			}
			if asked := policy.asked.Load(); (asked > 0) != c.retried {
				t.Fatalf("the retry policy was asked %d times; want it asked: %v", asked, c.retried)
			}
			if !h.cfg.DriverError(err) {
				t.Fatalf("lost reply: %v: the driver's error is not in the chain %s", err, chain(err))
			}
			c.once(t, observer, dir)
			if s.State().Final() {
				t.Fatalf("session ended (%v) by a lost reply", s.State())
			}
		})
	}
}

// testVersionedWriteAcrossCut: a versioned set issued while the connection
// is cut succeeds once the cut heals, applied once, without the caller
// retrying. On ZooKeeper the call fails while cut (the driver gives up on
// queued requests each time it fails to reconnect), so the test heals only
// once the client's policy was asked: the write is retried. etcd's calls
// wait for a connection instead; after a short wait for a retry that does
// not come there, the test heals anyway (the wait orders nothing: either
// way the write must succeed once).
//
// Broken on purpose to see it fail: backend.Retrying sending versioned sets
// through the AnyVersion path (on ZooKeeper the caller gets
// ErrOutcomeUnknown).
func testVersionedWriteAcrossCut(t *testing.T, h *harness) {
	policy := newCountingPolicy()
	s, proxy := h.proxiedWith(t, Options{SessionTimeout: 10 * time.Second, RetryPolicy: policy})
	mustCreate(t, s, "/n", []byte("old"), backend.Persistent)
	proxy.Cut()
	done := make(chan error, 1)
	go func() {
		_, err := s.Set(ctx(t), "/n", []byte("new"), 0)
		done <- err
	}()
	select {
	case <-policy.retried:
	case err := <-done:
		t.Fatalf("a versioned set returned (%v) while the connection was cut", err)
	case <-time.After(2 * time.Second):
		// Not long enough for an etcd session to be lost: its
		// keep-alives have the session timeout (10 s) to get through.
		t.Log("no retry while cut: the backend's calls wait for a connection")
	}
	proxy.Heal()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("versioned set across a cut: %v (the policy was asked %d times)", err, policy.asked.Load())
		}
	case <-time.After(wait):
		t.Fatal("a versioned set across a healed cut did not return")
	}
	data, st, err := s.Get(ctx(t), "/n")
	if err != nil || string(data) != "new" || st.Version != 1 {
		t.Fatalf("after the cut /n holds %q at version %d (%v); want the set applied once", data, st.Version, err)
	}
}

// testCutLongerThanSession: a cut that outlasts the session timeout ends the
// session; a call waiting on it gets ErrSessionExpired and is not retried.
// Every subscriber of StateChanges sees the session Suspended before it is
// Lost, so a recipe stops trusting what it holds before the session ends;
// the slow subscriber, which reads only at the end, sees the same.
//
// Broken on purpose to see it fail: etcd's keep-alive loop skipping
// Suspended (its suspend made a no-op: the states are [lost]).
func testCutLongerThanSession(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 2*time.Second)
	observer := h.session(t)
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	subs := subscribe(t, s, 3)
	proxy.Pause()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Get(context.Background(), "/e")
		done <- err
	}()
	// The server expires the session; then the link heals.
	deadline := time.Now().Add(wait)
	for exists(t, observer, e) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not expire the cut session")
		}
		_, ch, err := observer.ExistsW(ctx(t), e)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
	}
	proxy.Heal()
	select {
	case err := <-done:
		if !errors.Is(err, backend.ErrSessionExpired) {
			t.Fatalf("call across an expiring cut: %v; want ErrSessionExpired", err)
		}
	case <-time.After(wait):
		t.Fatal("call across an expiring cut did not return")
	}
	waitDone(t, s, "after an expiring cut")
	if !errors.Is(s.Err(), backend.ErrSessionExpired) {
		t.Fatalf("session err %v", s.Err())
	}
	seen := sameStates(t, subs)
	if i := slices.Index(seen, backend.Suspended); i < 0 || i > slices.Index(seen, backend.Lost) {
		t.Fatalf("states %v: want suspended before lost", seen)
	}
}

// subscribe returns n subscriptions to s's state changes, made now.
func subscribe(t *testing.T, s backend.Session, n int) []<-chan backend.State {
	subs := make([]<-chan backend.State, n)
	for i := range subs {
		subs[i] = s.StateChanges(ctx(t))
	}
	return subs
}

// sameStates reads every subscription to its end (the channel closes after
// the session's final state) and checks that they all saw the same states,
// ending with a final one. It returns them.
func sameStates(t *testing.T, subs []<-chan backend.State) []backend.State {
	t.Helper()
	var first []backend.State
	for i, ch := range subs {
		var seen []backend.State
		deadline := time.After(wait)
	read:
		for {
			select {
			case st, ok := <-ch:
				if !ok {
					break read
				}
				seen = append(seen, st)
			case <-deadline:
				t.Fatalf("subscriber %d: channel not closed within %v; saw %v", i, wait, seen)
			}
		}
		if len(seen) == 0 || !seen[len(seen)-1].Final() {
			t.Fatalf("subscriber %d saw %v: want it to end with a final state", i, seen)
		}
		if i == 0 {
			first = seen
		} else if !slices.Equal(seen, first) {
			t.Fatalf("subscriber %d saw %v, subscriber 0 saw %v: want every change delivered to every subscriber", i, seen, first)
		}
	}
	return first
}

// testCancelStopsRetry: cancelling the context stops a retry loop at once.
func testCancelStopsRetry(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	states := s.StateChanges(ctx(t))
	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Get(c, "/")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: %v; want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("cancel did not stop the read")
	}
	proxy.Heal()
}
