package backendtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

func expire(t *testing.T, s backend.Session) {
	t.Helper()
	e, ok := s.(backend.Expirer)
	if !ok {
		t.Fatalf("%T does not implement backend.Expirer", s)
	}
	if err := e.Expire(ctx(t)); err != nil {
		t.Fatalf("Expire: %v", err)
	}
}

func waitDone(t *testing.T, s backend.Session, what string) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(wait):
		t.Fatalf("%s: session not done after %v (state %v)", what, wait, s.State())
	}
}

// testExpiry: an expired session is Lost for good, its ephemeral nodes are
// gone, and calls on it fail with ErrSessionExpired without being retried
// (its client's policy is never asked).
//
// Broken on purpose to see the retry check fail: backend.Retrying's do
// treating ErrSessionExpired as a connection loss (the policy is asked).
func testExpiry(t *testing.T, h *harness) {
	policy := newCountingPolicy()
	owner := sessionOf(t, h.clientWith(t, Options{RetryPolicy: policy}))
	observer := h.session(t)
	states := owner.StateChanges(ctx(t))
	e := mustCreate(t, owner, "/e", nil, backend.Ephemeral)
	expire(t, owner)
	waitDone(t, owner, "after Expire")
	if owner.State() != backend.Lost || !errors.Is(owner.Err(), backend.ErrSessionExpired) {
		t.Fatalf("after expiry: state %v, err %v; want lost, ErrSessionExpired", owner.State(), owner.Err())
	}
	var seen []backend.State
	for st := range states {
		seen = append(seen, st)
	}
	if len(seen) == 0 || seen[len(seen)-1] != backend.Lost {
		t.Fatalf("state changes = %v, want them to end with lost", seen)
	}
	_ = observer.Sync(ctx(t), "/")
	if exists(t, observer, e) {
		t.Fatal("ephemeral node survives its expired session")
	}
	// The expired session never comes back to life under the caller.
	_, err := owner.Create(ctx(t), "/after", nil, backend.Persistent)
	wantErr(t, "Create on an expired session", err, backend.ErrSessionExpired)
	_, _, err = owner.Get(ctx(t), "/")
	wantErr(t, "Get on an expired session", err, backend.ErrSessionExpired)
	if exists(t, observer, "/after") {
		t.Fatal("a write on an expired session landed")
	}
	if n := policy.asked.Load(); n != 0 {
		t.Fatalf("calls on an expired session asked the retry policy %d times; want never", n)
	}
}

func testClientReplacesLostSession(t *testing.T, h *harness) {
	c := h.client(t)
	s1 := sessionOf(t, c)
	if again := sessionOf(t, c); again != s1 {
		t.Fatal("Client.Session returned another session while the first is alive")
	}
	expire(t, s1)
	waitDone(t, s1, "after Expire")
	s2 := sessionOf(t, c)
	if s2 == s1 || s2.ID() == s1.ID() {
		t.Fatalf("Client.Session after a loss returned the lost session (id %d)", s1.ID())
	}
	if s2.State() != backend.Connected {
		t.Fatalf("new session state %v, want connected", s2.State())
	}
	if p := mustCreate(t, s2, "/alive", nil, backend.Ephemeral); p != "/alive" {
		t.Fatalf("create on the new session = %q", p)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s2, "after Client.Close")
	if _, err := c.Session(ctx(t)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Session after Close: %v, want ErrClosed", err)
	}
}

// testClosedSession: Close delivers Closed and closes the state channel;
// calls after it fail with ErrClosed without being retried (the client's
// policy is never asked).
//
// Broken on purpose to see the retry check fail: backend.Retrying's do
// treating ErrClosed as a connection loss (the policy is asked).
func testClosedSession(t *testing.T, h *harness) {
	policy := newCountingPolicy()
	s := sessionOf(t, h.clientWith(t, Options{RetryPolicy: policy}))
	states := s.StateChanges(ctx(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-states; got != backend.Closed {
		t.Fatalf("state change on Close = %v, want closed", got)
	}
	if _, ok := <-states; ok {
		t.Fatal("state channel not closed after the final state")
	}
	if !errors.Is(s.Err(), backend.ErrClosed) {
		t.Fatalf("Err after Close = %v", s.Err())
	}
	_, err := s.Create(ctx(t), "/x", nil, backend.Persistent)
	wantErr(t, "Create after Close", err, backend.ErrClosed)
	_, err = s.Exists(ctx(t), "/")
	wantErr(t, "Exists after Close", err, backend.ErrClosed)
	_, err = s.Set(ctx(t), "/", nil, 0)
	wantErr(t, "versioned Set after Close", err, backend.ErrClosed)
	if n := policy.asked.Load(); n != 0 {
		t.Fatalf("calls on a closed session asked the retry policy %d times; want never", n)
	}
}

// testCancelledContext: a call whose context has ended fails with the
// context's error, changes nothing, and is not retried (the client's policy
// is never asked).
func testCancelledContext(t *testing.T, h *harness) {
	policy := newCountingPolicy()
	s := sessionOf(t, h.clientWith(t, Options{RetryPolicy: policy}))
	mustCreate(t, s, "/n", []byte("keep"), backend.Persistent)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Create(c, "/new", nil, backend.Persistent)
	wantErr(t, "Create", err, context.Canceled)
	_, _, err = s.Get(c, "/n")
	wantErr(t, "Get", err, context.Canceled)
	_, err = s.Set(c, "/n", []byte("lost"), backend.AnyVersion)
	wantErr(t, "Set", err, context.Canceled)
	err = s.Delete(c, "/n", backend.AnyVersion)
	wantErr(t, "Delete", err, context.Canceled)
	_, _, err = s.Children(c, "/")
	wantErr(t, "Children", err, context.Canceled)
	_, err = s.Multi(c, backend.CreateOp{Path: "/new"})
	wantErr(t, "Multi", err, context.Canceled)
	_, err = s.Create(c, "/new", nil, backend.Persistent)
	if !strings.Contains(err.Error(), "/new") {
		t.Fatalf("error %q does not name the path", err)
	}
	if exists(t, s, "/new") {
		t.Fatal("a create with a cancelled context landed")
	}
	if data, _, _ := s.Get(ctx(t), "/n"); string(data) != "keep" {
		t.Fatalf("a set with a cancelled context changed the data to %q", data)
	}
	if s.State() != backend.Connected {
		t.Fatalf("a cancelled call changed the session state to %v", s.State())
	}
	if n := policy.asked.Load(); n != 0 {
		t.Fatalf("calls with a cancelled context asked the retry policy %d times; want never", n)
	}
}

func testLimits(t *testing.T, h *harness) {
	s := h.session(t)
	max := s.Capabilities().MaxDataSize
	if max < 512*1024 {
		t.Fatalf("MaxDataSize = %d, want at least 512 KiB", max)
	}
	big := bytes.Repeat([]byte{'x'}, max)
	if _, err := s.Create(ctx(t), "/big", big, backend.Persistent); err != nil {
		t.Fatalf("Create at MaxDataSize (%d): %v", max, err)
	}
	data, st, err := s.Get(ctx(t), "/big")
	if err != nil || len(data) != max || int(st.DataLength) != max {
		t.Fatalf("Get at MaxDataSize: %d bytes, %v", len(data), err)
	}
	over := append(big, 'y')
	_, err = s.Create(ctx(t), "/over", over, backend.Persistent)
	wantErr(t, "Create over MaxDataSize", err, backend.ErrTooLarge)
	_, err = s.Set(ctx(t), "/big", over, backend.AnyVersion)
	wantErr(t, "Set over MaxDataSize", err, backend.ErrTooLarge)
	_, err = s.Multi(ctx(t), backend.SetOp{Path: "/big", Data: over, Version: -1})
	wantErr(t, "Multi set over MaxDataSize", err, backend.ErrTooLarge)
	if exists(t, s, "/over") {
		t.Fatal("an oversized create landed")
	}
	if _, st2, _ := s.Get(ctx(t), "/big"); st2.Version != 0 {
		t.Fatal("an oversized set changed the node")
	}
	if s.State() != backend.Connected {
		t.Fatalf("an oversized request changed the session state to %v", s.State())
	}
}

func testNamespaces(t *testing.T, h *harness) {
	a := sessionOf(t, h.clientWith(t, Options{Namespace: h.ns + "/a"}))
	ab := sessionOf(t, h.clientWith(t, Options{Namespace: h.ns + "/ab"}))
	outer := h.session(t)
	if p := mustCreate(t, a, "/x", []byte("a"), backend.Persistent); p != "/x" {
		t.Fatalf("created path %q, want it inside the namespace as /x", p)
	}
	seq := mustCreate(t, a, "/s-", nil, backend.PersistentSequential)
	if !strings.HasPrefix(seq, "/s-") {
		t.Fatalf("sequential path %q not relative to the namespace", seq)
	}
	if exists(t, ab, "/x") {
		t.Fatal("namespace /ab sees a node of namespace /a")
	}
	mustCreate(t, ab, "/x", []byte("ab"), backend.Persistent)
	if data, _, _ := a.Get(ctx(t), "/x"); string(data) != "a" {
		t.Fatalf("namespaces share a node: %q", data)
	}
	if data, _, err := outer.Get(ctx(t), "/a/x"); err != nil || string(data) != "a" {
		t.Fatalf("the outer namespace sees /a/x as %q, %v", data, err)
	}
	kids, _, err := a.Children(ctx(t), "/")
	if err != nil || len(kids) != 2 {
		t.Fatalf("Children(/) in namespace = %q, %v; want x and the sequential node", kids, err)
	}
	_, ch, err := a.ExistsW(ctx(t), "/w")
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, a, "/w", nil, backend.Persistent)
	if ev := NextEvent(t, ch); ev.Path != "/w" || ev.Type != backend.EventCreated {
		t.Fatalf("event in namespace = %+v, want created /w", ev)
	}
}

func testSync(t *testing.T, h *harness) {
	w, r := h.session(t), h.session(t)
	mustCreate(t, w, "/s", []byte("1"), backend.Persistent)
	for i := 0; i < 20; i++ {
		v := []byte{byte('a' + i)}
		if _, err := w.Set(ctx(t), "/s", v, backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		if err := r.Sync(ctx(t), "/s"); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if data, _, _ := r.Get(ctx(t), "/s"); !bytes.Equal(data, v) {
			t.Fatalf("after Sync another session reads %q, want %q", data, v)
		}
	}
}

func testDeleteAll(t *testing.T, h *harness) {
	s := h.session(t)
	for _, p := range []string{"/t/a/b/c", "/t/a/d", "/t/e", "/tt"} {
		mustCreate(t, s, p, nil, backend.Persistent, backend.WithParents(backend.Persistent))
	}
	if err := backend.DeleteAll(ctx(t), s, "/t"); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	if exists(t, s, "/t") || !exists(t, s, "/tt") {
		t.Fatal("DeleteAll removed the wrong nodes")
	}
	if err := backend.DeleteAll(ctx(t), s, "/t"); err != nil {
		t.Fatalf("DeleteAll of a missing node: %v", err)
	}
}

// testConnectionStates cuts a session's connection and heals it: the session
// goes Suspended, then Reconnected, keeps its ephemeral node, and calls
// issued while cut fail with ErrConnectionLoss or succeed after the heal.
// StateChanges delivers every change in order to every subscriber: three
// more subscribers, which read nothing until the session is closed, see
// the same states, suspended, reconnected and closed.
//
// Broken on purpose to see it fail: statefeed.Set queueing all but the
// final change for one subscriber only (another waits in vain for
// suspended), and keeping only the newest change queued for a slow
// subscriber (they see [suspended closed]).
func testConnectionStates(t *testing.T, h *harness) {
	proxy, err := faultnet.NewProxy(h.cfg.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	s := sessionOf(t, h.clientWith(t, Options{Endpoints: []string{proxy.Addr()}, SessionTimeout: 10 * time.Second}))
	observer := h.session(t)
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	states := s.StateChanges(ctx(t))
	slow := subscribe(t, s, 3)

	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	proxy.Heal()
	WaitState(t, states, backend.Reconnected)
	if s.State() != backend.Reconnected {
		t.Fatalf("state %v after heal", s.State())
	}
	if !exists(t, observer, e) {
		t.Fatal("ephemeral node lost across a short cut")
	}
	st, err := s.Exists(ctx(t), e)
	if err != nil || st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("after reconnect: %+v, %v", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seen := sameStates(t, slow)
	sus := slices.Index(seen, backend.Suspended)
	if sus < 0 || slices.Index(seen[sus:], backend.Reconnected) < 0 || seen[len(seen)-1] != backend.Closed {
		t.Fatalf("states %v: want suspended, then reconnected, then closed", seen)
	}
}
