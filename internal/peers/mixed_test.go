package peers_test

import (
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/peers"
)

// TestMixedLibrariesDoNotExclude records a fact the Go recipes must design
// around: a Curator and a kazoo lock on one path do not exclude each other.
// kazoo counts only children matching (__lock__|__rlock__)<10 digits> as
// contenders and so ignores Curator's nodes; Curator sorts children by the
// text after "lock-" (or __READ__/__WRIT__), so a kazoo node, which has
// none, sorts by its whole name, a uuid hex, after Curator's sequence
// digits. Each library then believes it holds the lock.
func TestMixedLibrariesDoNotExclude(t *testing.T) {
	cases := []struct {
		name            string
		first, second   starter
		firstC, secondC string
	}{
		{"curator lock then kazoo lock", peers.Curator, peers.Kazoo, "lock", "lock"},
		{"kazoo lock then curator lock", peers.Kazoo, peers.Curator, "lock", "lock"},
		{"curator write-lock then kazoo write-lock", peers.Curator, peers.Kazoo, "write-lock", "write-lock"},
		{"kazoo write-lock then curator read-lock", peers.Kazoo, peers.Curator, "write-lock", "read-lock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			a := c.first(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			b := c.second(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			lock := e.path("x")
			a.Send(c.firstC + " " + lock)
			expect(t, a, "acquired "+c.firstC+" "+lock)
			b.Send(c.secondC + " " + lock)
			expect(t, b, "acquired "+c.secondC+" "+lock) // both hold it
			for _, n := range e.tree(lock) {
				t.Logf("both hold %s: node %s (data %q)", lock, n.rel, n.data)
			}
		})
	}
}
