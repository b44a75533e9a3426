package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// passwordFile writes password to a file of the test's own and returns its path.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCreatorOnlyZkctl: on ZooKeeper, nodes zkctl creates with --user are
// creator-only unless --acl says otherwise: an unauthenticated zkctl (or
// another user's) cannot read, list or remove them (exit 1, "not
// authorized", as the README's table says of a refused permission), nor
// create under them; the same user can. When the creator's zkctl made the
// namespace too, the top-level nodes are safe as well. --acl open and
// ZKCTL_ACL choose another ACL; --acl creator without --user and --acl on
// etcd are usage errors.
//
// Seen to fail: with connect ignoring --acl (DefaultACL left nil), the
// `--acl open` node stayed creator-only and the anonymous rm of /shared/n
// exited 1 ("rm /shared/n with --acl open: exit 1").
func TestCreatorOnlyZkctl(t *testing.T) {
	servers := "zk://" + strings.Join(testenv.ZooKeeper(t), ",")
	ns := testenv.Namespace(t)
	ep := servers + ns
	alice := []string{"--endpoints", ep, "--user", "alice", "--password-file", passwordFile(t, "pw-alice")}
	bob := []string{"--endpoints", ep, "--user", "bob", "--password-file", passwordFile(t, "pw-bob")}
	anon := []string{"--endpoints", ep}
	run := func(who []string, args ...string) zkctltest.Result {
		return zkctltest.Run(t, "", append(slices.Clone(who), args...)...)
	}
	want := func(r zkctltest.Result, code int, what string) {
		t.Helper()
		if r.Code != code {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d", what, r.Code, r.Out, r.ErrOut, code)
		}
		if code == zkctl.ExitError && !strings.Contains(r.ErrOut, "not authorized") {
			t.Fatalf("%s: stderr %q, want it to say not authorized", what, r.ErrOut)
		}
	}
	// The namespace first, open, as an operator would hand it out.
	want(run(anon, "ls", "/"), zkctl.ExitOK, "anonymous ls /")

	want(run(alice, "create", "-p", "/app/cfg", "v1"), zkctl.ExitOK, "alice creates /app/cfg")
	for name, who := range map[string][]string{"anonymous": anon, "bob": bob} {
		want(run(who, "rm", "/app/cfg"), zkctl.ExitError, name+" rm /app/cfg")
		want(run(who, "get", "/app/cfg"), zkctl.ExitError, name+" get /app/cfg")
		want(run(who, "ls", "/app"), zkctl.ExitError, name+" ls /app")
		want(run(who, "set", "/app/cfg", "evil"), zkctl.ExitError, name+" set /app/cfg")
		want(run(who, "create", "/app/intruder"), zkctl.ExitError, name+" create /app/intruder")
	}
	if r := run(alice, "get", "/app/cfg"); r.Code != zkctl.ExitOK || r.Out != "v1\n" {
		t.Fatalf("alice get /app/cfg: exit %d, %q (%q)", r.Code, r.Out, r.ErrOut)
	}
	want(run(alice, "rm", "-r", "/app"), zkctl.ExitOK, "alice rm -r /app")

	// A namespace the creator's zkctl made is the creator's too.
	owned := append(slices.Clone(alice), "--endpoints", servers+ns+"/owned")
	want(run(owned, "create", "/top", "t"), zkctl.ExitOK, "alice creates /top in her namespace")
	want(run([]string{"--endpoints", servers + ns + "/owned"}, "rm", "/top"), zkctl.ExitError, "anonymous rm /top in alice's namespace")

	// --acl open and ZKCTL_ACL override the default.
	want(run(alice, "--acl", "open", "create", "-p", "/shared/n"), zkctl.ExitOK, "alice creates with --acl open")
	if r := run(anon, "rm", "/shared/n"); r.Code != zkctl.ExitOK {
		t.Fatalf("rm /shared/n with --acl open: exit %d (%q)", r.Code, r.ErrOut)
	}
	t.Setenv("ZKCTL_ACL", "creator,world:anyone:r")
	want(run(alice, "create", "/readable", "r"), zkctl.ExitOK, "alice creates with ZKCTL_ACL")
	t.Setenv("ZKCTL_ACL", "")
	if r := run(anon, "get", "/readable"); r.Code != zkctl.ExitOK || r.Out != "r\n" {
		t.Fatalf("anonymous get of a ZKCTL_ACL world-readable node: exit %d, %q (%q)", r.Code, r.Out, r.ErrOut)
	}
	want(run(anon, "set", "/readable", "w"), zkctl.ExitError, "anonymous set of a read-only node")

	want(run(anon, "--acl", "creator", "create", "/x"), zkctl.ExitUsage, "--acl creator without --user")
	want(run(anon, "--acl", "world:anyone:q", "create", "/x"), zkctl.ExitUsage, "--acl with a bad permission")
	etcdEP := "etcd://" + strings.Join(testenv.Etcd(t), ",") + ns
	want(zkctltest.Run(t, "", "--endpoints", etcdEP, "--acl", "open", "create", "/x"), zkctl.ExitUsage, "--acl on etcd")
}
