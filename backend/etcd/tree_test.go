package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
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
	before, _, err := s.c.listTree(tctx(t), full)
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
	after, _, err := s.c.listTree(tctx(t), full)
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
