package backendtest

import (
	"context"
	"errors"
	"fmt"
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

// testWatchTreeGap: changes made while the watcher's connection is cut are
// all reported once it is back, each once: a node deleted and created
// again meanwhile as NodeRemoved then NodeAdded (its CreateToken changed;
// never NodeUpdated, the bug of CURATOR-391), a changed node as
// NodeUpdated with the last data. Whether the backend saw a gap (and so
// sends TreeResynced, after the differences) is its own: ZooKeeper's
// persistent watches die with the connection, etcd's watch resumes at
// its revision. Broken on purpose (backend/zk's refresh comparing no
// CreateToken): "events for /r/a: ["updated again"]".
func testWatchTreeGap(t *testing.T, h *harness) {
	s := h.session(t)
	w, proxy := h.proxied(t, 10*time.Second)
	for _, p := range []string{"/r", "/r/a", "/r/b", "/r/c"} {
		mustCreate(t, s, p, []byte("v"+p), backend.Persistent)
	}
	ch, err := w.WatchTree(ctx(t), "/r")
	if err != nil {
		t.Fatal(err)
	}
	for ev := NextTreeEvent(t, ch); ev.Type != backend.TreeInitialized; ev = NextTreeEvent(t, ch) {
	}
	states := w.StateChanges(ctx(t))
	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	if err := s.Delete(ctx(t), "/r/a", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/r/a", []byte("again"), backend.Persistent)
	for _, v := range []string{"b1", "b2"} {
		if _, err := s.Set(ctx(t), "/r/b", []byte(v), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx(t), "/r/c", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/r/d", []byte("d"), backend.Persistent)
	proxy.Heal()
	WaitState(t, states, backend.Reconnected)
	// A marker made after everything: once every expected event has come,
	// nothing else may have.
	mustCreate(t, s, "/r/zz", []byte("z"), backend.Persistent)

	// etcd may report each of b's sets; ZooKeeper reports the last.
	want := map[string][]string{
		"/r/a":  {"removed ", "added again"},
		"/r/b":  {"updated b2"},
		"/r/c":  {"removed "},
		"/r/d":  {"added d"},
		"/r/zz": {"added z"},
	}
	bothSets := []string{"updated b1", "updated b2"}
	got := map[string][]string{}
	done := func() bool {
		for p, evs := range want {
			if !slices.Equal(got[p], evs) && !(p == "/r/b" && slices.Equal(got[p], bothSets)) {
				return false
			}
		}
		return len(got) == len(want)
	}
	// prefix reports whether evs can still become what p must see.
	prefix := func(p string, evs []string) bool {
		w := want[p]
		if p == "/r/b" && len(evs) > 0 && evs[0] == bothSets[0] {
			w = bothSets
		}
		return len(evs) <= len(w) && slices.Equal(evs, w[:len(evs)])
	}
	resynced := false
	for !done() {
		ev := NextTreeEvent(t, ch)
		switch ev.Type {
		case backend.TreeResynced:
			resynced = true
			continue
		case backend.TreeEnded, backend.TreeInitialized:
			t.Fatalf("%v %s (err %v) while changes of the gap are due; so far %q", ev.Type, ev.Path, ev.Err, got)
		}
		if resynced && ev.Path != "/r/zz" {
			t.Fatalf("%v %s after TreeResynced: the differences come before it", ev.Type, ev.Path)
		}
		got[ev.Path] = append(got[ev.Path], fmt.Sprintf("%v %s", ev.Type, ev.Data))
		if !prefix(ev.Path, got[ev.Path]) {
			t.Fatalf("events for %s: %q; want %q", ev.Path, got[ev.Path], want[ev.Path])
		}
	}
}

// testWatchTreeDepth: TreeDepth(n) reports the nodes at most n levels
// below the root, in the snapshot and after; changes deeper are not
// reported (the next event is the one within the depth). Broken on
// purpose in backend/zk: reading every level gave "TreeDepth(1): initial
// ["" "/a" "/a/b" "/a/b/c"] under /d1"; applying notifications below the
// depth gave "tree event added /d1/a/x, want updated /d1".
func testWatchTreeDepth(t *testing.T, h *harness) {
	s, w := h.session(t), h.session(t)
	for _, tc := range []struct {
		depth   int
		initial []string // under the root
		below   string   // a node made below the depth
		within  string   // then one made within it
	}{
		{0, []string{""}, "/x", ""},
		{1, []string{"", "/a"}, "/a/x", "/y"},
		{2, []string{"", "/a", "/a/b"}, "/a/b/x", "/a/y"},
	} {
		t.Run(fmt.Sprint(tc.depth), func(t *testing.T) {
			r := fmt.Sprintf("/d%d", tc.depth)
			for _, p := range []string{"", "/a", "/a/b", "/a/b/c"} {
				mustCreate(t, s, r+p, []byte("v"), backend.Persistent)
			}
			wctx, cancel := context.WithCancel(ctx(t))
			defer cancel()
			ch, err := w.WatchTree(wctx, r, backend.TreeDepth(tc.depth))
			if err != nil {
				t.Fatal(err)
			}
			var initial []string
			for ev := NextTreeEvent(t, ch); ev.Type != backend.TreeInitialized; ev = NextTreeEvent(t, ch) {
				if ev.Type != backend.NodeAdded {
					t.Fatalf("initial event %v %s", ev.Type, ev.Path)
				}
				initial = append(initial, ev.Path[len(r):])
			}
			slices.Sort(initial)
			if !slices.Equal(initial, tc.initial) {
				t.Fatalf("TreeDepth(%d): initial %q under %s, want %q", tc.depth, initial, r, tc.initial)
			}
			mustCreate(t, s, r+tc.below, nil, backend.Persistent)
			if _, err := s.Set(ctx(t), r+"/a/b/c", []byte("deep"), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			// The root's data, within every depth, is the next event.
			if _, err := s.Set(ctx(t), r, []byte("root"), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			expectTree(t, ch, backend.NodeUpdated, r, "root")
			if tc.within != "" {
				mustCreate(t, s, r+tc.within, []byte("w"), backend.Persistent)
				expectTree(t, ch, backend.NodeAdded, r+tc.within, "w")
			}
		})
	}
}
