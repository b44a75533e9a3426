package dumpcmd_test

import (
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// TestRestoreACLRootParents: restoring a dump whose root node has an ACL
// that does not let this client create under it (read-only) into a path
// whose parents are missing works: the parents get the client's default,
// not the root node's ACL (which backend.WithParents would give them).
//
// Seen to fail: with apply giving the root node WithParents alone, the
// restore exited 1 ("create /deep/er: backend: not authorized").
func TestRestoreACLRootParents(t *testing.T) {
	ep := zkctltest.Clusters(t)["zk"]
	s := zkctltest.Observer(t, ep)
	readOnly := backend.ACL{Perms: backend.PermRead, Scheme: "world", ID: "anyone"}
	if _, err := s.Create(t.Context(), "/ro", []byte("r"), backend.Persistent, backend.WithACL(readOnly)); err != nil {
		t.Fatal(err)
	}
	r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", ep, "dump", "/ro"), zkctl.ExitOK, "dump")
	zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", ep, "restore", zkctltest.File(t, "dump.json", r.Out), "--to", "/deep/er/ro"), zkctl.ExitOK, "restore")
	for p, want := range map[string][]backend.ACL{"/deep": backend.OpenACL, "/deep/er": backend.OpenACL, "/deep/er/ro": {readOnly}} {
		if acl, _, err := backend.GetACL(t.Context(), s, p); err != nil || !slices.Equal(acl, want) {
			t.Fatalf("GetACL(%s) = %v, %v; want %v", p, acl, err, want)
		}
	}
}
