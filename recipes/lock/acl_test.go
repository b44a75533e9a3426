package lock

import (
	"errors"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestACLOption: WithACL refuses an empty or malformed ACL on every
// backend, and any ACL on etcd (no per-node ACLs: ErrUnsupported, not
// silently open nodes), in every constructor.
//
// Seen to fail: with checkACL returning nil, the constructors on etcd
// accepted the ACL ("NewMultiLock with an ACL on etcd: <nil>, want
// ErrUnsupported").
func TestACLOption(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		for _, bad := range [][]backend.ACL{nil, {}, {{Perms: backend.PermRead}}, {{Perms: 1 << 5, Scheme: "world", ID: "anyone"}}} {
			if _, err := New(s, "/l", WithACL(bad...)); err == nil {
				t.Fatalf("New with WithACL(%v): no error", bad)
			}
		}
		constructors := map[string]func(opts ...Option) error{
			"New":          func(opts ...Option) error { _, err := New(s, "/l", opts...); return err },
			"NewRWMutex":   func(opts ...Option) error { _, err := NewRWMutex(s, "/l", opts...); return err },
			"NewMultiLock": func(opts ...Option) error { _, err := NewMultiLock(s, []string{"/l", "/m"}, opts...); return err },
			"NewSemaphore": func(opts ...Option) error { _, err := NewSemaphore(s, "/l", 2, opts...); return err },
		}
		for name, newLock := range constructors {
			err := newLock(WithACL(backend.CreatorAllACL...))
			if e.Backend.Name == "etcd" {
				if !errors.Is(err, backend.ErrUnsupported) {
					t.Fatalf("%s with an ACL on etcd: %v, want ErrUnsupported", name, err)
				}
			} else if err != nil {
				t.Fatalf("%s with an ACL on ZooKeeper: %v", name, err)
			}
		}
	})
}

// TestCreatorOnlyLock: on ZooKeeper, a lock taken by a client with
// credentials is creator-only by default, directory included: a session
// with no or other credentials gets ErrNoAuth reading or deleting the
// holder's node, listing the queue, and locking (it cannot queue), while
// another session of the same user queues as usual. WithACL (per recipe)
// and zk.Config.DefaultACL (per client) open it up; a Semaphore's nodes
// follow the same rules.
//
// Seen to fail: with contender.Join not giving the nodes Config.ACL, the
// WithACL(OpenACL) lock's directory was creator-only ("GetACL(/open) = [],
// getacl /open: backend: not authorized").
func TestCreatorOnlyLock(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		if e.Backend.Name != "zk" {
			t.Skip("per-node ACLs are ZooKeeper's; TestACLOption covers etcd")
		}
		testCreatorOnlyLock(t, e)
	})
}

func testCreatorOnlyLock(t *testing.T, e *env) {
	anon := e.Session(t) // first, so the namespace itself is open
	alice := e.ZooKeeperSession(t, zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("alice:pw-a")}}})
	alice2 := e.ZooKeeperSession(t, zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("alice:pw-a")}}})
	bob := e.ZooKeeperSession(t, zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("bob:pw-b")}}})

	held := mustLock(t, mustNew(t, alice, "/locks/a"))
	for _, o := range []struct {
		name string
		s    backend.Session
	}{{"anonymous", anon}, {"bob", bob}} {
		if _, _, err := o.s.Get(ctxT(t), held.Path()); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Get of the holder's node by %s: %v, want ErrNoAuth", o.name, err)
		}
		if err := o.s.Delete(ctxT(t), held.Path(), backend.AnyVersion); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Delete of the holder's node by %s: %v, want ErrNoAuth", o.name, err)
		}
		if _, _, err := o.s.Children(ctxT(t), "/locks/a"); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Children of the lock directory by %s: %v, want ErrNoAuth", o.name, err)
		}
		if _, err := mustNew(t, o.s, "/locks/a").Lock(ctxT(t)); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Lock by %s: %v, want ErrNoAuth", o.name, err)
		}
	}
	if _, err := mustNew(t, alice2, "/locks/a").TryLock(ctxT(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock by the owner's other session: %v, want ErrLocked", err)
	}
	if n := len(recipetest.Children(t, alice, "/locks/a")); n != 1 {
		t.Fatalf("%d nodes in the queue after the refused and failed tries, want the holder's alone", n)
	}
	if err := held.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Per recipe: WithACL(OpenACL) lets anyone queue, for the node and
	// the directories it makes.
	open := mustLock(t, mustNew(t, alice, "/open/a", WithACL(backend.OpenACL...)))
	for _, p := range []string{"/open", "/open/a", open.Path()} {
		if acl, _, err := backend.GetACL(ctxT(t), anon, p); err != nil || !slices.Equal(acl, backend.OpenACL) {
			t.Fatalf("GetACL(%s) = %v, %v; want the open ACL", p, acl, err)
		}
	}
	if _, err := mustNew(t, anon, "/open/a").TryLock(ctxT(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("anonymous TryLock of a WithACL(OpenACL) lock: %v, want ErrLocked", err)
	}
	if err := open.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Per client: DefaultACL OpenACL.
	aliceOpen := e.ZooKeeperSession(t, zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("alice:pw-a")}}, DefaultACL: backend.OpenACL})
	shared := mustLock(t, mustNew(t, aliceOpen, "/shared/a"))
	if _, err := mustNew(t, anon, "/shared/a").TryLock(ctxT(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("anonymous TryLock of a lock made with DefaultACL OpenACL: %v, want ErrLocked", err)
	}
	if err := shared.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// A semaphore: creator-only by default.
	sem, err := NewSemaphore(alice, "/sem", 2)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := sem.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	anonSem, err := NewSemaphore(anon, "/sem", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anonSem.Acquire(ctxT(t)); !errors.Is(err, backend.ErrNoAuth) {
		t.Fatalf("anonymous Acquire of a creator-only semaphore: %v, want ErrNoAuth", err)
	}
	if err := sl.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
