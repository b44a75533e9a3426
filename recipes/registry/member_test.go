package registry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// TestMemberExpiry: after its session expires, the member's node is made
// again on the client's next session, within the session timeout plus a
// margin, with the data of the last Update, and there is one node; a
// watcher on another client sees the node leave and come back.
//
// Broken on purpose: loop returning the session's error instead of taking
// the next session -> fails with "member registered again ...: not within
// 20s"; ensure writing the data given to NewMember instead of the latest
// -> fails with "after Update returned the node does not hold v2".
func TestMemberExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c, obsClient := newClient(t, e), newClient(t, e)
		obs := current(t, obsClient)
		m := startMember(t, c, "/members/a", "v1")
		if !nodeIs(t, obs, "/members/a", current(t, c).ID(), "v1") {
			t.Fatalf("after Start the node is not the member's with v1")
		}
		nc, err := cache.NewNode(obsClient, "/members/a")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		if err := nc.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		l := nc.Listen()
		t.Cleanup(l.Close)

		if err := m.Update(ctxT(t), []byte("v2")); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if !nodeIs(t, obs, "/members/a", current(t, c).ID(), "v2") {
			t.Fatalf("after Update returned the node does not hold v2")
		}
		start := time.Now()
		old := expire(t, c)
		waitOwned(t, obs, c, m, old, "v2")
		took := time.Since(start)
		t.Logf("re-registered %v after the expiry", took)
		if limit := e.Timeout + 5*time.Second; took > limit {
			t.Errorf("re-registered after %v, want within %v", took, limit)
		}
		if kids := recipetest.Children(t, obs, "/members"); len(kids) != 1 {
			t.Errorf("children %v, want one node", kids)
		}

		// The watcher saw the node leave and come back as a new node.
		var removed bool
		var firstToken int64
		for {
			ev, err := l.Next(ctxT(t))
			if err != nil {
				t.Fatalf("watcher: %v (removed seen: %v)", err, removed)
			}
			switch {
			case ev.Type == cache.Added && firstToken == 0:
				firstToken = ev.New.Stat.CreateToken
			case ev.Type == cache.Removed:
				removed = true
			case ev.Type == cache.Added && removed:
				if ev.New.Stat.CreateToken == firstToken || string(ev.New.Data) != "v2" {
					t.Fatalf("came back as %+v, want a new node with v2", ev.New)
				}
				return
			}
		}
	})
}

// TestMemberForeignNodeInTheWay: a node of another session at the
// member's path (Z4: a lost session's ephemeral not yet removed, or
// Dubbo #7124) is replaced: Start succeeds, never NodeExists, and the one
// node is the member's with its data.
//
// Broken on purpose: ensure treating any existing node as its own -> fails
// with "node is not the member's"; not deleting the foreign node but
// creating -> Start never returns (fails with context deadline exceeded).
func TestMemberForeignNodeInTheWay(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		other := e.Session(t)
		if _, err := other.Create(ctxT(t), "/g/x", []byte("foreign"), backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, e)
		m := startMember(t, c, "/g/x", "mine")
		if !nodeIs(t, other, "/g/x", current(t, c).ID(), "mine") {
			t.Fatalf("node is not the member's with its data")
		}
		if kids := recipetest.Children(t, other, "/g"); len(kids) != 1 {
			t.Errorf("children %v, want one", kids)
		}
		if !m.Registered() {
			t.Errorf("Registered() = false after Start")
		}
	})
}

// TestMemberDeletedByAdmin: a node deleted by someone else is made again
// (the exists watch is armed again after every event: HIVE-24713,
// HIVE-25846); a second deletion too.
//
// Broken on purpose: watch ignoring its exists watch's event (so nothing
// looks again after the deletion) -> fails with "made again (round 1): not
// within 20s" on both backends.
func TestMemberDeletedByAdmin(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		c := newClient(t, e)
		m := startMember(t, c, "/g/y", "d")
		for round := 1; round <= 2; round++ {
			_, st, err := admin.Get(ctxT(t), "/g/y")
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.Delete(ctxT(t), "/g/y", backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			recipetest.Eventually(t, fmt.Sprintf("made again (round %d)", round), func() bool {
				_, st2, err := admin.Get(ctxT(t), "/g/y")
				return err == nil && st2.CreateToken != st.CreateToken && st2.EphemeralOwner == current(t, c).ID() && m.Registered()
			})
		}
	})
}

// TestMemberSequentialKeepsName: an ephemeral sequential member keeps the
// name its first create got across an expiry (Hive relies on it), with
// the latest data, and one node.
//
// Broken on purpose: fixedMode returning the sequential mode -> fails with
// "member registered again ...: not within 20s" (each round makes another
// sequential node).
func TestMemberSequentialKeepsName(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		c := newClient(t, e)
		m := startMember(t, c, "/hive/serverUri=h:1;sequence=", "h:1", WithMode(backend.EphemeralSequential))
		p := m.Path()
		if _, ok := backend.Sequence(p); !ok || len(p) != len("/hive/serverUri=h:1;sequence=")+10 {
			t.Fatalf("Path() = %q, want the prefix with a sequence", p)
		}
		if err := m.Update(ctxT(t), []byte("h:1;v=2")); err != nil {
			t.Fatal(err)
		}
		old := expire(t, c)
		waitOwned(t, obs, c, m, old, "h:1;v=2")
		if m.Path() != p {
			t.Errorf("Path() = %q after expiry, want %q", m.Path(), p)
		}
		if kids := recipetest.Children(t, obs, "/hive"); len(kids) != 1 || "/hive/"+kids[0] != p {
			t.Errorf("children %v, want just %s", kids, p)
		}
	})
}

// TestMemberUpdateWhileLost: an Update made while the session is gone is
// the data of the re-created node (CURATOR-181: never stale data).
//
// Broken on purpose: Update not keeping the data in m.data -> fails with
// "member registered again on a new session with late: not within 20s".
func TestMemberUpdateWhileLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		c := newClient(t, e)
		m := startMember(t, c, "/g/u", "early")
		old := expire(t, c)
		if err := m.Update(ctxT(t), []byte("late")); err != nil {
			t.Fatal(err)
		}
		waitOwned(t, obs, c, m, old, "late")
		if string(m.Data()) != "late" {
			t.Errorf("Data() = %q", m.Data())
		}
	})
}

// TestMemberClose: Close deletes the node, and nothing makes it again,
// even when Close comes right after an expiry while a re-registration is
// due (CURATOR-164): checked again after a session timeout and a margin.
//
// Broken on purpose: cleanup skipped -> fails with "node still there after
// Close" on both backends.
func TestMemberClose(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		c := newClient(t, e)
		m1 := startMember(t, c, "/g/c1", "x")
		m2 := startMember(t, c, "/g/c2", "x")
		if err := m1.Close(); err != nil {
			t.Fatal(err)
		}
		if st, err := obs.Exists(ctxT(t), "/g/c1"); err != nil || st != nil {
			t.Fatalf("node still there after Close: %v %v", st, err)
		}
		expire(t, c)
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, m2.Done(), "m2.Done")
		if !errors.Is(m2.Err(), ErrClosed) || !errors.Is(m1.Err(), ErrClosed) {
			t.Errorf("Err() = %v, %v; want ErrClosed", m1.Err(), m2.Err())
		}
		// Nothing is left to make it again; wait long enough for a
		// phantom re-registration to show.
		quiet := time.NewTimer(e.Timeout + 2*time.Second)
		<-quiet.C
		for _, p := range []string{"/g/c1", "/g/c2"} {
			if st, err := obs.Exists(ctxT(t), p); err != nil || st != nil {
				t.Errorf("%s after Close and a session timeout: %+v %v, want gone", p, st, err)
			}
		}
		if m1.Close() != nil || m2.Close() != nil {
			t.Errorf("second Close failed")
		}
		if err := m2.Update(ctxT(t), []byte("y")); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close: %v, want ErrClosed", err)
		}
	})
}

// TestMemberCut: a node deleted while the member's connection is cut is
// made again once the connection is back (on the same session, or the
// next one if the cut outlived it), and there is one node.
//
// Broken on purpose: watch ignoring its exists watch's event -> fails with
// "made again after the cut: not within 20s" on etcd (on ZooKeeper the
// Reconnected state alone makes the member look again).
func TestMemberCut(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		p, err := faultnet.NewProxy(e.Endpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, e.Timeout)
		m := startMember(t, c, "/g/cut", "d")
		_, st, err := admin.Get(ctxT(t), "/g/cut")
		if err != nil {
			t.Fatal(err)
		}
		p.Cut()
		if err := admin.Delete(ctxT(t), "/g/cut", backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		p.Heal()
		recipetest.Eventually(t, "made again after the cut", func() bool {
			_, st2, err := admin.Get(ctxT(t), "/g/cut")
			return err == nil && st2.CreateToken != st.CreateToken && st2.EphemeralOwner == current(t, c).ID() && m.Registered()
		})
		if kids := recipetest.Children(t, admin, "/g"); len(kids) != 1 {
			t.Errorf("children %v, want one", kids)
		}
	})
}

// fakeClient is a client that is never called: NewMember refuses the
// options before it would be used.
type fakeClient struct{ backend.Client }

// TestNewMemberOptions: bad options are refused by NewMember.
func TestNewMemberOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		opts []Option
	}{
		{"container", "/a", []Option{WithMode(backend.Container)}},
		{"ttl without mode", "/a", []Option{WithTTL(time.Second)}},
		{"ttl mode without ttl", "/a", []Option{WithMode(backend.PersistentTTL)}},
		{"container parents", "/a", []Option{WithParents(backend.Container)}},
		{"keep ephemeral", "/a", []Option{WithKeepOnClose()}},
		{"nil logger", "/a", []Option{WithLogger(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewMember(fakeClient{}, tc.path, nil, tc.opts...); !errors.Is(err, ErrBadOption) {
				t.Errorf("NewMember: %v, want ErrBadOption", err)
			}
		})
	}
	// A bad path is backend.ErrBadPath, as everywhere.
	for _, path := range []string{"/", "a", "/a/"} {
		if _, err := NewMember(fakeClient{}, path, nil); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("NewMember(%q): %v, want backend.ErrBadPath", path, err)
		}
		if path != "/" {
			if _, err := NewGroup(fakeClient{}, path); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("NewGroup(%q): %v, want backend.ErrBadPath", path, err)
			}
		}
	}
}

// TestMemberPersistent: a persistent member is made again after an admin
// deletes it, keeps no owner, and Close deletes it unless WithKeepOnClose.
//
// Broken on purpose: cleanup ignoring WithKeepOnClose -> fails with "kept
// node gone after Close".
func TestMemberPersistent(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		c := newClient(t, e)
		m := startMember(t, c, "/p/a", "x", WithMode(backend.Persistent))
		k := startMember(t, c, "/p/keep", "k", WithMode(backend.Persistent), WithKeepOnClose())
		if err := admin.Delete(ctxT(t), "/p/a", backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "persistent node made again", func() bool {
			return nodeIs(t, admin, "/p/a", 0, "x") && m.Registered()
		})
		_ = m.Close()
		_ = k.Close()
		if st, err := admin.Exists(ctxT(t), "/p/a"); err != nil || st != nil {
			t.Errorf("node after Close: %+v %v, want gone", st, err)
		}
		if !nodeIs(t, admin, "/p/keep", 0, "k") {
			t.Errorf("kept node gone after Close")
		}
	})
}

// TestMemberLostCreateReply: the reply to a sequential member's first
// create is lost (the proxy drops the server's replies); once replies flow
// again the member finds the node that create made instead of making a
// second one.
//
// Broken on purpose: createFirst not looking for the node of an unknown
// create -> fails with "children [...], want one".
func TestMemberLostCreateReply(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		p, err := faultnet.NewProxy(e.Endpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, e.Timeout)
		current(t, c)
		if err := backend.CreateParents(ctxT(t), admin, "/lost/x", backend.Persistent); err != nil {
			t.Fatal(err)
		}
		m, err := NewMember(c, "/lost/n-", []byte("d"), WithMode(backend.EphemeralSequential))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		p.DropReplies()
		started := make(chan error, 1)
		go func() { started <- m.Start(ctxT(t)) }()
		recipetest.Eventually(t, "the create landed", func() bool { return len(recipetest.Children(t, admin, "/lost")) > 0 })
		p.Heal()
		p.Reset() // the connection that lost replies is a corrupt stream
		if err := <-started; err != nil {
			t.Fatalf("Start: %v", err)
		}
		recipetest.Eventually(t, "registered", m.Registered)
		kids := recipetest.Children(t, admin, "/lost")
		if len(kids) != 1 || "/lost/"+kids[0] != m.Path() {
			t.Errorf("children %v, want one, %s", kids, m.Path())
		}
	})
}

// TestMemberPermanentError: an error no session cures ends the member:
// Done closes and Err says why (a *MemberError matching the backend's
// error): its client closed; on etcd, an ACL (no per-node ACLs there),
// where Start fails at once.
//
// Broken on purpose: permanent() answering false for everything -> fails
// with "m.Done: not closed within 20s" (the member retries for ever).
func TestMemberPermanentError(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newClient(t, e)
		m := startMember(t, c, "/perm/a", "x")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, m.Done(), "m.Done")
		var me *MemberError
		if err := m.Err(); !errors.As(err, &me) || !errors.Is(err, backend.ErrClosed) || m.Registered() {
			t.Errorf("Err() = %v, Registered %v; want a MemberError matching backend.ErrClosed", err, m.Registered())
		}
		if e.Backend.Name != "etcd" {
			return
		}
		m2, err := NewMember(newClient(t, e), "/perm/b", nil, WithACL(backend.OpenACL...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m2.Close() })
		if err := m2.Start(ctxT(t)); !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("Start with an ACL on etcd: %v, want ErrUnsupported", err)
		}
	})
}

// TestMemberDataSetBack: data someone else sets on the member's node is
// set back to the member's.
//
// Broken on purpose: ensure accepting any data on its own node -> fails
// with "data set back: not within 20s".
func TestMemberDataSetBack(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		c := newClient(t, e)
		startMember(t, c, "/g/set", "mine")
		if _, err := admin.Set(ctxT(t), "/g/set", []byte("theirs"), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "data set back", func() bool {
			return nodeIs(t, admin, "/g/set", current(t, c).ID(), "mine")
		})
	})
}

// TestMemberTTL: a PersistentTTL member is made with its TTL, made again
// after a deletion, and deleted at Close. A ZooKeeper server without
// extendedTypesEnabled refuses TTL nodes (ErrUnsupported): then the test
// skips.
//
// Broken on purpose: createOptions without the TTL -> fails with "Start:
// ... needs a positive TTL" on both backends.
func TestMemberTTL(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		_, err := admin.Create(ctxT(t), "/ttl/probe", nil, backend.PersistentTTL, backend.WithTTL(time.Minute), backend.WithParents(backend.Persistent))
		if errors.Is(err, backend.ErrUnsupported) {
			t.Skipf("the server has no TTL nodes: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, e)
		m, err := NewMember(c, "/ttl/a", []byte("t"), WithMode(backend.PersistentTTL), WithTTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		if err := m.Start(ctxT(t)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := admin.Delete(ctxT(t), "/ttl/a", backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "TTL node made again", func() bool { return nodeIs(t, admin, "/ttl/a", 0, "t") && m.Registered() })
		if caps := admin.Capabilities(); caps.ExactMode {
			if _, st, err := admin.Get(ctxT(t), "/ttl/a"); err != nil || st.Mode != backend.PersistentTTL || st.TTL != time.Minute {
				t.Errorf("stat %+v %v, want a PersistentTTL node of 1m", st, err)
			}
		}
		_ = m.Close()
		if st, err := admin.Exists(ctxT(t), "/ttl/a"); err != nil || st != nil {
			t.Errorf("node after Close: %+v %v", st, err)
		}
	})
}

// TestMemberEndWhenDeleted: a member made WithEndWhenDeleted ends when
// someone else deletes its node: Done closes, Err is ErrDeregistered, and
// the node stays gone (the goroutine that could make it again has ended);
// a persistent member the same. A deletion while the member's connection
// is cut counts too (seen after the cut, on the same session). Its
// session's expiry is not a deletion: an ephemeral-sequential member's
// node is made again under the same name with its data and the member runs
// on. Both backends.
//
// Broken on purpose: ensure ignoring endWhenDeleted (making the node again)
// -> fails with "d.Done: not closed within 20s" on both backends; deleted
// not waiting for the session to show its end (ErrDeregistered at once) ->
// fails on etcd with "member registered again on a new session with y:
// not within 20s" (the watch saw the revoked lease's deletion before the
// keep-alive did); heldBy ignoring the session (any deletion of a node
// held once counts) -> fails the same way on both backends.
func TestMemberEndWhenDeleted(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		admin := e.Session(t)
		c, cx := newClient(t, e), newClient(t, e)
		x := startMember(t, cx, "/end/x-", "y", WithMode(backend.EphemeralSequential), WithEndWhenDeleted())
		d := startMember(t, c, "/end/d", "d", WithEndWhenDeleted())
		p := startMember(t, c, "/end/p", "p", WithMode(backend.Persistent), WithEndWhenDeleted())

		name := x.Path()
		old := expire(t, cx)
		waitOwned(t, admin, cx, x, old, "y")
		if x.Path() != name || x.Err() != nil {
			t.Fatalf("after the expiry: Path %q Err %v; want %q, nil", x.Path(), x.Err(), name)
		}

		for _, m := range []*Member{d, p} {
			if err := admin.Delete(ctxT(t), m.Path(), backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
		}
		recipetest.WaitClosed(t, d.Done(), "d.Done")
		recipetest.WaitClosed(t, p.Done(), "p.Done")
		for _, m := range []*Member{d, p} {
			if !errors.Is(m.Err(), ErrDeregistered) || m.Registered() {
				t.Errorf("%s: Err %v, Registered %v; want ErrDeregistered, false", m.Path(), m.Err(), m.Registered())
			}
			if st, err := admin.Exists(ctxT(t), m.Path()); err != nil || st != nil {
				t.Errorf("%s after the member ended: %+v %v, want gone", m.Path(), st, err)
			}
		}
		if err := d.Update(ctxT(t), []byte("late")); !errors.Is(err, ErrDeregistered) {
			t.Errorf("Update after the end: %v, want ErrDeregistered", err)
		}
		if err := d.Close(); err != nil || !errors.Is(d.Err(), ErrDeregistered) {
			t.Errorf("Close after the end: %v, Err %v; want nil, ErrDeregistered", err, d.Err())
		}

		// Deleted while the connection is cut: seen after the cut.
		px, err := faultnet.NewProxy(e.Endpoints[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = px.Close() })
		cc := e.Backend.Open(t, []string{px.Addr()}, e.Namespace, e.Timeout)
		m := startMember(t, cc, "/end/cut", "c", WithEndWhenDeleted())
		px.Cut()
		if err := admin.Delete(ctxT(t), "/end/cut", backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		px.Heal()
		recipetest.WaitClosed(t, m.Done(), "cut member's Done")
		if !errors.Is(m.Err(), ErrDeregistered) {
			t.Errorf("cut member: Err %v, want ErrDeregistered", m.Err())
		}
		if st, err := admin.Exists(ctxT(t), "/end/cut"); err != nil || st != nil {
			t.Errorf("cut member's node: %+v %v, want gone", st, err)
		}
		if x.Err() != nil || !x.Registered() {
			t.Errorf("x: Err %v, Registered %v; want it running", x.Err(), x.Registered())
		}
	})
}
