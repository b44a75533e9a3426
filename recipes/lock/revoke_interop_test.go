package lock

import (
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestRevokeInterop asks across libraries to release a lock on ZooKeeper:
// our Revoke reaches a real Curator revocable InterProcessMutex, and
// Curator's Revoker reaches our lease taken WithRevocable.
func TestRevokeInterop(t *testing.T) {
	eps := testenv.ZooKeeper(t)
	e := &env{Backend: backends[0], Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	s := e.Session(t)
	peer := peers.Curator(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace))

	// Curator holds a revocable lock; we ask it to release.
	peer.Send("revocable-lock /r")
	if _, err := peer.Expect(ctxT(t), "acquired revocable-lock /r"); err != nil {
		t.Fatal(err)
	}
	m := mustNew(t, s, "/r")
	hs, err := m.Holders(ctxT(t))
	if err != nil || len(hs) != 1 {
		t.Fatalf("holders: %+v, %v", hs, err)
	}
	if err := m.Revoke(ctxT(t), hs[0].Name); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := peer.Expect(ctxT(t), "revoke-requested /r"); err != nil {
		t.Fatalf("Curator's revocation listener did not hear us: %v", err)
	}
	peer.Send("unlock /r")
	if _, err := peer.Expect(ctxT(t), "released"); err != nil {
		t.Fatal(err)
	}

	// We hold a revocable lease; Curator's Revoker asks us to release.
	rm := mustNew(t, s, "/r2", WithRevocable())
	l := mustLock(t, rm)
	peer.Send("revoke /r2 " + backend.Base(l.Path()))
	if _, err := peer.Expect(ctxT(t), "revoke-sent"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Revoked():
	case <-time.After(wait):
		t.Fatal("our lease did not see Curator's revoke request")
	}
	select {
	case <-l.Done():
		t.Fatal("a revoke request ended the lease by itself")
	default:
	}
	if err := l.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
