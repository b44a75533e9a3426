package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// silent asserts that no event has been delivered yet (without waiting).
func silent(t *testing.T, ch <-chan backend.Event, what string) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("%s: unexpected event %+v", what, ev)
	default:
	}
}

func testWatchData(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	mustCreate(t, s, "/n", []byte("a"), backend.Persistent)
	data, st, ch, err := w.GetW(ctx(t), "/n")
	if err != nil || string(data) != "a" || st.Version != 0 {
		t.Fatalf("GetW = %q, %+v, %v", data, st, err)
	}
	silent(t, ch, "before any change")
	if _, err := s.Set(ctx(t), "/n", []byte("b"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx(t), "/n", []byte("c"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventDataChanged || ev.Path != "/n" {
		t.Fatalf("event = %+v, want data-changed /n", ev)
	}
	_, _, ch, err = w.GetW(ctx(t), "/n")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(t), "/n", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventDeleted || ev.Path != "/n" {
		t.Fatalf("event = %+v, want deleted /n", ev)
	}
	_, _, ch, err = w.GetW(ctx(t), "/n")
	wantErr(t, "GetW on a missing node", err, backend.ErrNoNode)
	if ch != nil {
		t.Fatal("GetW on a missing node returned a watch")
	}
}

func testWatchExists(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	st, ch, err := w.ExistsW(ctx(t), "/n")
	if err != nil || st != nil {
		t.Fatalf("ExistsW on a missing node = %+v, %v", st, err)
	}
	mustCreate(t, s, "/n", []byte("a"), backend.Ephemeral)
	if ev := NextEvent(t, ch); ev.Type != backend.EventCreated || ev.Path != "/n" {
		t.Fatalf("event = %+v, want created /n", ev)
	}
	st, ch, err = w.ExistsW(ctx(t), "/n")
	if err != nil || st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("ExistsW on an existing node = %+v, %v", st, err)
	}
	if _, err := s.Set(ctx(t), "/n", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventDataChanged {
		t.Fatalf("event = %+v, want data-changed", ev)
	}
	_, ch, _ = w.ExistsW(ctx(t), "/n")
	if err := s.Delete(ctx(t), "/n", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventDeleted {
		t.Fatalf("event = %+v, want deleted", ev)
	}
}

func testWatchChildren(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	mustCreate(t, s, "/p", nil, backend.Persistent)
	mustCreate(t, s, "/p/a", nil, backend.Persistent)
	kids, _, ch, err := w.ChildrenW(ctx(t), "/p")
	if err != nil || len(kids) != 1 || kids[0] != "a" {
		t.Fatalf("ChildrenW = %q, %v", kids, err)
	}
	// Changes to the node's or a child's data, and grandchildren, are not
	// children changes of /p. A create under /p/a then proves by ordering
	// that none of them fired: the next event must be for /p itself.
	if _, err := s.Set(ctx(t), "/p/a", []byte("x"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx(t), "/p", []byte("x"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/p/a/grandchild", nil, backend.Persistent)
	_, _, probe, err := w.ChildrenW(ctx(t), "/p/a")
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/p/a/second", nil, backend.Persistent)
	NextEvent(t, probe)
	silent(t, ch, "after data changes and grandchildren")

	mustCreate(t, s, "/p/b", nil, backend.Ephemeral)
	if ev := NextEvent(t, ch); ev.Type != backend.EventChildrenChanged || ev.Path != "/p" {
		t.Fatalf("event = %+v, want children-changed /p", ev)
	}
	_, _, ch, _ = w.ChildrenW(ctx(t), "/p")
	if err := s.Delete(ctx(t), "/p/b", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventChildrenChanged {
		t.Fatalf("event = %+v, want children-changed on delete", ev)
	}
	// Deleting the watched node itself.
	mustCreate(t, s, "/q", nil, backend.Persistent)
	_, _, ch, _ = w.ChildrenW(ctx(t), "/q")
	if err := s.Delete(ctx(t), "/q", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventDeleted || ev.Path != "/q" {
		t.Fatalf("event = %+v, want deleted /q", ev)
	}
}

// testWatchNoGap checks that the state a watching read returns and the watch
// it registers have no gap between them: a writer changes a node many times
// while a reader re-arms a watch after each event; if any change fell between
// a read and its watch, the reader would wait for an event that never comes
// after the writer's last change.
func testWatchNoGap(t *testing.T, h *harness) {
	w, r := h.session(t), h.session(t)
	mustCreate(t, w, "/n", nil, backend.Persistent)
	const writes = 200
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= writes; i++ {
			if _, err := w.Set(ctx(t), "/n", []byte(fmt.Sprint(i)), backend.AnyVersion); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var last int32 = -1
	for {
		_, st, ch, err := r.GetW(ctx(t), "/n")
		if err != nil {
			t.Fatal(err)
		}
		if st.Version < last {
			t.Fatalf("read version %d after %d", st.Version, last)
		}
		last = st.Version
		if last == writes {
			break
		}
		ev := NextEvent(t, ch)
		if ev.Type != backend.EventDataChanged {
			t.Fatalf("event %+v, want data-changed", ev)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, _, ch, _ := r.GetW(ctx(t), "/n")
	if _, err := w.Set(ctx(t), "/n", []byte("after"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	NextEvent(t, ch)

	// The same for children.
	mustCreate(t, w, "/kids", nil, backend.Persistent)
	go func() {
		for i := 0; i < 50; i++ {
			if _, err := w.Create(ctx(t), "/kids/k-", nil, backend.PersistentSequential); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		kids, _, ch, err := r.ChildrenW(ctx(t), "/kids")
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 50 {
			break
		}
		if ev := NextEvent(t, ch); ev.Type != backend.EventChildrenChanged {
			t.Fatalf("event %+v", ev)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// testWatchEnds: a one-shot watch ends with EventNotWatching when its
// context ends, and when its session is closed. A watch whose context
// ended does not fire later: the node changes after the cancel, and the
// one event is still not-watching with context.Canceled; and its goroutine
// is gone (the backend's goroutines return to what they were before the
// watches).
//
// Broken on purpose to see it fail: zk's forward and etcd's runShot
// ignoring ctx (the event is data-changed), and zk's forward waiting for
// the session's end after delivering not-watching (a goroutine of the
// session is left running).
func testWatchEnds(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/n", nil, backend.Persistent)
	before := backendGoroutines()
	wctx, cancel := context.WithCancel(context.Background())
	_, _, ch, err := s.GetW(wctx, "/n")
	if err != nil {
		t.Fatal(err)
	}
	_, ch2, err := s.ExistsW(wctx, "/missing")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Set(ctx(t), "/n", []byte("x"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/missing", nil, backend.Persistent)
	for _, c := range []<-chan backend.Event{ch, ch2} {
		if ev := NextEvent(t, c); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, context.Canceled) {
			t.Fatalf("event of a watch cancelled before the change = %+v, want not-watching with context.Canceled", ev)
		}
	}
	waitGoroutines(t, before, "after the watches' contexts ended")

	_, _, ch, err = s.ChildrenW(ctx(t), "/n")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := NextEvent(t, ch); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrClosed) {
		t.Fatalf("event on Close = %+v, want not-watching with ErrClosed", ev)
	}
}

// testExpirySeenByWatchers: when a session expires, the deletion of its
// ephemeral node reaches a watcher of the node and of the parent's children,
// and a watch of the expired session that nothing fired ends with
// EventNotWatching and ErrSessionExpired.
func testExpirySeenByWatchers(t *testing.T, h *harness) {
	owner, w := h.session(t), h.session(t)
	mustCreate(t, w, "/members", nil, backend.Persistent)
	e := mustCreate(t, owner, "/members/m-", nil, backend.EphemeralSequential)
	_, nodeCh, err := w.ExistsW(ctx(t), e)
	if err != nil {
		t.Fatal(err)
	}
	_, _, kidsCh, err := w.ChildrenW(ctx(t), "/members")
	if err != nil {
		t.Fatal(err)
	}
	ownerWatch := make(chan backend.Event, 1)
	_, _, och, err := owner.GetW(ctx(t), e)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ownerWatch <- <-och }()
	// A watch the expiry does not fire: it can only end not-watching.
	_, unrelated, err := owner.ExistsW(ctx(t), "/unrelated")
	if err != nil {
		t.Fatal(err)
	}
	expire(t, owner)
	if ev := NextEvent(t, nodeCh); ev.Type != backend.EventDeleted || ev.Path != e {
		t.Fatalf("node watcher saw %+v, want deleted %s", ev, e)
	}
	if ev := NextEvent(t, kidsCh); ev.Type != backend.EventChildrenChanged {
		t.Fatalf("children watcher saw %+v, want children-changed", ev)
	}
	wg.Wait()
	if ev := <-ownerWatch; ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrSessionExpired) {
		// The owner's own watch may also have seen the delete before it
		// learned of the expiry on some backends; not-watching is what a
		// lost session must end with when it did not.
		if ev.Type != backend.EventDeleted {
			t.Fatalf("the expired owner's watch ended with %+v", ev)
		}
	}
	if ev := NextEvent(t, unrelated); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrSessionExpired) {
		t.Fatalf("a watch of the expired session ended with %+v, want not-watching with ErrSessionExpired", ev)
	}
	kids, _, err := w.Children(ctx(t), "/members")
	if err != nil || len(kids) != 0 {
		t.Fatalf("members after expiry: %q, %v", kids, err)
	}
}
