package lock

import (
	"errors"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestCrossLayout (issue 11.2): whatever layout a Mutex writes, it queues
// behind the lock nodes of both Curator and kazoo on one path; the doc's
// matrix says which way each library sees ours. On ZooKeeper with the real
// libraries:
//
//   - our default (Curator) layout against a kazoo Lock with no extra
//     patterns: we wait for kazoo, also when its process dies; kazoo cannot
//     see our node and takes the lock while we hold it (shown, as the doc
//     says), and with extra_lock_patterns ["-lock-"] it waits for us, also
//     when our connection is cut for good;
//   - our Kazoo layout against Curator's InterProcessMutex: we wait for
//     Curator, also when its process dies.
//
// (Our default layout against Curator, both ways, is TestInterop.)
//
// Seen failing with the Mutex reading only its own layout's marker (the
// Sequence of contender.CuratorLayout("lock") as before): our Lock returned
// while kazoo held the lock, and in the Kazoo layout while Curator held it.
func TestCrossLayout(t *testing.T) {
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	connect := strings.Join(eps, ",")
	newEnv := func(t *testing.T) *env {
		return &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	}

	// waitBehind takes the lock with m while the peer holds it: m queues
	// and does not get it until release() makes the peer let go.
	waitBehind := func(t *testing.T, m *Mutex, peer *peers.Peer, release func()) *Lease {
		t.Helper()
		_, err := m.TryLock(ctxT(t))
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("TryLock while %s holds: %v; want ErrLocked", peer.Name(), err)
		}
		ch := lockAsync(t, ctxT(t), m)
		eventually(t, "our waiter queued behind "+peer.Name(), func() bool { return queueLen(t, m) == 2 })
		select {
		case r := <-ch:
			t.Fatalf("Lock returned (%v, %v) while %s holds the lock", r.l, r.err, peer.Name())
		default:
		}
		release()
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("Lock after %s let go: %v", peer.Name(), r.err)
		}
		return r.l
	}

	t.Run("default-vs-kazoo", func(t *testing.T) {
		e := newEnv(t)
		s, proxy := e.Proxied(t, sessionTimeout)
		m := mustNew(t, s, "/shared")
		kz := peers.Kazoo(t, connect, peers.WithNamespace(e.Namespace))

		// kazoo holds, we wait; kazoo unlocks.
		kz.Send("lock /shared")
		if _, err := kz.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatal(err)
		}
		l := waitBehind(t, m, kz, func() { kz.Send("unlock") })

		// We hold. kazoo without extra patterns does not see our node: it
		// takes the lock at once. That is kazoo's limit, not ours.
		kz.Send("lock /shared")
		if _, err := kz.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatalf("kazoo without extra_lock_patterns: %v; want it to take the lock beside ours (it cannot see Curator's names)", err)
		}
		kz.Send("unlock")
		if _, err := kz.Expect(ctxT(t), "released"); err != nil {
			t.Fatal(err)
		}
		// With extra_lock_patterns ["-lock-"] it waits for us.
		kz.Send("lock /shared -lock-")
		eventually(t, "kazoo queued behind us", func() bool { return queueLen(t, m) == 2 })
		if line, ok := kz.Peek("acquired"); ok {
			t.Fatalf("kazoo with extra_lock_patterns acquired (%q) while we hold", line)
		}
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := kz.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatalf("kazoo did not get the lock after we released it: %v", err)
		}

		// kazoo's process dies holding: we get the lock when its session
		// expires.
		l = waitBehind(t, m, kz, kz.Kill)

		// Our holder is cut off for good: a new kazoo (with the pattern)
		// gets the lock when our session expires.
		kz2 := peers.Kazoo(t, connect, peers.WithNamespace(e.Namespace))
		kz2.Send("lock /shared -lock-")
		eventually(t, "kazoo queued behind us", func() bool { return queueLen(t, m) == 2 })
		if line, ok := kz2.Peek("acquired"); ok {
			t.Fatalf("kazoo acquired (%q) while we hold", line)
		}
		proxy.Pause()
		t.Cleanup(proxy.Heal)
		if _, err := kz2.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatalf("kazoo did not get the lock after our holder was cut off: %v", err)
		}
		if !isClosed(l.Done()) {
			t.Fatal("kazoo holds the lock while our cut-off lease is not Done")
		}
	})

	t.Run("kazoo-layout-vs-curator", func(t *testing.T) {
		e := newEnv(t)
		m := mustNew(t, e.Session(t), "/shared", WithLayout(Kazoo))
		cu := peers.Curator(t, connect, peers.WithNamespace(e.Namespace))

		cu.Send("lock /shared")
		if _, err := cu.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatal(err)
		}
		l := waitBehind(t, m, cu, func() { cu.Send("unlock") })
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}

		cu.Send("lock /shared")
		if _, err := cu.Expect(ctxT(t), "acquired"); err != nil {
			t.Fatal(err)
		}
		l = waitBehind(t, m, cu, cu.Kill)
		if err := l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
