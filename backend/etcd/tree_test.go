package etcd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func expectTree(t *testing.T, ch <-chan backend.TreeEvent, want ...string) []backend.TreeEvent {
	t.Helper()
	var evs []backend.TreeEvent
	for _, w := range want {
		ev := backendtest.NextTreeEvent(t, ch)
		if got := fmt.Sprintf("%v %s", ev.Type, ev.Path); got != w {
			t.Fatalf("tree event %q, want %q", got, w)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestWatchTree(t *testing.T) {
	s := testSession(t)
	w := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
	mustCreate(t, s, "/t", []byte("t"), backend.Persistent)
	mustCreate(t, s, "/t/a", []byte("a"), backend.Persistent)
	mustCreate(t, s, "/t2", nil, backend.Persistent) // a sibling sharing the prefix
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := w.WatchTree(wctx, "/t")
	if err != nil {
		t.Fatal(err)
	}
	evs := expectTree(t, ch, "added /t", "added /t/a", "initialized /t")
	if st := evs[0].Stat; st.NumChildren != 1 || st.CVersion != 1 || string(evs[0].Data) != "t" {
		t.Fatalf("initial /t: %q %+v", evs[0].Data, st)
	}

	// A Multi: a subtree at once, parents first; a change outside is not seen.
	if _, err := s.Multi(tctx(t),
		backend.CreateOp{Path: "/t/b", Data: []byte("b")},
		backend.CreateOp{Path: "/t/b/c", Data: []byte("c")},
		backend.CreateOp{Path: "/t2/x"},
	); err != nil {
		t.Fatal(err)
	}
	expectTree(t, ch, "added /t/b", "added /t/b/c")
	// Set with counts: the stat of an update is complete.
	mustCreate(t, s, "/t/b/d", nil, backend.Persistent)
	expectTree(t, ch, "added /t/b/d")
	if _, err := s.Multi(tctx(t),
		backend.SetOp{Path: "/t/b", Data: []byte("b1"), Version: -1},
		backend.SetOp{Path: "/t/b", Data: []byte("b2"), Version: -1},
	); err != nil {
		t.Fatal(err)
	}
	ev := expectTree(t, ch, "updated /t/b")[0]
	if string(ev.Data) != "b2" || ev.Stat.Version != 2 || ev.Stat.NumChildren != 2 || ev.Stat.CVersion != 2 {
		t.Fatalf("update of /t/b: %q %+v", ev.Data, ev.Stat)
	}
	// Deleted and created again in one Multi: removed, then added.
	if _, err := s.Multi(tctx(t),
		backend.DeleteOp{Path: "/t/a", Version: -1},
		backend.CreateOp{Path: "/t/a", Data: []byte("a2")},
	); err != nil {
		t.Fatal(err)
	}
	evs = expectTree(t, ch, "removed /t/a", "added /t/a")
	if string(evs[1].Data) != "a2" || evs[1].Stat.Version != 0 {
		t.Fatalf("re-created /t/a: %q %+v", evs[1].Data, evs[1].Stat)
	}
	// Expiry of an ephemeral.
	e := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
	mustCreate(t, e, "/t/e", nil, backend.Ephemeral)
	expectTree(t, ch, "added /t/e")
	if err := e.Expire(tctx(t)); err != nil {
		t.Fatal(err)
	}
	expectTree(t, ch, "removed /t/e")
	if err := backend.DeleteAll(tctx(t), s, "/t"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 5 {
		ev := backendtest.NextTreeEvent(t, ch)
		if ev.Type != backend.NodeRemoved {
			t.Fatalf("during DeleteAll: %v %s", ev.Type, ev.Path)
		}
		if ev.Path == "/t" && len(seen) != 4 {
			t.Fatal("/t removed before its children")
		}
		seen[ev.Path] = true
	}
	cancel()
	if ev := backendtest.NextTreeEvent(t, ch); ev.Type != backend.TreeEnded || !errors.Is(ev.Err, context.Canceled) {
		t.Fatalf("end: %+v", ev)
	}
	if _, ok := <-ch; ok {
		t.Fatal("tree channel open after TreeEnded")
	}
}

func TestWatchTreeEndsWithSession(t *testing.T) {
	s := testSession(t)
	ch, err := s.WatchTree(tctx(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	expectTree(t, ch, "added /", "initialized /")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := backendtest.NextTreeEvent(t, ch); ev.Type != backend.TreeEnded || !errors.Is(ev.Err, backend.ErrClosed) {
		t.Fatalf("end: %+v", ev)
	}
}

// TestTreeResync: after a compaction the subtree is listed again and the
// difference is reported, children removed before their parents.
func TestTreeResync(t *testing.T) {
	s := testSession(t)
	for _, p := range []string{"/r", "/r/gone", "/r/gone/deep", "/r/same", "/r/upd", "/r/again"} {
		mustCreate(t, s, p, nil, backend.Persistent)
	}
	full := s.c.abs("/r")
	before, _, err := s.c.listTree(tctx(t), full, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.DeleteAll(tctx(t), s, "/r/gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(tctx(t), "/r/upd", []byte("u"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(tctx(t), "/r/again", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/r/again", []byte("2"), backend.Persistent)
	mustCreate(t, s, "/r/new", nil, backend.Persistent)
	after, _, err := s.c.listTree(tctx(t), full, -1)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan backend.TreeEvent, 100)
	tw := &treeWatch{s: s, ctx: tctx(t), out: out, m: before, opts: backend.NewTreeOptions()}
	if !tw.resync(after) {
		t.Fatal("resync stopped")
	}
	close(out)
	var got []string
	for ev := range out {
		got = append(got, fmt.Sprintf("%v %s", ev.Type, ev.Path))
	}
	want := []string{"removed /r/gone/deep", "removed /r/gone", "removed /r/again", "added /r/again", "added /r/new", "updated /r/upd"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resync events %q, want %q", got, want)
	}
}

// treeView is what a reader of a tree watch knows: path to data and
// CreateToken. apply fails the test on an event that contradicts it (a
// duplicate add, a child before its parent, a parent removed before its
// children, a change to an unknown node).
type treeView map[string]string

func viewValue(data []byte, st backend.Stat) string {
	return fmt.Sprintf("%q v%d @%d", data, st.Version, st.CreateToken)
}

func (v treeView) apply(t *testing.T, root string, ev backend.TreeEvent) {
	t.Helper()
	p := ev.Path
	switch ev.Type {
	case backend.NodeAdded:
		if _, ok := v[p]; ok {
			t.Fatalf("added %s twice", p)
		}
		if _, ok := v[backend.Parent(p)]; p != root && !ok {
			t.Fatalf("added %s before its parent", p)
		}
		v[p] = viewValue(ev.Data, ev.Stat)
	case backend.NodeUpdated:
		if _, ok := v[p]; !ok {
			t.Fatalf("updated %s, not seen before", p)
		}
		v[p] = viewValue(ev.Data, ev.Stat)
	case backend.NodeRemoved:
		if _, ok := v[p]; !ok {
			t.Fatalf("removed %s, not seen before", p)
		}
		for q := range v {
			if under(q, p) && q != p {
				t.Fatalf("removed %s before its child %s", p, q)
			}
		}
		delete(v, p)
	default:
		t.Fatalf("unexpected tree event %v %s", ev.Type, p)
	}
}

// listing reads the subtree at root through the session's own calls (not
// listTree), depth levels deep (negative: all): a fresh view to compare a
// watcher's with.
func listing(t *testing.T, s backend.Session, root string, depth int) treeView {
	t.Helper()
	v := treeView{}
	var walk func(p string, left int)
	walk = func(p string, left int) {
		data, st, err := s.Get(tctx(t), p)
		if errors.Is(err, backend.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		v[p] = viewValue(data, st)
		if left == 0 {
			return
		}
		kids, _, err := s.Children(tctx(t), p)
		if errors.Is(err, backend.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			walk(backend.Join(p, k), left-1)
		}
	}
	walk(root, depth)
	return v
}

// treeModes runs a test of WatchTree with the level watches (on a server
// that has them) and with the single range, through the hooks it gets.
func treeModes(t *testing.T, test func(t *testing.T, h *treeHooks)) {
	t.Run("levels", func(t *testing.T) {
		s := testSession(t)
		tw := &treeWatch{s: s, ctx: tctx(t)}
		if !tw.levelsSupported() {
			t.Skip("the server is older than etcd 3.6: no level watches")
		}
		test(t, &treeHooks{})
	})
	t.Run("range", func(t *testing.T) { test(t, &treeHooks{singleRange: true}) })
}

// initialView reads a tree watch's initial events into a view.
func initialView(t *testing.T, ch <-chan backend.TreeEvent, root string) treeView {
	t.Helper()
	v := treeView{}
	for {
		ev := backendtest.NextTreeEvent(t, ch)
		if ev.Type == backend.TreeInitialized {
			return v
		}
		v.apply(t, root, ev)
	}
}

func sameView(t *testing.T, got, want treeView) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("watcher's view\n%v\nfresh listing\n%v", got, want)
	}
}

// TestWatchTreeDepth: with TreeDepth(1) the watch neither reads nor
// receives the grandchildren. Shown to fail by giving watchRange the
// depth -1 (the etcd watch then received /d/a/b/c2's keys) and by letting
// listTreeOnce ignore its depth (the listing then held /d/a/b).
func TestWatchTreeDepth(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		s := testSession(t)
		w := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
		for _, p := range []string{"/d", "/d/a", "/d/a/b", "/d/a/b/c", "/o", "/o/x", "/o/x/y"} {
			mustCreate(t, s, p, []byte(p), backend.Persistent)
		}
		full := s.c.abs("/d")
		m, _, err := w.c.listTree(tctx(t), full, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.paths(); fmt.Sprint(got) != fmt.Sprint([]string{full, full + "/a"}) {
			t.Fatalf("listing of /d one level deep: %q", got)
		}

		var mu sync.Mutex
		var received []string
		tap := func(ev *clientv3.Event) {
			mu.Lock()
			defer mu.Unlock()
			received = append(received, string(ev.Kv.Key))
		}
		h.received = tap
		wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
		defer cancel()
		ch, err := w.WatchTree(wctx, "/d", backend.TreeDepth(1))
		if err != nil {
			t.Fatal(err)
		}
		expectTree(t, ch, "added /d", "added /d/a", "initialized /d")
		mustCreate(t, s, "/d/a/b/c2", nil, backend.Persistent) // below the depth
		mustCreate(t, s, "/d/a/b2", nil, backend.Persistent)   // below the depth
		if _, err := s.Set(tctx(t), "/o/x/y", []byte("y"), backend.AnyVersion); err != nil {
			t.Fatal(err) // outside, deeper
		}
		if _, err := s.Set(tctx(t), "/o/x", []byte("x"), backend.AnyVersion); err != nil {
			t.Fatal(err) // outside, at a watched depth
		}
		mustCreate(t, s, "/d/b", []byte("b"), backend.Persistent)
		if ev := expectTree(t, ch, "added /d/b")[0]; string(ev.Data) != "b" || ev.Stat.CVersion != 0 {
			t.Fatalf("added /d/b: %q %+v", ev.Data, ev.Stat)
		}
		mu.Lock()
		defer mu.Unlock()
		limit := backend.Depth(full) + 1
		sawLimit := false
		for _, k := range received {
			q, _ := parseKey(k)
			if backend.Depth(q) > limit {
				t.Errorf("the watch of /d one level deep received %q", k)
			}
			sawLimit = sawLimit || backend.Depth(q) == limit
			if !h.singleRange && !under(q, full) {
				t.Errorf("the level watches of /d received %q, outside /d", k)
			}
		}
		if !sawLimit {
			t.Fatalf("the watch received no key of /d's children's depth: %q", received)
		}
	})
}

// TestWatchTreeNoGap: a chain of new levels created quickly while another
// writer writes beside it; the watcher's view ends equal to a fresh
// listing, having seen every change once, parents before children. Shown
// to fail by opening the watch at the listing's revision + 2 (the first
// change was missed). With the level watches, shown to fail by opening a
// new level's watches from the revision after its first node's (72 of 74
// adds), by applying events without waiting until every watch has passed
// their revision (48 of 74), by not opening new levels (43 of 74), by not
// ordering a revision's events ("removed /g/m/m before its child
// /g/m/m/m"), and by never asking for progress (TestWatchTree: no event
// within 20 s).
func TestWatchTreeNoGap(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		s := testSession(t)
		s2 := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
		w := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
		mustCreate(t, s, "/g", nil, backend.Persistent)
		wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
		defer cancel()
		ch, err := w.WatchTree(wctx, "/g")
		if err != nil {
			t.Fatal(err)
		}
		view := initialView(t, ch, "/g")

		// Three new levels in one transaction (with the level watches: each
		// watched from that revision on).
		if _, err := s.Multi(tctx(t),
			backend.CreateOp{Path: "/g/m"}, backend.CreateOp{Path: "/g/m/m"}, backend.CreateOp{Path: "/g/m/m/m"},
		); err != nil {
			t.Fatal(err)
		}
		// And two of them removed in one (children first, whichever watch
		// saw them).
		if _, err := s.Multi(tctx(t),
			backend.DeleteOp{Path: "/g/m/m/m", Version: -1}, backend.DeleteOp{Path: "/g/m/m", Version: -1},
		); err != nil {
			t.Fatal(err)
		}
		// Then, beside a writer, a chain deeper than the level watches
		// follow (they give way to the single range as it grows).
		const levels, writes = 30, 40
		errc := make(chan error, 1)
		go func() {
			for i := range writes {
				p := fmt.Sprintf("/g/w%02d", i)
				if _, err := s2.Create(tctx(t), p, nil, backend.Persistent); err != nil {
					errc <- err
					return
				}
				if _, err := s2.Set(tctx(t), p, []byte("set"), backend.AnyVersion); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		p := "/g"
		for range levels {
			p += "/c"
			mustCreate(t, s, p, []byte("c"), backend.Persistent)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "/g/end", nil, backend.Persistent)
		counts := map[backend.TreeEventType]int{}
		for {
			ev := backendtest.NextTreeEvent(t, ch)
			view.apply(t, "/g", ev)
			counts[ev.Type]++
			if ev.Path == "/g/end" {
				break
			}
		}
		if counts[backend.NodeAdded] != levels+writes+4 || counts[backend.NodeUpdated] != writes || counts[backend.NodeRemoved] != 2 {
			t.Fatalf("events %v, want %d added and %d updated", counts, levels+writes+4, writes)
		}
		sameView(t, view, listing(t, s, "/g", -1))
	})
}

// TestWatchTreeCompaction: the watch's connection is cut while the
// subtree changes (a node deleted and created again, a subtree removed, a
// subtree added, a set) and etcd compacts its history; when the
// connection heals the watch meets ErrCompacted, lists again, reports the
// differences, then TreeResynced, and goes on from the new listing. Shown
// to fail by comparing modification instead of CreateToken in resync
// ("updated /c/again" instead of removed then added), and by not sending
// TreeResynced.
func TestWatchTreeCompaction(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		proxy, err := faultnet.NewProxy(testenv.Etcd(t)[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = proxy.Close() })
		s := testSession(t)
		w := testSession(t, func(c *Config) {
			c.Namespace = s.c.ns
			c.Endpoints = []string{proxy.Addr()}
			c.SessionTimeout = 15 * time.Second // the cut must not end the session
		})
		for _, p := range []string{"/c", "/c/gone", "/c/gone/deep", "/c/same", "/c/upd", "/c/again"} {
			mustCreate(t, s, p, []byte("1"), backend.Persistent)
		}
		wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
		defer cancel()
		ch, err := w.WatchTree(wctx, "/c")
		if err != nil {
			t.Fatal(err)
		}
		view := initialView(t, ch, "/c")

		proxy.Cut()
		if _, err := s.Set(tctx(t), "/c/upd", []byte("2"), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		if err := backend.DeleteAll(tctx(t), s, "/c/gone"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(tctx(t), "/c/again", backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "/c/again", []byte("1"), backend.Persistent) // same data, new node
		mustCreate(t, s, "/c/new", []byte("1"), backend.Persistent)
		mustCreate(t, s, "/c/new/kid", []byte("1"), backend.Persistent)
		compact(t, s)
		proxy.Heal()

		evs := expectTree(t, ch, "removed /c/gone/deep", "removed /c/gone", "removed /c/again",
			"added /c/again", "added /c/new", "updated /c/upd", "added /c/new/kid", "resynced /c")
		for _, ev := range evs[:len(evs)-1] {
			view.apply(t, "/c", ev)
		}
		sameView(t, view, listing(t, s, "/c", -1))
		// It goes on from the new listing.
		if _, err := s.Set(tctx(t), "/c/same", []byte("2"), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		view.apply(t, "/c", expectTree(t, ch, "updated /c/same")[0])
		sameView(t, view, listing(t, s, "/c", -1))
	})
}

// TestWatchTreeReconnect: the watch's connection is cut while another
// client writes, then heals; the watch resumes at the revision after the
// last one it had: every change arrives once, in order, and there is no
// re-list (no TreeResynced). clientv3 resumes the watch itself on a new
// connection. Shown to fail by sending every data event twice in apply
// ("tree event updated /k/n data 0, want 1").
func TestWatchTreeReconnect(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		proxy, err := faultnet.NewProxy(testenv.Etcd(t)[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = proxy.Close() })
		s := testSession(t)
		w := testSession(t, func(c *Config) {
			c.Namespace = s.c.ns
			c.Endpoints = []string{proxy.Addr()}
			c.SessionTimeout = 15 * time.Second
		})
		mustCreate(t, s, "/k", nil, backend.Persistent)
		mustCreate(t, s, "/k/n", nil, backend.Persistent)
		wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
		defer cancel()
		ch, err := w.WatchTree(wctx, "/k")
		if err != nil {
			t.Fatal(err)
		}
		initialView(t, ch, "/k")
		const writes = 60
		for i := range writes {
			if i == 10 {
				proxy.Cut()
				// The watcher's client is off: a read through it fails.
				ctx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
				_, _, err := w.Get(ctx, "/k")
				stop()
				if err == nil {
					t.Fatal("a read through the cut connection succeeded")
				}
			}
			if i == 40 {
				proxy.Heal()
			}
			if _, err := s.Set(tctx(t), "/k/n", fmt.Appendf(nil, "%d", i), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
		}
		for i := range writes {
			ev := backendtest.NextTreeEvent(t, ch)
			if ev.Type != backend.NodeUpdated || ev.Path != "/k/n" || string(ev.Data) != fmt.Sprint(i) || ev.Stat.Version != int32(i+1) {
				t.Fatalf("tree event %v %s data %s version %d, want updated /k/n data %d", ev.Type, ev.Path, ev.Data, ev.Stat.Version, i)
			}
		}
		mustCreate(t, s, "/k/end", nil, backend.Persistent)
		expectTree(t, ch, "added /k/end") // nothing (no TreeResynced) in between
	})
}

// TestWatchTreeReopen: the etcd watch under a tree watch ends while
// writes go on (as on a member that lost its leader: the hook cancels it,
// since one test server cannot lose its leader), and the backend opens it
// again from the revision after the last one applied: every change once,
// in order, and no TreeResynced. Shown to fail by opening the watch again
// from the listing's revision + 1 instead (the first change came again:
// "tree event updated /q/n data 0 version 1, want updated /q/n data 9"),
// and by sending TreeResynced after opening it again.
func TestWatchTreeReopen(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		s := testSession(t)
		w := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
		mustCreate(t, s, "/q", nil, backend.Persistent)
		mustCreate(t, s, "/q/n", nil, backend.Persistent)
		var mu sync.Mutex
		var opens int
		var cancelWatch func()
		h.opened = func(cancel func()) {
			mu.Lock()
			defer mu.Unlock()
			opens++
			cancelWatch = cancel
		}
		openCount := func() int {
			mu.Lock()
			defer mu.Unlock()
			return opens
		}
		wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
		defer cancel()
		ch, err := w.WatchTree(wctx, "/q")
		if err != nil {
			t.Fatal(err)
		}
		initialView(t, ch, "/q")
		// Read on while writing, so the watch is never held back by the reader.
		events := make(chan backend.TreeEvent, 1000)
		go func() {
			defer close(events)
			for ev := range ch {
				events <- ev
			}
		}()
		const writes = 60
		reopened := 0
		i := 0
		set := func() {
			t.Helper()
			if _, err := s.Set(tctx(t), "/q/n", fmt.Appendf(nil, "%d", i), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			i++
		}
		for i < writes {
			if i == 10 || i == 25 || i == 40 {
				before := openCount()
				mu.Lock()
				cancelWatch()
				mu.Unlock()
				reopened++
				// Writes go on while the watch is down; then wait for the new one.
				for range 5 {
					set()
				}
				deadline := time.Now().Add(wait)
				for openCount() == before {
					if time.Now().After(deadline) {
						t.Fatal("the tree watch was not opened again")
					}
					time.Sleep(10 * time.Millisecond) // polling a condition, not ordering events
				}
			}
			set()
		}
		next := func() backend.TreeEvent {
			t.Helper()
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("tree watch closed")
				}
				return ev
			case <-time.After(wait):
				t.Fatalf("no tree event within %v", wait)
			}
			panic("unreachable")
		}
		for i := range writes {
			ev := next()
			if ev.Type != backend.NodeUpdated || ev.Path != "/q/n" || string(ev.Data) != fmt.Sprint(i) || ev.Stat.Version != int32(i+1) {
				t.Fatalf("tree event %v %s data %s version %d, want updated /q/n data %d", ev.Type, ev.Path, ev.Data, ev.Stat.Version, i)
			}
		}
		mustCreate(t, s, "/q/end", nil, backend.Persistent)
		if ev := next(); ev.Type != backend.NodeAdded || ev.Path != "/q/end" {
			t.Fatalf("tree event %v %s, want added /q/end (nothing, no TreeResynced, before it)", ev.Type, ev.Path)
		}
		if got := openCount(); got != 1+reopened {
			t.Fatalf("the etcd watch was opened %d times, want %d", got, 1+reopened)
		}
		cancel()
		for range events {
		}
	})
}

// TestWatchTreeRandom: writers create, set, delete and re-create (in one
// Multi) nodes of a small subtree four levels deep at random, beside a
// writer outside it, while tree watches follow it whole and two levels
// deep; each watcher's view, checked at every event (no duplicate add, no
// child before its parent, no parent removed before its children), ends
// equal to a fresh listing. Shown to fail, with the level watches, by
// applying events without waiting until every watch has passed their
// revision (in 2 runs of 3: "added /z/b/b before its parent", "removed
// /z/c/a/a before its child /z/c/a/a/d").
func TestWatchTreeRandom(t *testing.T) {
	treeModes(t, func(t *testing.T, h *treeHooks) {
		s := testSession(t)
		mustCreate(t, s, "/z", nil, backend.Persistent)
		mustCreate(t, s, "/out", nil, backend.Persistent)
		var paths []string
		for _, a := range []string{"a", "b", "c"} {
			paths = append(paths, "/z/"+a)
			for _, b := range []string{"a", "b"} {
				paths = append(paths, "/z/"+a+"/"+b)
				for _, c := range []string{"a", "b"} {
					paths = append(paths, "/z/"+a+"/"+b+"/"+c, "/z/"+a+"/"+b+"/"+c+"/d")
				}
			}
		}
		type watcher struct {
			depth int
			ch    <-chan backend.TreeEvent
			view  treeView
		}
		var watchers []*watcher
		for _, depth := range []int{-1, 2} {
			w := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
			wctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
			t.Cleanup(cancel)
			ch, err := w.WatchTree(wctx, "/z", backend.TreeDepth(depth))
			if err != nil {
				t.Fatal(err)
			}
			watchers = append(watchers, &watcher{depth: depth, ch: ch, view: initialView(t, ch, "/z")})
		}
		// Read on while the writers write, so no watch is held back.
		type got struct {
			w  int
			ev backend.TreeEvent
		}
		events := make(chan got, 100000)
		for i, w := range watchers {
			go func() {
				for ev := range w.ch {
					events <- got{i, ev}
				}
			}()
		}
		expected := func(err error) bool {
			return err == nil || errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrNodeExists) ||
				errors.Is(err, backend.ErrNotEmpty) || errors.Is(err, backend.ErrBadVersion) || errors.As(err, new(*backend.MultiError))
		}
		var wg sync.WaitGroup
		errc := make(chan error, 5)
		for k := range 4 {
			ws := testSession(t, func(c *Config) { c.Namespace = s.c.ns })
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(k), 13))
				for i := range 120 {
					p := paths[rnd.IntN(len(paths))]
					data := fmt.Appendf(nil, "%d.%d", k, i)
					var err error
					switch op := rnd.IntN(10); {
					case op < 4:
						_, err = ws.Create(tctx(t), p, data, backend.Persistent)
					case op < 7:
						_, err = ws.Set(tctx(t), p, data, backend.AnyVersion)
					case op < 9:
						err = ws.Delete(tctx(t), p, backend.AnyVersion)
					default:
						_, err = ws.Multi(tctx(t), backend.DeleteOp{Path: p, Version: -1}, backend.CreateOp{Path: p, Data: data})
					}
					if !expected(err) {
						errc <- fmt.Errorf("%s: %w", p, err)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, err := s.Set(tctx(t), "/out", fmt.Appendf(nil, "%d", i), backend.AnyVersion); err != nil {
					errc <- err
					return
				}
			}
		}()
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		mustCreate(t, s, "/z/end", nil, backend.Persistent)
		ended := 0
		for ended < len(watchers) {
			select {
			case g := <-events:
				watchers[g.w].view.apply(t, "/z", g.ev)
				if g.ev.Path == "/z/end" {
					ended++
				}
			case <-time.After(wait):
				t.Fatalf("no tree event within %v", wait)
			}
		}
		for _, w := range watchers {
			sameView(t, w.view, listing(t, s, "/z", w.depth))
		}
	})
}
