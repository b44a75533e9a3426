package lock

import (
	"context"
	"errors"
	"fmt"
	"log"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func mustRW(t testing.TB, e *env, path string, opts ...Option) *RWMutex {
	t.Helper()
	rw, err := NewRWMutex(e.Session(t), path, opts...)
	if err != nil {
		t.Fatalf("NewRWMutex(%s): %v", path, err)
	}
	return rw
}

// rwAsync runs acquire(ctx) in a goroutine the test waits for at cleanup.
func rwAsync(t testing.TB, acquire func(context.Context) (*Lease, error)) <-chan lockResult {
	ch := make(chan lockResult, 1)
	ctx, cancel := context.WithCancel(ctxT(t))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := acquire(ctx)
		ch <- lockResult{l, err}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ch
}

func rwQueueLen(t testing.TB, rw *RWMutex) int {
	t.Helper()
	hs, err := rw.Holders(ctxT(t))
	if err != nil {
		t.Fatalf("Holders: %v", err)
	}
	return len(hs)
}

func rwGranted(t testing.TB, what string, ch <-chan lockResult) *Lease {
	t.Helper()
	r := result(t, ch)
	if r.err != nil {
		t.Fatalf("%s: %v", what, r.err)
	}
	return r.l
}

func rwWaiting(t testing.TB, what string, ch <-chan lockResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned (%v, %v); want it still waiting", what, r.l, r.err)
	default:
	}
}

func rwUnlock(t testing.TB, l *Lease) {
	t.Helper()
	if err := l.Unlock(ctxT(t)); err != nil {
		t.Fatalf("Unlock %s: %v", l.Path(), err)
	}
}

// rwWatchLog records the nodes a contender set its blocker watch on.
type rwWatchLog struct {
	mu    sync.Mutex
	paths []string
}

func (w *rwWatchLog) hooks() Option {
	return withHooks(contender.Hooks{Watching: func(p string) {
		w.mu.Lock()
		w.paths = append(w.paths, p)
		w.mu.Unlock()
	}})
}

func (w *rwWatchLog) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.paths)
}

func TestRWReadersShare(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const readers = 4
		var leases []*Lease
		for i := range readers {
			rw := mustRW(t, e, "/rw-share")
			l, err := rw.RLock(ctxT(t)) // must not wait for the readers holding
			if err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
			leases = append(leases, l)
		}
		// One handle may hold several read leases.
		rw := mustRW(t, e, "/rw-share")
		a, err := rw.TryRLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryRLock among readers: %v", err)
		}
		b, err := rw.RLock(ctxT(t))
		if err != nil {
			t.Fatalf("second RLock on one handle: %v", err)
		}
		if _, err := rw.Lock(ctxT(t)); !errors.Is(err, ErrAlreadyHeld) {
			t.Fatalf("Lock on a handle holding reads: %v; want ErrAlreadyHeld", err)
		}
		w := mustRW(t, e, "/rw-share")
		_, err = w.TryLock(ctxT(t))
		var le *LockedError
		if !errors.As(err, &le) || w.Writer(le.Holder.Name) {
			t.Fatalf("TryLock among readers: %v; want ErrLocked naming a reader", err)
		}
		if n := rwQueueLen(t, w); n != readers+2 {
			t.Fatalf("queue after failed TryLock: %d nodes; want %d", n, readers+2)
		}
		for _, l := range append(leases, a, b) {
			rwUnlock(t, l)
		}
		l, err := w.TryLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryLock with no readers left: %v", err)
		}
		if _, err := w.RLock(ctxT(t)); !errors.Is(err, ErrAlreadyHeld) {
			t.Fatalf("RLock on a handle holding the write lock: %v; want ErrAlreadyHeld", err)
		}
		rwUnlock(t, l)
	})
}

func TestRWWriterExcludes(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		w1 := mustRW(t, e, "/rw-excl")
		held, err := w1.Lock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		r := mustRW(t, e, "/rw-excl")
		_, err = r.TryRLock(ctxT(t))
		var le *LockedError
		if !errors.As(err, &le) || le.Holder.Path != held.Path() {
			t.Fatalf("TryRLock while a writer holds: %v; want ErrLocked naming %s", err, held.Path())
		}
		rch := rwAsync(t, r.RLock)
		eventually(t, "reader queued", func() bool { return rwQueueLen(t, w1) == 2 })
		w2 := mustRW(t, e, "/rw-excl")
		wch := rwAsync(t, w2.Lock)
		eventually(t, "second writer queued", func() bool { return rwQueueLen(t, w1) == 3 })
		rwWaiting(t, "RLock while a writer holds", rch)
		rwWaiting(t, "Lock while a writer holds", wch)

		rwUnlock(t, held)
		rl := rwGranted(t, "RLock after the writer left", rch)
		rwWaiting(t, "Lock while a reader holds", wch)
		rwUnlock(t, rl)
		rwUnlock(t, rwGranted(t, "Lock after the reader left", wch))
	})
}

// TestRWNoWriterStarvation: a writer queued behind a reader gets the lock
// before the readers that arrived after it, which wait for it (and watch
// it), though only readers hold.
func TestRWNoWriterStarvation(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		r1 := mustRW(t, e, "/rw-starve")
		first, err := r1.RLock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var wlog rwWatchLog
		w := mustRW(t, e, "/rw-starve", wlog.hooks())
		wch := rwAsync(t, w.Lock)
		eventually(t, "writer watching", func() bool { return len(wlog.get()) == 1 })
		if got := wlog.get(); got[0] != first.Path() {
			t.Fatalf("writer watches %v; want its predecessor %s", got, first.Path())
		}
		hs, err := w.Holders(ctxT(t))
		if err != nil || len(hs) != 2 {
			t.Fatalf("Holders: %v, %v", hs, err)
		}
		writerPath := hs[1].Path

		const late = 3
		logs := make([]rwWatchLog, late)
		var lates []<-chan lockResult
		for i := range late {
			rw := mustRW(t, e, "/rw-starve", logs[i].hooks())
			lates = append(lates, rwAsync(t, rw.RLock))
			eventually(t, "late reader watching", func() bool { return len(logs[i].get()) == 1 })
			if got := logs[i].get(); got[0] != writerPath {
				t.Fatalf("late reader %d watches %v; want the writer ahead %s", i, got, writerPath)
			}
		}
		for i, ch := range lates {
			rwWaiting(t, "late reader "+string(rune('0'+i)), ch)
		}
		rwUnlock(t, first)
		wl := rwGranted(t, "writer after the first reader left", wch)
		for _, ch := range lates {
			rwWaiting(t, "late reader while the writer holds", ch)
		}
		rwUnlock(t, wl)
		var ls []*Lease
		for i, ch := range lates { // all hold at once
			ls = append(ls, rwGranted(t, "late reader "+string(rune('0'+i)), ch))
		}
		for _, l := range ls {
			rwUnlock(t, l)
		}
	})
}

// TestRWReaderNotBlockedByLaterWriter: a reader queued behind a writer
// waits for that writer only, not for a writer that arrived after it
// (kazoo#649 made such readers and writers wait for each other forever).
func TestRWReaderNotBlockedByLaterWriter(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		w1 := mustRW(t, e, "/rw-later")
		held, err := w1.Lock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var rlog, w2log rwWatchLog
		r := mustRW(t, e, "/rw-later", rlog.hooks())
		rch := rwAsync(t, r.RLock)
		eventually(t, "reader watching", func() bool { return len(rlog.get()) == 1 })
		w2 := mustRW(t, e, "/rw-later", w2log.hooks())
		wch := rwAsync(t, w2.Lock)
		eventually(t, "later writer watching", func() bool { return len(w2log.get()) == 1 })
		hs, err := r.Holders(ctxT(t))
		if err != nil || len(hs) != 3 {
			t.Fatalf("Holders: %v, %v", hs, err)
		}
		if got := w2log.get()[0]; got != hs[1].Path {
			t.Fatalf("later writer watches %s; want the reader %s", got, hs[1].Path)
		}

		rwUnlock(t, held)
		rl := rwGranted(t, "reader with a later writer waiting", rch)
		if got := rlog.get(); !slices.Equal(got, []string{held.Path()}) {
			t.Fatalf("reader watched %v; want only the writer ahead %s", got, held.Path())
		}
		rwWaiting(t, "later writer while the reader holds", wch)
		rwUnlock(t, rl)
		rwUnlock(t, rwGranted(t, "later writer", wch))
	})
}

// TestRWCancelWhileWaiting: a reader and a writer whose ctx ends while they
// wait remove their nodes, and their handles are usable again.
func TestRWCancelWhileWaiting(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		w := mustRW(t, e, "/rw-cancel")
		held, err := w.Lock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		other := mustRW(t, e, "/rw-cancel")
		for _, acquire := range []func(context.Context) (*Lease, error){other.RLock, other.Lock} {
			ctx, cancel := context.WithCancel(ctxT(t))
			ch := rwAsync(t, func(context.Context) (*Lease, error) { return acquire(ctx) })
			eventually(t, "waiter queued", func() bool { return rwQueueLen(t, w) == 2 })
			cancel()
			if r := result(t, ch); !errors.Is(r.err, context.Canceled) {
				t.Fatalf("acquire with a cancelled ctx: %v, %v; want context.Canceled", r.l, r.err)
			}
			eventually(t, "the waiter's node removed after cancel", func() bool { return rwQueueLen(t, w) == 1 })
		}
		rwUnlock(t, held)
		l, err := other.TryLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryLock on the cancelled handle: %v", err)
		}
		rwUnlock(t, l)
	})
}

// TestRWIntervals: readers and writers on many sessions; the recorded hold
// intervals overlap only among readers, and every writer holds alone.
func TestRWIntervals(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const workers, cycles = 8, 4
		type hold struct {
			start, end time.Time
			write      bool
		}
		var (
			mu               sync.Mutex
			holds            []hold
			readers, writers atomic.Int32
			violations       atomic.Int32
			maxReaders       atomic.Int32
			wg               sync.WaitGroup
			errs             = make(chan error, workers)
		)
		handles := make([]*RWMutex, workers)
		for i := range handles {
			handles[i] = mustRW(t, e, "/rw-intervals")
		}
		ctx := ctxT(t)
		for i, rw := range handles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range cycles {
					write := (i+c)%3 == 0
					acquire := rw.RLock
					if write {
						acquire = rw.Lock
					}
					l, err := acquire(ctx)
					if err != nil {
						errs <- err
						return
					}
					h := hold{start: time.Now(), write: write}
					if write {
						if writers.Add(1) != 1 || readers.Load() != 0 {
							violations.Add(1)
						}
					} else {
						n := readers.Add(1)
						if writers.Load() != 0 {
							violations.Add(1)
						}
						for m := maxReaders.Load(); n > m && !maxReaders.CompareAndSwap(m, n); m = maxReaders.Load() {
						}
					}
					// Hold across a server round trip, which also checks the
					// node on the server while held.
					if _, err := l.Guard(ctx); err != nil {
						violations.Add(1)
					}
					if write {
						writers.Add(-1)
					} else {
						readers.Add(-1)
					}
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
			t.Fatalf("worker: %v", err)
		}
		if n := violations.Load(); n != 0 {
			t.Fatalf("%d grants overlapped a writer or failed their Guard", n)
		}
		if len(holds) != workers*cycles {
			t.Fatalf("%d grants; want %d", len(holds), workers*cycles)
		}
		for i, a := range holds {
			for j, b := range holds {
				if i == j || !(a.write || b.write) {
					continue
				}
				if a.start.Before(b.end) && b.start.Before(a.end) {
					t.Fatalf("hold %d [%v, %v] write=%v overlaps hold %d [%v, %v] write=%v",
						i, a.start, a.end, a.write, j, b.start, b.end, b.write)
				}
			}
		}
		t.Logf("at most %d readers at once", maxReaders.Load())
	})
}

func TestRWLayouts(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		tests := []struct {
			layout      Layout
			read, write *regexp.Regexp
		}{
			{Curator, regexp.MustCompile(`^_c_[0-9a-f-]{36}-__READ__\d{10}$`), regexp.MustCompile(`^_c_[0-9a-f-]{36}-__WRIT__\d{10}$`)},
			{Kazoo, regexp.MustCompile(`^[0-9a-f]{32}__rlock__\d{10}$`), regexp.MustCompile(`^[0-9a-f]{32}__lock__\d{10}$`)},
		}
		for _, tt := range tests {
			t.Run(tt.layout.String(), func(t *testing.T) {
				w := mustRW(t, e, "/rw-layout", WithLayout(tt.layout))
				wl, err := w.Lock(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				r := mustRW(t, e, "/rw-layout", WithLayout(tt.layout))
				rch := rwAsync(t, r.RLock)
				eventually(t, "reader queued", func() bool { return rwQueueLen(t, w) == 2 })
				hs, err := w.Holders(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				if !tt.write.MatchString(hs[0].Name) || !w.Writer(hs[0].Name) {
					t.Errorf("writer node %q; want %v", hs[0].Name, tt.write)
				}
				if !tt.read.MatchString(hs[1].Name) || w.Writer(hs[1].Name) {
					t.Errorf("reader node %q; want %v", hs[1].Name, tt.read)
				}
				rwUnlock(t, wl)
				rwUnlock(t, rwGranted(t, "reader", rch))
			})
		}
	})
}

// TestRWInterop shares one read-write lock with a real Curator
// InterProcessReadWriteLock (Curator layout) and with kazoo's ReadLock and
// WriteLock (Kazoo layout) on ZooKeeper. No kazoo reader is ever queued
// ahead of a writer: kazoo 2.8 still has kazoo#649.
func TestRWInterop(t *testing.T) {
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	cases := []struct {
		name   string
		layout Layout
		start  func(t testing.TB, connect string, opts ...peers.Option) *peers.Peer
		reader func(name string) bool
	}{
		{"curator", Curator, peers.Curator, func(n string) bool { return strings.HasPrefix(n, "_c_") && strings.Contains(n, "-__READ__") }},
		{"kazoo", Kazoo, peers.Kazoo, func(n string) bool { return strings.Contains(n, "__rlock__") && !strings.HasPrefix(n, "_c_") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
			s := e.Session(t) // creates the namespace node the peer is rooted in
			peer := tc.start(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace))
			rw, err := NewRWMutex(s, "/shared-rw", WithLayout(tc.layout))
			if err != nil {
				t.Fatal(err)
			}
			expect := func(prefix string) {
				t.Helper()
				if _, err := peer.Expect(ctxT(t), prefix); err != nil {
					t.Fatal(err)
				}
			}

			// The peer writes: our reader waits until it unlocks.
			peer.Send("write-lock /shared-rw")
			expect("acquired write-lock")
			rch := rwAsync(t, rw.RLock)
			eventually(t, "our reader queued behind the peer's writer", func() bool { return rwQueueLen(t, rw) == 2 })
			rwWaiting(t, "our RLock while "+tc.name+" writes", rch)
			peer.Send("unlock")
			expect("released")
			ours := rwGranted(t, "our RLock after "+tc.name+" released", rch)

			// Our reader and the peer's reader hold at once, in both orders.
			peer.Send("read-lock /shared-rw")
			expect("acquired read-lock")
			rwUnlock(t, ours)
			ours, err = rw.TryRLock(ctxT(t))
			if err != nil {
				t.Fatalf("TryRLock while %s reads: %v", tc.name, err)
			}
			hs, err := rw.Holders(ctxT(t))
			if err != nil || len(hs) != 2 || !tc.reader(hs[0].Name) {
				t.Fatalf("holders while both read: %+v, %v; want %s's reader first", hs, err, tc.name)
			}
			rwUnlock(t, ours)
			peer.Send("unlock")
			expect("released")

			// We write: the peer's reader waits until we unlock.
			ours, err = rw.Lock(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			peer.Send("read-lock /shared-rw")
			eventually(t, "the peer's reader queued behind our writer", func() bool { return rwQueueLen(t, rw) == 2 })
			if line, ok := peer.Peek("acquired"); ok {
				t.Fatalf("%s acquired (%q) while we hold the write lock", tc.name, line)
			}
			rwUnlock(t, ours)
			expect("acquired read-lock")
			peer.Send("unlock")
			expect("released")
		})
	}
}

// ExampleRWMutex shares a read-write lock on ZooKeeper with Curator's
// InterProcessReadWriteLock: readers hold together, a writer alone, and a
// writer waiting keeps later readers out. It needs a server, so it has no
// output to check.
func ExampleRWMutex() {
	client, err := zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := client.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}

	rw, err := NewRWMutex(session, "/locks/catalog", WithRevocable())
	if err != nil {
		log.Fatal(err)
	}
	read, err := rw.RLock(ctx) // shared with other readers
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reading under", read.Path())
	if err := read.Unlock(ctx); err != nil {
		log.Print(err)
	}

	write, err := rw.Lock(ctx) // alone; its Token is a fencing token
	if err != nil {
		log.Fatal(err)
	}
	defer write.Unlock(context.Background())
	select {
	case <-write.Done():
		log.Print("lock lost: ", write.Err())
	case <-write.Revoked():
		log.Print("another process asked for the lock") // deferred Unlock gives it up
	case <-ctx.Done():
	}
}
