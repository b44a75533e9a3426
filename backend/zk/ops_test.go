package zk_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

// TestNamespace: paths are prefixed on the way in and stripped on the way
// out (created paths, sequential names, multi results, watch and tree
// events); namespaces that share a prefix do not see each other.
func TestNamespace(t *testing.T) {
	base := testConfig(t)
	outer := newSession(t, zk.Config{Servers: base.Servers, Namespace: base.Namespace})
	a := newSession(t, testConfigNS(t, base.Namespace+"/a"))
	ab := newSession(t, testConfigNS(t, base.Namespace+"/ab"))
	root := newSession(t, zk.Config{Servers: base.Servers})

	if p := mustCreate(t, a, "/x", []byte("a"), backend.Persistent); p != "/x" {
		t.Fatalf("Create returned %q, want /x", p)
	}
	seq := mustCreate(t, a, "/s-", nil, backend.PersistentSequential)
	if !strings.HasPrefix(seq, "/s-") || len(seq) != len("/s-")+backend.SequenceDigits {
		t.Fatalf("sequential create returned %q", seq)
	}
	if p := mustCreate(t, a, "/p/q/r", nil, backend.Persistent, backend.WithParents(backend.Persistent)); p != "/p/q/r" {
		t.Fatalf("create with parents returned %q", p)
	}
	res, err := a.Multi(ctxT(t), backend.CreateOp{Path: "/m-", Mode: backend.PersistentSequential}, backend.SetOp{Path: "/x", Data: []byte("a2"), Version: -1})
	if err != nil || !strings.HasPrefix(res[0].Path, "/m-") || res[1].Path != "/x" {
		t.Fatalf("Multi = %+v, %v", res, err)
	}
	if exists(t, ab, "/x") {
		t.Fatal("namespace /ab sees /a's node")
	}
	if data, _, err := outer.Get(ctxT(t), "/a/x"); err != nil || string(data) != "a2" {
		t.Fatalf("outer namespace reads /a/x = %q, %v", data, err)
	}
	if data, _, err := root.Get(ctxT(t), base.Namespace+"/a/x"); err != nil || string(data) != "a2" {
		t.Fatalf("the server root reads %s/a/x = %q, %v", base.Namespace, data, err)
	}
	kids, _, err := a.Children(ctxT(t), "/")
	slices.Sort(kids)
	if want := []string{backend.Base(res[0].Path), "p", backend.Base(seq), "x"}; err != nil || !slices.Equal(kids, want) {
		t.Fatalf("Children(/) = %q, %v; want %q", kids, err, want)
	}
	// "/" is the namespace node: it has data and cannot be deleted.
	if _, err := a.Set(ctxT(t), "/", []byte("ns"), -1); err != nil {
		t.Fatalf("Set(/): %v", err)
	}
	if data, _, _ := outer.Get(ctxT(t), "/a"); string(data) != "ns" {
		t.Fatalf("namespace node data %q", data)
	}
	wantErr(t, "Delete(/)", a.Delete(ctxT(t), "/", -1), backend.ErrBadPath)
	_, err = a.Create(ctxT(t), "/", nil, backend.Persistent)
	wantErr(t, "Create(/)", err, backend.ErrNodeExists)
	_, err = a.Create(ctxT(t), "/", nil, backend.PersistentSequential)
	wantErr(t, "sequential Create(/)", err, backend.ErrBadPath)
	_, err = a.Multi(ctxT(t), backend.DeleteOp{Path: "/", Version: -1})
	wantErr(t, "Multi delete(/)", err, backend.ErrBadPath)
	if !exists(t, outer, "/a") {
		t.Fatal("the namespace node was deleted")
	}

	// Watch events carry namespace paths.
	_, ch, err := a.ExistsW(ctxT(t), "/w")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := a.WatchTree(ctxT(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	var initial []string
	for ev := range tree {
		if ev.Type == backend.TreeInitialized {
			break
		}
		initial = append(initial, ev.Path)
	}
	slices.Sort(initial)
	if want := []string{"/", res[0].Path, "/p", "/p/q", "/p/q/r", seq, "/x"}; !slices.Equal(initial, want) {
		t.Fatalf("tree of the namespace %q, want %q", initial, want)
	}
	mustCreate(t, ab, "/w", nil, backend.Persistent) // another namespace: not seen
	mustCreate(t, outer, "/w", nil, backend.Persistent)
	mustCreate(t, a, "/w", nil, backend.Persistent)
	if ev := backendtest.NextEvent(t, ch); ev.Type != backend.EventCreated || ev.Path != "/w" {
		t.Fatalf("event %+v, want created /w", ev)
	}
	if ev := <-tree; ev.Type != backend.NodeAdded || ev.Path != "/w" {
		t.Fatalf("tree event %v %s, want added /w", ev.Type, ev.Path)
	}
}

func TestCreateModesAndOptions(t *testing.T) {
	cfg := testConfig(t)
	s := newSession(t, cfg)
	c := ctxT(t)

	// Modes the backend contract checks are refused before any round trip.
	_, err := s.Create(c, "/ttl", nil, backend.PersistentTTL)
	wantErr(t, "TTL mode without a TTL", err, backend.ErrUnsupported)
	_, err = s.Create(c, "/p", nil, backend.Persistent, backend.WithTTL(time.Second))
	wantErr(t, "TTL on a persistent node", err, backend.ErrUnsupported)
	_, err = s.Create(c, "/p", nil, backend.Mode(42))
	wantErr(t, "unknown mode", err, backend.ErrUnsupported)
	_, err = s.Create(c, "/p/q", nil, backend.Persistent, backend.WithParents(backend.Ephemeral))
	wantErr(t, "ephemeral parents", err, backend.ErrUnsupported)

	// Every mode, and what the server says about it.
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	if st, _ := s.Exists(c, e); st.EphemeralOwner != s.ID() {
		t.Fatalf("ephemeral owner %d, session %d", st.EphemeralOwner, s.ID())
	}
	_, err = s.Create(c, "/e/kid", nil, backend.Persistent)
	wantErr(t, "child of an ephemeral", err, backend.ErrNoChildrenForEphemerals)
	_, err = s.Create(c, "/e/a/b", nil, backend.Persistent, backend.WithParents(backend.Persistent))
	wantErr(t, "parents under an ephemeral", err, backend.ErrNoChildrenForEphemerals)
	es := mustCreate(t, s, "/es-", nil, backend.EphemeralSequential)
	if n, ok := backend.Sequence(es); !ok || n < 0 {
		t.Fatalf("ephemeral sequential path %q", es)
	}
	mustCreate(t, s, "/c", nil, backend.Container)
	mustCreate(t, s, "/c/kid", nil, backend.Persistent)
	ttl := mustCreate(t, s, "/ttl", []byte("t"), backend.PersistentTTL, backend.WithTTL(300*time.Millisecond))
	ttlSeq := mustCreate(t, s, "/ttl-", nil, backend.PersistentSequentialTTL, backend.WithTTL(time.Hour+time.Microsecond))
	if _, ok := backend.Sequence(ttlSeq); !ok {
		t.Fatalf("sequential TTL path %q", ttlSeq)
	}
	_, err = s.Create(c, "/ttl-huge", nil, backend.PersistentTTL, backend.WithTTL(1<<62))
	wantErr(t, "TTL out of the server's range", err, backend.ErrUnsupported)
	if err := s.Delete(c, "/c/kid", -1); err != nil {
		t.Fatal(err)
	}
	waitGone(t, s, "/c")
	waitGone(t, s, ttl)
	if !exists(t, s, ttlSeq) {
		t.Fatal("a TTL node with an hour to live was removed")
	}

	// ACLs: the default ACL, and one given with WithACL.
	readOnly := backend.ACL{Perms: backend.PermRead, Scheme: "world", ID: "anyone"}
	mustCreate(t, s, "/ro", []byte("r"), backend.Persistent, backend.WithACL(readOnly))
	_, err = s.Set(c, "/ro", []byte("w"), -1)
	wantErr(t, "Set on a read-only node", err, backend.ErrNoAuth)
	_, err = s.Create(c, "/ro/kid", nil, backend.Persistent)
	wantErr(t, "Create under a read-only node", err, backend.ErrNoAuth)
	_, err = s.Create(c, "/badacl", nil, backend.Persistent, backend.WithACL(backend.ACL{Perms: backend.PermAll, Scheme: "nosuchscheme", ID: "x"}))
	wantErr(t, "an ACL of an unknown scheme", err, backend.ErrUnsupported)

	roCfg := testConfigNS(t, cfg.Namespace+"/rons")
	roCfg.DefaultACL = []backend.ACL{{Perms: backend.PermRead | backend.PermCreate | backend.PermDelete, Scheme: "world", ID: "anyone"}}
	ro := newSession(t, roCfg)
	mustCreate(t, ro, "/n", nil, backend.Persistent)
	_, err = ro.Set(c, "/n", []byte("x"), -1)
	wantErr(t, "Set on a node made with a read-create-delete default ACL", err, backend.ErrNoAuth)

	// Stat conversion.
	before := time.Now().Add(-time.Minute)
	mustCreate(t, s, "/st", []byte("abc"), backend.Persistent)
	mustCreate(t, s, "/st/k", nil, backend.Persistent)
	st1, err := s.Set(c, "/st", []byte("abcd"), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := s.Get(c, "/st")
	if err != nil || st != st1 {
		t.Fatalf("Get stat %+v, Set stat %+v, %v", st, st1, err)
	}
	if st.Version != 1 || st.CVersion != 1 || st.DataLength != 4 || st.NumChildren != 1 || st.EphemeralOwner != 0 ||
		st.CreateToken == 0 || st.ModifyToken <= st.CreateToken || st.Created.Before(before) || st.Modified.Before(st.Created) {
		t.Fatalf("stat %+v", st)
	}
}

// waitGone waits for the server to reap a node.
func waitGone(t *testing.T, s backend.Session, p string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st, ch, err := s.ExistsW(ctxT(t), p)
		if err != nil {
			t.Fatal(err)
		}
		if st == nil {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%s not reaped within %v", p, wait)
		}
	}
}

func TestMulti(t *testing.T) {
	s := newSession(t, testConfig(t))
	c := ctxT(t)
	mustCreate(t, s, "/a", []byte("a0"), backend.Persistent)
	mustCreate(t, s, "/b", nil, backend.Persistent)
	mustCreate(t, s, "/b/kid", nil, backend.Persistent)

	res, err := s.Multi(c,
		backend.CreateOp{Path: "/d", Data: []byte("d")},
		&backend.CreateOp{Path: "/d/e-", Mode: backend.EphemeralSequential},
		backend.CheckOp{Path: "/a", Version: 0},
		backend.SetOp{Path: "/a", Data: []byte("a1"), Version: 0},
		backend.DeleteOp{Path: "/b/kid", Version: -1},
	)
	if err != nil {
		t.Fatalf("Multi: %v", err)
	}
	if len(res) != 5 || res[0].Path != "/d" || !strings.HasPrefix(res[1].Path, "/d/e-") || res[2].Path != "/a" || res[4].Path != "/b/kid" {
		t.Fatalf("results %+v", res)
	}
	if res[3].Stat == nil || res[3].Stat.Version != 1 || res[0].Stat != nil {
		t.Fatalf("set result %+v", res[3].Stat)
	}
	if st, _ := s.Exists(c, res[1].Path); st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("ephemeral create in a Multi: %+v", st)
	}

	// Failures name the first op the server refused, not the ops after it.
	cases := []struct {
		name  string
		ops   []backend.Op
		index int
		want  error
	}{
		{"check", []backend.Op{backend.CreateOp{Path: "/n1"}, backend.CheckOp{Path: "/a", Version: 0}, backend.CreateOp{Path: "/n2"}}, 1, backend.ErrBadVersion},
		{"first op", []backend.Op{backend.DeleteOp{Path: "/missing", Version: -1}, backend.CreateOp{Path: "/n1"}}, 0, backend.ErrNoNode},
		{"last op", []backend.Op{backend.CreateOp{Path: "/n1"}, backend.CreateOp{Path: "/a"}}, 1, backend.ErrNodeExists},
		{"not empty", []backend.Op{backend.CreateOp{Path: "/b/kid2"}, backend.DeleteOp{Path: "/b", Version: -1}}, 1, backend.ErrNotEmpty},
		{"under ephemeral", []backend.Op{backend.CreateOp{Path: res[1].Path + "/x"}}, 0, backend.ErrNoChildrenForEphemerals},
	}
	for _, cs := range cases {
		_, err := s.Multi(c, cs.ops...)
		var me *backend.MultiError
		if !errors.As(err, &me) || me.Index != cs.index || !errors.Is(err, cs.want) || me.Op.OpPath() != cs.ops[cs.index].OpPath() {
			t.Fatalf("%s: %v, want op %d failing with %v", cs.name, err, cs.index, cs.want)
		}
		var oe *backend.OpError
		if !errors.As(me.Err, &oe) || oe.Path != cs.ops[cs.index].OpPath() {
			t.Fatalf("%s: MultiError.Err = %#v, want an OpError on the op's path", cs.name, me.Err)
		}
	}
	if exists(t, s, "/n1") || exists(t, s, "/b/kid2") {
		t.Fatal("a failed Multi applied an op")
	}

	// Refused before sending: what go-zookeeper cannot encode, and bad ops.
	before := []struct {
		name string
		op   backend.Op
		want error
	}{
		{"container", backend.CreateOp{Path: "/c", Mode: backend.Container}, backend.ErrUnsupported},
		{"ttl", backend.CreateOp{Path: "/t", Mode: backend.PersistentTTL, Options: []backend.CreateOption{backend.WithTTL(time.Hour)}}, backend.ErrUnsupported},
		{"parents", backend.CreateOp{Path: "/x/y", Options: []backend.CreateOption{backend.WithParents(backend.Persistent)}}, backend.ErrUnsupported},
		{"ttl on persistent", backend.CreateOp{Path: "/t", Options: []backend.CreateOption{backend.WithTTL(time.Hour)}}, backend.ErrUnsupported},
		{"bad path", backend.CheckOp{Path: "nope"}, backend.ErrBadPath},
		{"nil op", nil, backend.ErrUnsupported},
		{"nil pointer op", (*backend.SetOp)(nil), backend.ErrUnsupported},
	}
	for _, b := range before {
		cancelled, cancel := context.WithCancel(context.Background())
		cancel() // proves nothing is sent: a bad op wins over the context
		_, err := s.Multi(cancelled, backend.CreateOp{Path: "/ok"}, b.op)
		var me *backend.MultiError
		if !errors.As(err, &me) || me.Index != 1 || !errors.Is(err, b.want) {
			t.Fatalf("%s: %v, want op 1 failing with %v", b.name, err, b.want)
		}
	}
	if exists(t, s, "/ok") || exists(t, s, "/c") || exists(t, s, "/t") {
		t.Fatal("a refused Multi applied an op")
	}
}

// TestLimits: data up to MaxDataSize is stored; more, or a request the
// server would refuse, is ErrTooLarge before sending and the connection
// stays up.
func TestLimits(t *testing.T) {
	s := newSession(t, testConfig(t))
	states := s.StateChanges(ctxT(t))
	max := s.Capabilities().MaxDataSize
	big := bytes.Repeat([]byte{'x'}, max)
	mustCreate(t, s, "/big", big, backend.Persistent)
	if data, st, err := s.Get(ctxT(t), "/big"); err != nil || !bytes.Equal(data, big) || int(st.DataLength) != max {
		t.Fatalf("Get at the limit: %d bytes, %v", len(data), err)
	}
	if _, err := s.Set(ctxT(t), "/big", big, -1); err != nil {
		t.Fatalf("Set at the limit: %v", err)
	}
	over := append(big, 'y')
	_, err := s.Create(ctxT(t), "/over", over, backend.Persistent)
	wantErr(t, "Create over the limit", err, backend.ErrTooLarge)
	_, err = s.Set(ctxT(t), "/big", over, -1)
	wantErr(t, "Set over the limit", err, backend.ErrTooLarge)
	// At the data limit but with a path long enough to push the request over.
	long := "/" + strings.Repeat("p", 1500)
	_, err = s.Create(ctxT(t), long, big, backend.Persistent)
	wantErr(t, "Create with a long path", err, backend.ErrTooLarge)
	// Two ops at the limit make a request over it.
	_, err = s.Multi(ctxT(t), backend.SetOp{Path: "/big", Data: big, Version: -1}, backend.CreateOp{Path: "/big2", Data: big})
	wantErr(t, "Multi over the request limit", err, backend.ErrTooLarge)
	if exists(t, s, "/over") || exists(t, s, "/big2") {
		t.Fatal("an oversized request landed")
	}
	select {
	case st := <-states:
		t.Fatalf("state changed to %v", st)
	default:
	}
	if s.State() != backend.Connected {
		t.Fatalf("state %v", s.State())
	}
}

func TestWatches(t *testing.T) {
	cfg := testConfig(t)
	s := newSession(t, cfg)
	w := newSession(t, testConfigNS(t, cfg.Namespace))
	mustCreate(t, s, "/n", []byte("a"), backend.Persistent)

	_, _, ch, err := w.GetW(ctxT(t), "/missing")
	wantErr(t, "GetW of a missing node", err, backend.ErrNoNode)
	if ch != nil {
		t.Fatal("GetW of a missing node returned a watch")
	}
	_, _, ch, err = w.ChildrenW(ctxT(t), "/missing")
	wantErr(t, "ChildrenW of a missing node", err, backend.ErrNoNode)
	if ch != nil {
		t.Fatal("ChildrenW of a missing node returned a watch")
	}
	// A node created after GetW failed does not fire anything.
	mustCreate(t, s, "/missing", nil, backend.Persistent)

	data, st, ch, err := w.GetW(ctxT(t), "/n")
	if err != nil || string(data) != "a" || st.Version != 0 {
		t.Fatalf("GetW = %q %+v %v", data, st, err)
	}
	if _, err := s.Set(ctxT(t), "/n", []byte("b"), -1); err != nil {
		t.Fatal(err)
	}
	if ev := backendtest.NextEvent(t, ch); ev != (backend.Event{Type: backend.EventDataChanged, Path: "/n"}) {
		t.Fatalf("event %+v", ev)
	}

	// Context end: not-watching with the context's error, and nothing later.
	wctx, cancel := context.WithCancel(context.Background())
	_, _, ch, err = w.GetW(wctx, "/n")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if ev := backendtest.NextEvent(t, ch); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, context.Canceled) || ev.Path != "/n" {
		t.Fatalf("event on cancel %+v", ev)
	}

	// Session close: not-watching with ErrClosed.
	_, exCh, err := w.ExistsW(ctxT(t), "/other")
	if err != nil {
		t.Fatal(err)
	}
	_, _, kidsCh, err := w.ChildrenW(ctxT(t), "/n")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan backend.Event{exCh, kidsCh} {
		if ev := backendtest.NextEvent(t, c); ev.Type != backend.EventNotWatching || !errors.Is(ev.Err, backend.ErrClosed) {
			t.Fatalf("event on Close %+v", ev)
		}
	}
}

// TestDigestAuth: a node with a digest ACL is readable with the credential
// only; refusals are ErrNoAuth, and no error carries the password.
func TestDigestAuth(t *testing.T) {
	const user, password = "alice", "pw-7a9f3c"
	cfg := testConfig(t)
	// The open session first: it makes the namespace, which a client with
	// credentials would make creator-only.
	anon := newSession(t, cfg)
	authed := cfg
	authed.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte(user + ":" + password)}}
	alice := newSession(t, authed)
	wrong := testConfigNS(t, cfg.Namespace)
	wrong.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte(user + ":wrong-" + password)}}
	mallory := newSession(t, wrong)

	sum := sha1.Sum([]byte(user + ":" + password))
	acl := backend.ACL{Perms: backend.PermAll, Scheme: "digest", ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}
	mustCreate(t, alice, "/secret", []byte("data"), backend.Persistent, backend.WithACL(acl))
	if data, _, err := alice.Get(ctxT(t), "/secret"); err != nil || string(data) != "data" {
		t.Fatalf("owner reads %q, %v", data, err)
	}
	var errs []error
	for _, s := range []*zk.Session{anon, mallory} {
		_, _, err := s.Get(ctxT(t), "/secret")
		wantErr(t, "Get without the credential", err, backend.ErrNoAuth)
		errs = append(errs, err)
		_, err = s.Set(ctxT(t), "/secret", nil, -1)
		wantErr(t, "Set without the credential", err, backend.ErrNoAuth)
		errs = append(errs, err)
		_, err = s.Create(ctxT(t), "/secret/kid", nil, backend.Persistent)
		wantErr(t, "Create without the credential", err, backend.ErrNoAuth)
		errs = append(errs, err)
	}
	// A scheme the server does not know fails the session set-up.
	bad := testConfigNS(t, cfg.Namespace)
	bad.Auth = []zk.Auth{{Scheme: "nosuchscheme", Credential: []byte(user + ":" + password)}}
	c, err := zk.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Session(ctxT(t))
	c.Close()
	wantErr(t, "Session with credentials of an unknown scheme", err, backend.ErrNoAuth)
	errs = append(errs, err)
	for _, err := range errs {
		if strings.Contains(err.Error(), password) || strings.Contains(fmt.Sprintf("%#v", err), password) {
			t.Fatalf("error leaks the password: %v", err)
		}
	}
}

// TestLargeChildList lists a node whose children make a reply of over 2 MB:
// twice the jute.maxbuffer a Java client refuses to read. go-zookeeper's
// receive buffer grows as needed, and this package does not bound it.
func TestLargeChildList(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 20,000 nodes")
	}
	s := newSession(t, testConfig(t))
	mustCreate(t, s, "/big", nil, backend.Persistent)
	const n, batch = 20000, 1000
	pad := strings.Repeat("c", 100)
	name := func(i int) string { return fmt.Sprintf("%s-%06d", pad, i) }
	for i := 0; i < n; i += batch {
		ops := make([]backend.Op, 0, batch)
		for j := i; j < i+batch; j++ {
			ops = append(ops, backend.CreateOp{Path: "/big/" + name(j)})
		}
		if _, err := s.Multi(ctxT(t), ops...); err != nil {
			t.Fatalf("creating children: %v", err)
		}
	}
	t.Cleanup(func() {
		for i := 0; i < n; i += batch {
			ops := make([]backend.Op, 0, batch)
			for j := i; j < i+batch; j++ {
				ops = append(ops, backend.DeleteOp{Path: "/big/" + name(j), Version: -1})
			}
			s.Multi(context.Background(), ops...)
		}
	})
	kids, st, err := s.Children(ctxT(t), "/big")
	if err != nil {
		t.Fatalf("Children of %d nodes: %v", n, err)
	}
	if len(kids) != n || st.NumChildren != n {
		t.Fatalf("%d children, NumChildren %d; want %d", len(kids), st.NumChildren, n)
	}
	if size := n * (4 + len(name(0))); size < 2<<20 {
		t.Fatalf("the reply is only about %d bytes", size)
	}
	if s.State() != backend.Connected {
		t.Fatalf("state %v after a large reply", s.State())
	}
}
