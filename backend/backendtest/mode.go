package backendtest

import (
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// testNodeMode: backend.NodeMode reports the mode a node was created with
// (and a TTL node's TTL) where the backend can tell, and otherwise says so
// (exact false) and tells ephemeral from persistent only.
func testNodeMode(t *testing.T, h *harness) {
	s := h.session(t)
	const ttl = time.Hour // long enough that the server never reaps it here
	mustCreate(t, s, "/p", nil, backend.Persistent)
	mustCreate(t, s, "/e", nil, backend.Ephemeral)
	mustCreate(t, s, "/c", nil, backend.Container)
	mustCreate(t, s, "/c/kid", nil, backend.Persistent) // a container with a child stays
	mustCreate(t, s, "/t", nil, backend.PersistentTTL, backend.WithTTL(ttl))
	seq := mustCreate(t, s, "/s-", nil, backend.PersistentSequential)
	_, isReader := backend.Unwrap(s).(backend.ModeReader) // the retry wrapper forwards
	for _, n := range []struct {
		path  string
		mode  backend.Mode
		ttl   time.Duration
		guess backend.Mode // what a backend that cannot tell reports
	}{
		{"/p", backend.Persistent, 0, backend.Persistent},
		{"/e", backend.Ephemeral, 0, backend.Ephemeral},
		{"/c", backend.Container, 0, backend.Persistent},
		{"/t", backend.PersistentTTL, ttl, backend.Persistent},
		{seq, backend.PersistentSequential, 0, backend.Persistent},
	} {
		mode, gotTTL, exact, err := backend.NodeMode(ctx(t), s, n.path)
		if err != nil {
			t.Fatalf("NodeMode(%s): %v", n.path, err)
		}
		if exact != isReader {
			t.Fatalf("NodeMode(%s) exact = %v on a session that is a ModeReader: %v", n.path, exact, isReader)
		}
		want, wantTTL := n.guess, time.Duration(0)
		if exact {
			want, wantTTL = n.mode, n.ttl
		}
		if mode != want || gotTTL != wantTTL {
			t.Errorf("NodeMode(%s) = %v, %v (exact %v); want %v, %v", n.path, mode, gotTTL, exact, want, wantTTL)
		}
	}
	if _, _, _, err := backend.NodeMode(ctx(t), s, "/missing"); !errors.Is(err, backend.ErrNoNode) {
		t.Fatalf("NodeMode(/missing): %v, want ErrNoNode", err)
	}
	if _, _, _, err := backend.NodeMode(ctx(t), s, "bad//path"); !errors.Is(err, backend.ErrBadPath) {
		t.Fatalf("NodeMode(bad//path): %v, want ErrBadPath", err)
	}
}
