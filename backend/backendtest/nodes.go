package backendtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

func mustCreate(t *testing.T, s backend.Session, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) string {
	t.Helper()
	p, err := s.Create(ctx(t), path, data, mode, opts...)
	if err != nil {
		t.Fatalf("Create(%s, %v): %v", path, mode, err)
	}
	return p
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func exists(t *testing.T, s backend.Session, path string) bool {
	t.Helper()
	st, err := s.Exists(ctx(t), path)
	if err != nil {
		t.Fatalf("Exists(%s): %v", path, err)
	}
	return st != nil
}

func testBadPaths(t *testing.T, h *harness) {
	s := h.session(t)
	// A cancelled context proves the check happens before any round trip:
	// a bad path wins over the context.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range []string{"", "a", "/a/", "//", "/a//b", "/.", "/a/../b", "/a\x00b", "/a\x01"} {
		for _, c := range []context.Context{ctx(t), cancelled} {
			_, err := s.Create(c, p, nil, backend.Persistent)
			wantErr(t, "Create "+p, err, backend.ErrBadPath)
			_, _, err = s.Get(c, p)
			wantErr(t, "Get "+p, err, backend.ErrBadPath)
			_, _, _, err = s.GetW(c, p)
			wantErr(t, "GetW "+p, err, backend.ErrBadPath)
			_, err = s.Exists(c, p)
			wantErr(t, "Exists "+p, err, backend.ErrBadPath)
			_, _, err = s.ExistsW(c, p)
			wantErr(t, "ExistsW "+p, err, backend.ErrBadPath)
			_, err = s.Set(c, p, nil, backend.AnyVersion)
			wantErr(t, "Set "+p, err, backend.ErrBadPath)
			err = s.Delete(c, p, backend.AnyVersion)
			wantErr(t, "Delete "+p, err, backend.ErrBadPath)
			_, _, err = s.Children(c, p)
			wantErr(t, "Children "+p, err, backend.ErrBadPath)
			_, _, _, err = s.ChildrenW(c, p)
			wantErr(t, "ChildrenW "+p, err, backend.ErrBadPath)
			_, err = s.Multi(c, backend.CreateOp{Path: "/ok"}, backend.CheckOp{Path: p, Version: -1})
			wantErr(t, "Multi "+p, err, backend.ErrBadPath)
			_, err = s.WatchTree(c, p)
			wantErr(t, "WatchTree "+p, err, backend.ErrBadPath)
		}
	}
	// The root always exists: creating it is ErrNodeExists, deleting it ErrBadPath.
	_, err := s.Create(ctx(t), "/", nil, backend.Persistent)
	wantErr(t, "Create(/)", err, backend.ErrNodeExists)
	err = s.Delete(ctx(t), "/", backend.AnyVersion)
	wantErr(t, "Delete(/)", err, backend.ErrBadPath)
	if exists(t, s, "/ok") {
		t.Fatal("a Multi with a bad path applied its good operation")
	}
}

func testCreateGetSetDelete(t *testing.T, h *harness) {
	s := h.session(t)
	c := ctx(t)
	if got := mustCreate(t, s, "/n", []byte("v0"), backend.Persistent); got != "/n" {
		t.Fatalf("Create returned %q, want /n", got)
	}
	_, err := s.Create(c, "/n", []byte("other"), backend.Persistent)
	wantErr(t, "second create", err, backend.ErrNodeExists)

	data, st, err := s.Get(c, "/n")
	if err != nil || string(data) != "v0" || st.Version != 0 || st.DataLength != 2 {
		t.Fatalf("Get = %q, %+v, %v; want v0, version 0, length 2", data, st, err)
	}
	st1, err := s.Set(c, "/n", []byte("v1"), 0)
	if err != nil || st1.Version != 1 {
		t.Fatalf("Set(version 0) = %+v, %v; want version 1", st1, err)
	}
	_, err = s.Set(c, "/n", []byte("stale"), 0)
	wantErr(t, "Set with a stale version", err, backend.ErrBadVersion)
	if data, _, _ := s.Get(c, "/n"); string(data) != "v1" {
		t.Fatalf("a refused Set changed the data to %q", data)
	}
	st2, err := s.Set(c, "/n", []byte("v2"), backend.AnyVersion)
	if err != nil || st2.Version != 2 {
		t.Fatalf("Set(any) = %+v, %v; want version 2", st2, err)
	}
	if st2.ModifyToken <= st1.ModifyToken || st2.CreateToken != st1.CreateToken {
		t.Fatalf("tokens after set: create %d->%d, modify %d->%d", st1.CreateToken, st2.CreateToken, st1.ModifyToken, st2.ModifyToken)
	}
	// Empty data is data, not absence.
	if _, err := s.Set(c, "/n", nil, 2); err != nil {
		t.Fatalf("Set(nil): %v", err)
	}
	if data, st, err := s.Get(c, "/n"); err != nil || len(data) != 0 || st.DataLength != 0 {
		t.Fatalf("Get after empty set = %q, %+v, %v", data, st, err)
	}

	err = s.Delete(c, "/n", 1)
	wantErr(t, "Delete with a stale version", err, backend.ErrBadVersion)
	if !exists(t, s, "/n") {
		t.Fatal("a refused Delete removed the node")
	}
	if err := s.Delete(c, "/n", 3); err != nil {
		t.Fatalf("Delete(version 3): %v", err)
	}
	if exists(t, s, "/n") {
		t.Fatal("node still exists after Delete")
	}
	_, _, err = s.Get(c, "/n")
	wantErr(t, "Get deleted", err, backend.ErrNoNode)
	_, err = s.Set(c, "/n", nil, backend.AnyVersion)
	wantErr(t, "Set deleted", err, backend.ErrNoNode)
	err = s.Delete(c, "/n", backend.AnyVersion)
	wantErr(t, "Delete deleted", err, backend.ErrNoNode)

	_, err = s.Create(c, "/missing/child", nil, backend.Persistent)
	wantErr(t, "Create under a missing parent", err, backend.ErrNoNode)

	mustCreate(t, s, "/p", nil, backend.Persistent)
	mustCreate(t, s, "/p/c", nil, backend.Persistent)
	err = s.Delete(c, "/p", backend.AnyVersion)
	wantErr(t, "Delete with children", err, backend.ErrNotEmpty)
	if !exists(t, s, "/p/c") {
		t.Fatal("refused delete of the parent removed the child")
	}

	// Binary data round-trips byte for byte.
	bin := []byte{0, 1, 2, 255, 0, '\n'}
	mustCreate(t, s, "/bin", bin, backend.Persistent)
	if data, _, _ := s.Get(c, "/bin"); !bytes.Equal(data, bin) {
		t.Fatalf("binary data = %v, want %v", data, bin)
	}
}

func testParents(t *testing.T, h *harness) {
	s := h.session(t)
	c := ctx(t)
	p, err := s.Create(c, "/a/b/c", []byte("x"), backend.Persistent, backend.WithParents(backend.Persistent))
	if err != nil || p != "/a/b/c" {
		t.Fatalf("Create with parents = %q, %v", p, err)
	}
	for _, q := range []string{"/a", "/a/b"} {
		// Empty, not null: ZooKeeper keeps nil data as null, which Java
		// readers get as a null array (broken on purpose by creating
		// parents with nil data: "parent /a: data is nil (null on
		// ZooKeeper), want empty" on zk).
		data, _, err := s.Get(c, q)
		if err != nil || len(data) != 0 {
			t.Fatalf("parent %s: %q, %v", q, data, err)
		}
		if data == nil {
			t.Fatalf("parent %s: data is nil (null on ZooKeeper), want empty", q)
		}
	}
	// Existing parents are fine; the node itself existing is still an error.
	_, err = s.Create(c, "/a/b/c", nil, backend.Persistent, backend.WithParents(backend.Persistent))
	wantErr(t, "create existing with parents", err, backend.ErrNodeExists)
	if _, err := s.Create(c, "/a/b/d", nil, backend.EphemeralSequential, backend.WithParents(backend.Persistent)); err != nil {
		t.Fatalf("sequential create with existing parents: %v", err)
	}
	if _, err := s.Create(c, "/x/y", nil, backend.Persistent, backend.WithParents(backend.Container)); err != nil {
		t.Fatalf("create with container parents: %v", err)
	}
}

func testChildrenDirectOnly(t *testing.T, h *harness) {
	s := h.session(t)
	for _, p := range []string{"/a", "/a/b", "/a/bc", "/a/b/deep", "/a/b/deep/deeper", "/ab", "/ab/x"} {
		mustCreate(t, s, p, nil, backend.Persistent)
	}
	check := func(path string, want ...string) {
		t.Helper()
		got, st, err := s.Children(ctx(t), path)
		if err != nil {
			t.Fatalf("Children(%s): %v", path, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("Children(%s) = %q, want %q", path, got, want)
		}
		if int(st.NumChildren) != len(want) {
			t.Fatalf("Children(%s) stat NumChildren = %d, want %d", path, st.NumChildren, len(want))
		}
	}
	// Names, not paths. (This loop once ran over constants; check's
	// comparison catches paths too, but this says what is wrong.)
	// Broken on purpose to see it fail: zk's Children joining each name
	// to the path.
	names, _, err := s.Children(ctx(t), "/a")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.Contains(name, "/") {
			t.Fatalf("Children(/a) returned %q: child names must be names, not paths", name)
		}
	}
	check("/", "a", "ab")
	check("/a", "b", "bc")
	check("/a/b", "deep")
	check("/a/bc")
	check("/ab", "x")
	_, _, err = s.Children(ctx(t), "/nope")
	wantErr(t, "Children of a missing node", err, backend.ErrNoNode)
}

func testStatTokens(t *testing.T, h *harness) {
	s := h.session(t)
	c := ctx(t)
	mustCreate(t, s, "/x", nil, backend.Persistent)
	mustCreate(t, s, "/y", nil, backend.Persistent)
	sx, _ := s.Exists(c, "/x")
	mustCreate(t, s, "/x/1", nil, backend.Persistent)
	mustCreate(t, s, "/y/1", nil, backend.Persistent)
	mustCreate(t, s, "/x/2", []byte("abc"), backend.Ephemeral)
	s1, _ := s.Exists(c, "/x/1")
	sy1, _ := s.Exists(c, "/y/1")
	s2, _ := s.Exists(c, "/x/2")
	if !(sx.CreateToken < s1.CreateToken && s1.CreateToken < sy1.CreateToken && sy1.CreateToken < s2.CreateToken) {
		t.Fatalf("CreateToken not increasing in creation order across parents: %d %d %d %d",
			sx.CreateToken, s1.CreateToken, sy1.CreateToken, s2.CreateToken)
	}
	if s2.EphemeralOwner != s.ID() || s1.EphemeralOwner != 0 {
		t.Fatalf("EphemeralOwner = %d (ephemeral), %d (persistent); session %d", s2.EphemeralOwner, s1.EphemeralOwner, s.ID())
	}
	if s2.DataLength != 3 {
		t.Fatalf("DataLength = %d, want 3", s2.DataLength)
	}
	px, _ := s.Exists(c, "/x")
	if px.NumChildren != 2 || px.CVersion != sx.CVersion+2 {
		t.Fatalf("parent after 2 creates: NumChildren %d, CVersion %d (was %d)", px.NumChildren, px.CVersion, sx.CVersion)
	}
	if err := s.Delete(c, "/x/1", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	px2, _ := s.Exists(c, "/x")
	if px2.NumChildren != 1 || px2.CVersion != px.CVersion+1 || px2.Version != 0 {
		t.Fatalf("parent after a delete: NumChildren %d, CVersion %d (was %d), Version %d", px2.NumChildren, px2.CVersion, px.CVersion, px2.Version)
	}
	if px2.Created.IsZero() || px2.Modified.Before(px2.Created) {
		t.Fatalf("times: created %v, modified %v", px2.Created, px2.Modified)
	}
}

func testEphemeral(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/e", nil, backend.Ephemeral)
	_, err := s.Create(ctx(t), "/e/child", nil, backend.Persistent)
	wantErr(t, "child of an ephemeral", err, backend.ErrNoChildrenForEphemerals)
	_, err = s.Create(ctx(t), "/es", nil, backend.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
}

func testCloseRemovesEphemerals(t *testing.T, h *harness) {
	owner, observer := h.session(t), h.session(t)
	mustCreate(t, owner, "/dir", nil, backend.Persistent)
	e := mustCreate(t, owner, "/dir/e", []byte("mine"), backend.Ephemeral)
	es := mustCreate(t, owner, "/dir/s-", nil, backend.EphemeralSequential)
	p := mustCreate(t, owner, "/dir/p", nil, backend.Persistent)
	if !exists(t, observer, e) || !exists(t, observer, es) {
		t.Fatal("observer does not see the ephemeral nodes")
	}
	if err := owner.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// At once: Close returns after the server removed them.
	if err := observer.Sync(ctx(t), "/dir"); err != nil {
		t.Fatal(err)
	}
	if exists(t, observer, e) || exists(t, observer, es) {
		t.Fatal("ephemeral nodes survive their session's Close")
	}
	if !exists(t, observer, p) {
		t.Fatal("Close removed a persistent node")
	}
	if err := owner.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
