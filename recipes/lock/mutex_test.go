package lock

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

func TestNewRejects(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		tests := []struct {
			name string
			path string
			opts []Option
			want error
		}{
			{"relative path", "lock", nil, backend.ErrBadPath},
			{"trailing slash", "/lock/", nil, backend.ErrBadPath},
			{"empty path", "", nil, backend.ErrBadPath},
			{"bad policy", "/lock", []Option{WithLossPolicy(LossPolicy(9))}, nil},
			{"bad layout", "/lock", []Option{WithLayout(Layout(0))}, nil},
			{"nil logger", "/lock", []Option{WithLogger(nil)}, nil},
			{"data too large", "/lock", []Option{WithData(make([]byte, s.Capabilities().MaxDataSize+1))}, backend.ErrTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m, err := New(s, tt.path, tt.opts...)
				if err == nil {
					t.Fatalf("New = %v, nil; want an error", m)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("New: %v; want %v", err, tt.want)
				}
			})
		}
	})
}

// TestMutualExclusion: 16 contenders on 16 sessions, a few cycles each: no
// two holds overlap and tokens strictly increase in grant order.
func TestMutualExclusion(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const contenders, cycles = 16, 3
		type hold struct {
			start, end time.Time
			token      int64
		}
		var (
			mu     sync.Mutex
			holds  []hold
			inside atomic.Int32
			maxIn  atomic.Int32
			wg     sync.WaitGroup
			errs   = make(chan error, contenders)
		)
		mutexes := make([]*Mutex, contenders)
		for i := range mutexes {
			mutexes[i] = mustNew(t, e.Session(t), "/mx")
		}
		ctx := ctxT(t)
		for _, m := range mutexes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range cycles {
					l, err := m.Lock(ctx)
					if err != nil {
						errs <- err
						return
					}
					n := inside.Add(1)
					if n > maxIn.Load() {
						maxIn.Store(n)
					}
					h := hold{start: time.Now(), token: l.Token()}
					runtime.Gosched()
					inside.Add(-1)
					h.end = time.Now()
					mu.Lock()
					holds = append(holds, h)
					mu.Unlock()
					if err := l.Unlock(ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("contender: %v", err)
		}
		if got := maxIn.Load(); got != 1 {
			t.Fatalf("at most %d holders at once; want 1", got)
		}
		if len(holds) != contenders*cycles {
			t.Fatalf("%d grants; want %d", len(holds), contenders*cycles)
		}
		slices.SortFunc(holds, func(a, b hold) int { return a.start.Compare(b.start) })
		for i := 1; i < len(holds); i++ {
			if holds[i].start.Before(holds[i-1].end) {
				t.Fatalf("grant %d [%v, %v] overlaps grant %d ending %v", i, holds[i].start, holds[i].end, i-1, holds[i-1].end)
			}
			if holds[i].token <= holds[i-1].token {
				t.Fatalf("grant %d token %d after token %d; want strictly increasing", i, holds[i].token, holds[i-1].token)
			}
		}
	})
}

// TestFairness: waiters get the lock in the order they arrived.
func TestFairness(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const waiters = 5
		holder := mustNew(t, e.Session(t), "/fair")
		l := mustLock(t, holder)
		results := make([]<-chan lockResult, waiters)
		for i := range results {
			m := mustNew(t, e.Session(t), "/fair")
			results[i] = lockAsync(t, ctxT(t), m)
			eventually(t, "waiter queued", func() bool { return queueLen(t, holder) == i+2 })
		}
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		var prev int64
		for i, ch := range results {
			r := result(t, ch)
			if r.err != nil {
				t.Fatalf("waiter %d: %v", i, r.err)
			}
			// Every other waiter is still waiting: the lock went to the oldest.
			for j := i + 1; j < waiters; j++ {
				select {
				case r := <-results[j]:
					t.Fatalf("waiter %d got the lock (%v) while waiter %d held it", j, r.err, i)
				default:
				}
			}
			if r.l.Token() <= prev {
				t.Fatalf("waiter %d token %d after %d", i, r.l.Token(), prev)
			}
			prev = r.l.Token()
			if err := r.l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestNoHerd: one release wakes only the next waiter.
func TestNoHerd(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const waiters = 5
		var watching, woken atomic.Int32
		perWaiter := make([]atomic.Int32, waiters)
		holder := mustNew(t, e.Session(t), "/herd")
		l := mustLock(t, holder)
		results := make([]<-chan lockResult, waiters)
		for i := range results {
			m := mustNew(t, e.Session(t), "/herd", withHooks(contender.Hooks{
				Watching: func(string) { watching.Add(1) },
				Woken:    func(string) { woken.Add(1); perWaiter[i].Add(1) },
			}))
			results[i] = lockAsync(t, ctxT(t), m)
		}
		eventually(t, "every waiter watching", func() bool { return watching.Load() == waiters })
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// The waiters hold in queue order, which is the order their
		// creates landed, not the order they were started in: take each
		// grant as it comes. (Taking them in start order deadlocked the
		// test whenever two creates landed the other way round, about one
		// run in 50 on etcd 3.4 once concurrent creates no longer retried
		// one by one: the test waited for a waiter queued behind one whose
		// grant it had not yet taken.)
		type grant struct {
			i int
			r lockResult
		}
		grants := make(chan grant, waiters)
		for i, ch := range results {
			go func() { grants <- grant{i, <-ch} }()
		}
		for n := range waiters {
			var g grant
			select {
			case g = <-grants:
			case <-time.After(wait):
				t.Fatalf("after %d releases, no waiter got the lock within %v", n, wait)
			}
			if g.r.err != nil {
				t.Fatalf("waiter %d: %v", g.i, g.r.err)
			}
			if got := woken.Load(); got != int32(n+1) {
				t.Fatalf("after %d releases: %d wake-ups; want %d", n+1, got, n+1)
			}
			if err := g.r.l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range perWaiter {
			if got := perWaiter[i].Load(); got != 1 {
				t.Errorf("waiter %d woke %d times; want 1", i, got)
			}
		}
		if got := watching.Load(); got != waiters {
			t.Errorf("%d predecessor watches set; want %d (one per waiter)", got, waiters)
		}
	})
}

func TestTryLockAndReentry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sh := e.Session(t)
		holder := mustNew(t, sh, "/try", WithData([]byte("holder-1")))
		other := mustNew(t, e.Session(t), "/try")
		l := mustLock(t, holder)

		_, err := other.TryLock(ctxT(t))
		var le *LockedError
		if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
			t.Fatalf("TryLock on a held lock: %v; want a *LockedError matching ErrLocked", err)
		}
		if le.Holder.Path != l.Path() || le.Holder.Owner != sh.ID() || string(le.Holder.Data) != "holder-1" || le.Holder.Token != l.Token() {
			t.Fatalf("TryLock named holder %+v; want node %s of session %#x", le.Holder, l.Path(), sh.ID())
		}
		if n := queueLen(t, holder); n != 1 {
			t.Fatalf("after a failed TryLock: %d nodes; want 1 (the holder's)", n)
		}

		if _, err := holder.Lock(ctxT(t)); !errors.Is(err, ErrAlreadyHeld) {
			t.Fatalf("second Lock on a holding handle: %v; want ErrAlreadyHeld", err)
		}
		if _, err := holder.TryLock(ctxT(t)); !errors.Is(err, ErrAlreadyHeld) {
			t.Fatalf("TryLock on a holding handle: %v; want ErrAlreadyHeld", err)
		}
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, l.Done(), "Done after Unlock")
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("second Unlock: %v; want ErrNotHeld", err)
		}
		if !errors.Is(l.Err(), ErrNotHeld) {
			t.Fatalf("Err after Unlock: %v; want ErrNotHeld", l.Err())
		}
		l2, err := other.TryLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryLock on a free lock: %v", err)
		}
		if l2.Token() <= l.Token() {
			t.Fatalf("token %d after %d", l2.Token(), l.Token())
		}
		if err := l2.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// The handle is free again after Unlock.
		l3 := mustLock(t, holder)
		if err := l3.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelWhileWaiting(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		holder := mustNew(t, e.Session(t), "/cancel")
		l := mustLock(t, holder)
		w := mustNew(t, e.Session(t), "/cancel")
		ctx, cancel := context.WithCancel(ctxT(t))
		ch := lockAsync(t, ctx, w)
		eventually(t, "waiter queued", func() bool { return queueLen(t, holder) == 2 })
		cancel()
		r := result(t, ch)
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Lock with a cancelled ctx: %v, %v; want context.Canceled", r.l, r.err)
		}
		// The waiter's node goes (in the background when its create was
		// still in flight as ctx ended).
		eventually(t, "the waiter's node removed after cancel", func() bool { return queueLen(t, holder) == 1 })
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// The waiter's handle is usable again.
		l2 := mustLock(t, w)
		if err := l2.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestManyWaitersCancelled: 32 waiters, each on a session of its own, are
// cancelled together, some while queued and some while their create is in
// flight. Every Lock returns context.Canceled, the queue goes back to the
// holder alone (no node left to block the lock), and the next contender
// gets the lock once the holder releases it. (A hang of 64 cancelled etcd
// waiters was seen once during benchmarking; this is its regression test.)
func TestManyWaitersCancelled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n = 32
		holder := mustNew(t, e.Session(t), "/many-cancel")
		l := mustLock(t, holder)
		ctx, cancel := context.WithCancel(ctxT(t))
		chs := make([]<-chan lockResult, n)
		for i := range chs {
			chs[i] = lockAsync(t, ctx, mustNew(t, e.Session(t), "/many-cancel"))
		}
		eventually(t, "half the waiters queued", func() bool { return queueLen(t, holder) > n/2 })
		cancel()
		for i, ch := range chs {
			if r := result(t, ch); !errors.Is(r.err, context.Canceled) {
				t.Fatalf("waiter %d: %v, %v; want context.Canceled", i, r.l, r.err)
			}
		}
		eventually(t, "only the holder queued", func() bool { return queueLen(t, holder) == 1 })
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		next := mustLock(t, mustNew(t, e.Session(t), "/many-cancel"))
		if err := next.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHolderExpiry: the holder's session expires: its Done fires, a waiter
// gets the lock, and the old holder's guarded writes are refused.
func TestHolderExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sh := e.Session(t)
		observer := e.Session(t)
		if _, err := observer.Create(ctxT(t), "/data", []byte("0"), backend.Persistent); err != nil {
			t.Fatal(err)
		}
		holder := mustNew(t, sh, "/exp")
		l := mustLock(t, holder)
		if _, err := l.Guard(ctxT(t), backend.SetOp{Path: "/data", Data: []byte("1"), Version: backend.AnyVersion}); err != nil {
			t.Fatalf("Guard while held: %v", err)
		}
		w := mustNew(t, e.Session(t), "/exp")
		ch := lockAsync(t, ctxT(t), w)
		eventually(t, "waiter queued", func() bool { return queueLen(t, holder) == 2 })

		if err := sh.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		waitClosed(t, l.Done(), "holder's Done after expiry")
		if !errors.Is(l.Err(), ErrLost) {
			t.Fatalf("holder Err: %v; want ErrLost", l.Err())
		}
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("waiter after holder expiry: %v", r.err)
		}
		if r.l.Token() <= l.Token() {
			t.Fatalf("new token %d not above old %d", r.l.Token(), l.Token())
		}
		_, err := l.Guard(ctxT(t), backend.SetOp{Path: "/data", Data: []byte("stale"), Version: backend.AnyVersion})
		if !errors.Is(err, ErrLost) {
			t.Fatalf("old holder's Guard: %v; want ErrLost", err)
		}
		// Even past the local check, the server refuses it.
		_, err = l.guard(ctxT(t), backend.SetOp{Path: "/data", Data: []byte("stale"), Version: backend.AnyVersion})
		if !errors.Is(err, ErrLost) {
			t.Fatalf("old holder's server-side guard: %v; want ErrLost", err)
		}
		data, _, err := observer.Get(ctxT(t), "/data")
		if err != nil || string(data) != "1" {
			t.Fatalf("data = %q, %v; want the stale writes refused", data, err)
		}
		if err := r.l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Fatalf("Unlock of a lost lease: %v; want ErrLost", err)
		}
	})
}

// TestGuardNodeDeleted: deleting the lock node makes Done fire, and the
// server refuses guarded writes, keeping the backend's error.
func TestGuardNodeDeleted(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		holder := mustNew(t, e.Session(t), "/guard")
		l := mustLock(t, holder)
		res, err := l.Guard(ctxT(t), backend.CreateOp{Path: "/guarded", Data: []byte("x"), Mode: backend.Persistent})
		if err != nil || len(res) != 1 || res[0].Path != "/guarded" {
			t.Fatalf("Guard = %+v, %v; want one result for /guarded", res, err)
		}
		if err := observer.Delete(ctxT(t), l.Path(), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		_, err = l.guard(ctxT(t), backend.SetOp{Path: "/guarded", Data: []byte("y"), Version: backend.AnyVersion})
		if !errors.Is(err, ErrLost) || !errors.Is(err, backend.ErrNoNode) {
			t.Fatalf("guard after the node was deleted: %v; want ErrLost and backend.ErrNoNode", err)
		}
		waitClosed(t, l.Done(), "Done after the node was deleted")
		if !errors.Is(l.Err(), ErrLost) {
			t.Fatalf("Err: %v; want ErrLost", l.Err())
		}
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("Unlock after loss: %v; want ErrNotHeld", err)
		}
	})
}

// TestConnectionCut: with OnSuspend, Done fires when the connection is cut,
// before the session expires; with OnLost, only once the session is lost.
func TestConnectionCut(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		t.Run("OnSuspend", func(t *testing.T) {
			s, proxy := e.Proxied(t, 8*time.Second)
			observer := e.Session(t)
			l := mustLock(t, mustNew(t, s, "/cut"))
			proxy.Cut()
			waitClosed(t, l.Done(), "Done after a cut")
			if s.Err() != nil {
				t.Fatalf("session already ended (%v) when Done fired", s.Err())
			}
			st, err := observer.Exists(ctxT(t), l.Path())
			if err != nil || st == nil {
				t.Fatalf("lock node on the server when Done fired: %v, %v; want still there (not expired)", st, err)
			}
			if !errors.Is(l.Err(), ErrLost) {
				t.Fatalf("Err: %v; want ErrLost", l.Err())
			}
			proxy.Heal()
			if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Unlock after a cut: %v; want ErrNotHeld", err)
			}
			eventually(t, "node removed after Unlock", func() bool {
				st, err := observer.Exists(ctxT(t), l.Path())
				return err == nil && st == nil
			})
		})
		t.Run("OnLost", func(t *testing.T) {
			s, proxy := e.Proxied(t, sessionTimeout)
			observer := e.Session(t)
			l := mustLock(t, mustNew(t, s, "/cut", WithLossPolicy(OnLost)))
			states := s.StateChanges(ctxT(t))
			proxy.Cut()
			backendtest.WaitState(t, states, backend.Suspended)
			if isClosed(l.Done()) {
				t.Fatalf("Done closed on Suspended with OnLost: %v", l.Err())
			}
			eventually(t, "server expires the cut session", func() bool {
				st, err := observer.Exists(ctxT(t), l.Path())
				return err == nil && st == nil
			})
			proxy.Heal()
			waitClosed(t, l.Done(), "Done after the session was lost")
			if s.Err() == nil {
				t.Fatal("Done fired while the session was still alive")
			}
			if !errors.Is(l.Err(), ErrLost) || !errors.Is(l.Err(), backend.ErrSessionExpired) {
				t.Fatalf("Err: %v; want ErrLost and backend.ErrSessionExpired", l.Err())
			}
			if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Unlock after loss: %v; want ErrNotHeld", err)
			}
		})
	})
}

// TestCreateReplyLost: the reply to the contender's create is lost; the
// contender finds its node by GUID, gets the lock, and leaves no orphan.
func TestCreateReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		observer := mustNew(t, e.Session(t), "/lost")
		// OnLost: the reset connection must not make this test about suspension.
		m := mustNew(t, s, "/lost", WithLossPolicy(OnLost))
		// The directory exists, so the only write whose reply is lost is the contender's.
		if _, err := s.Create(ctxT(t), "/lost", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		proxy.DropReplies()
		ch := lockAsync(t, ctxT(t), m)
		eventually(t, "create landed", func() bool { return queueLen(t, observer) == 1 })
		select {
		case r := <-ch:
			t.Fatalf("Lock returned (%v, %v) while its reply was dropped", r.l, r.err)
		default:
		}
		proxy.Reset()
		proxy.Heal()
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("Lock after a lost create reply: %v", r.err)
		}
		hs, err := observer.Holders(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0].Path != r.l.Path() || hs[0].Owner != s.ID() {
			t.Fatalf("queue %+v; want exactly the contender's node %s", hs, r.l.Path())
		}
		if err := r.l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if n := queueLen(t, observer); n != 0 {
			t.Fatalf("%d nodes after Unlock; want 0", n)
		}
	})
}

// TestNeverHeldOnLostSession: Lock reports failure, never a grant, when the
// session or the contender's node is gone.
func TestNeverHeldOnLostSession(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		t.Run("ExpiredBeforeLock", func(t *testing.T) {
			s := e.Session(t)
			if err := s.(backend.Expirer).Expire(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, s.Done(), "session Done after Expire")
			l, err := mustNew(t, s, "/never").Lock(ctxT(t))
			if err == nil || !errors.Is(err, ErrLost) {
				t.Fatalf("Lock on an expired session = %v, %v; want ErrLost", l, err)
			}
		})
		t.Run("WaiterExpires", func(t *testing.T) {
			holder := mustNew(t, e.Session(t), "/never")
			l := mustLock(t, holder)
			sw := e.Session(t)
			ch := lockAsync(t, ctxT(t), mustNew(t, sw, "/never"))
			eventually(t, "waiter queued", func() bool { return queueLen(t, holder) == 2 })
			if err := sw.(backend.Expirer).Expire(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "waiter's node gone", func() bool { return queueLen(t, holder) == 1 })
			if err := l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if r := result(t, ch); r.err == nil || !errors.Is(r.err, ErrLost) {
				t.Fatalf("waiter whose session expired: %v, %v; want ErrLost", r.l, r.err)
			}
		})
		t.Run("WaiterNodeDeleted", func(t *testing.T) {
			observer := e.Session(t)
			holder := mustNew(t, e.Session(t), "/never2")
			l := mustLock(t, holder)
			ch := lockAsync(t, ctxT(t), mustNew(t, e.Session(t), "/never2"))
			var waiter string
			eventually(t, "waiter queued", func() bool {
				hs, err := holder.Holders(ctxT(t))
				if err != nil || len(hs) != 2 {
					return false
				}
				waiter = hs[1].Path
				return true
			})
			if err := observer.Delete(ctxT(t), waiter, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			if err := l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if r := result(t, ch); r.err == nil || !errors.Is(r.err, ErrLost) || !errors.Is(r.err, contender.ErrGone) {
				t.Fatalf("waiter whose node was deleted: %v, %v; want ErrLost", r.l, r.err)
			}
		})
	})
}

// TestCyclesLeaveNothing: 200 lock/unlock cycles leave no node and no goroutine.
func TestCyclesLeaveNothing(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		m := mustNew(t, s, "/cycles")
		mustLock(t, m).Unlock(ctxT(t)) // warm up the session's goroutines
		base := runtime.NumGoroutine()
		for i := range 200 {
			l := mustLock(t, m)
			if err := l.Unlock(ctxT(t)); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		}
		if n := queueLen(t, m); n != 0 {
			t.Fatalf("%d nodes after 200 cycles; want 0", n)
		}
		// A leak of one goroutine per cycle would show as 200; the slack
		// covers client goroutines started lazily (etcd watch streams).
		const slack = 8
		eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+slack })
	})
}

func TestLayouts(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		tests := []struct {
			layout Layout
			name   *regexp.Regexp
		}{
			{Curator, regexp.MustCompile(`^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-lock-\d{10}$`)},
			{Kazoo, regexp.MustCompile(`^[0-9a-f]{32}__lock__\d{10}$`)},
		}
		s := e.Session(t)
		for _, tt := range tests {
			t.Run(tt.layout.String(), func(t *testing.T) {
				dir := "/layout-" + tt.layout.String()
				// A node of another layout in the directory is ignored.
				if _, err := s.Create(ctxT(t), dir+"/foreign", nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
					t.Fatal(err)
				}
				m := mustNew(t, s, dir, WithLayout(tt.layout))
				l := mustLock(t, m)
				if name := backend.Base(l.Path()); !tt.name.MatchString(name) {
					t.Fatalf("node name %q; want %v", name, tt.name)
				}
				if hs, err := m.Holders(ctxT(t)); err != nil || len(hs) != 1 || hs[0].Path != l.Path() {
					t.Fatalf("Holders = %+v, %v; want only %s", hs, err, l.Path())
				}
				if err := l.Unlock(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

func BenchmarkMutexUncontended(b *testing.B) {
	for _, bc := range backends {
		b.Run(bc.Name, func(b *testing.B) {
			e := &env{Backend: bc, Endpoints: bc.Endpoints(b), Namespace: "/zkrbench/" + backend.NewGUID(), Timeout: sessionTimeout}
			m := mustNew(b, e.Session(b), "/bench")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				l, err := m.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Unlock(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
