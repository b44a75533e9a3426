package backendtest

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// testStatMode: Stat.Mode (and Stat.TTL) is the mode a node was created
// with where the backend keeps it (Capabilities.ExactMode), and otherwise
// tells only ephemeral from persistent. Get, Exists and Set agree.
func testStatMode(t *testing.T, h *harness) {
	s := h.session(t)
	exact := s.Capabilities().ExactMode
	const ttl = time.Hour // long enough that the server never reaps it here
	mustCreate(t, s, "/p", nil, backend.Persistent)
	mustCreate(t, s, "/e", nil, backend.Ephemeral)
	mustCreate(t, s, "/c", nil, backend.Container)
	mustCreate(t, s, "/c/kid", nil, backend.Persistent) // a container with a child stays
	mustCreate(t, s, "/t", nil, backend.PersistentTTL, backend.WithTTL(ttl))
	seq := mustCreate(t, s, "/s-", nil, backend.PersistentSequential)
	eseq := mustCreate(t, s, "/es-", nil, backend.EphemeralSequential)
	for _, n := range []struct {
		path  string
		mode  backend.Mode
		ttl   time.Duration
		guess backend.Mode // what a backend without ExactMode reports
	}{
		{"/p", backend.Persistent, 0, backend.Persistent},
		{"/e", backend.Ephemeral, 0, backend.Ephemeral},
		{"/c", backend.Container, 0, backend.Persistent},
		{"/t", backend.PersistentTTL, ttl, backend.Persistent},
		{seq, backend.PersistentSequential, 0, backend.Persistent},
		{eseq, backend.EphemeralSequential, 0, backend.Ephemeral},
	} {
		want, wantTTL := n.guess, time.Duration(0)
		if exact {
			want, wantTTL = n.mode, n.ttl
		}
		_, st, err := s.Get(ctx(t), n.path)
		if err != nil {
			t.Fatalf("Get(%s): %v", n.path, err)
		}
		if st.Mode != want || st.TTL != wantTTL {
			t.Errorf("Get(%s): Mode %v, TTL %v (exact %v); want %v, %v", n.path, st.Mode, st.TTL, exact, want, wantTTL)
		}
		est, err := s.Exists(ctx(t), n.path)
		if err != nil || est == nil || est.Mode != st.Mode || est.TTL != st.TTL {
			t.Errorf("Exists(%s) = %+v, %v; want Get's mode %v, TTL %v", n.path, est, err, st.Mode, st.TTL)
		}
		sst, err := s.Set(ctx(t), n.path, []byte("x"), backend.AnyVersion)
		if err != nil || sst.Mode != st.Mode || sst.TTL != st.TTL {
			t.Errorf("Set(%s) = %+v, %v; want Get's mode %v, TTL %v", n.path, sst, err, st.Mode, st.TTL)
		}
	}
}
