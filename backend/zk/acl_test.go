package zk_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

// digest returns the Auth of a digest user and the ACL entry (all
// permissions) the server stores for it when a node is created
// creator-only by a session with that Auth.
func digest(user, password string) (zk.Auth, backend.ACL) {
	sum := sha1.Sum([]byte(user + ":" + password))
	return zk.Auth{Scheme: "digest", Credential: []byte(user + ":" + password)},
		backend.ACL{Perms: backend.PermAll, Scheme: "digest", ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}
}

// TestCreatorOnlyWithCredentials: a client with credentials creates nodes
// (and the parents WithParents makes) creator-only by default, so sessions
// with no or other credentials get ErrNoAuth reading, listing, changing,
// deleting or creating under them, while a second session of the owner may
// do all of it; an explicit DefaultACL and WithACL override the default.
// Deleting a node is checked against its parent's ACL: a creator-only node
// directly under an open parent can still be deleted by anyone (ZooKeeper's
// rule; the package doc says so). Nothing logged says the password.
//
// Seen to fail: with withDefaults keeping backend.OpenACL when Auth is set,
// "GetACL(/dir) = [{31 world anyone}]"; with zk's Create not passing the
// ACL to backend.CreateParents, GetACL(/p) was the creator-only default
// instead of the node's ACL.
func TestCreatorOnlyWithCredentials(t *testing.T) {
	const password = "pw-5d1e0b"
	cfg := testConfig(t)
	// An open session first makes the namespace (and its shared ancestors)
	// open, as an operator would before handing it out.
	anon := newSession(t, cfg)

	aliceAuth, aliceACL := digest("alice", password)
	bobAuth, _ := digest("bob", "pw-of-bob")
	var logged bytes.Buffer
	aliceCfg := testConfigNS(t, cfg.Namespace)
	aliceCfg.Auth = []zk.Auth{aliceAuth}
	aliceCfg.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	alice := newSession(t, aliceCfg)
	alice2 := newSession(t, aliceCfg) // the owner, on another session
	bobCfg := testConfigNS(t, cfg.Namespace)
	bobCfg.Auth = []zk.Auth{bobAuth}
	bob := newSession(t, bobCfg)

	mustCreate(t, alice, "/dir/node", []byte("d"), backend.Persistent, backend.WithParents(backend.Persistent))
	mustCreate(t, alice, "/top", nil, backend.Persistent)
	for _, p := range []string{"/dir", "/dir/node", "/top"} {
		if acl, _, err := alice.GetACL(ctxT(t), p); err != nil || !slices.Equal(acl, []backend.ACL{aliceACL}) {
			t.Fatalf("GetACL(%s) = %v, %v; want %v", p, acl, err, aliceACL)
		}
	}
	others := []struct {
		name string
		s    *zk.Session
	}{{"anonymous", anon}, {"bob", bob}}
	for _, o := range others {
		_, _, err := o.s.Get(ctxT(t), "/dir/node")
		wantErr(t, "Get by "+o.name, err, backend.ErrNoAuth)
		_, _, err = o.s.Children(ctxT(t), "/dir")
		wantErr(t, "Children by "+o.name, err, backend.ErrNoAuth)
		_, err = o.s.Set(ctxT(t), "/dir/node", []byte("x"), backend.AnyVersion)
		wantErr(t, "Set by "+o.name, err, backend.ErrNoAuth)
		err = o.s.Delete(ctxT(t), "/dir/node", backend.AnyVersion)
		wantErr(t, "Delete by "+o.name, err, backend.ErrNoAuth)
		_, err = o.s.Create(ctxT(t), "/dir/intruder", nil, backend.EphemeralSequential)
		wantErr(t, "Create under the directory by "+o.name, err, backend.ErrNoAuth)
	}
	if data, _, err := alice2.Get(ctxT(t), "/dir/node"); err != nil || string(data) != "d" {
		t.Fatalf("the owner's other session reads %q, %v", data, err)
	}
	mustCreate(t, alice2, "/dir/kid", nil, backend.Ephemeral)
	if err := alice2.Delete(ctxT(t), "/dir/node", backend.AnyVersion); err != nil {
		t.Fatalf("the owner's other session deletes: %v", err)
	}
	// Delete asks the parent: /top sits under the open namespace node.
	if err := anon.Delete(ctxT(t), "/top", backend.AnyVersion); err != nil {
		t.Fatalf("Delete of a creator-only node under an open parent: %v; ZooKeeper allows it", err)
	}

	// WithACL overrides the default, for the node and the parents it makes.
	shared := []backend.ACL{backend.CreatorAllACL[0], {Perms: backend.PermRead, Scheme: "world", ID: "anyone"}}
	mustCreate(t, alice, "/p/q", []byte("q"), backend.Persistent, backend.WithParents(backend.Persistent), backend.WithACL(shared...))
	want := []backend.ACL{aliceACL, shared[1]}
	for _, p := range []string{"/p", "/p/q"} {
		if acl, _, err := alice.GetACL(ctxT(t), p); err != nil || !slices.Equal(acl, want) {
			t.Fatalf("GetACL(%s) = %v, %v; want %v", p, acl, err, want)
		}
	}
	if data, _, err := anon.Get(ctxT(t), "/p/q"); err != nil || string(data) != "q" {
		t.Fatalf("anonymous Get of a world-readable node: %q, %v", data, err)
	}
	err := anon.Delete(ctxT(t), "/p/q", backend.AnyVersion)
	wantErr(t, "anonymous Delete under a world-readable parent", err, backend.ErrNoAuth)

	// DefaultACL overrides the default for the whole client.
	openCfg := aliceCfg
	openCfg.DefaultACL = backend.OpenACL
	aliceOpen := newSession(t, openCfg)
	mustCreate(t, aliceOpen, "/o/n", []byte("o"), backend.Persistent, backend.WithParents(backend.Persistent))
	if acl, _, err := anon.GetACL(ctxT(t), "/o"); err != nil || !slices.Equal(acl, backend.OpenACL) {
		t.Fatalf("GetACL(/o) with DefaultACL OpenACL = %v, %v", acl, err)
	}
	if err := anon.Delete(ctxT(t), "/o/n", backend.AnyVersion); err != nil {
		t.Fatalf("anonymous Delete of an open node: %v", err)
	}

	// Without credentials the default stays open, and creator-only is refused.
	mustCreate(t, anon, "/anon", nil, backend.Persistent)
	if acl, _, err := anon.GetACL(ctxT(t), "/anon"); err != nil || !slices.Equal(acl, backend.OpenACL) {
		t.Fatalf("GetACL of a node made without credentials = %v, %v; want the open ACL", acl, err)
	}
	_, err = anon.Create(ctxT(t), "/creator", nil, backend.Persistent, backend.WithACL(backend.CreatorAllACL...))
	wantErr(t, "creator-only create without credentials", err, backend.ErrUnsupported)

	if strings.Contains(logged.String(), password) {
		t.Fatalf("the log says the password:\n%s", logged.String())
	}
}

// TestDefaultACLConfig: an auth (creator-only) entry in DefaultACL needs
// credentials, and a server address with userinfo is refused without
// printing it.
//
// Seen to fail: without the auth-scheme check in Validate, New accepted the
// first config; without redactServer the error said "hunter2".
func TestDefaultACLConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  zk.Config
	}{
		{"creator-only without credentials", zk.Config{Servers: []string{"127.0.0.1:2181"}, DefaultACL: backend.CreatorAllACL}},
		{"empty ACL", zk.Config{Servers: []string{"127.0.0.1:2181"}, DefaultACL: []backend.ACL{}}},
		{"entry without scheme", zk.Config{Servers: []string{"127.0.0.1:2181"}, DefaultACL: []backend.ACL{{Perms: backend.PermRead}}}},
		{"server with userinfo", zk.Config{Servers: []string{"bob:hunter2@127.0.0.1:2181"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := zk.New(tt.cfg)
			if !errors.Is(err, zk.ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
			if s := fmt.Sprintf("%v %#v", err, err); strings.Contains(s, "hunter2") {
				t.Fatalf("error says the password: %s", s)
			}
		})
	}
	auth, _ := digest("alice", "pw")
	ok := zk.Config{Servers: []string{"127.0.0.1:2181"}, Auth: []zk.Auth{auth}, DefaultACL: backend.CreatorAllACL}
	if err := ok.Validate(); err != nil {
		t.Fatalf("creator-only with credentials: %v", err)
	}
}
