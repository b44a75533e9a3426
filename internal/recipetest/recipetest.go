// Package recipetest is the harness the recipes' tests share: it runs a
// test once per real backend (ZooKeeper and etcd, found by
// internal/testenv), in a namespace of the test's own, and opens sessions
// there, each on a client of its own (as separate processes would have),
// directly or through a fault proxy.
package recipetest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// Wait is the generous deadline for anything a test waits on.
const Wait = 20 * time.Second

// Backend is one real backend a test runs on.
type Backend struct {
	Name      string                    // "zk" or "etcd": the subtest's name
	Endpoints func(testing.TB) []string // the test servers, from testenv
	// Open opens a client, closed at the test's cleanup.
	Open func(t testing.TB, endpoints []string, namespace string, sessionTimeout time.Duration) backend.Client
}

// Backends are ZooKeeper and etcd.
var Backends = []Backend{
	{"zk", testenv.ZooKeeper, func(t testing.TB, eps []string, ns string, timeout time.Duration) backend.Client {
		c, err := zk.New(zk.Config{Servers: eps, Namespace: ns, SessionTimeout: timeout})
		if err != nil {
			t.Fatalf("zk.New: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}},
	{"etcd", testenv.Etcd, func(t testing.TB, eps []string, ns string, timeout time.Duration) backend.Client {
		c, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: ns, SessionTimeout: timeout})
		if err != nil {
			t.Fatalf("etcd.New: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}},
}

// Env opens sessions of one backend, all in one namespace of the test's own.
type Env struct {
	Backend   Backend
	Endpoints []string
	Namespace string
	// Timeout is the session timeout of Session's sessions.
	Timeout time.Duration
}

// ForEach runs fn as a subtest per backend, with sessions of timeout.
func ForEach(t *testing.T, timeout time.Duration, fn func(t *testing.T, e *Env)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, &Env{Backend: b, Endpoints: b.Endpoints(t), Namespace: testenv.Namespace(t), Timeout: timeout})
		})
	}
}

// SessionOf waits for c's session.
func (e *Env) SessionOf(t testing.TB, c backend.Client) backend.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

// Session opens a new client and returns its session.
func (e *Env) Session(t testing.TB) backend.Session {
	t.Helper()
	return e.SessionOf(t, e.Backend.Open(t, e.Endpoints, e.Namespace, e.Timeout))
}

// ZooKeeperSession opens a new ZooKeeper client with cfg, whose Servers,
// Namespace and SessionTimeout default to e's, and returns its session: for
// tests of what a client's configuration changes (credentials, ACLs). It
// fails the test on another backend.
func (e *Env) ZooKeeperSession(t testing.TB, cfg zk.Config) backend.Session {
	t.Helper()
	if e.Backend.Name != "zk" {
		t.Fatalf("ZooKeeperSession on %s", e.Backend.Name)
	}
	if cfg.Servers == nil {
		cfg.Servers = e.Endpoints
	}
	if cfg.Namespace == "" {
		cfg.Namespace = e.Namespace
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = e.Timeout
	}
	c, err := zk.New(cfg)
	if err != nil {
		t.Fatalf("zk.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return e.SessionOf(t, c)
}

// Proxied opens a session with the given timeout whose connection runs
// through a fault proxy of its own.
func (e *Env) Proxied(t testing.TB, timeout time.Duration) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	p, err := faultnet.NewProxy(e.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return e.SessionOf(t, e.Backend.Open(t, []string{p.Addr()}, e.Namespace, timeout)), p
}

// Ctx returns a context bounded by Wait, cancelled at cleanup.
func Ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return c
}

// Eventually polls cond until it holds, failing t after Wait. It is for
// state only another session can see, which nothing signals.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, Wait)
		}
		tm := time.NewTimer(5 * time.Millisecond)
		<-tm.C
	}
}

// WaitClosed waits, up to Wait, for ch to be closed.
func WaitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(Wait):
		t.Fatalf("%s: not closed within %v", what, Wait)
	}
}

// Children lists the children of dir. Lock and election directories are
// container nodes, which the server removes once they are empty, so a
// missing dir has no children rather than being an error.
func Children(t testing.TB, s backend.Session, dir string) []string {
	t.Helper()
	kids, _, err := s.Children(Ctx(t), dir)
	if errors.Is(err, backend.ErrNoNode) {
		return nil
	}
	if err != nil {
		t.Fatalf("Children(%s): %v", dir, err)
	}
	return kids
}

// BenchServer is a backend on one pair of servers for benchmarks: the test
// servers (fsync on) or the fsync-off ones.
type BenchServer struct {
	Backend
	Kind string // "zk" or "etcd", whatever the Name
}

// nosyncVars name the fsync-off servers (scripts/servers.sh start-nosync).
var nosyncVars = map[string]string{
	"zk":   "ZKRECIPES_ZK_ENDPOINTS_NOSYNC",
	"etcd": "ZKRECIPES_ETCD_ENDPOINTS_NOSYNC",
}

// BenchServers are zk and etcd, then zk-nosync and etcd-nosync, whose
// benchmarks skip unless the fsync-off servers are named.
func BenchServers() []BenchServer {
	var out []BenchServer
	for _, bc := range Backends {
		out = append(out, BenchServer{bc, bc.Name})
	}
	for _, bc := range Backends {
		v := nosyncVars[bc.Name]
		nb := bc
		nb.Name += "-nosync"
		nb.Endpoints = func(t testing.TB) []string {
			t.Helper()
			eps := strings.FieldsFunc(os.Getenv(v), func(r rune) bool { return r == ',' || r == ' ' })
			if len(eps) == 0 || eps[0] == testenv.Off {
				t.Skip("no fsync-off servers: set " + v + " (scripts/servers.sh start-nosync DIR writes DIR/nosync.env; make bench starts them)")
			}
			return eps
		}
		out = append(out, BenchServer{nb, bc.Name})
	}
	return out
}
