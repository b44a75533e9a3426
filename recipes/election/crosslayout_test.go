package election

import (
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestCrossLayout (issue 11.2): whatever layout our candidate writes, it
// queues behind the leader of the other library's layout on one path, on
// ZooKeeper with the real libraries: our default (Curator) layout behind a
// kazoo Election's leader, our Kazoo layout behind a Curator LeaderLatch's.
// (Neither library sees the other's names; the doc's matrix says so.)
// Seen failing with the candidate reading only its own layout's marker:
// our latch led beside the peer.
func TestCrossLayout(t *testing.T) {
	t.Parallel()
	zkb := backends[0]
	if zkb.Name != "zk" {
		t.Fatal("backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	cases := []struct {
		name   string
		layout Layout // ours: the other library's
		start  func(t testing.TB, connect string, opts ...peers.Option) *peers.Peer
		join   string
		leave  string
	}{
		{"default-vs-kazoo", Curator, peers.Kazoo, "elect /x P1", "resign P1"},
		{"kazoo-layout-vs-curator", Kazoo, peers.Curator, "latch /x P1", "close-latch P1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
			s := e.Session(t) // creates the namespace node the peer is rooted in
			peer := tc.start(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace), peers.WithSessionTimeout(sessionTimeout))
			peer.Send(tc.join)
			if _, err := peer.Expect(ctxT(t), "leader P1"); err != nil {
				t.Fatal(err)
			}
			l := mustLatch(t, s, "/x", WithLayout(tc.layout), WithValue([]byte("ours")))
			eventually(t, "our candidate queued behind the peer", func() bool { return participants(t, l.Election()) == 2 })
			if l.IsLeader() {
				t.Fatalf("we lead beside %s's leader", peer.Name())
			}
			if ldr, err := l.Election().Leader(ctxT(t)); err != nil || string(ldr.Value) != "P1" {
				t.Fatalf("Leader while %s leads: %+v, %v", peer.Name(), ldr, err)
			}
			peer.Send(tc.leave)
			if _, err := l.Await(ctxT(t)); err != nil {
				t.Fatalf("after %s stepped out: %v", peer.Name(), err)
			}
		})
	}
}
