package app

import (
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
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
	eps := clusters(t)
	withUserinfo := func(ep string) string { return strings.Replace(ep, "://", "://bob:"+urlPW+"@", 1) }
	check := func(what string, r result) {
		t.Helper()
		for _, pw := range []string{urlPW, envPW} {
			if strings.Contains(r.out, pw) || strings.Contains(r.errOut, pw) {
				t.Fatalf("%s says the password %q: exit %d\nstdout:\n%s\nstderr:\n%s", what, pw, r.code, r.out, r.errOut)
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
			r := zkctlRun(t, "", args...)
			check(name+" "+strings.Join(args[2:], " "), r)
			if r.code != zkctl.ExitUsage || !strings.Contains(r.errOut, "xxxxx@") {
				t.Fatalf("%s %v: exit %d, stderr %q; want %d and the URL redacted", name, args[2:], r.code, r.errOut, zkctl.ExitUsage)
			}
		}
		r := zkctlRun(t, "ls /\nget /x\n", "--endpoints", bad, "shell")
		check(name+" shell", r)
		t.Setenv("ZKCTL_ENDPOINTS", bad)
		check(name+" ZKCTL_ENDPOINTS ls", zkctlRun(t, "", "ls", "/"))
		check(name+" --help", zkctlRun(t, "", "--help"))
		check(name+" lock --help", zkctlRun(t, "", "lock", "--help"))
		t.Setenv("ZKCTL_ENDPOINTS", "")
	}

	// ZKCTL_PASSWORD, against the real servers and unreachable ones. The
	// ZooKeeper namespace is made open first, as an operator would.
	if r := zkctlRun(t, "", "--endpoints", eps["zk"], "ls", "/"); r.code != zkctl.ExitOK {
		t.Fatalf("ls /: exit %d (%q)", r.code, r.errOut)
	}
	t.Setenv("ZKCTL_PASSWORD", envPW)
	for name, ep := range eps {
		e := func(args ...string) []string { return append([]string{"--endpoints", ep, "--user", "alice"}, args...) }
		check(name+" create", zkctlRun(t, "", e("create", "-p", "/r/x", "v")...))
		check(name+" get", zkctlRun(t, "", e("-o", "json", "get", "--stat", "/r/x")...))
		check(name+" get missing", zkctlRun(t, "", e("get", "/nope")...))
		check(name+" health", zkctlRun(t, "", e("health", "--timeout", "5s")...))
		check(name+" shell", zkctlRun(t, "ls /\nget /nope\n", e("shell")...))
		check(name+" --help", zkctlRun(t, "", e("--help")...))
		for _, ep := range []string{unreachable[name], withUserinfo(unreachable[name])} {
			r := zkctlRun(t, "", "--endpoints", ep, "--user", "alice", "--request-timeout", "2s", "get", "/x")
			check(name+" unreachable get", r)
			if r.code == zkctl.ExitOK {
				t.Fatalf("%s unreachable: exit 0", name)
			}
			check(name+" unreachable health", zkctlRun(t, "", "--endpoints", ep, "--user", "alice", "health", "--timeout", "2s"))
		}
	}
	// The demo's narration, on ZooKeeper with credentials (creator-only
	// nodes throughout).
	r := zkctlRun(t, "", "--endpoints", eps["zk"], "--user", "alice", "demo", "--pace", "0")
	check("demo", r)
	if r.code != zkctl.ExitOK {
		t.Fatalf("demo with --user: exit %d (%q)", r.code, r.errOut)
	}
}
