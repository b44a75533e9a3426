package zk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
)

// TestExpire: after Expire the session is Lost with ErrSessionExpired, its
// ephemeral nodes are gone, its calls, watches and tree watches end with
// ErrSessionExpired, and the client opens a new session.
func TestExpire(t *testing.T) {
	cfg := testConfig(t)
	c := newClient(t, cfg)
	owner := sessionOf(t, c)
	observer := newSession(t, testConfigNS(t, cfg.Namespace))
	states := owner.StateChanges(ctxT(t))
	mustCreate(t, owner, "/dir", nil, backend.Persistent)
	e := mustCreate(t, owner, "/dir/e", []byte("mine"), backend.Ephemeral)
	es := mustCreate(t, owner, "/dir/s-", nil, backend.EphemeralSequential)
	_, _, watch, err := owner.GetW(ctxT(t), "/dir")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := owner.WatchTree(ctxT(t), "/dir")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range tree {
		if ev.Type == backend.TreeInitialized {
			break
		}
	}
	_, obsWatch, err := observer.ExistsW(ctxT(t), e)
	if err != nil {
		t.Fatal(err)
	}

	if err := owner.Expire(ctxT(t)); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	// The server has ended the session when Expire returns.
	if err := observer.Sync(ctxT(t), "/dir"); err != nil {
		t.Fatal(err)
	}
	if exists(t, observer, e) || exists(t, observer, es) {
		t.Fatal("ephemeral nodes survive Expire")
	}
	if ev := backendtest.NextEvent(t, obsWatch); ev.Type != backend.EventDeleted || ev.Path != e {
		t.Fatalf("observer's watch saw %+v, want deleted %s", ev, e)
	}

	select {
	case <-owner.Done():
	case <-time.After(wait):
		t.Fatalf("session not done after Expire (state %v)", owner.State())
	}
	if owner.State() != backend.Lost || !errors.Is(owner.Err(), backend.ErrSessionExpired) {
		t.Fatalf("after Expire: state %v, err %v", owner.State(), owner.Err())
	}
	var seen []backend.State
	for st := range states {
		seen = append(seen, st)
	}
	if len(seen) == 0 || seen[len(seen)-1] != backend.Lost {
		t.Fatalf("state changes %v, want them to end with lost", seen)
	}
	for _, st := range seen[:len(seen)-1] {
		if st != backend.Suspended {
			t.Fatalf("state changes %v: only suspended may come before lost", seen)
		}
	}
	if ev := backendtest.NextEvent(t, watch); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrSessionExpired) {
		t.Fatalf("owner's watch ended with %+v, want not-watching with ErrSessionExpired", ev)
	}
	var last backend.TreeEvent
	for ev := range tree {
		last = ev
	}
	if last.Type != backend.TreeEnded || !errors.Is(last.Err, backend.ErrSessionExpired) {
		t.Fatalf("tree watch ended with %+v, want TreeEnded with ErrSessionExpired", last)
	}

	// Every call fails at once; nothing lands under a new session.
	_, err = owner.Create(ctxT(t), "/after", nil, backend.Persistent)
	wantErr(t, "Create on an expired session", err, backend.ErrSessionExpired)
	_, _, err = owner.Get(ctxT(t), "/dir")
	wantErr(t, "Get on an expired session", err, backend.ErrSessionExpired)
	_, _, _, err = owner.ChildrenW(ctxT(t), "/dir")
	wantErr(t, "ChildrenW on an expired session", err, backend.ErrSessionExpired)
	_, err = owner.Multi(ctxT(t), backend.CheckOp{Path: "/dir", Version: -1})
	wantErr(t, "Multi on an expired session", err, backend.ErrSessionExpired)
	err = owner.Expire(ctxT(t))
	wantErr(t, "Expire on an expired session", err, backend.ErrSessionExpired)
	if exists(t, observer, "/after") {
		t.Fatal("a create on the expired session landed")
	}
	if owner.ID() == 0 {
		t.Fatal("ID() forgot the session id")
	}

	// The client replaces the lost session.
	s2 := sessionOf(t, c)
	if s2 == owner || s2.ID() == owner.ID() || s2.State() != backend.Connected {
		t.Fatalf("replacement session: same %v, id 0x%x (old 0x%x), state %v", s2 == owner, s2.ID(), owner.ID(), s2.State())
	}
	mustCreate(t, s2, "/dir/e", nil, backend.Ephemeral)
	// Closing the lost session changes nothing.
	if err := owner.Close(); err != nil || owner.State() != backend.Lost || !errors.Is(owner.Err(), backend.ErrSessionExpired) {
		t.Fatalf("Close of a lost session: %v, state %v, err %v", err, owner.State(), owner.Err())
	}
}

// TestExpiryAfterPartition: a session cut off for longer than its timeout
// is expired by the server; when the connection comes back the Session
// learns it, becomes Lost and never carries on under a new session.
func TestExpiryAfterPartition(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = time.Second
	fd := newFaultDialer()
	cfg.Dialer = fd.Dial
	c := newClient(t, cfg)
	s := sessionOf(t, c)
	observer := newSession(t, testConfigNS(t, cfg.Namespace))
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	_, gone, err := observer.ExistsW(ctxT(t), e)
	if err != nil {
		t.Fatal(err)
	}
	states := s.StateChanges(ctxT(t))

	fd.Cut()
	backendtest.WaitState(t, states, backend.Suspended)
	// The server expires the session: its ephemeral node goes.
	if ev := backendtest.NextEvent(t, gone); ev.Type != backend.EventDeleted {
		t.Fatalf("observer saw %+v, want the ephemeral node deleted", ev)
	}
	if s.State() != backend.Suspended {
		t.Fatalf("state %v before the connection is back", s.State())
	}
	fd.Heal()
	backendtest.WaitState(t, states, backend.Lost)
	if !errors.Is(s.Err(), backend.ErrSessionExpired) {
		t.Fatalf("Err() = %v", s.Err())
	}
	_, err = s.Create(ctxT(t), "/after", nil, backend.Ephemeral)
	wantErr(t, "Create after expiry", err, backend.ErrSessionExpired)
	if exists(t, observer, "/after") {
		t.Fatal("a create landed after the expiry")
	}
	if s2 := sessionOf(t, c); s2.ID() == s.ID() {
		t.Fatal("the client handed out the expired session again")
	}
}

// TestExpiryAfterBlackhole: the server stops answering (connections are
// accepted, bytes vanish) for longer than the session timeout. Once it
// answers again, the session learns of its expiry within a few session
// timeouts, not after go-zookeeper's own handshake timeout (ten receive
// timeouts, and no limit on the response body).
func TestExpiryAfterBlackhole(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 2 * time.Second
	fd := newFaultDialer()
	cfg.Dialer = fd.Dial
	s := newSession(t, cfg)
	observer := newSession(t, testConfigNS(t, cfg.Namespace))
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	_, gone, err := observer.ExistsW(ctxT(t), e)
	if err != nil {
		t.Fatal(err)
	}
	states := s.StateChanges(ctxT(t))
	fd.Stall()
	backendtest.WaitState(t, states, backend.Suspended)
	if ev := backendtest.NextEvent(t, gone); ev.Type != backend.EventDeleted {
		t.Fatalf("observer saw %+v, want the ephemeral node deleted", ev)
	}
	// Drain a signal from before the expiry, then wait for a reconnection
	// that is stuck waiting for the server's answer.
	select {
	case <-fd.handshakes:
	default:
	}
	select {
	case <-fd.handshakes:
	case <-time.After(wait):
		t.Fatal("no reconnection attempt")
	}
	healed := time.Now()
	fd.Heal()
	backendtest.WaitState(t, states, backend.Lost)
	if d := time.Since(healed); d > 4*cfg.SessionTimeout {
		t.Fatalf("the expiry was noticed %v after the server answered again", d)
	}
}
