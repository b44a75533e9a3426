package dubbocmd_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// mustURL parses a decoded Dubbo URL.
func mustURL(t *testing.T, s string) registry.DubboURL {
	t.Helper()
	u, err := registry.ParseDubboURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDubbo: with a registry laid out as Dubbo's ZookeeperRegistry writes
// it (two providers and a consumer of one interface, a provider of
// another with a space in its parameters, a node whose name is no URL),
// ls prints each interface with its provider and consumer counts,
// providers and consumers the decoded URLs sorted (-q the URLs, -o json
// protocol, host, port, path and params), a registered interface without
// consumers prints nothing, an unregistered one exits 3, and bad input 2.
//
// Broken on purpose: decode not decoding the node names (ParseDubboURL
// on the encoded name) -> fails with "providers printed
// \"%zz\ndubbo%3A%2F%2F10.0.0.5%3A20880...\""; count reading the
// interface's node instead of its providers -> fails with "ls printed" the
// interface's two categories as its providers.
func TestDubbo(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := func(args ...string) zkctltest.Result {
				t.Helper()
				return zkctltest.Run(t, "", append([]string{"--endpoints", ep}, args...)...)
			}
			obs := zkctltest.Observer(t, ep)
			ctx := recipetest.Ctx(t)
			p1 := "dubbo://10.0.0.5:20880/com.foo.Svc?anyhost=true&application=demo&interface=com.foo.Svc&side=provider"
			p2 := "dubbo://10.0.0.6:20880/com.foo.Svc?anyhost=true&application=demo&interface=com.foo.Svc&side=provider"
			c1 := "consumer://10.0.0.7/com.foo.Svc?application=web&category=consumers&interface=com.foo.Svc&side=consumer"
			o1 := "tri://10.0.0.8:50051/com.bar.Other?application=my app&interface=com.bar.Other"
			for _, s := range []string{p2, c1, p1, o1} {
				u := mustURL(t, s)
				if _, err := obs.Create(ctx, registry.DubboNodePath("", u, ""), nil, backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := obs.Create(ctx, registry.DubboCategoryPath("", "com.foo.Svc", "providers")+"/%zz", nil, backend.Persistent); err != nil {
				t.Fatal(err)
			}

			r := zkctltest.Want(t, run("dubbo", "ls"), 0, "ls")
			if want := "INTERFACE      PROVIDERS  CONSUMERS\ncom.bar.Other  1          0\ncom.foo.Svc    3          1\n"; r.Out != want {
				t.Fatalf("ls printed\n%s\nwant\n%s", r.Out, want)
			}
			r = zkctltest.Want(t, run("dubbo", "ls", "-q"), 0, "ls -q")
			if r.Out != "com.bar.Other\ncom.foo.Svc\n" {
				t.Fatalf("ls -q printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("-o", "json", "dubbo", "ls"), 0, "ls -o json")
			if want := "{\"interface\":\"com.bar.Other\",\"providers\":1,\"consumers\":0}\n{\"interface\":\"com.foo.Svc\",\"providers\":3,\"consumers\":1}\n"; r.Out != want {
				t.Fatalf("ls -o json printed %q, want %q", r.Out, want)
			}

			r = zkctltest.Want(t, run("dubbo", "providers", "com.foo.Svc", "-q"), 0, "providers -q")
			if want := p1 + "\n" + p2 + "\n"; r.Out != want {
				t.Fatalf("providers printed %q, want %q", r.Out, want)
			}
			if !strings.Contains(r.ErrOut, "%zz") || !strings.Contains(r.ErrOut, registry.ErrBadURL.Error()) {
				t.Fatalf("providers: stderr %q; want the node that is no URL named", r.ErrOut)
			}
			r = zkctltest.Want(t, run("dubbo", "providers", "com.foo.Svc"), 0, "providers")
			if lines := strings.Split(r.Out, "\n"); len(lines) != 4 || strings.Join(strings.Fields(lines[1]), " ") != "dubbo 10.0.0.5 20880 "+p1 {
				t.Fatalf("providers printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("dubbo", "consumers", "com.foo.Svc", "-q"), 0, "consumers")
			if r.Out != c1+"\n" {
				t.Fatalf("consumers printed %q, want %q", r.Out, c1+"\n")
			}
			r = zkctltest.Want(t, run("-o", "json", "dubbo", "providers", "com.bar.Other"), 0, "providers -o json")
			var u struct {
				Protocol, Host, Path, URL string
				Port                      int
				Params                    map[string]string
			}
			if err := json.Unmarshal([]byte(r.Out), &u); err != nil || u.Protocol != "tri" || u.Host != "10.0.0.8" || u.Port != 50051 ||
				u.Path != "com.bar.Other" || u.Params["application"] != "my app" || u.URL != o1 {
				t.Fatalf("providers -o json printed %q (%v)", r.Out, err)
			}
			r = zkctltest.Want(t, run("dubbo", "consumers", "com.bar.Other"), 0, "consumers of an interface without any")
			if r.Out != "PROTOCOL  HOST  PORT  URL\n" {
				t.Fatalf("consumers of an interface without any printed %q", r.Out)
			}

			// Another root (a registry URL's group).
			u2 := mustURL(t, "dubbo://10.0.0.9:20880/com.baz.X?interface=com.baz.X")
			if _, err := obs.Create(ctx, registry.DubboNodePath("/prod", u2, ""), nil, backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
				t.Fatal(err)
			}
			r = zkctltest.Want(t, run("dubbo", "ls", "--root", "/prod", "-q"), 0, "ls --root")
			if r.Out != "com.baz.X\n" {
				t.Fatalf("ls --root /prod printed %q", r.Out)
			}

			zkctltest.Want(t, run("dubbo", "providers", "com.nope.Y"), zkctl.ExitNoNode, "providers of an unregistered interface")
			zkctltest.Want(t, run("dubbo", "ls", "--root", "/nowhere"), zkctl.ExitNoNode, "ls of a missing root")
			zkctltest.Want(t, run("dubbo", "providers"), zkctl.ExitUsage, "providers without INTERFACE")
			zkctltest.Want(t, run("dubbo", "providers", "a", "b"), zkctl.ExitUsage, "providers with two interfaces")
			zkctltest.Want(t, run("dubbo", "providers", "*"), zkctl.ExitUsage, "providers of *")
			zkctltest.Want(t, run("dubbo", "ls", "extra"), zkctl.ExitUsage, "ls with an argument")
			zkctltest.Want(t, run("dubbo", "ls", "--root", "dubbo"), zkctl.ExitUsage, "ls --root without /")
			zkctltest.Want(t, run("dubbo", "ls", "--root", "/"), zkctl.ExitUsage, "ls --root /")
		})
	}
}
