package backendtest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// waitGone waits until path does not exist, failing t after the deadline:
// for nodes the server removes on its own schedule (reaping, expiry).
func waitGone(t *testing.T, s backend.Session, path string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for exists(t, s, path) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not removed within %v", path, wait)
		}
		_, ch, err := s.ExistsW(ctx(t), path)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// testCloseWaitsForGoroutines: when a session's Close returns, every
// goroutine the session started has ended: those of one-shot watches still
// waiting for a change, of a WatchTree being read, of the calls made
// (StateChanges feeders, which the contract exempts, are not used here).
// It is checked at once after Close, without waiting. A Close that does
// not wait is caught only when some goroutine is slow to end after it, so
// the test closes several sessions of one client in turn.
//
// Broken on purpose to see it fail: zk's Session.Close and etcd's without
// their final s.wg.Wait(). With one session per run the test caught them
// in 4 and 8 runs of 20; with ten sessions, in 20 of 20 (zk) and 19 of 20
// (etcd).
func testCloseWaitsForGoroutines(t *testing.T, h *harness) {
	c := h.client(t)
	for round := 0; round < 10; round++ {
		closeWaits(t, c, fmt.Sprintf("/r%d", round))
	}
}

// closeWaits opens a session of c, starts goroutines of it in dir, closes
// it and checks that they are gone when Close returns.
func closeWaits(t *testing.T, c backend.Client, dir string) {
	before := backendGoroutines()
	s := sessionOf(t, c)
	mustCreate(t, s, dir, nil, backend.Persistent)
	mustCreate(t, s, dir+"/kid", []byte("k"), backend.Persistent)
	mustCreate(t, s, dir+"-eph", nil, backend.Ephemeral) // not under dir: Close removes it
	var watches []<-chan backend.Event
	for i := 0; i < 10; i++ {
		_, _, ch, err := s.GetW(ctx(t), dir)
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, ch)
		_, ch, err = s.ExistsW(ctx(t), fmt.Sprintf("%s/missing-%d", dir, i))
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, ch)
		_, _, ch, err = s.ChildrenW(ctx(t), dir)
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, ch)
	}
	tree, err := s.WatchTree(ctx(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	if ev := NextTreeEvent(t, tree); ev.Type != backend.NodeAdded {
		t.Fatalf("first tree event %v %s, want added", ev.Type, ev.Path)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range tree {
		}
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	extra := newGoroutines(before, backendGoroutines())
	select {
	case <-drained:
	case <-time.After(wait):
		t.Fatal("the tree watch's channel was not closed after Close")
	}
	if len(extra) > 0 {
		t.Fatalf("%d goroutines of the session still running when Close returned:\n\n%s", len(extra), strings.Join(extra, "\n\n"))
	}
	for _, ch := range watches {
		if ev := NextEvent(t, ch); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrClosed) {
			t.Fatalf("watch ended by Close with %+v, want not-watching with ErrClosed", ev)
		}
	}
}

// testRoot: "/" always exists and can be read, listed and set, versioned or
// not. Inside a namespace it is the namespace's own node, whose data an
// outer client sees at the namespace's path. With the server's root as
// namespace it is the server's root, set here with the data and version it
// had, so that other users of the server see nothing change but its
// version (a concurrent set of it, from another test, is waited out).
//
// Broken on purpose to see it fail: zk's Set and etcd's refusing "/" as
// their Delete does (ErrBadPath).
func testRoot(t *testing.T, h *harness) {
	outer := h.session(t)
	inner := sessionOf(t, h.clientWith(t, Options{Namespace: h.ns + "/r"}))
	mustCreate(t, inner, "/kid", nil, backend.Persistent)
	kids, _, err := inner.Children(ctx(t), "/")
	if err != nil || len(kids) != 1 || kids[0] != "kid" {
		t.Fatalf("Children(/) in a namespace = %q, %v; want [kid]", kids, err)
	}
	_, st, err := inner.Get(ctx(t), "/")
	if err != nil || st.NumChildren != 1 {
		t.Fatalf("Get(/) in a namespace = %+v, %v; want a node with one child", st, err)
	}
	st1, err := inner.Set(ctx(t), "/", []byte("root data"), st.Version)
	if err != nil || st1.Version != st.Version+1 {
		t.Fatalf("Set(/, version %d) in a namespace = %+v, %v; want version %d", st.Version, st1, err, st.Version+1)
	}
	if _, err := inner.Set(ctx(t), "/", []byte("root data 2"), backend.AnyVersion); err != nil {
		t.Fatalf("Set(/, any version) in a namespace: %v", err)
	}
	if data, _, err := outer.Get(ctx(t), "/r"); err != nil || string(data) != "root data 2" {
		t.Fatalf("the namespace's node seen from outside holds %q, %v; want what was set on its /", data, err)
	}
	if data, _, err := inner.Get(ctx(t), "/"); err != nil || string(data) != "root data 2" {
		t.Fatalf("Get(/) in a namespace after Set = %q, %v", data, err)
	}

	top := sessionOf(t, h.clientWith(t, Options{Namespace: "/"}))
	for attempt := 1; ; attempt++ {
		data, st, err := top.Get(ctx(t), "/")
		if err != nil {
			t.Fatalf("Get(/) of the server: %v", err)
		}
		if st0, err := top.Exists(ctx(t), "/"); err != nil || st0 == nil {
			t.Fatalf("Exists(/) of the server = %v, %v", st0, err)
		}
		st1, err := top.Set(ctx(t), "/", data, st.Version)
		if errors.Is(err, backend.ErrBadVersion) && attempt < 5 {
			continue // someone else set it meanwhile
		}
		if err != nil || st1.Version != st.Version+1 {
			t.Fatalf("Set(/, version %d) of the server = %+v, %v; want version %d", st.Version, st1, err, st.Version+1)
		}
		if again, _, err := top.Get(ctx(t), "/"); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("Get(/) of the server after Set = %q, %v; want %q", again, err, data)
		}
		break
	}
	if _, _, err := top.Children(ctx(t), "/"); err != nil {
		t.Fatalf("Children(/) of the server: %v", err)
	}
}

// testTTLUnmodified: a TTL node lives while it is modified within its TTL,
// however old it gets, and goes once unmodified for the TTL. The node kept
// is set every tenth of the TTL while two probes, TTL nodes nobody
// modifies, are reaped: the first is created after kept, so a reaping pass
// that takes it finds kept older than the TTL too; the second is created
// after the first is gone, so when it goes a later pass has run. kept must
// outlive both. Then the sets stop, and kept must go.
//
// A set that finds kept gone fails the test only if the last set that
// succeeded was sent less than a TTL before; otherwise the machine stalled
// for longer than the TTL between two sets, the reaping was right, and the
// test is inconclusive (skipped). The reaper's interval does not matter.
//
// Broken on purpose to see it fail: etcd's reaper judging TTL nodes by
// their creation time instead of their mtime (kept is reaped while being
// set).
func testTTLUnmodified(t *testing.T, h *harness) {
	s := h.session(t)
	const ttl = time.Second
	lastOK := time.Now() // when the last write of kept that succeeded was sent
	kept := mustCreate(t, s, "/kept", nil, backend.PersistentTTL, backend.WithTTL(ttl))
	set := func() {
		t.Helper()
		sent := time.Now()
		_, err := s.Set(ctx(t), kept, nil, backend.AnyVersion)
		switch {
		case err == nil:
			lastOK = sent
		case errors.Is(err, backend.ErrNoNode) && time.Since(lastOK) > ttl:
			t.Skipf("%s reaped %v after its last set was sent: the machine stalled for longer than the TTL (%v)", kept, time.Since(lastOK), ttl)
		case errors.Is(err, backend.ErrNoNode):
			t.Fatalf("%s reaped %v after its last set was sent, less than its TTL (%v): a TTL counts from the last modification", kept, time.Since(lastOK), ttl)
		default:
			t.Fatalf("Set(%s): %v", kept, err)
		}
	}
	setUntilReaped := func(probe string) {
		t.Helper()
		st, gone, err := s.ExistsW(ctx(t), probe)
		if err != nil || st == nil {
			t.Fatalf("ExistsW(%s) = %v, %v", probe, st, err)
		}
		tick := time.NewTicker(ttl / 10)
		defer tick.Stop()
		deadline := time.After(wait)
		for {
			set()
			select {
			case ev := <-gone:
				if ev.Type != backend.EventDeleted {
					t.Fatalf("watch of %s: %+v, want deleted", probe, ev)
				}
				set()
				return
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s, a TTL node nobody modifies, not reaped within %v", probe, wait)
			}
		}
	}
	setUntilReaped(mustCreate(t, s, "/probe-1", nil, backend.PersistentTTL, backend.WithTTL(ttl)))
	setUntilReaped(mustCreate(t, s, "/probe-2", nil, backend.PersistentTTL, backend.WithTTL(ttl/10)))
	waitGone(t, s, kept)
}

// testErrors: through a client with credentials, every failing call
// returns an *OpError (a Multi: a *MultiError holding one) naming its
// operation and the path it was given, and no error says the password:
// neither those of refused calls, nor a server's refusal (ErrNoAuth, on
// backends with ACLs), nor a connection lost under a create (outcome
// unknown), nor the calls of a closed session.
//
// Broken on purpose to see it fail: zk's opError putting the session's
// credentials in its cause (the password shows); etcd's fail dropping the
// path of a failed condition (Path is empty).
func testErrors(t *testing.T, h *harness) {
	const user, password = "zkrecipes-suite", "pw-4f1e-never-in-errors"
	observer := h.session(t) // makes the namespace node, open to all
	creds := Options{User: user, Password: password}
	s := sessionOf(t, h.clientWith(t, creds))
	mustCreate(t, s, "/n", []byte("v"), backend.Persistent)
	mustCreate(t, s, "/p", nil, backend.Persistent)
	mustCreate(t, s, "/p/kid", nil, backend.Persistent)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	big := make([]byte, s.Capabilities().MaxDataSize+1)

	type failure struct {
		op, path string // the call and the path it was given
		err      error
		want     error
	}
	var failures []failure
	add := func(op, path string, want error, err error) {
		failures = append(failures, failure{op, path, err, want})
	}
	_, _, err := s.Get(ctx(t), "/missing")
	add("Get", "/missing", backend.ErrNoNode, err)
	_, _, _, err = s.GetW(ctx(t), "/missing")
	add("GetW", "/missing", backend.ErrNoNode, err)
	_, err = s.Exists(ctx(t), "/a//b")
	add("Exists", "/a//b", backend.ErrBadPath, err)
	_, _, err = s.ExistsW(ctx(t), "/a//b")
	add("ExistsW", "/a//b", backend.ErrBadPath, err)
	_, err = s.Set(ctx(t), "/missing", nil, backend.AnyVersion)
	add("Set", "/missing", backend.ErrNoNode, err)
	_, err = s.Set(ctx(t), "/n", nil, 7)
	add("Set", "/n", backend.ErrBadVersion, err)
	_, err = s.Set(ctx(t), "/n", big, backend.AnyVersion)
	add("Set", "/n", backend.ErrTooLarge, err)
	_, err = s.Create(ctx(t), "/n", nil, backend.Persistent)
	add("Create", "/n", backend.ErrNodeExists, err)
	_, err = s.Create(ctx(t), "/missing/kid", nil, backend.Persistent)
	add("Create", "/missing/kid", backend.ErrNoNode, err)
	_, err = s.Create(ctx(t), "/new", nil, backend.Persistent, backend.WithTTL(time.Second))
	add("Create", "/new", backend.ErrUnsupported, err) // a TTL for a mode without one
	err = s.Delete(ctx(t), "/p", backend.AnyVersion)
	add("Delete", "/p", backend.ErrNotEmpty, err)
	err = s.Delete(ctx(t), "/n", 7)
	add("Delete", "/n", backend.ErrBadVersion, err)
	_, _, err = s.Children(ctx(t), "/missing")
	add("Children", "/missing", backend.ErrNoNode, err)
	_, _, _, err = s.ChildrenW(ctx(t), "/missing")
	add("ChildrenW", "/missing", backend.ErrNoNode, err)
	_, _, err = s.Get(cancelled, "/n")
	add("Get", "/n", context.Canceled, err)
	err = s.Sync(ctx(t), "/a//b")
	add("Sync", "/a//b", backend.ErrBadPath, err)
	_, err = s.WatchTree(ctx(t), "/a//b")
	add("WatchTree", "/a//b", backend.ErrBadPath, err)
	_, err = s.Multi(ctx(t), backend.CreateOp{Path: "/m"}, backend.CheckOp{Path: "/n", Version: 7})
	add("Multi", "/n", backend.ErrBadVersion, err)

	if s.Capabilities().ACL {
		// A node only someone else may use: digest other:pw.
		sum := sha1.Sum([]byte("other:pw"))
		acl := backend.ACL{Perms: backend.PermAll, Scheme: "digest", ID: "other:" + base64.StdEncoding.EncodeToString(sum[:])}
		mustCreate(t, observer, "/secret", []byte("s"), backend.Persistent, backend.WithACL(acl))
		_, _, err = s.Get(ctx(t), "/secret")
		add("Get", "/secret", backend.ErrNoAuth, err)
		_, err = s.Set(ctx(t), "/secret", nil, backend.AnyVersion)
		add("Set", "/secret", backend.ErrNoAuth, err)
		_, err = s.Create(ctx(t), "/secret/kid", nil, backend.Persistent)
		add("Create", "/secret/kid", backend.ErrNoAuth, err)
	}

	creds.SessionTimeout = 10 * time.Second
	lossy, proxy := h.proxiedWith(t, creds)
	mustCreate(t, observer, "/lost", nil, backend.Persistent)
	err = loseReply(t, proxy,
		func() error {
			_, err := lossy.Create(ctx(t), "/lost/n-", nil, backend.PersistentSequential)
			return err
		},
		func() bool { k, _, _ := observer.Children(ctx(t), "/lost"); return len(k) > 0 })
	add("Create", "/lost/n-", backend.ErrOutcomeUnknown, err)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(ctx(t), "/n")
	add("Get", "/n", backend.ErrClosed, err)

	for _, f := range failures {
		if !errors.Is(f.err, f.want) {
			t.Errorf("%s(%s): %v; want %v", f.op, f.path, f.err, f.want)
			continue
		}
		if strings.Contains(f.err.Error(), password) || strings.Contains(fmt.Sprintf("%+v", f.err), password) {
			t.Errorf("%s(%s): the error says the password: %v", f.op, f.path, f.err)
		}
		oe := new(backend.OpError)
		if f.op == "Multi" {
			var me *backend.MultiError
			if !errors.As(f.err, &me) || me.Index != 1 {
				t.Errorf("Multi: %v (%T); want a *MultiError naming op 1", f.err, f.err)
				continue
			}
		}
		if !errors.As(f.err, &oe) {
			t.Errorf("%s(%s): %v is a %T; want a *backend.OpError", f.op, f.path, f.err, f.err)
			continue
		}
		if oe.Op == "" || oe.Path != f.path {
			t.Errorf("%s(%s): OpError names operation %q, path %q; want the operation and %s", f.op, f.path, oe.Op, oe.Path, f.path)
		}
	}
}
