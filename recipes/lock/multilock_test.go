package lock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

func mustMulti(t testing.TB, s backend.Session, paths []string, opts ...Option) *MultiLock {
	t.Helper()
	ml, err := NewMultiLock(s, paths, opts...)
	if err != nil {
		t.Fatalf("NewMultiLock(%v): %v", paths, err)
	}
	return ml
}

func TestNewMultiLockRejects(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		for _, paths := range [][]string{nil, {"/a", "b"}, {"/a/"}} {
			if ml, err := NewMultiLock(s, paths); err == nil {
				t.Errorf("NewMultiLock(%q) = %v, nil; want an error", paths, ml)
			}
		}
		ml := mustMulti(t, s, []string{"/c", "/a", "/b", "/a"})
		if got, want := strings.Join(ml.Paths(), ","), "/a,/b,/c"; got != want {
			t.Fatalf("Paths = %s; want %s (sorted, duplicates once)", got, want)
		}
	})
}

// TestMultiLockNoDeadlock: MultiLocks over overlapping sets, given in
// opposite orders, all complete many cycles, and never hold a shared path
// at once.
func TestMultiLockNoDeadlock(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const cycles = 10
		sets := [][]string{
			{"/ml/a", "/ml/b", "/ml/c"},
			{"/ml/c", "/ml/b", "/ml/a"},
			{"/ml/c", "/ml/a"},
			{"/ml/b", "/ml/a"},
		}
		inside := make(map[string]*atomic.Int32)
		for _, p := range sets[0] {
			inside[p] = new(atomic.Int32)
		}
		var (
			wg         sync.WaitGroup
			violations atomic.Int32
			errs       = make(chan error, len(sets))
		)
		ctx := ctxT(t)
		for _, paths := range sets {
			ml := mustMulti(t, e.Session(t), paths)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range cycles {
					lease, err := ml.Lock(ctx)
					if err != nil {
						errs <- fmt.Errorf("%v: %w", paths, err)
						return
					}
					if len(lease.Tokens()) != len(paths) {
						violations.Add(1)
					}
					for _, p := range paths {
						if inside[p].Add(1) != 1 {
							violations.Add(1)
						}
					}
					for _, p := range paths {
						inside[p].Add(-1)
					}
					if err := lease.Unlock(ctx); err != nil {
						errs <- fmt.Errorf("%v: %w", paths, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("multi-lock: %v", err)
		}
		if n := violations.Load(); n != 0 {
			t.Fatalf("%d violations: a path held twice at once or tokens missing", n)
		}
	})
}

// TestMultiLockUndoOnCancel: ctx ends while the MultiLock holds its first
// path and waits for its second: it takes nothing, and its first node is
// gone.
func TestMultiLockUndoOnCancel(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		blocker := mustNew(t, e.Session(t), "/undo/b")
		held := mustLock(t, blocker)
		watching := make(chan string, 1)
		s := e.Session(t)
		ml := mustMulti(t, s, []string{"/undo/b", "/undo/a"}, withHooks(contender.Hooks{
			Watching: func(p string) {
				select {
				case watching <- p:
				default: // only the first watch matters
				}
			},
		}))
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		type res struct {
			l   *MultiLease
			err error
		}
		ch := make(chan res, 1)
		go func() {
			l, err := ml.Lock(ctx)
			ch <- res{l, err}
		}()
		var p string
		select {
		case p = <-watching:
		case <-ctxT(t).Done():
			t.Fatal("the multi-lock never waited")
		}
		if !strings.HasPrefix(p, "/undo/b/") {
			t.Fatalf("waits on %s; want a node of /undo/b", p)
		}
		a := mustNew(t, e.Session(t), "/undo/a")
		if n := queueLen(t, a); n != 1 {
			t.Fatalf("/undo/a has %d nodes while the multi-lock waits for /undo/b; want 1 (it holds /undo/a)", n)
		}
		cancel()
		var r res
		select {
		case r = <-ch:
		case <-ctxT(t).Done():
			t.Fatal("Lock did not return after cancel")
		}
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Lock = %v, %v; want context.Canceled", r.l, r.err)
		}
		eventually(t, "/undo/a empty after the failed multi-lock", func() bool { return queueLen(t, a) == 0 })
		eventually(t, "/undo/b holding only the holder's node", func() bool { return queueLen(t, blocker) == 1 })
		al, err := a.TryLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryLock /undo/a after the undo: %v", err)
		}
		mlUnlock(t, al, held)
		// The multi-lock is usable again.
		l, err := ml.Lock(ctxT(t))
		if err != nil {
			t.Fatalf("Lock after the undo: %v", err)
		}
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

func mlUnlock(t testing.TB, ls ...*Lease) {
	t.Helper()
	for _, l := range ls {
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatalf("Unlock %s: %v", l.Path(), err)
		}
	}
}

// TestMultiLeaseDone: the combined lease is lost when one part's node is
// deleted; Unlock releases the rest and reports the loss.
func TestMultiLeaseDone(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		ml := mustMulti(t, s, []string{"/md/a", "/md/b"})
		l, err := ml.Lock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		toks := l.Tokens()
		if len(toks) != 2 || toks["/md/a"] == 0 || toks["/md/b"] == 0 {
			t.Fatalf("Tokens = %v; want one per path", toks)
		}
		if isClosed(l.Done()) || l.Err() != nil {
			t.Fatalf("fresh multi-lease done: %v", l.Err())
		}
		if err := e.Session(t).Delete(ctxT(t), l.Leases()[1].Path(), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, l.Done(), "multi-lease Done after a part's node was deleted")
		if err := l.Err(); !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "/md/b") {
			t.Fatalf("Err = %v; want ErrLost naming /md/b", err)
		}
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrLost) {
			t.Fatalf("Unlock after a loss: %v; want the loss", err)
		}
		if n := queueLen(t, mustNew(t, s, "/md/a")); n != 0 {
			t.Fatalf("/md/a has %d nodes after Unlock; want 0", n)
		}
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("second Unlock: %v; want ErrNotHeld", err)
		}
	})
}
