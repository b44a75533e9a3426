package app_test

import (
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// TestRedactCredentials: whatever zkctl prints, on stdout or stderr, never
// says a password: not one in the endpoint URL (refused, and the URL shown
// without its userinfo), nor ZKCTL_PASSWORD, in help, errors, health
// tables, the shell, the demo's narration, against the real servers and an
// unreachable one.
//
// Seen to fail: with zkctl.RedactEndpoints returning its input, the refusal said
// the password (`zkctl: endpoints "zk://bob:url-pw-1c9e@127.0.0.1:...":
// credentials do not belong in the URL`); with zkctl.ParseEndpoints accepting
// userinfo as well, `ls /` exited 1 with zk's invalid-config error (which
// the library redacts) instead of the usage error.
func TestRedactCredentials(t *testing.T) {
	const urlPW, envPW = "url-pw-1c9e", "env-pw-77d2"
	eps := zkctltest.Clusters(t)
	withUserinfo := func(ep string) string { return strings.Replace(ep, "://", "://bob:"+urlPW+"@", 1) }
	check := func(what string, r zkctltest.Result) {
		t.Helper()
		for _, pw := range []string{urlPW, envPW} {
			if strings.Contains(r.Out, pw) || strings.Contains(r.ErrOut, pw) {
				t.Fatalf("%s says the password %q: exit %d\nstdout:\n%s\nstderr:\n%s", what, pw, r.Code, r.Out, r.ErrOut)
			}
		}
	}
	unreachable := map[string]string{"zk": "zk://127.0.0.1:1", "etcd": "etcd://127.0.0.1:1"}

	// Userinfo in the URL, as a flag or in ZKCTL_ENDPOINTS: refused, redacted.
	for name, ep := range map[string]string{"zk": eps["zk"], "etcd": eps["etcd"], "zk-unreachable": unreachable["zk"], "etcd-unreachable": unreachable["etcd"]} {
		bad := withUserinfo(ep)
		for _, args := range [][]string{
			{"--endpoints", bad, "ls", "/"},
			{"--endpoints", bad, "-o", "json", "get", "/x"},
			{"--endpoints", bad, "health", "--timeout", "2s"},
			{"--endpoints", bad, "--request-timeout", "2s", "watch", "/x"},
			{"--endpoints", bad, "dump", "/"},
			{"--endpoints", bad, "lock", "holders", "/l"},
			{"--endpoints", bad, "demo", "--pace", "0"},
			{"cp", bad + "/a", ep + "/b"},
		} {
			r := zkctltest.Run(t, "", args...)
			check(name+" "+strings.Join(args[2:], " "), r)
			if r.Code != zkctl.ExitUsage || !strings.Contains(r.ErrOut, "xxxxx@") {
				t.Fatalf("%s %v: exit %d, stderr %q; want %d and the URL redacted", name, args[2:], r.Code, r.ErrOut, zkctl.ExitUsage)
			}
		}
		r := zkctltest.Run(t, "ls /\nget /x\n", "--endpoints", bad, "shell")
		check(name+" shell", r)
		t.Setenv("ZKCTL_ENDPOINTS", bad)
		check(name+" ZKCTL_ENDPOINTS ls", zkctltest.Run(t, "", "ls", "/"))
		check(name+" --help", zkctltest.Run(t, "", "--help"))
		check(name+" lock --help", zkctltest.Run(t, "", "lock", "--help"))
		t.Setenv("ZKCTL_ENDPOINTS", "")
	}

	// ZKCTL_PASSWORD, against the real servers and unreachable ones. The
	// ZooKeeper namespace is made open first, as an operator would.
	if r := zkctltest.Run(t, "", "--endpoints", eps["zk"], "ls", "/"); r.Code != zkctl.ExitOK {
		t.Fatalf("ls /: exit %d (%q)", r.Code, r.ErrOut)
	}
	t.Setenv("ZKCTL_PASSWORD", envPW)
	for name, ep := range eps {
		e := func(args ...string) []string { return append([]string{"--endpoints", ep, "--user", "alice"}, args...) }
		check(name+" create", zkctltest.Run(t, "", e("create", "-p", "/r/x", "v")...))
		check(name+" get", zkctltest.Run(t, "", e("-o", "json", "get", "--stat", "/r/x")...))
		check(name+" get missing", zkctltest.Run(t, "", e("get", "/nope")...))
		check(name+" health", zkctltest.Run(t, "", e("health", "--timeout", "5s")...))
		check(name+" shell", zkctltest.Run(t, "ls /\nget /nope\n", e("shell")...))
		check(name+" --help", zkctltest.Run(t, "", e("--help")...))
		for _, ep := range []string{unreachable[name], withUserinfo(unreachable[name])} {
			r := zkctltest.Run(t, "", "--endpoints", ep, "--user", "alice", "--request-timeout", "2s", "get", "/x")
			check(name+" unreachable get", r)
			if r.Code == zkctl.ExitOK {
				t.Fatalf("%s unreachable: exit 0", name)
			}
			check(name+" unreachable health", zkctltest.Run(t, "", "--endpoints", ep, "--user", "alice", "health", "--timeout", "2s"))
		}
	}
	// The demo's narration, on ZooKeeper with credentials (creator-only
	// nodes throughout).
	r := zkctltest.Run(t, "", "--endpoints", eps["zk"], "--user", "alice", "demo", "--pace", "0")
	check("demo", r)
	if r.Code != zkctl.ExitOK {
		t.Fatalf("demo with --user: exit %d (%q)", r.Code, r.ErrOut)
	}
}
