package backendtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// expectTree reads events until one matches want's type and path, failing on
// any event that is not allowed to come first.
func expectTree(t *testing.T, ch <-chan backend.TreeEvent, typ backend.TreeEventType, path string, data string) backend.TreeEvent {
	t.Helper()
	ev := NextTreeEvent(t, ch)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("tree event %v %s, want %v %s", ev.Type, ev.Path, typ, path)
	}
	if (typ == backend.NodeAdded || typ == backend.NodeUpdated) && string(ev.Data) != data {
		t.Fatalf("tree event %v %s data %q, want %q", ev.Type, ev.Path, ev.Data, data)
	}
	return ev
}

func testWatchTree(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	for _, p := range []string{"/r", "/r/a", "/r/a/b", "/r/c", "/rr", "/other"} {
		mustCreate(t, s, p, []byte("v"+p), backend.Persistent)
	}
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := w.WatchTree(wctx, "/r")
	if err != nil {
		t.Fatal(err)
	}
	var initial []string
	for {
		ev := NextTreeEvent(t, ch)
		if ev.Type == backend.TreeInitialized {
			break
		}
		if ev.Type != backend.NodeAdded {
			t.Fatalf("initial event %v %s, want added", ev.Type, ev.Path)
		}
		if string(ev.Data) != "v"+ev.Path || ev.Stat.CreateToken == 0 {
			t.Fatalf("initial %s: data %q stat %+v", ev.Path, ev.Data, ev.Stat)
		}
		initial = append(initial, ev.Path)
	}
	slices.Sort(initial)
	if want := []string{"/r", "/r/a", "/r/a/b", "/r/c"}; !slices.Equal(initial, want) {
		t.Fatalf("initial tree %q, want %q", initial, want)
	}

	// Changes outside the subtree are not reported: the next events must be
	// exactly the ones made inside it, in order.
	mustCreate(t, s, "/rr/x", nil, backend.Persistent)
	if _, err := s.Set(ctx(t), "/other", []byte("o"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/r/a/b/new", []byte("n"), backend.Persistent)
	expectTree(t, ch, backend.NodeAdded, "/r/a/b/new", "n")
	if _, err := s.Set(ctx(t), "/r/c", []byte("c2"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	ev := expectTree(t, ch, backend.NodeUpdated, "/r/c", "c2")
	if ev.Stat.Version != 1 {
		t.Fatalf("updated stat version %d, want 1", ev.Stat.Version)
	}
	if err := s.Delete(ctx(t), "/r/a/b/new", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	expectTree(t, ch, backend.NodeRemoved, "/r/a/b/new", "")
	e := mustCreate(t, s, "/r/eph", []byte("e"), backend.Ephemeral)
	expectTree(t, ch, backend.NodeAdded, e, "e")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	expectTree(t, ch, backend.NodeRemoved, e, "")

	cancel()
	for {
		ev := NextTreeEvent(t, ch)
		if ev.Type == backend.TreeEnded {
			if !errors.Is(ev.Err, context.Canceled) {
				t.Fatalf("TreeEnded err = %v, want context.Canceled", ev.Err)
			}
			break
		}
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after TreeEnded")
		}
	case <-time.After(wait):
		t.Fatal("tree channel not closed after TreeEnded")
	}
}

// testWatchTreeMissingRoot: a subtree watch on a node that does not exist yet
// reports it when it is created.
func testWatchTreeMissingRoot(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	ch, err := w.WatchTree(ctx(t), "/later")
	if err != nil {
		t.Fatal(err)
	}
	if ev := NextTreeEvent(t, ch); ev.Type != backend.TreeInitialized {
		t.Fatalf("first event on a missing root %v %s, want initialized", ev.Type, ev.Path)
	}
	mustCreate(t, s, "/later", []byte("x"), backend.Persistent)
	expectTree(t, ch, backend.NodeAdded, "/later", "x")
	mustCreate(t, s, "/later/kid", []byte("k"), backend.Persistent)
	expectTree(t, ch, backend.NodeAdded, "/later/kid", "k")
	if err := backend.DeleteAll(ctx(t), s, "/later"); err != nil {
		t.Fatal(err)
	}
	// Children go before their parent.
	expectTree(t, ch, backend.NodeRemoved, "/later/kid", "")
	expectTree(t, ch, backend.NodeRemoved, "/later", "")
}
