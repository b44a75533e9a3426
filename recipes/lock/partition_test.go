package lock

import (
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestCutOffHolderLetsGoFirst (issue 10.1): a holder under OnLost whose
// connection is blackholed for good (a paused proxy: connections stay
// open, nothing gets through, nothing is ever refused) has its lease Done,
// with ErrLost wrapping backend.ErrSessionExpired, before the server
// deletes its lock node, and so before another session can hold the lock.
// The next holder then gets the lock while the first is still cut off.
//
// Seen failing on ZooKeeper with the session watchdog not started
// (backend/zk, the spawn of watchdog in onEvent removed): the node was
// deleted and the lock taken by the other session while the cut-off lease
// still believed it held ("... deleted while the holder's lease was not
// Done"). On etcd, seen failing with the keep-alive loop's loss at a TTL
// plus a second after the last renewal instead of before.
func TestCutOffHolderLetsGoFirst(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, sessionTimeout)
		observer := e.Session(t)
		l := mustLock(t, mustNew(t, s, "/cutoff", WithLossPolicy(OnLost)))
		_, gone, err := observer.ExistsW(ctxT(t), l.Path())
		if err != nil {
			t.Fatal(err)
		}
		next := mustNew(t, e.Session(t), "/cutoff")
		ch := lockAsync(t, ctxT(t), next)

		paused := time.Now()
		ended := make(chan time.Duration, 1)
		go func() {
			select {
			case <-l.Done():
				ended <- time.Since(paused)
			case <-time.After(wait):
				ended <- -1
			}
		}()
		proxy.Pause()
		t.Cleanup(proxy.Heal)
		select {
		case ev := <-gone:
			if ev.Type != backend.EventDeleted {
				t.Fatalf("observer saw %+v; want the holder's node deleted", ev)
			}
		case <-time.After(wait):
			t.Fatal("the server never expired the cut-off holder's session")
		}
		if !isClosed(l.Done()) {
			t.Fatalf("the holder's node %s was deleted while the holder's lease was not Done (session %v)", l.Path(), s.State())
		}
		t.Logf("the cut-off lease ended %v after the pause (session timeout %v)", <-ended, sessionTimeout)
		if !errors.Is(l.Err(), ErrLost) || !errors.Is(l.Err(), backend.ErrSessionExpired) {
			t.Fatalf("Err: %v; want ErrLost wrapping backend.ErrSessionExpired", l.Err())
		}
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("the next contender: %v", r.err)
		}
		if r.l.Token() <= l.Token() {
			t.Fatalf("the next holder's token %d is not above the cut-off holder's %d", r.l.Token(), l.Token())
		}
		if err := l.Unlock(ctxT(t)); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("Unlock of the lost lease: %v; want ErrNotHeld", err)
		}
		if err := r.l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
