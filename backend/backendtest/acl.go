package backendtest

import (
	"errors"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// testGetACL: on a backend with per-node ACLs, GetACL returns the ACL a
// node was created with (and the default for one created without); on any
// other, it is ErrUnsupported. Missing nodes and bad paths get their usual
// errors. It goes through the client's session, retry wrapper included.
func testGetACL(t *testing.T, h *harness) {
	s := h.session(t)
	if !s.Capabilities().ACL {
		if _, _, err := backend.GetACL(ctx(t), s, "/"); !errors.Is(err, backend.ErrUnsupported) {
			t.Fatalf("GetACL on %s: %v, want ErrUnsupported", s.Capabilities().Backend, err)
		}
		return
	}
	custom := []backend.ACL{
		{Perms: backend.PermRead, Scheme: "world", ID: "anyone"},
		{Perms: backend.PermAll, Scheme: "ip", ID: "127.0.0.1"},
	}
	mustCreate(t, s, "/open", []byte("o"), backend.Persistent)
	mustCreate(t, s, "/custom", []byte("c"), backend.Persistent, backend.WithACL(custom...))
	acl, st, err := backend.GetACL(ctx(t), s, "/open")
	if err != nil || !slices.Equal(acl, backend.OpenACL) || st.DataLength != 1 {
		t.Fatalf("GetACL(/open) = %v, %+v, %v; want the open ACL", acl, st, err)
	}
	acl, _, err = backend.GetACL(ctx(t), s, "/custom")
	if err != nil || !slices.Equal(acl, custom) {
		t.Fatalf("GetACL(/custom) = %v, %v; want %v", acl, err, custom)
	}
	if _, _, err := backend.GetACL(ctx(t), s, "/missing"); !errors.Is(err, backend.ErrNoNode) {
		t.Fatalf("GetACL(/missing): %v, want ErrNoNode", err)
	}
	if _, _, err := backend.GetACL(ctx(t), s, "bad//path"); !errors.Is(err, backend.ErrBadPath) {
		t.Fatalf("GetACL(bad//path): %v, want ErrBadPath", err)
	}
}
