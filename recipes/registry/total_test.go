package registry

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// This file holds the registry's fault tests and its model-checked group
// run: members killed, cut off and black-holed past their session's
// expiry, and a group of 200 members joining, updating and leaving under
// faults while watchers follow it, checked against the truth at the end.

// eventLog records every event of one watcher's listener, in order, from
// a goroutine of its own that ends (at cleanup) when the listener does.
type eventLog struct {
	name     string
	mu       sync.Mutex
	events   []cache.Event
	ended    error
	finished chan struct{}
}

// follow records l's events until l ends; l is closed, and the goroutine
// waited for, at cleanup.
func follow(t testing.TB, name string, l *cache.Listener) *eventLog {
	w := &eventLog{name: name, finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		for {
			ev, err := l.Next(context.Background())
			w.mu.Lock()
			if err != nil {
				w.ended = err
				w.mu.Unlock()
				return
			}
			w.events = append(w.events, ev)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-w.finished
	})
	return w
}

// snapshot returns a copy of the events so far.
func (w *eventLog) snapshot() []cache.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// nodeView is a group member's node as a watcher's events say it is.
type nodeView struct {
	Data   string
	Create int64 // CreateToken: the node's life
}

// replayGroup applies a listener's events in order to an empty group (a
// listener's stream begins with the cache's contents) and returns the
// members it ends with, by node name. It fails on an event that does not
// fit the state before it: an Added of a node it has, an Updated or
// Removed of one it has not, an Old that is not what it holds, an Updated
// that changes the node's life. each, if not nil, is called after every
// event with the state so far, and may fail the replay too.
func replayGroup(events []cache.Event, each func(i int, ev cache.Event, view map[string]nodeView) error) (map[string]nodeView, error) {
	view := map[string]nodeView{}
	for i, ev := range events {
		if ev.Type != cache.Added && ev.Type != cache.Updated && ev.Type != cache.Removed {
			continue
		}
		name := backend.Base(ev.Path)
		cur, has := view[name]
		switch ev.Type {
		case cache.Added:
			if has {
				return nil, fmt.Errorf("event %d: added %s, which the watcher has (%+v)", i, name, cur)
			}
			view[name] = nodeView{string(ev.New.Data), ev.New.Stat.CreateToken}
		case cache.Updated:
			switch {
			case !has:
				return nil, fmt.Errorf("event %d: updated %s, which the watcher does not have", i, name)
			case string(ev.Old.Data) != cur.Data || ev.Old.Stat.CreateToken != cur.Create:
				return nil, fmt.Errorf("event %d: updated %s from %q, but the watcher had %q", i, name, ev.Old.Data, cur.Data)
			case ev.New.Stat.CreateToken != cur.Create:
				return nil, fmt.Errorf("event %d: updated %s into a new life: a node made again must be removed and added", i, name)
			}
			view[name] = nodeView{string(ev.New.Data), cur.Create}
		case cache.Removed:
			switch {
			case !has:
				return nil, fmt.Errorf("event %d: removed %s, which the watcher does not have", i, name)
			case string(ev.Old.Data) != cur.Data || ev.Old.Stat.CreateToken != cur.Create:
				return nil, fmt.Errorf("event %d: removed %s as %q, but the watcher had %q", i, name, ev.Old.Data, cur.Data)
			}
			delete(view, name)
		}
		if each != nil {
			if err := each(i, ev, view); err != nil {
				return nil, err
			}
		}
	}
	return view, nil
}

// dataOf drops the lives from a view: node name -> data.
func dataOf(view map[string]nodeView) map[string]string {
	out := map[string]string{}
	for k, v := range view {
		out[k] = v.Data
	}
	return out
}

// groupData is a Group's members as node name -> data.
func groupData(g *Group) map[string]string {
	out := map[string]string{}
	for _, m := range g.Members() {
		out[m.Node] = string(m.Data)
	}
	return out
}

// diffData describes how got differs from want, or returns "".
func diffData(got, want map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			fmt.Fprintf(&b, " missing %s=%q;", k, want[k])
		case g != want[k]:
			fmt.Fprintf(&b, " %s=%q, want %q;", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, " extra %s=%q;", k, got[k])
		}
	}
	return b.String()
}

// serverData reads the group at dir as the server has it now.
func serverData(ctx context.Context, s backend.Session, dir string) (map[string]string, error) {
	out := map[string]string{}
	kids, _, err := s.Children(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		data, _, err := s.Get(ctx, backend.Join(dir, k))
		if err != nil {
			return nil, err
		}
		out[k] = string(data)
	}
	return out, nil
}

// watchGroup starts a Group on a client of its own (through a fault proxy
// when proxy is not nil) and records its listener's events.
func watchGroup(t *testing.T, e *env, dir, name string, proxy *faultnet.Proxy) (*Group, *eventLog) {
	t.Helper()
	eps := e.Endpoints
	if proxy != nil {
		eps = []string{proxy.Addr()}
	}
	g, err := NewGroup(e.Backend.Open(t, eps, e.Namespace, e.Timeout), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	if err := g.Start(ctxT(t)); err != nil {
		t.Fatalf("%s: Start: %v", name, err)
	}
	return g, follow(t, name, g.Listen())
}

func newProxy(t testing.TB, e *env) *faultnet.Proxy {
	t.Helper()
	p, err := faultnet.NewProxy(e.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// ---- (a) a member's process killed ----

// memberProcEnv holds the JSON memberProcSpec of a re-executed test binary
// that is the member process of TestMemberProcessKilled.
const memberProcEnv = "ZKRECIPES_REGISTRY_MEMBER_PROCESS"

// memberProcSpec tells a member process what to do.
type memberProcSpec struct {
	Backend   string // "zk" or "etcd"
	Endpoints []string
	Namespace string
	Timeout   time.Duration
	Group     string // the group's path
	ID        string
	Data      string
}

// TestRegistryMemberProcess is the member process of
// TestMemberProcessKilled: run by the test binary re-executing itself with
// memberProcEnv set, it joins the group, prints "session <id>" and
// "ready", then reads commands on stdin ("update <data>", answered with
// "updated <data>") until stdin ends, and leaves. Run directly, it does
// nothing.
func TestRegistryMemberProcess(t *testing.T) {
	var sp memberProcSpec
	if !testproc.Spec(t, memberProcEnv, &sp) {
		return
	}
	var b *recipetest.Backend
	for i := range recipetest.Backends {
		if recipetest.Backends[i].Name == sp.Backend {
			b = &recipetest.Backends[i]
		}
	}
	if b == nil {
		t.Fatalf("no backend %q", sp.Backend)
	}
	c := b.Open(t, sp.Endpoints, sp.Namespace, sp.Timeout)
	g, err := NewGroup(c, sp.Group)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), recipetest.Wait)
	defer cancel()
	m, err := g.Join(ctx, sp.ID, []byte(sp.Data))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("session %d\nready\n", s.ID())
	<-testproc.Commands(func(cmd string) {
		if v, ok := strings.CutPrefix(cmd, "update "); ok {
			uctx, cancel := context.WithTimeout(context.Background(), recipetest.Wait)
			defer cancel()
			if err := m.Update(uctx, []byte(v)); err != nil {
				t.Errorf("Update: %v", err)
			}
			fmt.Println("updated " + v)
		}
	}, func() {})
}

// TestMemberProcessKilled: a member's process is killed with SIGKILL; its
// node goes when the server expires its session (not sooner than most of a
// session timeout, and within the timeout plus a margin), and a Group
// watcher on another client shows it leave, having seen it join and take
// its last Update.
//
// Broken on purpose: Join making its members Persistent instead of
// Ephemeral -> fails with "the watcher sees the killed member leave: not
// within 20s" on both backends.
func TestMemberProcessKilled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		g, log := watchGroup(t, e, "/procs", "watcher", nil)
		p := testproc.Start(t, testproc.Config{
			Name: "member", Test: "TestRegistryMemberProcess", Env: memberProcEnv, Wait: recipetest.Wait,
			Spec: memberProcSpec{e.Backend.Name, e.Endpoints, e.Namespace, e.Timeout, "/procs", "worker-1", "v1"},
		})
		p.Await("ready")
		p.Send("update v2")
		p.Await("updated v2")
		want := map[string]string{"worker-1": "v2"}
		recipetest.Eventually(t, "the watcher sees the member with v2", func() bool { return diffData(groupData(g), want) == "" })

		killed := time.Now()
		p.Kill()
		recipetest.Eventually(t, "the watcher sees the killed member leave", func() bool { return len(g.Members()) == 0 })
		took := time.Since(killed)
		t.Logf("%s: the killed member's node went %v after the kill (session timeout %v)", e.Backend.Name, took.Round(time.Millisecond), e.Timeout)
		if took < e.Timeout/2 || took > e.Timeout+5*time.Second {
			t.Errorf("node gone %v after the kill, want at the session's expiry (%v to %v)", took, e.Timeout/2, e.Timeout+5*time.Second)
		}
		// The watcher's events: joined with v1 (or already v2), updated to
		// v2, removed; and nothing else.
		view, err := replayGroup(log.snapshot(), nil)
		if err != nil || len(view) != 0 {
			t.Fatalf("replayed events: %v %v, want an empty group", view, err)
		}
		var seen []string
		for _, ev := range log.snapshot() {
			switch ev.Type {
			case cache.Added, cache.Updated:
				seen = append(seen, ev.Type.String()+" "+string(ev.New.Data))
			case cache.Removed:
				seen = append(seen, ev.Type.String())
			}
		}
		if !slices.Equal(seen, []string{"added v1", "updated v2", "removed"}) && !slices.Equal(seen, []string{"added v2", "removed"}) {
			t.Errorf("the watcher saw %q, want added, updated v2, removed", seen)
		}
	})
}

// ---- (b), (c) a connection cut or black-holed past the session's expiry ----

// memberVersion reads the version in a fault test's data "id=<id>;v=<n>".
func memberVersion(data string) (id string, v int, ok bool) {
	id, rest, ok := strings.Cut(strings.TrimPrefix(data, "id="), ";v=")
	if !ok {
		return "", 0, false
	}
	v, err := strconv.Atoi(rest)
	return id, v, err == nil
}

// checkOneFreshNode is the invariant of the fault tests, checked after
// every event a watcher saw: at most one node per member ID at any time
// (never two nodes for one member), and a member's data never goes back
// to an older version (never stale data).
func checkOneFreshNode() func(i int, ev cache.Event, view map[string]nodeView) error {
	latest := map[string]int{}
	return func(i int, ev cache.Event, view map[string]nodeView) error {
		nodes := map[string][]string{}
		for name, nv := range view {
			if id, _, ok := memberVersion(nv.Data); ok {
				nodes[id] = append(nodes[id], name)
			}
		}
		for id, ns := range nodes {
			if len(ns) > 1 {
				slices.Sort(ns)
				return fmt.Errorf("event %d: member %s has %d nodes: %v", i, id, len(ns), ns)
			}
		}
		if ev.New == nil {
			return nil
		}
		id, v, ok := memberVersion(string(ev.New.Data))
		if !ok {
			return nil
		}
		if v < latest[id] {
			return fmt.Errorf("event %d: %s %s with v=%d after v=%d: stale data", i, ev.Type, ev.Path, v, latest[id])
		}
		latest[id] = v
		return nil
	}
}

// TestMemberFaultReRegisters: a member's connection is cut (b), or
// black-holed (c), long enough for the server to expire its session;
// meanwhile the member's data is updated. Once the fault ends the member
// is registered again within the session timeout plus a margin, on a new
// session, under the same (sequential) name, with the latest data; a Group
// watcher that records every event sees it leave and come back, never sees
// two nodes for it, and never sees its data go back to an older version.
//
// Broken on purpose (the cut, on both backends): fixedMode returning the
// sequential mode (each re-registration a new node) -> fails with "event
// 5: member a has 2 nodes: [a-...1 a-...2]" (event 4 on etcd); ensure's
// create sending v=1 instead of the latest data -> fails with "event 4:
// added /hs/a-0000000000 with v=1 after v=2: stale data"; loop returning
// the session's error instead of taking the next session -> fails with
// "registered again on a new session with v=3: not within 20s". The first
// two fail that way too, after the invariant's message.
func TestMemberFaultReRegisters(t *testing.T) {
	for _, fault := range []string{"cut", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			forEach(t, func(t *testing.T, e *env) {
				g, log := watchGroup(t, e, "/hs", "watcher", nil)
				p := newProxy(t, e)
				c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, e.Timeout)
				m := startMember(t, c, "/hs/a-", "id=a;v=1", WithMode(backend.EphemeralSequential))
				name := backend.Base(m.Path())
				if err := m.Update(ctxT(t), []byte("id=a;v=2")); err != nil {
					t.Fatal(err)
				}
				recipetest.Eventually(t, "the watcher sees v=2", func() bool {
					return diffData(groupData(g), map[string]string{name: "id=a;v=2"}) == ""
				})
				old := current(t, c).ID()

				began := time.Now()
				if fault == "cut" {
					p.Cut()
				} else {
					p.Pause()
				}
				recipetest.Eventually(t, "the member knows it is cut off", func() bool { return !m.Registered() })
				if err := m.Update(ctxT(t), []byte("id=a;v=3")); err != nil {
					t.Fatal(err) // returns at once while not registered
				}
				recipetest.Eventually(t, "the server expires the session", func() bool { return len(g.Members()) == 0 })
				p.Heal()
				p.Reset() // a black-holed connection is a corrupt stream
				healed := time.Now()
				back := poll(recipetest.Wait, func() bool {
					s, err := c.Session(ctxT(t))
					return err == nil && s.ID() != old && m.Registered() &&
						diffData(groupData(g), map[string]string{name: "id=a;v=3"}) == ""
				})
				took := time.Since(healed)
				// Every event, replayed, before anything else is said: one
				// node, fresh data, and the member left (a Removed) and came
				// back (an Added of a new life).
				var removed, returned bool
				var first int64
				fresh := checkOneFreshNode()
				_, err := replayGroup(log.snapshot(), func(i int, ev cache.Event, view map[string]nodeView) error {
					switch {
					case ev.Type == cache.Added && first == 0:
						first = ev.New.Stat.CreateToken
					case ev.Type == cache.Removed:
						removed = true
					case ev.Type == cache.Added && removed && ev.New.Stat.CreateToken != first:
						returned = true
					}
					return fresh(i, ev, view)
				})
				if err != nil {
					t.Error(err)
				}
				if !back {
					t.Fatalf("registered again on a new session with v=3: not within %v (the watcher has %v)", recipetest.Wait, groupData(g))
				}
				if !removed || !returned {
					t.Errorf("the watcher saw the member leave %v and come back %v, want both", removed, returned)
				}
				t.Logf("%s %s: expired %v into the fault; registered again %v after it ended", e.Backend.Name, fault,
					healed.Sub(began).Round(time.Millisecond), took.Round(time.Millisecond))
				if limit := e.Timeout + 5*time.Second; took > limit {
					t.Errorf("registered again %v after the fault, want within %v", took, limit)
				}
				if m.Path() != "/hs/"+name {
					t.Errorf("Path() = %s, want the first name /hs/%s", m.Path(), name)
				}
				if kids := recipetest.Children(t, e.Session(t), "/hs"); !slices.Equal(kids, []string{name}) {
					t.Errorf("children %v, want just %s", kids, name)
				}
			})
		})
	}
}

// poll reports whether cond holds within d, polling it: for state that
// only another session can see, where the test has more to say than a
// timeout when it does not.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		grant.Pause(context.Background(), 5*time.Millisecond)
	}
	return true
}

// ---- the model-checked group ----

// groupRun says what one model-checked group run does.
type groupRun struct {
	Members int    // members that join, each once
	Clients int    // member clients, each on a fault proxy of its own
	Updates int    // Updates spread over the run
	Leaves  int    // members that leave again
	Seed    uint64 // the ops' and the faults' random choices
	// Converge bounds the wait, after the faults stopped, for every view to
	// equal the truth.
	Converge time.Duration
	// Paced makes the driver keep pace with the nemesis, so that faults
	// fall all over the run, and at least ten rounds of them.
	Paced bool
	// Broken plants two faults the check must report: a member that does
	// not register again (a plain ephemeral node on a session of its own,
	// expired), and a watcher whose recorded events are tampered with.
	Broken bool
}

// watcherState is what one watcher shows at the end of a run: its view
// (node name -> data) and every event its listener received.
type watcherState struct {
	name   string
	view   map[string]string
	events []cache.Event
}

// checkGroupRun is the check of a model-checked group run: the server, and
// every watcher's view, equal the truth (the members still joined, each
// with its latest data), and replaying each watcher's events gives its
// view (every event fitting the state before it; see replayGroup). It
// returns every discrepancy, or nil.
func checkGroupRun(truth, server map[string]string, watchers []watcherState) error {
	var errs []string
	if d := diffData(server, truth); d != "" {
		errs = append(errs, "the server differs from the truth:"+d)
	}
	for _, w := range watchers {
		if d := diffData(w.view, truth); d != "" {
			errs = append(errs, w.name+"'s view differs from the truth:"+d)
		}
		replayed, err := replayGroup(w.events, nil)
		if err != nil {
			errs = append(errs, w.name+"'s events do not replay: "+err.Error())
			continue
		}
		if d := diffData(dataOf(replayed), w.view); d != "" {
			errs = append(errs, w.name+"'s replayed events differ from its view:"+d)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d discrepancies:\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	return nil
}

// groupWatcher is one watcher of a run: a Group, or a ChildrenCache on
// another client, with its recorded events.
type groupWatcher struct {
	name  string
	view  func() map[string]string
	log   *eventLog
	proxy *faultnet.Proxy // nil: never faulted
}

// runGroupModel runs the model-checked group on one backend: r.Members
// members join (spread over r.Clients clients, each with its own Group
// and a driver goroutine of its own that owns the members it joins), and
// r.Updates updates of their data and r.Leaves leaves follow, in a random
// order, while four watchers follow the group: three Groups, each on a
// client of its own, and a ChildrenCache, all but the first Group through
// fault proxies. Meanwhile a nemesis, every few hundred milliseconds,
// expires a member client's session, cuts a member client briefly, or
// cuts a watcher briefly; once (its fourth round) it cuts a member client
// until its session is lost. Once the ops and faults end, checkGroupRun
// must hold within r.Converge. It returns the check's error; trouble with
// the run itself fails t.
func runGroupModel(t *testing.T, e *env, r groupRun) error {
	const dir = "/grp"
	// The test's own reads go through the client's current session: on a
	// loaded server a long run can outlive one.
	adminClient := newClient(t, e)
	admin := current(t, adminClient)
	if err := backend.CreateParents(ctxT(t), admin, dir+"/x", backend.Persistent); err != nil {
		t.Fatal(err)
	}

	// The watchers.
	var watchers []*groupWatcher
	for i := range 3 {
		var p *faultnet.Proxy
		if i > 0 {
			p = newProxy(t, e)
		}
		name := fmt.Sprintf("group-watcher-%d", i)
		g, log := watchGroup(t, e, dir, name, p)
		watchers = append(watchers, &groupWatcher{name: name, view: func() map[string]string { return groupData(g) }, log: log, proxy: p})
	}
	cp := newProxy(t, e)
	cc, err := cache.NewChildren(e.Backend.Open(t, []string{cp.Addr()}, e.Namespace, e.Timeout), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	if err := cc.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	watchers = append(watchers, &groupWatcher{name: "children-cache", log: follow(t, "children-cache", cc.Listen()), proxy: cp,
		view: func() map[string]string {
			out := map[string]string{}
			for _, n := range cc.List() {
				out[backend.Base(n.Path)] = string(n.Data)
			}
			return out
		}})

	// The member clients, each with a Group to join through.
	type memberClient struct {
		client backend.Client
		proxy  *faultnet.Proxy
		group  *Group
	}
	clients := make([]*memberClient, r.Clients)
	for i := range clients {
		p := newProxy(t, e)
		c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, e.Timeout)
		g, err := NewGroup(c, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		clients[i] = &memberClient{c, p, g}
	}

	// The nemesis, until the driver is done.
	stop, stopNemesis := context.WithCancel(context.Background())
	nemesisDone := make(chan struct{})
	faults := map[string]int{}
	var faultsMu sync.Mutex
	count := func(f string) { faultsMu.Lock(); faults[f]++; faultsMu.Unlock() }
	nrng := rand.New(rand.NewPCG(r.Seed^0x5eed, r.Seed))
	var nemesisRounds atomic.Int64 // rounds the nemesis has finished
	go func() {
		defer close(nemesisDone)
		lostDone := false
		for round := 0; stop.Err() == nil; round++ {
			grant.Pause(stop, 300*time.Millisecond+time.Duration(nrng.IntN(400))*time.Millisecond)
			if stop.Err() != nil {
				return
			}
			mc := clients[nrng.IntN(len(clients))]
			k := nrng.IntN(10)
			if round < 3 {
				k = []int{0, 3, 6}[round] // each kind early, however short the run
			}
			switch {
			case round == 3 && !lostDone:
				// A member client cut off until its session is lost.
				lostDone = true
				count("member-lost")
				ctx, cancel := context.WithTimeout(stop, recipetest.Wait)
				s, err := mc.client.Session(ctx)
				mc.proxy.Cut()
				if err == nil {
					select {
					case <-s.Done():
					case <-ctx.Done():
					}
				}
				cancel()
				mc.proxy.Heal()
			case k < 3:
				count("member-expire")
				ctx, cancel := context.WithTimeout(stop, 5*time.Second)
				if s, err := mc.client.Session(ctx); err == nil {
					_ = s.(backend.Expirer).Expire(ctx)
				}
				cancel()
			case k < 6:
				count("member-cut")
				mc.proxy.Cut()
				grant.Pause(stop, time.Duration(200+nrng.IntN(600))*time.Millisecond)
				mc.proxy.Heal()
			default:
				count("watcher-cut")
				w := watchers[1+nrng.IntN(len(watchers)-1)]
				w.proxy.Cut()
				grant.Pause(stop, time.Duration(200+nrng.IntN(1500))*time.Millisecond)
				w.proxy.Heal()
			}
			nemesisRounds.Add(1)
		}
	}()
	defer func() {
		stopNemesis()
		<-nemesisDone
	}()

	// The drivers, one per member client, each owning the members it
	// joins: joins, updates and leaves in a random order.
	type modelMember struct {
		m    *Member
		data string
	}
	type driver struct {
		joined                 map[string]*modelMember
		joins, updates, leaves int
		joining, updating      time.Duration // time spent in Join and Update
		err                    error
	}
	share := func(n, k int) int { // driver k's part of n
		if k < n%len(clients) {
			return n/len(clients) + 1
		}
		return n / len(clients)
	}
	var leaving, driving sync.WaitGroup
	drivers := make([]*driver, len(clients))
	began := time.Now()
	for k := range clients {
		d := &driver{joined: map[string]*modelMember{}}
		drivers[k] = d
		driving.Add(1)
		go func() {
			defer driving.Done()
			rng := rand.New(rand.NewPCG(r.Seed+uint64(k), r.Seed^0x9e3779b9))
			members, updates, leaves := share(r.Members, k), share(r.Updates, k), share(r.Leaves, k)
			total := members + updates + leaves
			for d.joins < members || d.updates < updates || d.leaves < leaves {
				// Each driver keeps pace with the nemesis, so that faults
				// fall all over the run however fast the ops go: the ops of
				// the i-th tenth wait for i rounds of faults.
				if done := d.joins + d.updates + d.leaves; r.Paced && !poll(recipetest.Wait, func() bool { return int64(10*done/total) <= nemesisRounds.Load() }) {
					d.err = fmt.Errorf("the nemesis is stuck at round %d", nemesisRounds.Load())
					return
				}
				ids := slices.Sorted(maps.Keys(d.joined))
				switch op := rng.IntN(total); {
				case d.joins < members && (op < members || len(ids) == 0):
					id := fmt.Sprintf("m%04d", d.joins*len(clients)+k)
					d.joins++
					data := id + ":v0"
					ctx, cancel := context.WithTimeout(context.Background(), 2*recipetest.Wait)
					t0 := time.Now()
					m, err := clients[k].group.Join(ctx, id, []byte(data))
					d.joining += time.Since(t0)
					cancel()
					if err != nil {
						d.err = fmt.Errorf("Join %s: %w", id, err)
						return
					}
					d.joined[id] = &modelMember{m, data}
				case d.updates < updates && (op < members+updates || d.leaves >= leaves) && len(ids) > 0:
					id := ids[rng.IntN(len(ids))]
					d.updates++
					data := fmt.Sprintf("%s:v%d", id, d.updates)
					ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
					t0 := time.Now()
					err := d.joined[id].m.Update(ctx, []byte(data))
					d.updating += time.Since(t0)
					cancel()
					if err != nil && ctx.Err() == nil {
						d.err = fmt.Errorf("Update %s: %w", id, err)
						return
					}
					d.joined[id].data = data // even an Update whose wait ended is the latest data
				case d.leaves < leaves && len(ids) > 0:
					id := ids[rng.IntN(len(ids))]
					d.leaves++
					m := d.joined[id].m
					delete(d.joined, id)
					leaving.Add(1)
					go func() { defer leaving.Done(); _ = m.Close() }()
				}
			}
		}()
	}
	driving.Wait()
	var joins, updates, leaves int
	var joining, updating time.Duration
	for _, d := range drivers {
		if d.err != nil {
			t.Fatal(d.err)
		}
		joins, updates, leaves = joins+d.joins, updates+d.updates, leaves+d.leaves
		joining, updating = joining+d.joining, updating+d.updating
	}
	truth := func() map[string]string {
		out := map[string]string{}
		for _, d := range drivers {
			for id, mm := range d.joined {
				out[id] = mm.data
			}
		}
		return out
	}
	ops := time.Since(began)
	stopNemesis()
	<-nemesisDone
	for _, mc := range clients {
		mc.proxy.Heal()
	}
	for _, w := range watchers {
		if w.proxy != nil {
			w.proxy.Heal()
		}
	}
	leaving.Wait()

	want := truth()
	var tamper func([]cache.Event) []cache.Event
	if r.Broken {
		lazy := e.Session(t)
		want["lazy"] = "lazy:v0"
		if _, err := lazy.Create(ctxT(t), dir+"/lazy", []byte("lazy:v0"), backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		if err := lazy.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		// Drop the watcher's first Updated: its replay keeps the old data.
		tamper = func(evs []cache.Event) []cache.Event {
			if i := slices.IndexFunc(evs, func(ev cache.Event) bool { return ev.Type == cache.Updated }); i >= 0 {
				return slices.Delete(evs, i, i+1)
			}
			return evs
		}
	}
	converging := time.Now()
	deadline := time.Now().Add(r.Converge)
	for {
		server, err := serverData(ctxT(t), current(t, adminClient), dir)
		if err != nil {
			t.Fatal(err)
		}
		var states []watcherState
		for i, w := range watchers {
			// The events first: the view, read after them, can only be
			// newer, so a converged pair is a settled one.
			evs := w.log.snapshot()
			if i == 0 && tamper != nil {
				evs = tamper(evs)
			}
			states = append(states, watcherState{w.name, w.view(), evs})
		}
		err = checkGroupRun(want, server, states)
		if err == nil || time.Now().After(deadline) {
			var events int
			for _, s := range states {
				events += len(s.events)
			}
			t.Logf("%s: %d joins (%v in Join, summed over the drivers), %d updates (%v in Update), %d leaves in %v with faults %v; converged in %v (%d events over %d watchers)",
				e.Backend.Name, joins, joining.Round(time.Millisecond), updates, updating.Round(time.Millisecond), leaves, ops.Round(time.Millisecond), faults,
				time.Since(converging).Round(time.Millisecond), events, len(states))
			return err
		}
		grant.Pause(context.Background(), 20*time.Millisecond) // polling views that converge silently
	}
}

// TestTotalGroup is the model-checked group on both backends (see
// runGroupModel): 200 members over 4 clients join, update their data
// (400 updates) and 60 leave, under member session expiries, member cuts
// (one past its session's expiry) and watcher cuts, while three Groups
// and a ChildrenCache watch; afterwards every watcher's view, and the
// replay of its events, equals the truth. ZKRECIPES_REGISTRY_LARGE=1 runs
// 2,000 members over 8 clients, 4,000 updates and 600 leaves instead.
//
// Broken on purpose: loop returning the session's error instead of taking
// the next session (a member that does not register again) -> fails on
// both backends, a Join on the expired client refused with "backend:
// session expired"; Group.Members leaving out the cache's last node ->
// fails on both backends with "6 discrepancies": each Group watcher's
// view missing that member, and its replayed events having it ("extra");
// TestTotalGroupBroken below plants a member that does not register again
// and tampered events.
func TestTotalGroup(t *testing.T) {
	r := groupRun{Members: 200, Clients: 4, Updates: 400, Leaves: 60, Converge: recipetest.Wait, Paced: true}
	if os.Getenv("ZKRECIPES_REGISTRY_LARGE") == "1" {
		r = groupRun{Members: 2000, Clients: 8, Updates: 4000, Leaves: 600, Converge: 3 * recipetest.Wait, Paced: true}
	}
	forEach(t, func(t *testing.T, e *env) {
		r.Seed = uint64(time.Now().UnixNano())
		t.Logf("seed %d", r.Seed)
		if err := runGroupModel(t, e, r); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTotalGroupBroken: a small run of the model-checked group with two
// faults planted (a member that does not register again after its
// session's expiry, and a watcher whose recorded events lost an Updated):
// the check must report both. A check that cannot fail proves nothing.
func TestTotalGroupBroken(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		err := runGroupModel(t, e, groupRun{Members: 20, Clients: 2, Updates: 40, Leaves: 5, Seed: 1, Converge: e.Timeout + 2*time.Second, Broken: true})
		if err == nil {
			t.Fatal("the check passed a run with a member that did not register again and a tampered watcher")
		}
		t.Logf("caught: %v", err)
		for _, want := range []string{"the server differs from the truth: missing lazy", "children-cache's view differs from the truth: missing lazy",
			"group-watcher-0's events do not replay"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the check did not report %q", want)
			}
		}
	})
}

// TestMemberCloseDuringLongCut: Close is called while the member's
// connection is cut, and the cut outlasts cleanupLimit (shortened to 3 s
// here, 10 s in production) but not the session (three times that). Once
// the connection is back on the same session, the node of the member that
// left must be gone: a member that left is not registered.
//
// Found failing on both backends while cleanup tried an ephemeral node's
// delete for cleanupLimit only: "the closed member's node is still there
// on the live session ... after the cut healed" (Close returned after its
// one try, and nothing deleted the node while the client's session lived,
// which for a long-running client is for good). Now cleanup tries until
// the delete succeeds or the session ends; broken on purpose by bounding
// it with cleanupLimit again: the same failure.
func TestMemberCloseDuringLongCut(t *testing.T) {
	old := cleanupLimit
	cleanupLimit = 3 * time.Second
	t.Cleanup(func() { cleanupLimit = old })
	forEach(t, func(t *testing.T, e *env) {
		obs := e.Session(t)
		p := newProxy(t, e)
		c := e.Backend.Open(t, []string{p.Addr()}, e.Namespace, 3*cleanupLimit)
		m := startMember(t, c, "/g/left", "x")
		sid := current(t, c).ID()
		p.Cut()
		began := time.Now()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = m.Close()
		}()
		// The cut lasts past Close's limit; nothing can be observed
		// meanwhile but the time.
		grant.Pause(context.Background(), cleanupLimit+2*time.Second)
		p.Heal()
		recipetest.WaitClosed(t, closed, "Close")
		t.Logf("%s: Close returned %v after it was called", e.Backend.Name, time.Since(began).Round(time.Millisecond))
		s := current(t, c)
		if s.ID() != sid {
			t.Fatalf("the session changed (%d, was %d): the cut outlived it", s.ID(), sid)
		}
		if !poll(5*time.Second, func() bool {
			st, err := obs.Exists(ctxT(t), "/g/left")
			return err == nil && st == nil
		}) {
			t.Errorf("the closed member's node is still there on the live session %d, 5s after the cut healed", sid)
		}
	})
}
