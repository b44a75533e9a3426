package etcd

import (
	"errors"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
)

// compact compacts the etcd history up to now, so watches from earlier
// revisions fail with ErrCompacted.
func compact(t *testing.T, s *Session) {
	t.Helper()
	resp, err := s.c.cli.Get(tctx(t), "compact-probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.cli.Compact(tctx(t), resp.Header.Revision); err != nil {
		t.Fatalf("Compact: %v", err)
	}
}

// TestWatchAcrossCompaction: a watch whose start revision was compacted
// away re-reads the node: it fires if the node changed, else it watches on.
func TestWatchAcrossCompaction(t *testing.T) {
	s := testSession(t)
	mustCreate(t, s, "/changed", []byte("a"), backend.Persistent)
	mustCreate(t, s, "/same", []byte("a"), backend.Persistent)
	mustCreate(t, s, "/kids", nil, backend.Persistent)
	read := func(p string) nodeRead {
		n, err := s.c.readNode(tctx(t), s.c.abs(p), readOpts{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	changed, same := read("/changed"), read("/same")
	_, kids, err := s.c.children(tctx(t), s.c.abs("/kids"))
	if err != nil {
		t.Fatal(err)
	}
	missing := read("/missing")
	if _, err := s.Set(tctx(t), "/changed", []byte("b"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/kids/k", nil, backend.Persistent)
	mustCreate(t, s, "/missing", nil, backend.Persistent)
	compact(t, s)

	for _, tt := range []struct {
		name string
		n    *nodeRead
		want backend.EventType
	}{{"/changed", &changed, backend.EventDataChanged}, {"/missing", &missing, backend.EventCreated}} {
		ch, err := s.watchData(tctx(t), "getw", tt.name, s.c.abs(tt.name), tt.n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ev := backendtest.NextEvent(t, ch); ev.Type != tt.want {
			t.Fatalf("%s after compaction: %+v, want %v", tt.name, ev, tt.want)
		}
	}
	ch, err := s.watchChildren(tctx(t), "childrenw", "/kids", s.c.abs("/kids"), &kids, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := backendtest.NextEvent(t, ch); ev.Type != backend.EventChildrenChanged {
		t.Fatalf("children after compaction: %+v", ev)
	}

	// Unchanged: the watch goes on from the re-read and fires on the next change.
	ch, err = s.watchData(tctx(t), "getw", "/same", s.c.abs("/same"), &same, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		t.Fatalf("a watch on an unchanged node fired after compaction: %+v", ev)
	default:
	}
	if _, err := s.Set(tctx(t), "/same", []byte("b"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := backendtest.NextEvent(t, ch); ev.Type != backend.EventDataChanged {
		t.Fatalf("/same: %+v", ev)
	}
}

func TestWatchEndsWithSession(t *testing.T) {
	s := testSession(t)
	mustCreate(t, s, "/n", nil, backend.Persistent)
	_, _, ch, err := s.GetW(tctx(t), "/n")
	if err != nil {
		t.Fatal(err)
	}
	_, _, kids, err := s.ChildrenW(tctx(t), "/n")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(tctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan backend.Event{ch, kids} {
		if ev := backendtest.NextEvent(t, c); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrSessionExpired) {
			t.Fatalf("watch at expiry: %+v", ev)
		}
		if _, ok := <-c; ok {
			t.Fatal("watch channel not closed")
		}
	}
	if _, _, _, err := s.GetW(tctx(t), "/n"); !errors.Is(err, backend.ErrSessionExpired) {
		t.Fatalf("GetW on an expired session: %v", err)
	}
}
