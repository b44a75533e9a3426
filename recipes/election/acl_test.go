package election

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

// TestACLOption: WithACL refuses an empty or malformed ACL on every
// backend, and any ACL on etcd (no per-node ACLs: ErrUnsupported, not
// silently open nodes), in every constructor.
//
// Seen to fail: with checkACL returning nil, NewActiveStandby on etcd
// accepted the ACL ("NewActiveStandby with an ACL on etcd: <nil>, want
// ErrUnsupported").
func TestACLOption(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		for _, bad := range [][]backend.ACL{nil, {}, {{Perms: backend.PermRead}}, {{Perms: 1 << 5, Scheme: "world", ID: "anyone"}}} {
			if _, err := New(s, "/e", WithACL(bad...)); err == nil {
				t.Fatalf("New with WithACL(%v): no error", bad)
			}
		}
		constructors := map[string]func(opts ...Option) error{
			"New": func(opts ...Option) error { _, err := New(s, "/e", opts...); return err },
			"NewLatch": func(opts ...Option) error {
				l, err := NewLatch(s, "/e", opts...)
				if err == nil {
					l.Close()
				}
				return err
			},
			"NewActiveStandby": func(opts ...Option) error {
				_, err := NewActiveStandby(s, "/e", nil, append(opts, WithValue([]byte("v")))...)
				return err
			},
		}
		for name, newElection := range constructors {
			err := newElection(WithACL(backend.CreatorAllACL...))
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

// TestCreatorOnlyElection: on ZooKeeper, an election joined by a client
// with credentials is creator-only by default, directory included: a
// session with no or other credentials gets ErrNoAuth reading the leader,
// deleting the leader's node and campaigning, while another session of the
// same user reads the leader. WithACL opens it up. An ActiveStandby's lock
// node, breadcrumb and root get the default or WithACL's ACL alike.
//
// Seen to fail: with ActiveStandby creating its lock node and breadcrumb
// without opts.createOptions(), they and their parents were creator-only
// under WithACL(OpenACL) ("GetACL(/as-open) = [], getacl /as-open:
// backend: not authorized").
func TestCreatorOnlyElection(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		if e.Backend.Name != "zk" {
			t.Skip("per-node ACLs are ZooKeeper's; TestACLOption covers etcd")
		}
		testCreatorOnlyElection(t, e)
	})
}

func testCreatorOnlyElection(t *testing.T, e *env) {
	anon := e.Session(t) // first, so the namespace itself is open
	aliceCfg := zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("alice:pw-a")}}}
	alice := e.ZooKeeperSession(t, aliceCfg)
	alice2 := e.ZooKeeperSession(t, aliceCfg)
	bob := e.ZooKeeperSession(t, zk.Config{Auth: []zk.Auth{{Scheme: "digest", Credential: []byte("bob:pw-b")}}})

	term := mustCampaign(t, mustNew(t, alice, "/el/a", WithValue([]byte("alice"))))
	for _, o := range []struct {
		name string
		s    backend.Session
	}{{"anonymous", anon}, {"bob", bob}} {
		if _, err := mustNew(t, o.s, "/el/a").Leader(ctxT(t)); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Leader by %s: %v, want ErrNoAuth", o.name, err)
		}
		if err := o.s.Delete(ctxT(t), term.Path(), backend.AnyVersion); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Delete of the leader's node by %s: %v, want ErrNoAuth", o.name, err)
		}
		if _, err := mustNew(t, o.s, "/el/a").Campaign(ctxT(t)); !errors.Is(err, backend.ErrNoAuth) {
			t.Fatalf("Campaign by %s: %v, want ErrNoAuth", o.name, err)
		}
	}
	if c, err := mustNew(t, alice2, "/el/a").Leader(ctxT(t)); err != nil || string(c.Value) != "alice" {
		t.Fatalf("Leader by the owner's other session: %+v, %v", c, err)
	}
	if err := term.Resign(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	open := mustCampaign(t, mustNew(t, alice, "/open/a", WithValue([]byte("alice")), WithACL(backend.OpenACL...)))
	if c, err := mustNew(t, anon, "/open/a").Leader(ctxT(t)); err != nil || string(c.Value) != "alice" {
		t.Fatalf("anonymous Leader of a WithACL(OpenACL) election: %+v, %v", c, err)
	}
	if err := open.Resign(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// ActiveStandby: every node it makes gets the ACL.
	for _, tt := range []struct {
		root string
		opts []Option
		want []backend.ACL // nil: creator-only, unreadable by anon
	}{
		{"/as", nil, nil},
		{"/as-open", []Option{WithACL(backend.OpenACL...)}, backend.OpenACL},
	} {
		a, err := NewActiveStandby(alice, tt.root+"/x", nil, append(tt.opts, WithValue([]byte("alice")))...)
		if err != nil {
			t.Fatal(err)
		}
		type seen struct {
			acl []backend.ACL
			err error
		}
		got := map[string]seen{}
		var activeErr error
		err = a.Run(ctxT(t), func(context.Context, *Term) error {
			for _, p := range []string{tt.root, tt.root + "/x", tt.root + "/x/" + LockName, tt.root + "/x/" + BreadCrumbName} {
				acl, _, err := backend.GetACL(ctxT(t), anon, p)
				got[p] = seen{acl, err}
			}
			other, err := NewActiveStandby(anon, tt.root+"/x", nil, WithValue([]byte("anon")))
			if err != nil {
				return err
			}
			_, activeErr = other.Active(ctxT(t))
			return nil
		})
		if err != nil {
			t.Fatalf("Run under %s: %v", tt.root, err)
		}
		for p, g := range got {
			if tt.want == nil && !errors.Is(g.err, backend.ErrNoAuth) {
				t.Fatalf("anonymous GetACL(%s) = %v, %v; want ErrNoAuth", p, g.acl, g.err)
			}
			if tt.want != nil && (g.err != nil || !slices.Equal(g.acl, tt.want)) {
				t.Fatalf("GetACL(%s) = %v, %v; want %v", p, g.acl, g.err, tt.want)
			}
		}
		if tt.want == nil && !errors.Is(activeErr, backend.ErrNoAuth) {
			t.Fatalf("anonymous Active under %s: %v, want ErrNoAuth", tt.root, activeErr)
		}
		if tt.want != nil && activeErr != nil {
			t.Fatalf("anonymous Active under %s: %v", tt.root, activeErr)
		}
	}
}
