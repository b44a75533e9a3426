package peers_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 30 * time.Second

// sessionTimeout is the peers' session timeout.
const sessionTimeout = 4 * time.Second

// Name patterns, as regular expression pieces.
const (
	uuid36 = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}` // Curator's protection prefix
	hex32  = `[0-9a-f]{32}`                                                 // kazoo's uuid4().hex
	seq10  = `[0-9]{10}`                                                    // ZooKeeper's sequence suffix
)

type starter func(t testing.TB, connect string, opts ...peers.Option) *peers.Peer

// env is one test's ZooKeeper: its connect string, a go-zookeeper client and
// a fresh base path, removed when the test ends.
type env struct {
	t       *testing.T
	connect string
	conn    *zk.Conn
	base    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	eps := testenv.ZooKeeper(t)
	conn, events, err := zk.Connect(eps, sessionTimeout, zk.WithLogger(log.New(io.Discard, "", 0)))
	if err != nil {
		t.Fatalf("zk.Connect(%v): %v", eps, err)
	}
	go func() {
		for range events { // drained until Close closes it
		}
	}()
	e := &env{t: t, connect: strings.Join(eps, ","), conn: conn, base: testenv.Namespace(t)}
	// Registered before any peer, so it runs after the peers have closed.
	t.Cleanup(func() {
		e.deleteTree(e.base)
		conn.Close()
	})
	return e
}

func (e *env) path(name string) string { return e.base + "/" + name }

func (e *env) deleteTree(p string) {
	children, _, err := e.conn.Children(p)
	if err != nil {
		return
	}
	for _, c := range children {
		e.deleteTree(p + "/" + c)
	}
	_ = e.conn.Delete(p, -1)
}

// node is one znode under a recipe's path.
type node struct {
	rel  string // path relative to the recipe's path
	data string
	mode string // ephemeral, or persistent or container
}

// mode names a node's kind from its stat. A client cannot tell a container
// from a persistent node: ZooKeeper 3.8 reports ephemeral owner 0 for both.
func mode(st *zk.Stat) string {
	if st.EphemeralOwner != 0 {
		return "ephemeral"
	}
	return "persistent or container"
}

// tree lists every node below p, depth first, sorted by name.
func (e *env) tree(p string) []node {
	e.t.Helper()
	var out []node
	var walk func(rel string)
	walk = func(rel string) {
		full := p
		if rel != "" {
			full += "/" + rel
		}
		children, _, err := e.conn.Children(full)
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err != nil {
			e.t.Fatalf("children of %s: %v", full, err)
		}
		if rel == "" {
			if data, st, err := e.conn.Get(p); err == nil {
				e.t.Logf("%s itself: %s, data %q", p, mode(st), data)
			}
		}
		sort.Strings(children)
		for _, c := range children {
			crel := path.Join(rel, c)
			data, st, err := e.conn.Get(full + "/" + c)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				e.t.Fatalf("get %s/%s: %v", full, c, err)
			}
			out = append(out, node{rel: crel, data: string(data), mode: mode(st)})
			walk(crel)
		}
	}
	walk("")
	return out
}

// waitChildren waits until p has n children and returns their names,
// sorted. It waits on child watches, not on a timer.
func (e *env) waitChildren(p string, n int) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var last []string
	for {
		children, _, ch, err := e.conn.ChildrenW(p)
		if errors.Is(err, zk.ErrNoNode) && n == 0 {
			return nil // a container reaped once empty
		}
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			ok, _, ch, err = e.conn.ExistsW(p)
			if err == nil && ok {
				continue
			}
		}
		if err != nil {
			e.t.Fatalf("watch children of %s: %v", p, err)
		}
		if len(children) == n {
			sort.Strings(children)
			return children
		}
		last = children
		select {
		case <-ch:
		case <-ctx.Done():
			e.t.Fatalf("%s has children %q, want %d of them after %v", p, last, n, waitTimeout)
		}
	}
}

// waitWatched waits until the server holds a watch on p, asking it with the
// `wchp` four-letter word: a waiter that watches its predecessor has seen
// that it does not hold the lock. It returns false when the server refuses
// `wchp` (four-letter words not whitelisted).
func (e *env) waitWatched(p string) bool {
	e.t.Helper()
	addr := strings.Split(e.connect, ",")[0]
	deadline := time.Now().Add(waitTimeout)
	for {
		out, err := fourLetter(addr, "wchp")
		if err != nil {
			e.t.Fatalf("wchp on %s: %v", addr, err)
		}
		if strings.Contains(out, "not in the whitelist") || strings.Contains(out, "not executed") {
			e.t.Logf("%s refuses wchp; not checking that the waiter watches %s", addr, p)
			return false
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) == p {
				return true
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no watch on %s after %v; wchp says:\n%s", p, waitTimeout, out)
		}
		time.Sleep(10 * time.Millisecond) // polling a server condition, not ordering events
	}
}

func fourLetter(addr, word string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, word); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String(), sc.Err()
}

func expect(t *testing.T, p *peers.Peer, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	l, err := p.Expect(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkLayout logs the nodes below p and checks that each matches exactly
// one of want (patterns over the path relative to p) and each pattern
// exactly one node; a pattern starting with "?" at most one (a container
// the server may already have reaped).
func checkLayout(t *testing.T, who string, nodes []node, want ...string) {
	t.Helper()
	for _, n := range nodes {
		t.Logf("%s: node %s (%s, data %q)", who, n.rel, n.mode, n.data)
	}
	hits := make([]int, len(want))
	for _, n := range nodes {
		matched := 0
		for i, w := range want {
			if regexp.MustCompile("^" + strings.TrimPrefix(w, "?") + "$").MatchString(n.rel) {
				hits[i]++
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("%s: node %q matches %d of the expected patterns %q, want 1", who, n.rel, matched, want)
		}
	}
	for i, w := range want {
		if hits[i] != 1 && !(strings.HasPrefix(w, "?") && hits[i] == 0) {
			t.Errorf("%s: pattern %q matches %d nodes, want 1", who, w, hits[i])
		}
	}
}

var kinds = []struct {
	name  string
	start starter
}{
	{"curator", peers.Curator},
	{"kazoo", peers.Kazoo},
}

func TestLockUnlock(t *testing.T) {
	layouts := map[string]string{
		"curator": `_c_` + uuid36 + `-lock-` + seq10,
		"kazoo":   hex32 + `__lock__` + seq10,
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			lock := e.path("lock")
			p.Send("lock " + lock)
			if got, want := expect(t, p, "acquired"), "acquired lock "+lock; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			checkLayout(t, k.name+" lock", e.tree(lock), layouts[k.name])
			p.Send("unlock")
			if got, want := expect(t, p, "released"), "released lock "+lock; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if got := e.waitChildren(lock, 0); len(got) != 0 {
				t.Fatalf("after unlock: children %q, want none", got)
			}
		})
	}
}

func TestLockExclusion(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			a := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			b := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			lock := e.path("x")
			a.Send("lock " + lock)
			expect(t, a, "acquired lock "+lock)
			first := e.waitChildren(lock, 1)

			b.Send("lock " + lock)
			both := e.waitChildren(lock, 2)
			e.waitWatched(lock + "/" + first[0])
			if l, ok := b.Peek("acquired"); ok {
				t.Fatalf("%s: second peer printed %q while the first holds %s", k.name, l, lock)
			}
			t.Logf("%s: holder %s, waiter among %q", k.name, first[0], both)

			a.Send("unlock")
			expect(t, a, "released lock "+lock)
			expect(t, b, "acquired lock "+lock)
			if l, ok := a.Peek("acquired"); ok {
				t.Fatalf("first peer printed %q again", l)
			}
			rest := e.waitChildren(lock, 1)
			if rest[0] == first[0] {
				t.Fatalf("the holder's node %s is still there after unlock", first[0])
			}
			b.Send("unlock")
			expect(t, b, "released lock "+lock)
		})
	}
}

func TestReadWriteLockLayout(t *testing.T) {
	layouts := map[string]map[string]string{
		"curator": {
			"read-lock":  `_c_` + uuid36 + `-__READ__` + seq10,
			"write-lock": `_c_` + uuid36 + `-__WRIT__` + seq10,
		},
		"kazoo": {
			"read-lock":  hex32 + `__rlock__` + seq10,
			"write-lock": hex32 + `__lock__` + seq10,
		},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			lock := e.path("rw")
			for _, cmd := range []string{"read-lock", "write-lock"} {
				p.Send(cmd + " " + lock)
				expect(t, p, "acquired "+cmd+" "+lock)
				checkLayout(t, k.name+" "+cmd, e.tree(lock), layouts[k.name][cmd])
				p.Send("unlock")
				expect(t, p, "released "+cmd+" "+lock)
				e.waitChildren(lock, 0)
			}
		})
	}
}

func TestSemaphoreLayout(t *testing.T) {
	layouts := map[string][]string{
		// Curator: leases/ holds one node per lease; locks/ a short-lived
		// mutex node while a lease is being acquired, a container the
		// server reaps once empty (within a second on the test servers,
		// so it may be gone when the test looks: CI saw it gone once).
		"curator": {`?locks`, `leases`, `leases/_c_` + uuid36 + `-lease-` + seq10},
		// kazoo: one node per lease, named by a uuid4().hex; PATH's data
		// is max_leases; a kazoo Lock at the sibling PATH-__lock__ is held
		// while acquiring.
		"kazoo": {hex32},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			a := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			sem := e.path("sem")
			a.Send("semaphore " + sem + " 2")
			expect(t, a, "acquired semaphore "+sem)
			checkLayout(t, k.name+" semaphore", e.tree(sem), layouts[k.name]...)
			data, _, err := e.conn.Get(sem)
			if err != nil {
				t.Fatalf("get %s: %v", sem, err)
			}
			t.Logf("%s semaphore: %s has data %q", k.name, sem, data)
			if k.name == "kazoo" {
				if string(data) != "2" {
					t.Errorf("kazoo semaphore: %s has data %q, want max_leases %q", sem, data, "2")
				}
				lockDir := sem + "-__lock__"
				if ok, _, err := e.conn.Exists(lockDir); err != nil || !ok {
					t.Errorf("kazoo semaphore: %s exists %v (%v), want a node", lockDir, ok, err)
				}
				checkLayout(t, "kazoo semaphore lock", e.tree(lockDir)) // released once the lease is taken
			}
			b := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			b.Send("semaphore " + sem + " 2")
			expect(t, b, "acquired semaphore "+sem)
			if got := len(e.tree(sem)) - (len(layouts[k.name]) - 1); got != 2 {
				t.Errorf("%s semaphore: %d leases with two peers holding one each, want 2", k.name, got)
			}
			b.Send("unlock")
			expect(t, b, "released semaphore "+sem)
			a.Send("unlock")
			expect(t, a, "released semaphore "+sem)
		})
	}
}

func TestLeader(t *testing.T) {
	t.Run("curator", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := peers.Curator(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
		latch := e.path("latch")
		p.Send("latch " + latch + " L1")
		expect(t, p, "leader L1")
		nodes := e.tree(latch)
		checkLayout(t, "curator LeaderLatch", nodes, `_c_`+uuid36+`-latch-`+seq10)
		if len(nodes) == 1 && nodes[0].data != "L1" {
			t.Errorf("LeaderLatch node data %q, want %q", nodes[0].data, "L1")
		}
		p.Send("close-latch L1")
		expect(t, p, "closed-latch L1")
		e.waitChildren(latch, 0)
	})
	t.Run("kazoo", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := peers.Kazoo(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
		elect := e.path("elect")
		p.Send("elect " + elect + " E1")
		expect(t, p, "leader E1")
		nodes := e.tree(elect)
		checkLayout(t, "kazoo Election", nodes, hex32+`__lock__`+seq10)
		if len(nodes) == 1 && nodes[0].data != "E1" {
			t.Errorf("Election node data %q, want %q", nodes[0].data, "E1")
		}
		p.Send("resign E1")
		expect(t, p, "resigned E1")
		e.waitChildren(elect, 0)
	})
}

func TestHolderKilled(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			a := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			b := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
			lock := e.path("x")
			a.Send("lock " + lock)
			expect(t, a, "acquired lock "+lock)
			first := e.waitChildren(lock, 1)
			b.Send("lock " + lock)
			e.waitChildren(lock, 2)
			e.waitWatched(lock + "/" + first[0])

			t0 := time.Now()
			a.Kill()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if l, err := a.Expect(ctx, "pong"); err == nil {
				t.Fatalf("Expect on a killed peer returned %q, want an error", l)
			} else {
				t.Logf("Expect after Kill: %v", err)
			}
			expect(t, b, "acquired lock "+lock)
			waited := time.Since(t0)
			t.Logf("%s: waiter acquired %v after the holder was killed (session timeout %v)", k.name, waited.Round(time.Millisecond), sessionTimeout)
			if waited > 3*sessionTimeout {
				t.Errorf("waiter acquired %v after the kill, want about the session timeout %v", waited, sessionTimeout)
			}
		})
	}
}

func TestExpectFailsOnError(t *testing.T) {
	e := newEnv(t)
	p := peers.Kazoo(t, e.connect)
	p.Send("no-such-command")
	p.Send("ping")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if l, err := p.Expect(ctx, "pong"); err == nil || !strings.Contains(err.Error(), "error ") {
		t.Fatalf("Expect(pong) after a bad command = %q, %v; want the error line", l, err)
	}
	expect(t, p, "pong") // the error line is reported once; later lines still arrive
	p.Close()
	p.Close() // idempotent
	if _, err := p.Expect(ctx, "anything"); err == nil {
		t.Fatal("Expect after Close succeeded, want an error")
	}
	if got := p.Lines(); got[len(got)-1] != "bye" {
		t.Fatalf("last line %q, want %q", got[len(got)-1], "bye")
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNamespace(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ns := e.path("ns")
			// kazoo's chroot must exist; Curator creates its namespace.
			for _, p := range []string{e.base, ns} {
				if _, err := e.conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
					t.Fatalf("create %s: %v", p, err)
				}
			}
			p := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout), peers.WithNamespace(ns))
			p.Send("lock /x")
			expect(t, p, "acquired lock /x")
			if got := e.waitChildren(ns+"/x", 1); len(got) != 1 {
				t.Fatalf("children of %s/x: %q, want 1", ns, got)
			}
			p.Send("unlock")
			expect(t, p, "released lock /x")
		})
	}
}

func TestBenchLock(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := k.start(t, e.connect, peers.WithSessionTimeout(sessionTimeout), peers.ForBenchmark())
			lock := e.path("bench")
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			// The second run needs more sessions than the first started.
			for _, tc := range []struct{ n, cycles, counted int }{{3, 20, 17}, {5, 4, 4}} {
				r, err := p.BenchLock(ctx, lock, tc.n, tc.cycles)
				if err != nil {
					t.Fatalf("BenchLock(n=%d, cycles=%d): %v", tc.n, tc.cycles, err)
				}
				t.Logf("n=%d cycles=%d: %+v, %.0f cycles/s", tc.n, tc.cycles, r, r.CyclesPerSecond())
				if r.Cycles != tc.counted {
					t.Errorf("n=%d cycles=%d: counted %d grants, want %d", tc.n, tc.cycles, r.Cycles, tc.counted)
				}
				// Past the warm-up every counted grant follows a release;
				// without one, the first grant does not.
				want := tc.counted
				if tc.cycles <= tc.n {
					want--
				}
				if r.Handoffs != want {
					t.Errorf("n=%d cycles=%d: %d hand-offs, want %d", tc.n, tc.cycles, r.Handoffs, want)
				}
				if r.Window <= 0 || r.HandoffP50 <= 0 || r.HandoffP50 > r.HandoffP99 {
					t.Errorf("n=%d cycles=%d: window %v, hand-off p50 %v, p99 %v: want a positive window and 0 < p50 <= p99",
						tc.n, tc.cycles, r.Window, r.HandoffP50, r.HandoffP99)
				}
				if got := e.waitChildren(lock, 0); len(got) != 0 {
					t.Fatalf("after bench-lock: children %q, want none", got)
				}
			}
			p.Send("ping")
			expect(t, p, "pong")
		})
	}
}
