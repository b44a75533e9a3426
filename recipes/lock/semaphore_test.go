package lock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func mustSemaphore(t testing.TB, s backend.Session, path string, n int, opts ...Option) *Semaphore {
	t.Helper()
	sem, err := NewSemaphore(s, path, n, opts...)
	if err != nil {
		t.Fatalf("NewSemaphore(%s, %d): %v", path, n, err)
	}
	return sem
}

func mustAcquire(t testing.TB, sem *Semaphore) *SemaphoreLease {
	t.Helper()
	l, err := sem.Acquire(ctxT(t))
	if err != nil {
		t.Fatalf("Acquire(%s): %v", sem.Path(), err)
	}
	return l
}

func mustRelease(t testing.TB, l *SemaphoreLease) {
	t.Helper()
	if err := l.Release(ctxT(t)); err != nil {
		t.Fatalf("Release(%s): %v", l.Path(), err)
	}
}

type acquireResult struct {
	l   *SemaphoreLease
	err error
}

// acquireAsync runs sem.Acquire(ctx) in a goroutine the test waits for at
// cleanup.
func acquireAsync(t testing.TB, ctx context.Context, sem *Semaphore) <-chan acquireResult {
	ch := make(chan acquireResult, 1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := sem.Acquire(ctx)
		ch <- acquireResult{l, err}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func acquired(t testing.TB, ch <-chan acquireResult) acquireResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatalf("Acquire did not return within %v", wait)
	}
	panic("unreachable")
}

func notReturned(t testing.TB, ch <-chan acquireResult, why string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Acquire returned (%v, %v) %s", r.l, r.err, why)
	default:
	}
}

// nodes lists the children of dir; a missing dir has none.
func nodes(t testing.TB, s backend.Session, dir string) []string {
	t.Helper()
	return recipetest.Children(t, s, dir)
}

func leaseCount(t testing.TB, s backend.Session, sem *Semaphore) int {
	t.Helper()
	return len(nodes(t, s, sem.Path()+"/leases"))
}

func lockCount(t testing.TB, s backend.Session, sem *Semaphore) int {
	t.Helper()
	return len(nodes(t, s, sem.Path()+"/locks"))
}

// assertEmpty fails unless leases/ and locks/ hold no node.
func assertEmpty(t testing.TB, s backend.Session, sem *Semaphore, when string) {
	t.Helper()
	if l, k := nodes(t, s, sem.Path()+"/leases"), nodes(t, s, sem.Path()+"/locks"); len(l)+len(k) != 0 {
		t.Fatalf("%s: leases/ %v, locks/ %v; want both empty", when, l, k)
	}
}

func TestNewSemaphoreRejects(t *testing.T) {
	s := (&env{Backend: backends[0], Endpoints: testenv.ZooKeeper(t), Namespace: testenv.Namespace(t), Timeout: sessionTimeout}).Session(t)
	cases := []struct {
		name string
		s    backend.Session
		path string
		n    int
		opts []Option
	}{
		{"nil session", nil, "/sem", 1, nil},
		{"bad path", s, "sem", 1, nil},
		{"zero leases", s, "/sem", 0, nil},
		{"negative leases", s, "/sem", -1, nil},
		{"kazoo layout", s, "/sem", 1, []Option{WithLayout(Kazoo)}},
		{"nil option", s, "/sem", 1, []Option{nil}},
		{"bad policy", s, "/sem", 1, []Option{WithLossPolicy(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if sem, err := NewSemaphore(tc.s, tc.path, tc.n, tc.opts...); err == nil {
				t.Fatalf("NewSemaphore = %v, nil; want an error", sem)
			}
		})
	}
	if _, err := NewSemaphore(s, "sem", 1); !errors.Is(err, backend.ErrBadPath) {
		t.Fatalf("NewSemaphore with a relative path: %v; want backend.ErrBadPath", err)
	}
}

// TestSemaphoreBound: 6 contenders on 6 sessions share 2 leases, 3 rounds
// each: never more than 2 hold at once, and every round is granted.
func TestSemaphoreBound(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const maxLeases, contenders, rounds = 2, 6, 3
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/bound", maxLeases)

		// The interval checker: a holder counts from Acquire's return to
		// just before Release, which lies inside the server's grant.
		var mu sync.Mutex
		holding, peak, grants := 0, 0, 0
		var tokens []int64
		errs := make(chan error, contenders*rounds)
		var wg sync.WaitGroup
		for i := range contenders {
			sem := mustSemaphore(t, e.Session(t), "/bound", maxLeases, WithData(fmt.Appendf(nil, "c%d", i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					l, err := sem.Acquire(ctxT(t))
					if err != nil {
						errs <- fmt.Errorf("contender %d: Acquire: %w", i, err)
						return
					}
					mu.Lock()
					holding++
					grants++
					peak = max(peak, holding)
					tokens = append(tokens, l.Token())
					over := holding > maxLeases
					mu.Unlock()
					if over {
						errs <- fmt.Errorf("contender %d: %d holders at once; want at most %d", i, holding, maxLeases)
					}
					grant.Pause(ctxT(t), time.Millisecond) // the work done under the lease
					mu.Lock()
					holding--
					mu.Unlock()
					if err := l.Release(ctxT(t)); err != nil {
						errs <- fmt.Errorf("contender %d: Release: %w", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if grants != contenders*rounds {
			t.Fatalf("%d grants; want %d", grants, contenders*rounds)
		}
		if peak < 1 || peak > maxLeases {
			t.Fatalf("peak holders %d; want 1..%d", peak, maxLeases)
		}
		seen := map[int64]bool{}
		for _, tok := range tokens {
			if seen[tok] {
				t.Fatalf("token %d granted twice", tok)
			}
			seen[tok] = true
		}
		if hs, err := obs.Leases(ctxT(t)); err != nil || len(hs) != 0 {
			t.Fatalf("Leases after all released: %+v, %v; want none", hs, err)
		}
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreFull: with both leases held, a third Acquire waits (its
// lease node counted, holding locks/), and gets a lease when one is
// released; Leases lists holders first, with owner, token and data.
func TestSemaphoreFull(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/full", 2)
		s1, s2 := e.Session(t), e.Session(t)
		l1 := mustAcquire(t, mustSemaphore(t, s1, "/full", 2, WithData([]byte("one"))))
		l2 := mustAcquire(t, mustSemaphore(t, s2, "/full", 2, WithData([]byte("two"))))
		if l1.Token() == l2.Token() {
			t.Fatalf("both leases have token %d", l1.Token())
		}
		if !strings.HasPrefix(l1.Path(), "/full/leases/_c_") || !strings.Contains(l1.Path(), "-lease-") {
			t.Fatalf("lease path %s; want /full/leases/_c_<guid>-lease-<seq>", l1.Path())
		}
		hs, err := obs.Leases(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			l    *SemaphoreLease
			s    backend.Session
			data string
		}{{l1, s1, "one"}, {l2, s2, "two"}}
		if len(hs) != len(want) {
			t.Fatalf("Leases = %+v; want %d", hs, len(want))
		}
		for i, w := range want {
			if h := hs[i]; h.Path != w.l.Path() || h.Owner != w.s.ID() || h.Token != w.l.Token() || string(h.Data) != w.data {
				t.Fatalf("Leases[%d] = %+v; want path %s, owner %#x, token %d, data %q", i, h, w.l.Path(), w.s.ID(), w.l.Token(), w.data)
			}
		}

		ch := acquireAsync(t, ctxT(t), mustSemaphore(t, e.Session(t), "/full", 2))
		eventually(t, "third acquirer waiting", func() bool {
			return leaseCount(t, observer, obs) == 3 && lockCount(t, observer, obs) == 1
		})
		notReturned(t, ch, "while both leases are held")
		mustRelease(t, l1)
		r := acquired(t, ch)
		if r.err != nil {
			t.Fatalf("Acquire after a release: %v", r.err)
		}
		eventually(t, "locks/ released", func() bool { return lockCount(t, observer, obs) == 0 })
		mustRelease(t, l2)
		mustRelease(t, r.l)
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreTryAcquire: TryAcquire takes a free lease, and fails with
// ErrLocked, leaving no node, when none is free.
func TestSemaphoreTryAcquire(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/try", 2)
		sem := mustSemaphore(t, e.Session(t), "/try", 2)
		l1, err := sem.TryAcquire(ctxT(t))
		if err != nil {
			t.Fatalf("TryAcquire with 2 free: %v", err)
		}
		l2, err := sem.TryAcquire(ctxT(t)) // one handle may hold several leases
		if err != nil {
			t.Fatalf("TryAcquire with 1 free: %v", err)
		}
		before := nodes(t, observer, "/try/leases")
		other := mustSemaphore(t, e.Session(t), "/try", 2)
		for _, s := range []*Semaphore{sem, other} {
			l, err := s.TryAcquire(ctxT(t))
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("TryAcquire when full = %v, %v; want ErrLocked", l, err)
			}
		}
		if after := nodes(t, observer, "/try/leases"); len(after) != 2 || len(before) != 2 {
			t.Fatalf("leases/ before %v, after failed TryAcquires %v; want the 2 holders only", before, after)
		}
		if n := lockCount(t, observer, obs); n != 0 {
			t.Fatalf("locks/ has %d nodes after failed TryAcquires; want 0", n)
		}
		mustRelease(t, l1)
		l3, err := other.TryAcquire(ctxT(t))
		if err != nil {
			t.Fatalf("TryAcquire after a release: %v", err)
		}
		mustRelease(t, l2)
		mustRelease(t, l3)
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreCancelWhileWaiting: a waiter holding locks/ and one queued
// on locks/ are cancelled: each returns ctx's error and leaves no node.
func TestSemaphoreCancelWhileWaiting(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/cancel-sem", 1)
		l := mustAcquire(t, mustSemaphore(t, e.Session(t), "/cancel-sem", 1))

		ctx1, cancel1 := context.WithCancel(ctxT(t))
		w1 := mustSemaphore(t, e.Session(t), "/cancel-sem", 1)
		ch1 := acquireAsync(t, ctx1, w1)
		eventually(t, "first waiter counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })
		ctx2, cancel2 := context.WithCancel(ctxT(t))
		ch2 := acquireAsync(t, ctx2, mustSemaphore(t, e.Session(t), "/cancel-sem", 1))
		eventually(t, "second waiter queued on locks/", func() bool { return lockCount(t, observer, obs) == 2 })

		cancel2()
		if r := acquired(t, ch2); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Acquire queued on locks/, cancelled: %v, %v; want context.Canceled", r.l, r.err)
		}
		// A node whose create was in flight when ctx ended goes in the
		// background, as soon as the create's outcome is known.
		eventually(t, "locks/ back to one node after the queued waiter's cancel", func() bool { return lockCount(t, observer, obs) == 1 })
		cancel1()
		if r := acquired(t, ch1); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Acquire waiting in leases/, cancelled: %v, %v; want context.Canceled", r.l, r.err)
		}
		hs, err := obs.Leases(ctxT(t))
		if err != nil || len(hs) != 1 || hs[0].Path != l.Path() {
			t.Fatalf("leases after cancel: %+v, %v; want only the holder's %s", hs, err, l.Path())
		}
		eventually(t, "locks/ empty after cancel", func() bool { return lockCount(t, observer, obs) == 0 })
		mustRelease(t, l)
		// The cancelled handle still works.
		mustRelease(t, mustAcquire(t, w1))
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreHolderExpiry: the holder's session expires: its lease node
// goes, its Done fires with ErrLost, and a waiter gets the lease.
func TestSemaphoreHolderExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/exp-sem", 1)
		sh := e.Session(t)
		l := mustAcquire(t, mustSemaphore(t, sh, "/exp-sem", 1))
		ch := acquireAsync(t, ctxT(t), mustSemaphore(t, e.Session(t), "/exp-sem", 1))
		eventually(t, "waiter counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })

		if err := sh.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		waitClosed(t, l.Done(), "holder's Done after expiry")
		if !errors.Is(l.Err(), ErrLost) {
			t.Fatalf("holder Err: %v; want ErrLost", l.Err())
		}
		r := acquired(t, ch)
		if r.err != nil {
			t.Fatalf("waiter after the holder's expiry: %v", r.err)
		}
		hs, err := obs.Leases(ctxT(t))
		if err != nil || len(hs) != 1 || hs[0].Path != r.l.Path() {
			t.Fatalf("leases after expiry: %+v, %v; want only the new holder's %s", hs, err, r.l.Path())
		}
		if err := l.Release(ctxT(t)); !errors.Is(err, ErrLost) || !errors.Is(err, ErrNotHeld) {
			t.Fatalf("Release of a lost lease: %v; want ErrLost and ErrNotHeld", err)
		}
		mustRelease(t, r.l)
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreWaiterExpires: a waiter whose session expires returns
// ErrLost and leaves no node in leases/ or locks/.
func TestSemaphoreWaiterExpires(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/wexp", 1)
		l := mustAcquire(t, mustSemaphore(t, e.Session(t), "/wexp", 1))
		sw := e.Session(t)
		ch := acquireAsync(t, ctxT(t), mustSemaphore(t, sw, "/wexp", 1))
		eventually(t, "waiter counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })
		if err := sw.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if r := acquired(t, ch); !errors.Is(r.err, ErrLost) {
			t.Fatalf("waiter whose session expired: %v, %v; want ErrLost", r.l, r.err)
		}
		eventually(t, "waiter's nodes gone", func() bool {
			return leaseCount(t, observer, obs) == 1 && lockCount(t, observer, obs) == 0
		})
		mustRelease(t, l)
		assertEmpty(t, observer, obs, "after all released")
	})
}

// TestSemaphoreReleaseTwice: the second Release is ErrNotHeld.
func TestSemaphoreReleaseTwice(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		sem := mustSemaphore(t, s, "/twice", 1)
		l := mustAcquire(t, sem)
		mustRelease(t, l)
		if !isClosed(l.Done()) || !errors.Is(l.Err(), ErrNotHeld) {
			t.Fatalf("after Release: Done closed %v, Err %v; want closed, ErrNotHeld", isClosed(l.Done()), l.Err())
		}
		if err := l.Release(ctxT(t)); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("second Release: %v; want ErrNotHeld", err)
		}
		assertEmpty(t, s, sem, "after Release")
	})
}

// TestSemaphoreCyclesLeaveNothing: 100 acquire/release cycles, with waiters
// cancelled while waiting and at arbitrary points of Acquire, leave no node
// in leases/ or locks/ and no goroutine.
func TestSemaphoreCyclesLeaveNothing(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, sw := e.Session(t), e.Session(t)
		sem := mustSemaphore(t, s, "/cycles-sem", 1)
		waiter := mustSemaphore(t, sw, "/cycles-sem", 1)
		mustRelease(t, mustAcquire(t, sem)) // warm up the session's goroutines
		base := runtime.NumGoroutine()
		for i := range 100 {
			l := mustAcquire(t, sem)
			switch i % 3 {
			case 0: // cancelled while waiting for a lease
				ctx, cancel := context.WithCancel(ctxT(t))
				ch := acquireAsync(t, ctx, waiter)
				eventually(t, "waiter counted in leases/", func() bool { return leaseCount(t, s, sem) == 2 })
				cancel()
				if r := acquired(t, ch); !errors.Is(r.err, context.Canceled) {
					t.Fatalf("cycle %d: cancelled waiter: %v, %v; want context.Canceled", i, r.l, r.err)
				}
				mustRelease(t, l)
			case 1: // cancelled at once, wherever Acquire is; then released
				ctx, cancel := context.WithCancel(ctxT(t))
				ch := acquireAsync(t, ctx, waiter)
				cancel()
				mustRelease(t, l)
				if r := acquired(t, ch); r.err == nil {
					mustRelease(t, r.l)
				} else if !errors.Is(r.err, context.Canceled) {
					t.Fatalf("cycle %d: cancelled waiter: %v; want context.Canceled or a lease", i, r.err)
				}
			default:
				mustRelease(t, l)
			}
			// A create cut short by a cancelled context is cleaned up in
			// the background as soon as its outcome is known.
			eventually(t, fmt.Sprintf("cycle %d: no lease or lock node left", i), func() bool {
				return leaseCount(t, s, sem)+lockCount(t, s, sem) == 0
			})
		}
		assertEmpty(t, s, sem, "after 100 cycles")
		const slack = 8 // client goroutines started lazily (etcd watch streams)
		eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+slack })
	})
}

// TestSemaphoreInterop shares a semaphore of one lease with a real Curator
// InterProcessSemaphoreV2 on ZooKeeper: while one side holds, the other
// waits; the waiter gets the lease when the holder releases it, and when
// the holder's process dies.
func TestSemaphoreInterop(t *testing.T) {
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	s := e.Session(t) // creates the namespace node the peer is rooted in
	observer := e.Session(t)
	peer := peers.Curator(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace))
	sem := mustSemaphore(t, s, "/shared-sem", 1)
	obs := mustSemaphore(t, observer, "/shared-sem", 1)
	curatorLease := func(name string) bool {
		return strings.HasPrefix(name, "_c_") && strings.Contains(name, "-lease-")
	}

	// The peer holds: TryAcquire fails, Acquire waits until it releases.
	peer.Send("semaphore /shared-sem 1")
	if _, err := peer.Expect(ctxT(t), "acquired"); err != nil {
		t.Fatal(err)
	}
	hs, err := obs.Leases(ctxT(t))
	if err != nil || len(hs) != 1 || !curatorLease(hs[0].Name) {
		t.Fatalf("leases while Curator holds: %+v, %v; want its one lease node", hs, err)
	}
	if l, err := sem.TryAcquire(ctxT(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryAcquire while Curator holds: %v, %v; want ErrLocked", l, err)
	}
	ch := acquireAsync(t, ctxT(t), sem)
	eventually(t, "our acquirer counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })
	notReturned(t, ch, "while Curator holds the lease")
	peer.Send("unlock")
	r := acquired(t, ch)
	if r.err != nil {
		t.Fatalf("Acquire after Curator released: %v", r.err)
	}

	// We hold: the peer waits (its lease node counted) until we release.
	peer.Send("semaphore /shared-sem 1")
	eventually(t, "Curator counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })
	if line, ok := peer.Peek("acquired"); ok {
		t.Fatalf("Curator acquired (%q) while we hold the lease", line)
	}
	hs, err = obs.Leases(ctxT(t))
	if err != nil || len(hs) != 2 || hs[0].Path != r.l.Path() || !curatorLease(hs[1].Name) || hs[1].Owner == s.ID() {
		t.Fatalf("leases while we hold and Curator waits: %+v, %v", hs, err)
	}
	mustRelease(t, r.l)
	if _, err := peer.Expect(ctxT(t), "acquired"); err != nil {
		t.Fatalf("Curator did not get the lease after we released it: %v", err)
	}
	eventually(t, "Curator's locks/ node released", func() bool { return lockCount(t, observer, obs) == 0 })

	// The peer's process dies while holding: we get the lease once its
	// session expires.
	ch = acquireAsync(t, ctxT(t), sem)
	eventually(t, "our acquirer counted in leases/", func() bool { return leaseCount(t, observer, obs) == 2 })
	peer.Kill()
	r = acquired(t, ch)
	if r.err != nil {
		t.Fatalf("Acquire after Curator died: %v", r.err)
	}
	mustRelease(t, r.l)
	assertEmpty(t, observer, obs, "after all released")
}

// replyLossSession applies creates as its Session does, but reports the
// first `left` creates whose path contains match as failed with
// fail(path): a reply lost, or a ctx that ended while the create was in
// flight.
type replyLossSession struct {
	backend.Session
	match string
	fail  func(path string) error

	mu   sync.Mutex
	left int
}

func (r *replyLossSession) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	created, err := r.Session.Create(ctx, path, data, mode, opts...)
	r.mu.Lock()
	drop := err == nil && r.left > 0 && strings.Contains(path, r.match)
	if drop {
		r.left--
	}
	r.mu.Unlock()
	if drop {
		return "", r.fail(path)
	}
	return created, err
}

// TestSemaphoreCreateOutcomeUnknown: a create of the lock or the lease node
// that landed but was reported as failed leaves no node behind. A lost
// reply (connection loss) is found again by its GUID and Acquire goes on;
// a create cut short by its ctx makes Acquire fail, and the node that
// landed anyway is deleted.
func TestSemaphoreCreateOutcomeUnknown(t *testing.T) {
	lost := func(p string) error {
		return backend.Errorf("create", p, backend.ErrConnectionLoss, errors.New("reply dropped by the test"))
	}
	cancelled := func(p string) error { return backend.Errorf("create", p, context.Canceled, nil) }
	cases := []struct {
		name    string
		match   string
		fail    func(string) error
		wantErr error // nil: Acquire succeeds
	}{
		{"lock reply lost", "/locks/", lost, nil},
		{"lease reply lost", "/leases/", lost, nil},
		{"lock create cancelled", "/locks/", cancelled, context.Canceled},
		{"lease create cancelled", "/leases/", cancelled, context.Canceled},
	}
	forEach(t, func(t *testing.T, e *env) {
		for i, tc := range cases {
			t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				s := e.Session(t)
				path := fmt.Sprintf("/unknown%d", i)
				rs := &replyLossSession{Session: s, match: path + tc.match, fail: tc.fail, left: 1}
				sem := mustSemaphore(t, rs, path, 1)
				obs := mustSemaphore(t, s, path, 1)
				l, err := sem.Acquire(ctxT(t))
				if rs.left != 0 {
					t.Fatalf("the test's create failure was not used")
				}
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Acquire = %v, %v; want %v", l, err, tc.wantErr)
					}
					assertEmpty(t, s, obs, "after the failed Acquire")
					return
				}
				if err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				hs, err := obs.Leases(ctxT(t))
				if err != nil || len(hs) != 1 || hs[0].Path != l.Path() || hs[0].Owner != s.ID() {
					t.Fatalf("leases %+v, %v; want exactly the lease node %s", hs, err, l.Path())
				}
				if n := lockCount(t, s, obs); n != 0 {
					t.Fatalf("locks/ has %d nodes while held; want 0", n)
				}
				mustRelease(t, l)
				assertEmpty(t, s, obs, "after Release")
			})
		}
	})
}

// TestSemaphoreSuspended: under the default policy a lease's Done fires
// when the connection is cut, before the session expires; Release after
// the connection is back removes the lease node and reports the loss.
func TestSemaphoreSuspended(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 8*time.Second)
		observer := e.Session(t)
		obs := mustSemaphore(t, observer, "/cut-sem", 1)
		l := mustAcquire(t, mustSemaphore(t, s, "/cut-sem", 1))
		proxy.Cut()
		waitClosed(t, l.Done(), "Done after a cut")
		if s.Err() != nil {
			t.Fatalf("session already ended (%v) when Done fired", s.Err())
		}
		if !errors.Is(l.Err(), ErrLost) {
			t.Fatalf("Err: %v; want ErrLost", l.Err())
		}
		if st, err := observer.Exists(ctxT(t), l.Path()); err != nil || st == nil {
			t.Fatalf("lease node when Done fired: %v, %v; want still there (not expired)", st, err)
		}
		proxy.Heal()
		if err := l.Release(ctxT(t)); !errors.Is(err, ErrNotHeld) || !errors.Is(err, ErrLost) {
			t.Fatalf("Release after a cut: %v; want ErrNotHeld and ErrLost", err)
		}
		assertEmpty(t, observer, obs, "after Release")
	})
}
