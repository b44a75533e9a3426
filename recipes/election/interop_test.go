package election

import (
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestInterop shares one election with a real Curator LeaderLatch (Curator
// layout) and another with a real kazoo Election (Kazoo layout) on
// ZooKeeper: exactly one of the two leads; the other takes over when the
// leader steps out, and when the leader's process dies.
func TestInterop(t *testing.T) {
	t.Parallel()
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	cases := []struct {
		name   string
		layout Layout
		start  func(t testing.TB, connect string, opts ...peers.Option) *peers.Peer
		join   func(path string) string // the peer's command to compete
		leave  string                   // the peer's command to step out
		left   string                   // its answer
		node   func(name string) bool   // a node of the peer's layout
	}{
		{"curator", Curator, peers.Curator, func(p string) string { return "latch " + p + " P1" }, "close-latch P1", "closed-latch P1",
			func(n string) bool { return strings.HasPrefix(n, "_c_") && strings.Contains(n, "-latch-") }},
		{"kazoo", Kazoo, peers.Kazoo, func(p string) string { return "elect " + p + " P1" }, "resign P1", "resigned P1",
			func(n string) bool { return strings.Contains(n, "__lock__") && !strings.HasPrefix(n, "_c_") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
			s := e.Session(t) // creates the namespace node the peer is rooted in
			peer := tc.start(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace), peers.WithSessionTimeout(sessionTimeout))
			const path = "/shared-election"

			// We lead; the peer waits until we step out.
			l := mustLatch(t, s, path, WithLayout(tc.layout), WithValue([]byte("ours")))
			if _, err := l.Await(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			peer.Send(tc.join(path))
			eventually(t, "the peer queued behind us", func() bool { return participants(t, l.Election()) == 2 })
			ps, err := l.Election().Participants(ctxT(t))
			if err != nil || len(ps) != 2 || !tc.node(ps[1].Name) || string(ps[1].Value) != "P1" || !ps[0].Leader {
				t.Fatalf("participants while we lead: %+v, %v", ps, err)
			}
			if line, ok := peer.Peek("leader"); ok {
				t.Fatalf("%s leads (%q) while we do", tc.name, line)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Expect(ctxT(t), "leader P1"); err != nil {
				t.Fatalf("%s did not lead after we stepped out: %v", tc.name, err)
			}

			// The peer leads; our latch waits until it steps out.
			l = mustLatch(t, s, path, WithLayout(tc.layout), WithValue([]byte("ours")))
			eventually(t, "we queued behind the peer", func() bool { return participants(t, l.Election()) == 2 })
			if c := mustLeader(t, l.Election()); !tc.node(c.Name) || string(c.Value) != "P1" {
				t.Fatalf("Leader while %s leads: %+v", tc.name, c)
			}
			if l.IsLeader() {
				t.Fatalf("our latch leads while %s does", tc.name)
			}
			peer.Send(tc.leave)
			if _, err := peer.Expect(ctxT(t), tc.left); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Await(ctxT(t)); err != nil {
				t.Fatalf("our latch after %s stepped out: %v", tc.name, err)
			}

			// The peer leads and its process dies: we lead once its
			// session expires.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			peer.Send(tc.join(path))
			if _, err := peer.Expect(ctxT(t), "leader P1"); err != nil {
				t.Fatal(err)
			}
			l = mustLatch(t, s, path, WithLayout(tc.layout), WithValue([]byte("ours")))
			eventually(t, "we queued behind the peer", func() bool { return participants(t, l.Election()) == 2 })
			if l.IsLeader() {
				t.Fatalf("our latch leads while %s does", tc.name)
			}
			peer.Kill()
			killed := time.Now()
			term, err := l.Await(ctxT(t))
			if err != nil {
				t.Fatalf("our latch after %s died: %v", tc.name, err)
			}
			t.Logf("we lead %v after %s died", time.Since(killed).Round(time.Millisecond), tc.name)
			if term.Err() != nil {
				t.Fatal(term.Err())
			}
		})
	}
}
