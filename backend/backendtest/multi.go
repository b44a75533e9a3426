package backendtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

func testMulti(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/old", []byte("o"), backend.Persistent)
	mustCreate(t, s, "/gone", nil, backend.Persistent)
	res, err := s.Multi(ctx(t),
		backend.CreateOp{Path: "/dir", Data: []byte("d"), Mode: backend.Persistent},
		backend.CreateOp{Path: "/dir/seq-", Mode: backend.EphemeralSequential},
		backend.CheckOp{Path: "/old", Version: 0},
		backend.SetOp{Path: "/old", Data: []byte("new"), Version: 0},
		backend.DeleteOp{Path: "/gone", Version: backend.AnyVersion},
	)
	if err != nil {
		t.Fatalf("Multi: %v", err)
	}
	if len(res) != 5 {
		t.Fatalf("Multi returned %d results, want 5", len(res))
	}
	if res[0].Path != "/dir" || !strings.HasPrefix(res[1].Path, "/dir/seq-") {
		t.Fatalf("created paths %q %q", res[0].Path, res[1].Path)
	}
	if _, ok := backend.Sequence(res[1].Path); !ok {
		t.Fatalf("sequential create in a Multi returned %q", res[1].Path)
	}
	if res[3].Stat == nil || res[3].Stat.Version != 1 {
		t.Fatalf("set result stat = %+v, want version 1", res[3].Stat)
	}
	if data, _, _ := s.Get(ctx(t), "/old"); string(data) != "new" {
		t.Fatalf("set in Multi: data %q", data)
	}
	if exists(t, s, "/gone") || !exists(t, s, res[1].Path) {
		t.Fatal("Multi's delete or create did not apply")
	}
	st, _ := s.Exists(ctx(t), res[1].Path)
	if st.EphemeralOwner != s.ID() {
		t.Fatal("ephemeral create in a Multi is not owned by the session")
	}
	// Delete then re-create the same path in one Multi.
	if _, err := s.Multi(ctx(t),
		backend.DeleteOp{Path: "/old", Version: 1},
		backend.CreateOp{Path: "/old", Data: []byte("again")},
	); err != nil {
		t.Fatalf("delete and re-create in one Multi: %v", err)
	}
	data, st2, _ := s.Get(ctx(t), "/old")
	if string(data) != "again" || st2.Version != 0 {
		t.Fatalf("re-created node: %q version %d", data, st2.Version)
	}
	if res, err := s.Multi(ctx(t)); err != nil || len(res) != 0 {
		t.Fatalf("empty Multi = %v, %v", res, err)
	}
}

func testMultiAtomic(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/a", []byte("a0"), backend.Persistent)
	mustCreate(t, s, "/b", nil, backend.Persistent)
	mustCreate(t, s, "/b/child", nil, backend.Persistent)
	before, _ := s.Exists(ctx(t), "/")

	cases := []struct {
		name  string
		ops   []backend.Op
		index int
		want  error
	}{
		{"check bad version", []backend.Op{
			backend.CreateOp{Path: "/new"},
			backend.SetOp{Path: "/a", Data: []byte("a1"), Version: 0},
			backend.CheckOp{Path: "/a", Version: 7},
		}, 2, backend.ErrBadVersion},
		{"create exists", []backend.Op{
			backend.SetOp{Path: "/a", Data: []byte("a1"), Version: backend.AnyVersion},
			backend.CreateOp{Path: "/b"},
		}, 1, backend.ErrNodeExists},
		{"delete not empty", []backend.Op{
			backend.CreateOp{Path: "/new"},
			backend.DeleteOp{Path: "/b", Version: backend.AnyVersion},
		}, 1, backend.ErrNotEmpty},
		{"set missing", []backend.Op{
			backend.CreateOp{Path: "/new"},
			backend.SetOp{Path: "/missing", Version: backend.AnyVersion},
			backend.CreateOp{Path: "/new2"},
		}, 1, backend.ErrNoNode},
		{"check missing", []backend.Op{
			backend.CheckOp{Path: "/missing", Version: backend.AnyVersion},
		}, 0, backend.ErrNoNode},
		{"create under missing parent", []backend.Op{
			backend.CreateOp{Path: "/new"},
			backend.CreateOp{Path: "/nope/x"},
		}, 1, backend.ErrNoNode},
		{"delete twice", []backend.Op{
			backend.DeleteOp{Path: "/b/child", Version: backend.AnyVersion},
			backend.DeleteOp{Path: "/b/child", Version: backend.AnyVersion},
		}, 1, backend.ErrNoNode},
	}
	for _, c := range cases {
		_, err := s.Multi(ctx(t), c.ops...)
		var me *backend.MultiError
		if !errors.As(err, &me) {
			t.Fatalf("%s: err = %v, want a *MultiError", c.name, err)
		}
		if me.Index != c.index || !errors.Is(err, c.want) {
			t.Fatalf("%s: failing op %d (%v), want op %d with %v", c.name, me.Index, err, c.index, c.want)
		}
		if me.Op == nil || me.Op.OpPath() != c.ops[c.index].OpPath() {
			t.Fatalf("%s: MultiError.Op = %v", c.name, me.Op)
		}
	}
	// Nothing of any failed Multi applied.
	if exists(t, s, "/new") || exists(t, s, "/new2") || !exists(t, s, "/b/child") {
		t.Fatal("a failed Multi applied some of its operations")
	}
	data, st, _ := s.Get(ctx(t), "/a")
	if string(data) != "a0" || st.Version != 0 {
		t.Fatalf("a failed Multi changed /a to %q (version %d)", data, st.Version)
	}
	after, _ := s.Exists(ctx(t), "/")
	if after.NumChildren != before.NumChildren {
		t.Fatalf("children of / changed from %d to %d", before.NumChildren, after.NumChildren)
	}
}

// testContainerAndTTL: a container goes after its last child does (not
// before it ever had one), a TTL node goes when childless and unmodified
// for its TTL (not while it has a child). Made in a Multi, a container or
// TTL node is what it says too: a Multi creates it, or refuses it with
// ErrUnsupported (go-zookeeper cannot send those creates in a multi) and
// applies nothing, never makes it as another mode. Where Stat.Mode is
// exact, the Multi's nodes say their mode; everywhere, they are reaped.
//
// Broken on purpose to see it fail: etcd's Multi creating every node as
// Persistent (Stat.Mode is persistent, and the nodes are never reaped).
func testContainerAndTTL(t *testing.T, h *harness) {
	s := h.session(t)
	caps := s.Capabilities()
	if !caps.Container || !caps.TTL {
		t.Fatalf("capabilities %+v: both backends must offer container and TTL nodes", caps)
	}
	mustCreate(t, s, "/c", nil, backend.Container)
	mustCreate(t, s, "/c/kid", nil, backend.Persistent)
	mustCreate(t, s, "/ttl", nil, backend.PersistentTTL, backend.WithTTL(500*time.Millisecond))
	mustCreate(t, s, "/ttlkids", nil, backend.PersistentTTL, backend.WithTTL(500*time.Millisecond))
	mustCreate(t, s, "/ttlkids/kid", nil, backend.Persistent)
	p := mustCreate(t, s, "/ttlseq-", nil, backend.PersistentSequentialTTL, backend.WithTTL(500*time.Millisecond))
	if _, ok := backend.Sequence(p); !ok {
		t.Fatalf("sequential TTL node %q has no suffix", p)
	}
	var multiMade []string
	for _, op := range []backend.CreateOp{
		{Path: "/mttl", Mode: backend.PersistentTTL, Options: []backend.CreateOption{backend.WithTTL(500 * time.Millisecond)}},
		{Path: "/mc", Mode: backend.Container},
	} {
		before := op.Path + "-before"
		ops := []backend.Op{backend.CreateOp{Path: before}, op}
		if op.Mode == backend.Container {
			ops = append(ops, backend.CreateOp{Path: op.Path + "/kid"})
		}
		_, err := s.Multi(ctx(t), ops...)
		if err != nil {
			wantErr(t, op.Mode.String()+" create in a Multi", err, backend.ErrUnsupported)
			if exists(t, s, before) || exists(t, s, op.Path) {
				t.Fatalf("a refused %v Multi applied something", op.Mode)
			}
			continue
		}
		multiMade = append(multiMade, op.Path)
		_, st, err := s.Get(ctx(t), op.Path)
		if err != nil {
			t.Fatal(err)
		}
		if caps.ExactMode && st.Mode != op.Mode {
			t.Fatalf("%s, made %v in a Multi, has Stat.Mode %v", op.Path, op.Mode, st.Mode)
		}
	}
	for _, kid := range []string{"/c/kid", "/mc/kid"} {
		if err := s.Delete(ctx(t), kid, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
			t.Fatal(err)
		}
	}
	// The server reaps on its own schedule: wait for it with a generous deadline.
	waitGone(t, s, "/c")
	waitGone(t, s, "/ttl")
	waitGone(t, s, p)
	for _, m := range multiMade {
		waitGone(t, s, m)
	}
	// A TTL node with children stays.
	if !exists(t, s, "/ttlkids") {
		t.Fatal("a TTL node with children was reaped")
	}
	// A container that never had a child stays.
	mustCreate(t, s, "/empty-container", nil, backend.Container)
	mustCreate(t, s, "/ttl-probe", nil, backend.PersistentTTL, backend.WithTTL(200*time.Millisecond))
	waitGone(t, s, "/ttl-probe") // at least one reaping pass has run since
	if !exists(t, s, "/empty-container") {
		t.Fatal("a container that never had a child was reaped")
	}
}
