package zkctl

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// clusters returns the --endpoints of each real backend, each in a
// namespace of this test's own.
func clusters(t *testing.T) map[string]string {
	t.Helper()
	ns := testenv.Namespace(t)
	return map[string]string{
		"zk":   "zk://" + strings.Join(testenv.ZooKeeper(t), ",") + ns,
		"etcd": "etcd://" + strings.Join(testenv.Etcd(t), ",") + ns,
	}
}

// observer opens a session on the cluster ep names, for checking what a
// command did.
func observer(t *testing.T, ep string) backend.Session {
	t.Helper()
	cl, err := ParseEndpoints(ep)
	if err != nil {
		t.Fatal(err)
	}
	var c backend.Client
	if cl.Backend == "zk" {
		c, err = zk.New(zk.Config{Servers: cl.Servers, Namespace: cl.Namespace})
	} else {
		c, err = etcd.New(etcd.Config{Endpoints: cl.Servers, Namespace: cl.Namespace})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flagContext returns a cli.Context with the global flags, --endpoints set
// to ep, as a command's action would see it.
func flagContext(t *testing.T, ep string) *cli.Context {
	t.Helper()
	app := &cli.App{Flags: GlobalFlags()}
	set := flag.NewFlagSet("zkctl", flag.ContinueOnError)
	for _, f := range app.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--endpoints", ep}); err != nil {
		t.Fatal(err)
	}
	c := cli.NewContext(app, set, nil)
	c.Context = t.Context()
	return c
}

// TestSharedSession: a command run with the context zkctl shell makes,
// and the shell's connection flags, uses the shell's session, so an
// ephemeral node one line makes outlives it; another cluster, or a
// command outside a shell, opens its own.
func TestSharedSession(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			shellCtx := flagContext(t, ep)
			client, err := Connect(shellCtx)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx := WithSharedSession(t.Context(), shellCtx, client.Session)

			// A command of the shell, with the shell's flags: the shell's session, every time.
			cmdCtx := flagContext(t, ep)
			cmdCtx.Context = ctx
			_, s1, done1, ok := sharedSession(cmdCtx)
			if !ok {
				t.Fatal("no shared session for a command of the shell")
			}
			done1()
			opCtx, s2, done2, ok := sharedSession(cmdCtx)
			if !ok || s1 != s2 {
				t.Fatalf("second command: ok %v, same session %v", ok, s1 == s2)
			}
			if _, err := s2.Create(opCtx, "/eph", nil, backend.Ephemeral); err != nil {
				t.Fatal(err)
			}
			done2()
			// The ephemeral node outlives the command that made it.
			obs := observer(t, ep)
			if st, err := obs.Exists(t.Context(), "/eph"); err != nil || st == nil {
				t.Fatalf("ephemeral node of a shell command: %v, %v", st, err)
			}

			// Another cluster, or no shell: no sharing.
			other := flagContext(t, ep+"x")
			other.Context = ctx
			if _, _, _, ok := sharedSession(other); ok {
				t.Error("shared a session with a command for another namespace")
			}
			alone := flagContext(t, ep)
			if _, _, _, ok := sharedSession(alone); ok {
				t.Error("shared a session outside a shell")
			}

			// The shell's end ends the session and its ephemeral node.
			client.Close()
			deadline := time.Now().Add(15 * time.Second)
			for {
				st, err := obs.Exists(t.Context(), "/eph")
				if err == nil && st == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ephemeral node still there after the shell's client closed: %v, %v", st, err)
				}
				time.Sleep(50 * time.Millisecond) // polling the server for another client's expiry
			}
		})
	}
}
