package config

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestBadInput: refused input is a typed error, before any round trip.
// Broken on purpose: validateKey without the check of the layout's own
// names let Publish("/a/.history") through (got nil, want ErrBadPath).
func TestBadInput(t *testing.T) {
	if _, err := New(nil); !errors.Is(err, ErrBadOption) {
		t.Errorf("New(nil): %v; want ErrBadOption", err)
	}
	forEach(t, func(t *testing.T, e *env) {
		if _, err := New(newClient(t, e), WithHistory(-1)); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithHistory(-1): %v; want ErrBadOption", err)
		}
		c := newCenter(t, e)
		ctx := ctxT(t)
		for _, p := range []string{"", "a", "/a/", "/", "/a/.history", "/.canary/x", "/a//b"} {
			if _, err := c.Publish(ctx, p, nil); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("Publish(%q): %v; want ErrBadPath", p, err)
			}
			if _, _, err := c.Read(ctx, p); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("Read(%q): %v; want ErrBadPath", p, err)
			}
		}
		if _, err := c.PublishAll(ctx, map[string][]byte{"/ok": nil, "bad": nil}); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("PublishAll with a bad path: %v; want ErrBadPath", err)
		}
		for _, label := range []string{"", ".x", "a/b"} {
			if err := c.PublishCanary(ctx, "/k", label, nil); !errors.Is(err, ErrBadOption) {
				t.Errorf("PublishCanary(label %q): %v; want ErrBadOption", label, err)
			}
		}
		if _, err := c.CompareAndPublish(ctx, "/k", nil, -2); !errors.Is(err, ErrBadOption) {
			t.Errorf("CompareAndPublish(ticket -2): %v; want ErrBadOption", err)
		}
		if _, err := c.Rollback(ctx, "/k", -1); !errors.Is(err, ErrNoVersion) {
			t.Errorf("Rollback(-1): %v; want ErrNoVersion", err)
		}
		_ = c.Close()
		if _, err := c.Publish(ctx, "/k", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after Close: %v; want ErrClosed", err)
		}
		if _, _, err := c.Read(ctx, "/k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Read after Close: %v; want ErrClosed", err)
		}
	})
}

// emptyData fails t unless every node at paths exists with empty data,
// not null (backend/zk reads ZooKeeper's null data, what a create without
// data leaves, as nil; Curator and Dubbo read it as null).
func emptyData(t *testing.T, s backend.Session, paths ...string) {
	t.Helper()
	for _, p := range paths {
		data, st, err := s.Get(ctxT(t), p)
		if err != nil || data == nil || len(data) != 0 || st.DataLength != 0 {
			t.Errorf("%s: data %q (length %d, null %v), %v; want an existing node with empty data", p, data, st.DataLength, data == nil, err)
		}
	}
}

// TestPublishRead: a publish creates the key (parents with empty data) or
// sets it, each with its record, and Read returns the value and its ticket.
// Broken on purpose: makeParents creating the parents with Curator's default
// data (the client's address) failed it ("/app: data \"127.0.0.1\""); with
// no data (nil, as backend.CreateParents sends) it failed on ZooKeeper
// ("/app: data \"\" (length 0, null true)"); explicit returning nil as it
// is failed it there for a nil value ("/app/none: ... null true").
func TestPublishRead(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		const p = "/app/db/url"
		if v, tk, err := c.Read(ctx, p); v != nil || tk != Absent || err != nil {
			t.Fatalf("Read of an absent key: %q, %v, %v; want nil, absent, nil", v, tk, err)
		}
		for i, want := range []string{"one", "two", ""} {
			tk, err := c.Publish(ctx, p, []byte(want))
			if err != nil || tk != Ticket(i) {
				t.Fatalf("Publish %q: %v, %v; want ticket %d", want, tk, err, i)
			}
			v, rt, err := c.Read(ctx, p)
			if err != nil || string(v) != want || rt != tk {
				t.Fatalf("Read after publishing %q: %q, %v, %v; want ticket %v", want, v, rt, err, tk)
			}
		}
		if _, err := c.Publish(ctx, "/app/none", nil); err != nil {
			t.Fatalf("Publish(nil): %v", err)
		}
		s := e.Session(t)
		emptyData(t, s, "/app", "/app/db", HistoryPath(p), "/app/none")
		recs, err := c.History(ctx, p)
		if err != nil || len(recs) != 3 {
			t.Fatalf("History: %d records, %v; want 3", len(recs), err)
		}
		if err := c.Delete(ctx, p); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if st, err := s.Exists(ctx, p); st != nil || err != nil {
			t.Fatalf("after Delete the key is %+v, %v; want gone", st, err)
		}
		if err := c.Delete(ctx, p); err != nil {
			t.Fatalf("Delete of an absent key: %v", err)
		}
		if tk, err := c.Publish(ctx, p, []byte("again")); err != nil || tk != 0 {
			t.Fatalf("Publish after Delete: %v, %v; want ticket 0", tk, err)
		}
	})
}

// TestCompareAndPublish: Dubbo's publishConfigCas. A stale ticket is
// ErrConflict with the backend's reason, and the value stays. Broken on
// purpose: publish without its check of the ticket against the state read
// failed it ("Absent on an existing key: <nil>; want ErrConflict and
// ErrNodeExists").
func TestCompareAndPublish(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		const p = "/cas/key"
		tk, err := c.CompareAndPublish(ctx, p, []byte("a"), Absent)
		if err != nil || tk != 0 {
			t.Fatalf("create with Absent: %v, %v; want ticket 0", tk, err)
		}
		if _, err := c.CompareAndPublish(ctx, p, []byte("b"), Absent); !errors.Is(err, ErrConflict) || !errors.Is(err, backend.ErrNodeExists) {
			t.Fatalf("Absent on an existing key: %v; want ErrConflict and ErrNodeExists", err)
		}
		if tk, err = c.CompareAndPublish(ctx, p, []byte("b"), 0); err != nil || tk != 1 {
			t.Fatalf("publish at ticket 0: %v, %v; want ticket 1", tk, err)
		}
		if _, err := c.CompareAndPublish(ctx, p, []byte("c"), 0); !errors.Is(err, ErrConflict) || !errors.Is(err, backend.ErrBadVersion) {
			t.Fatalf("stale ticket: %v; want ErrConflict and ErrBadVersion", err)
		}
		if v, _, _ := c.Read(ctx, p); string(v) != "b" {
			t.Fatalf("after the stale publish the value is %q; want b", v)
		}
		if _, err := c.CompareAndPublish(ctx, "/cas/none", []byte("c"), 3); !errors.Is(err, ErrConflict) || !errors.Is(err, backend.ErrNoNode) {
			t.Fatalf("ticket of an absent key: %v; want ErrConflict and ErrNoNode", err)
		}

	})
}

// TestCompareAndPublishRace: of two processes creating one key with Absent
// at once, exactly one wins and the other gets ErrConflict, round after
// round. Broken on purpose: publish without its check of the ticket against
// the state read (a CAS publishing at whatever version it read) let the
// loser, once it read the winner's key, set it ("round 0: 2 winners
// ([<nil> <nil>]), 2 records; want 1 and 1").
func TestCompareAndPublishRace(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c, c2 := newCenter(t, e), newCenter(t, e)
		ctx := ctxT(t)
		for round := range 4 {
			key := fmt.Sprintf("/cas/race-%d", round)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, cc := range []*Center{c, c2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = cc.CompareAndPublish(ctx, key, []byte{byte('0' + i)}, Absent)
				}()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrConflict):
					t.Fatalf("round %d: %v; want nil or ErrConflict", round, err)
				}
			}
			recs, _ := c.History(ctx, key)
			if wins != 1 || len(recs) != 1 {
				t.Fatalf("round %d: %d winners (%v), %d records; want 1 and 1", round, wins, errs, len(recs))
			}
		}
	})
}

// TestConcurrentPublish: publishers racing on one key each get a version
// of their own: none is lost, none made twice, and the history holds every
// publish once. Broken on purpose: keyOps setting with AnyVersion (no CAS)
// failed the run without history ("ticket 1 returned twice"; with history
// the create of the same version's record still caught it); keyTaken
// returning its error instead of reading again failed both runs
// ("Publish: backend: multi: op 0: create /busy/key0: backend: node exists").
func TestConcurrentPublish(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		for _, history := range []int{0, 32} {
			t.Run(fmt.Sprint("history", history), func(t *testing.T) {
				concurrentPublish(t, e, history)
			})
		}
	})
}

func concurrentPublish(t *testing.T, e *env, history int) {
	const publishers, each = 4, 8
	p := fmt.Sprint("/busy/key", history)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, publishers*each)
	tickets := make(chan Ticket, publishers*each)
	for i := range publishers {
		c := newCenter(t, e, WithHistory(history), WithAuthor(fmt.Sprint("p", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				tk, err := c.Publish(ctx, p, fmt.Appendf(nil, "p%d-%d", i, j))
				if err != nil {
					errs <- err
					return
				}
				tickets <- tk
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(tickets)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	seen := map[Ticket]bool{}
	for tk := range tickets {
		if seen[tk] {
			t.Fatalf("ticket %v returned twice", tk)
		}
		seen[tk] = true
	}
	c := newCenter(t, e, WithHistory(history))
	_, last, _ := c.Read(ctx, p)
	if last != publishers*each-1 {
		t.Fatalf("version %v; want %d", last, publishers*each-1)
	}
	recs, err := c.History(ctx, p)
	if err != nil || len(recs) != history {
		t.Fatalf("%d records (%v); want %d", len(recs), err, history)
	}
	values := map[string]bool{}
	for i, r := range recs {
		if r.Version != int32(i) || values[string(r.Value)] || r.Author != string(r.Value[:2]) {
			t.Fatalf("record %d: %+v; want version %d, a value not seen before, by its publisher", i, r, i)
		}
		values[string(r.Value)] = true
	}
	if history == 0 {
		if st, _ := e.Session(t).Exists(ctx, HistoryPath(p)); st != nil {
			t.Fatalf("WithHistory(0) made %s", HistoryPath(p))
		}
	}
}

// nodeCount returns how many nodes are below p (p included), as s sees them.
func nodeCount(t *testing.T, s backend.Session, p string) int {
	t.Helper()
	names, _, err := s.Children(ctxT(t), p)
	if isNoNode(err) {
		return 0
	}
	if err != nil {
		t.Fatalf("Children(%s): %v", p, err)
	}
	n := 1
	for _, name := range names {
		n += nodeCount(t, s, backend.Join(p, name))
	}
	return n
}
