package lock

import (
	"errors"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestInterop shares one lock path with a real Curator InterProcessMutex
// (Curator layout) and with a real kazoo Lock (Kazoo layout) on ZooKeeper:
// while one side holds, the other waits; the waiter gets the lock when the
// holder releases, and when the holder's process dies.
func TestInterop(t *testing.T) {
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	cases := []struct {
		name   string
		layout Layout
		start  func(t testing.TB, connect string, opts ...peers.Option) *peers.Peer
		node   func(name string) bool
	}{
		{"curator", Curator, peers.Curator, func(n string) bool { return strings.HasPrefix(n, "_c_") && strings.Contains(n, "-lock-") }},
		{"kazoo", Kazoo, peers.Kazoo, func(n string) bool { return strings.Contains(n, "__lock__") && !strings.HasPrefix(n, "_c_") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
			s := e.Session(t) // creates the namespace node the peer is rooted in
			peer := tc.start(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace))
			m := mustNew(t, s, "/shared", WithLayout(tc.layout))

			// The peer holds: TryLock names it, Lock waits behind it.
			peer.Send("lock /shared")
			if _, err := peer.Expect(ctxT(t), "acquired"); err != nil {
				t.Fatal(err)
			}
			_, err := m.TryLock(ctxT(t))
			var le *LockedError
			if !errors.As(err, &le) || !tc.node(le.Holder.Name) {
				t.Fatalf("TryLock while %s holds: %v; want ErrLocked naming its node", tc.name, err)
			}
			ch := lockAsync(t, ctxT(t), m)
			eventually(t, "our waiter queued behind the peer", func() bool { return queueLen(t, m) == 2 })
			select {
			case r := <-ch:
				t.Fatalf("Lock returned (%v, %v) while %s holds the lock", r.l, r.err, tc.name)
			default:
			}
			peer.Send("unlock")
			r := result(t, ch)
			if r.err != nil {
				t.Fatalf("Lock after %s released: %v", tc.name, r.err)
			}

			// We hold: the peer waits until we unlock.
			peer.Send("lock /shared")
			eventually(t, "the peer queued behind us", func() bool { return queueLen(t, m) == 2 })
			hs, err := m.Holders(ctxT(t))
			if err != nil || len(hs) != 2 || !tc.node(hs[1].Name) {
				t.Fatalf("holders while we hold and %s waits: %+v, %v", tc.name, hs, err)
			}
			if line, ok := peer.Peek("acquired"); ok {
				t.Fatalf("%s acquired (%q) while we hold the lock", tc.name, line)
			}
			if err := r.l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Expect(ctxT(t), "acquired"); err != nil {
				t.Fatalf("%s did not get the lock after we released it: %v", tc.name, err)
			}

			// The peer's process dies while holding: we get the lock once
			// its session expires.
			ch = lockAsync(t, ctxT(t), m)
			eventually(t, "our waiter queued behind the peer", func() bool { return queueLen(t, m) == 2 })
			peer.Kill()
			r = result(t, ch)
			if r.err != nil {
				t.Fatalf("Lock after %s died: %v", tc.name, r.err)
			}
			if err := r.l.Unlock(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
