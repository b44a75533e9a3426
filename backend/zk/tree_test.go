package zk_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

func expectTree(t *testing.T, ch <-chan backend.TreeEvent, typ backend.TreeEventType, path, data string) backend.TreeEvent {
	t.Helper()
	ev := backendtest.NextTreeEvent(t, ch)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("tree event %v %s, want %v %s", ev.Type, ev.Path, typ, path)
	}
	if (typ == backend.NodeAdded || typ == backend.NodeUpdated) && string(ev.Data) != data {
		t.Fatalf("tree event %v %s data %q, want %q", ev.Type, ev.Path, ev.Data, data)
	}
	return ev
}

// treeMode is one way WatchTree can run.
type treeMode string

const (
	persistentMode treeMode = "persistent" // ZooKeeper 3.6+: addWatch
	oneShotMode    treeMode = "one-shot"   // the fallback, as on ZooKeeper 3.5
)

// use makes s's WatchTrees run in the mode.
func (m treeMode) use(s *zk.Session) {
	if m == oneShotMode {
		zk.ForceOneShotTrees(s)
	}
}

// check fails the test unless s's WatchTrees ran in the mode.
func (m treeMode) check(t *testing.T, s *zk.Session) {
	t.Helper()
	if got := zk.TreeMode(s); got != string(m) {
		t.Fatalf("WatchTree ran as %s, want %s", got, m)
	}
}

// forTreeModes runs f in each mode.
func forTreeModes(t *testing.T, f func(t *testing.T, mode treeMode)) {
	for _, m := range []treeMode{persistentMode, oneShotMode} {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}

// initialTree reads the initial snapshot up to TreeInitialized.
func initialTree(t *testing.T, ch <-chan backend.TreeEvent) map[string]backend.TreeEvent {
	t.Helper()
	nodes := map[string]backend.TreeEvent{}
	for {
		ev := backendtest.NextTreeEvent(t, ch)
		switch ev.Type {
		case backend.TreeInitialized:
			return nodes
		case backend.NodeAdded:
			if _, dup := nodes[ev.Path]; dup {
				t.Fatalf("%s added twice", ev.Path)
			}
			nodes[ev.Path] = ev
		default:
			t.Fatalf("initial event %v %s, want added", ev.Type, ev.Path)
		}
	}
}

func TestWatchTree(t *testing.T) {
	forTreeModes(t, func(t *testing.T, mode treeMode) {
		cfg := testConfig(t)
		s := newSession(t, cfg)
		w := newSession(t, testConfigNS(t, cfg.Namespace))
		mode.use(w)
		other := newSession(t, testConfigNS(t, cfg.Namespace))
		for _, p := range []string{"/r", "/r/a", "/r/a/b", "/r/c", "/rr", "/other"} {
			mustCreate(t, s, p, []byte("v"+p), backend.Persistent)
		}
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := w.WatchTree(wctx, "/r")
		if err != nil {
			t.Fatal(err)
		}
		initial := initialTree(t, ch)
		mode.check(t, w)
		if got, want := slices.Sorted(maps.Keys(initial)), []string{"/r", "/r/a", "/r/a/b", "/r/c"}; !slices.Equal(got, want) {
			t.Fatalf("initial tree %q, want %q", got, want)
		}
		for p, ev := range initial {
			st, _ := s.Exists(ctxT(t), p)
			if string(ev.Data) != "v"+p || ev.Stat != *st {
				t.Fatalf("initial %s: data %q stat %+v, want %+v", p, ev.Data, ev.Stat, *st)
			}
		}

		// Outside the subtree: not reported (the next event is the one inside).
		mustCreate(t, s, "/rr/x", nil, backend.Persistent)
		if _, err := s.Set(ctxT(t), "/other", []byte("o"), -1); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "/r/a/b/new", []byte("n"), backend.Persistent)
		expectTree(t, ch, backend.NodeAdded, "/r/a/b/new", "n")

		st, err := s.Set(ctxT(t), "/r/c", []byte("c2"), -1)
		if err != nil {
			t.Fatal(err)
		}
		if ev := expectTree(t, ch, backend.NodeUpdated, "/r/c", "c2"); ev.Stat != st {
			t.Fatalf("updated stat %+v, want %+v", ev.Stat, st)
		}
		if err := s.Delete(ctxT(t), "/r/a/b/new", -1); err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, backend.NodeRemoved, "/r/a/b/new", "")

		// Deleted and created again at once: removed, then added.
		if _, err := s.Multi(ctxT(t), backend.DeleteOp{Path: "/r/c", Version: -1}, backend.CreateOp{Path: "/r/c", Data: []byte("c3")}); err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, backend.NodeRemoved, "/r/c", "")
		if ev := expectTree(t, ch, backend.NodeAdded, "/r/c", "c3"); ev.Stat.Version != 0 {
			t.Fatalf("re-created node stat %+v", ev.Stat)
		}

		// A subtree goes: children before parents.
		if err := backend.DeleteAll(ctxT(t), s, "/r/a"); err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, backend.NodeRemoved, "/r/a/b", "")
		expectTree(t, ch, backend.NodeRemoved, "/r/a", "")

		// Another session's ephemeral node comes and goes with its session.
		e := mustCreate(t, other, "/r/eph", []byte("e"), backend.Ephemeral)
		expectTree(t, ch, backend.NodeAdded, e, "e")
		if err := other.Close(); err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, backend.NodeRemoved, e, "")

		// The root of the watch goes and comes back.
		if err := backend.DeleteAll(ctxT(t), s, "/r"); err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, backend.NodeRemoved, "/r/c", "")
		expectTree(t, ch, backend.NodeRemoved, "/r", "")
		mustCreate(t, s, "/r", []byte("again"), backend.Persistent)
		expectTree(t, ch, backend.NodeAdded, "/r", "again")
		mustCreate(t, s, "/r/k", []byte("k"), backend.Persistent)
		expectTree(t, ch, backend.NodeAdded, "/r/k", "k")

		cancel()
		for {
			ev := backendtest.NextTreeEvent(t, ch)
			if ev.Type == backend.TreeEnded {
				if !errors.Is(ev.Err, context.Canceled) {
					t.Fatalf("TreeEnded err %v, want context.Canceled", ev.Err)
				}
				break
			}
		}
		if ev, ok := <-ch; ok {
			t.Fatalf("event %+v after TreeEnded", ev)
		}
	})
}

func TestWatchTreeMissingRoot(t *testing.T) {
	forTreeModes(t, func(t *testing.T, mode treeMode) {
		s := newSession(t, testConfig(t))
		mode.use(s)
		ch, err := s.WatchTree(ctxT(t), "/later/sub")
		if err != nil {
			t.Fatal(err)
		}
		if n := initialTree(t, ch); len(n) != 0 {
			t.Fatalf("initial tree of a missing root: %v", n)
		}
		mode.check(t, s)
		mustCreate(t, s, "/later/sub/k", []byte("k"), backend.Persistent, backend.WithParents(backend.Persistent))
		// The parents and the node are made one after another; the root's
		// creation is seen first, its child with it or right after.
		expectTree(t, ch, backend.NodeAdded, "/later/sub", "")
		expectTree(t, ch, backend.NodeAdded, "/later/sub/k", "k")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		ev := backendtest.NextTreeEvent(t, ch)
		if ev.Type != backend.TreeEnded || !errors.Is(ev.Err, backend.ErrClosed) {
			t.Fatalf("after Close: %+v, want TreeEnded with ErrClosed", ev)
		}
		if _, ok := <-ch; ok {
			t.Fatal("channel open after TreeEnded")
		}
	})
}

// TestWatchTreeAcrossDisconnection: changes made while the watcher's
// connection is down are reported once it is back.
func TestWatchTreeAcrossDisconnection(t *testing.T) {
	forTreeModes(t, func(t *testing.T, mode treeMode) {
		cfg := testConfig(t)
		s := newSession(t, cfg)
		wcfg := testConfigNS(t, cfg.Namespace)
		wcfg.SessionTimeout = 10 * time.Second
		fd := newFaultDialer()
		wcfg.Dialer = fd.Dial
		w := newSession(t, wcfg)
		mode.use(w)
		for _, p := range []string{"/r", "/r/a", "/r/a/b", "/r/c", "/r/d"} {
			mustCreate(t, s, p, []byte("v"+p), backend.Persistent)
		}
		ch, err := w.WatchTree(ctxT(t), "/r")
		if err != nil {
			t.Fatal(err)
		}
		initialTree(t, ch)
		mode.check(t, w)
		states := w.StateChanges(ctxT(t))

		fd.Cut()
		backendtest.WaitState(t, states, backend.Suspended)
		mustCreate(t, s, "/r/new", []byte("n"), backend.Persistent)
		mustCreate(t, s, "/r/new/deep", []byte("nd"), backend.Persistent)
		if _, err := s.Set(ctxT(t), "/r/c", []byte("c2"), -1); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctxT(t), "/r/a/b", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Multi(ctxT(t), backend.DeleteOp{Path: "/r/d", Version: -1}, backend.CreateOp{Path: "/r/d", Data: []byte("d2")}); err != nil {
			t.Fatal(err)
		}
		fd.Heal()
		backendtest.WaitState(t, states, backend.Reconnected)

		want := map[string][]string{
			"/r/new":      {"added n"},
			"/r/new/deep": {"added nd"},
			"/r/c":        {"updated c2"},
			"/r/a/b":      {"removed "},
			"/r/d":        {"removed ", "added d2"},
		}
		got := map[string][]string{}
		// A marker made after everything: once it is seen and every expected
		// event has come, nothing else may have come.
		mustCreate(t, s, "/r/zz-marker", nil, backend.Persistent)
		want["/r/zz-marker"] = []string{"added "}
		for !maps.EqualFunc(got, want, slices.Equal) {
			ev := backendtest.NextTreeEvent(t, ch)
			if ev.Type == backend.TreeEnded {
				t.Fatalf("tree ended: %v", ev.Err)
			}
			if ev.Type == backend.TreeResynced {
				// The end of the recovery, which may come before or
				// after the marker: not a change of any node.
				continue
			}
			got[ev.Path] = append(got[ev.Path], fmt.Sprintf("%v %s", ev.Type, ev.Data))
			if len(got[ev.Path]) > len(want[ev.Path]) {
				t.Fatalf("events for %s: %q, want %q", ev.Path, got[ev.Path], want[ev.Path])
			}
		}
	})
}

// TestWatchTreeConverges makes random changes while the watcher does not
// read (backpressure), then checks that the events, applied in order to a
// mirror, converge to the real tree; and that every event is one the mirror
// allows (no add of a known node, no update or removal of an unknown one).
func TestWatchTreeConverges(t *testing.T) {
	forTreeModes(t, func(t *testing.T, mode treeMode) {
		cfg := testConfig(t)
		s := newSession(t, cfg)
		w := newSession(t, testConfigNS(t, cfg.Namespace))
		mode.use(w)
		mustCreate(t, s, "/r", nil, backend.Persistent)
		ch, err := w.WatchTree(ctxT(t), "/r")
		if err != nil {
			t.Fatal(err)
		}
		mirror := map[string]string{}
		apply := func(ev backend.TreeEvent) {
			t.Helper()
			_, known := mirror[ev.Path]
			switch ev.Type {
			case backend.NodeAdded:
				if known {
					t.Fatalf("added %s, which is known", ev.Path)
				}
				if ev.Path != "/r" {
					if _, ok := mirror[backend.Parent(ev.Path)]; !ok {
						t.Fatalf("added %s before its parent", ev.Path)
					}
				}
				mirror[ev.Path] = string(ev.Data)
			case backend.NodeUpdated:
				if !known {
					t.Fatalf("updated %s, which is unknown", ev.Path)
				}
				mirror[ev.Path] = string(ev.Data)
			case backend.NodeRemoved:
				if !known {
					t.Fatalf("removed %s, which is unknown", ev.Path)
				}
				for p := range mirror {
					if len(p) > len(ev.Path) && p[:len(ev.Path)+1] == ev.Path+"/" {
						t.Fatalf("removed %s before its child %s", ev.Path, p)
					}
				}
				delete(mirror, ev.Path)
			case backend.TreeEnded:
				t.Fatalf("tree ended: %v", ev.Err)
			}
		}
		for {
			ev := backendtest.NextTreeEvent(t, ch)
			if ev.Type == backend.TreeInitialized {
				break
			}
			apply(ev)
		}
		mode.check(t, w)

		rng := rand.New(rand.NewPCG(1, 2))
		names := []string{"a", "b", "c"}
		randomPath := func() string {
			p := "/r"
			for d := rng.IntN(3) + 1; d > 0; d-- {
				p += "/" + names[rng.IntN(len(names))]
			}
			return p
		}
		for i := 0; i < 300; i++ {
			p := randomPath()
			var err error
			switch rng.IntN(3) {
			case 0:
				_, err = s.Create(ctxT(t), p, []byte(fmt.Sprint(i)), backend.Persistent)
			case 1:
				_, err = s.Set(ctxT(t), p, []byte(fmt.Sprint(i)), -1)
			case 2:
				err = s.Delete(ctxT(t), p, -1)
			}
			if err != nil && !errors.Is(err, backend.ErrNoNode) && !errors.Is(err, backend.ErrNodeExists) && !errors.Is(err, backend.ErrNotEmpty) {
				t.Fatalf("op %d on %s: %v", i, p, err)
			}
		}

		truth := map[string]string{}
		var walk func(p string)
		walk = func(p string) {
			data, _, err := s.Get(ctxT(t), p)
			if err != nil {
				t.Fatal(err)
			}
			truth[p] = string(data)
			kids, _, err := s.Children(ctxT(t), p)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kids {
				walk(backend.Join(p, k))
			}
		}
		walk("/r")
		deadline := time.After(wait)
		for !maps.Equal(mirror, truth) {
			select {
			case ev := <-ch:
				apply(ev)
			case <-deadline:
				t.Fatalf("mirror %v did not converge to %v", mirror, truth)
			}
		}
	})
}

// TestWatchTreeInitialAcrossDisconnection: when the connection fails while
// the first snapshot is read, TreeInitialized waits until a full read
// succeeded, and the snapshot has every node, including those created
// meanwhile.
func TestWatchTreeInitialAcrossDisconnection(t *testing.T) {
	forTreeModes(t, func(t *testing.T, mode treeMode) {
		cfg := testConfig(t)
		s := newSession(t, cfg)
		wcfg := testConfigNS(t, cfg.Namespace)
		wcfg.SessionTimeout = 10 * time.Second
		fd := newFaultDialer()
		wcfg.Dialer = fd.Dial
		w := newSession(t, wcfg)
		mode.use(w)
		for _, p := range []string{"/r", "/r/a"} {
			mustCreate(t, s, p, nil, backend.Persistent)
		}
		states := w.StateChanges(ctxT(t))
		fd.Stall()
		ch, err := w.WatchTree(ctxT(t), "/r")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-fd.dropped: // the first read went into the blackhole
		case <-time.After(wait):
			t.Fatal("the first read was never sent")
		}
		fd.Cut()
		backendtest.WaitState(t, states, backend.Suspended)
		mustCreate(t, s, "/r/new", nil, backend.Persistent)
		fd.Heal()
		backendtest.WaitState(t, states, backend.Reconnected)
		initial := initialTree(t, ch)
		mode.check(t, w)
		if got, want := slices.Sorted(maps.Keys(initial)), []string{"/r", "/r/a", "/r/new"}; !slices.Equal(got, want) {
			t.Fatalf("initial tree %q, want %q", got, want)
		}
		mustCreate(t, s, "/r/later", []byte("l"), backend.Persistent)
		expectTree(t, ch, backend.NodeAdded, "/r/later", "l")
	})
}
