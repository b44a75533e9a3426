package cache

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// modelOps is how many random writes the model check makes per backend;
// -cache.model-ops raises it for a longer run (go test -run Model
// -cache.model-ops=20000).
var modelOps = flag.Int("cache.model-ops", 1200, "random writes of the cache model check, per backend")

// modelRoot is the subtree the model check writes and caches.
const modelRoot = "/m"

// modelPaths are the paths the model's writes pick from: few, so that
// nodes are deleted and created again often, at the same version.
var modelPaths = func() []string {
	ps := []string{modelRoot}
	for _, a := range []string{"a", "b", "c"} {
		ps = append(ps, modelRoot+"/"+a)
		for _, b := range []string{"x", "y"} {
			ps = append(ps, modelRoot+"/"+a+"/"+b)
			if a == "a" {
				ps = append(ps, modelRoot+"/a/"+b+"/p", modelRoot+"/a/"+b+"/q")
			}
		}
	}
	return ps
}()

// fault is what the model does to the cache's connection or session during
// one round of writes.
type fault int

const (
	faultNone    fault = iota
	faultCut           // connection cut during the writes, then healed
	faultExpire        // the session expired on purpose amid the writes
	faultCompact       // etcd: cut, writes, compaction to the head, heal
	faultLost          // cut until the cache's session is lost, then healed
)

var faultNames = [...]string{"none", "cut", "expire", "compact", "lost"}

func (f fault) String() string { return faultNames[f] }

// view is the model's picture of a node: what must match between the
// server, the cache and the replayed events.
type view struct {
	data           string
	create, modify int64
	version        int32
}

func viewOf(n *Node) view {
	return view{string(n.Data), n.Stat.CreateToken, n.Stat.ModifyToken, n.Stat.Version}
}

// readTree reads the subtree at root, to depth levels (negative: all), as
// the server has it now.
func readTree(ctx context.Context, s backend.Session, root string, depth int) (map[string]view, error) {
	out := map[string]view{}
	var walk func(p string, level int) error
	walk = func(p string, level int) error {
		data, st, err := s.Get(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		out[p] = view{string(data), st.CreateToken, st.ModifyToken, st.Version}
		if depth >= 0 && level >= depth {
			return nil
		}
		kids, _, err := s.Children(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := walk(backend.Join(p, k), level+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root, 0)
}

func viewsOf(ns []Node) map[string]view {
	out := map[string]view{}
	for i := range ns {
		out[ns[i].Path] = viewOf(&ns[i])
	}
	return out
}

// diffViews describes how got differs from want, or returns "".
func diffViews(got, want map[string]view) string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			fmt.Fprintf(&b, "\n  missing %s %+v", p, want[p])
		case g != want[p]:
			fmt.Fprintf(&b, "\n  %s is %+v, want %+v", p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			fmt.Fprintf(&b, "\n  extra %s %+v", p, got[p])
		}
	}
	return b.String()
}

// replay applies a listener's events, in order, to the view they started
// from (empty: a listener's stream begins with the cache's contents), and
// checks each event against that view: an Added for a node it has (a
// duplicate add), an Updated or Removed for one it has not, an Old that is
// not what the view holds, an Updated that changes the CreateToken (a
// re-created node passed off as an update) or not the ModifyToken.
type replay struct {
	mu       sync.Mutex
	nodes    map[string]view
	err      error
	inits    int
	resyncs  int
	events   int
	ended    error
	finished chan struct{}
}

func (r *replay) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *replay) apply(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	cur, has := r.nodes[ev.Path]
	switch ev.Type {
	case Added:
		if has {
			r.failf("event %d: added %s, which the listener already has (%+v)", r.events, ev.Path, cur)
		}
		r.nodes[ev.Path] = viewOf(ev.New)
	case Updated:
		switch {
		case !has:
			r.failf("event %d: updated %s, which the listener does not have", r.events, ev.Path)
		case viewOf(ev.Old) != cur:
			r.failf("event %d: updated %s from %+v, but the listener had %+v", r.events, ev.Path, viewOf(ev.Old), cur)
		case ev.New.Stat.CreateToken != cur.create:
			r.failf("event %d: updated %s to a new life (CreateToken %d, was %d): a re-created node must be removed and added", r.events, ev.Path, ev.New.Stat.CreateToken, cur.create)
		case ev.New.Stat.ModifyToken == cur.modify:
			r.failf("event %d: updated %s without a change (ModifyToken %d)", r.events, ev.Path, cur.modify)
		}
		r.nodes[ev.Path] = viewOf(ev.New)
	case Removed:
		switch {
		case !has:
			r.failf("event %d: removed %s, which the listener does not have", r.events, ev.Path)
		case viewOf(ev.Old) != cur:
			r.failf("event %d: removed %s as %+v, but the listener had %+v", r.events, ev.Path, viewOf(ev.Old), cur)
		}
		for p := range r.nodes {
			if strings.HasPrefix(p, ev.Path+"/") {
				r.failf("event %d: removed %s before its child %s", r.events, ev.Path, p)
			}
		}
		delete(r.nodes, ev.Path)
	case Initialized:
		r.inits++
		if r.inits > 1 {
			r.failf("event %d: a second Initialized", r.events)
		}
	case Resynced:
		if r.inits == 0 {
			r.failf("event %d: Resynced before Initialized", r.events)
		}
		r.resyncs++
	}
}

func (r *replay) state() (map[string]view, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.nodes), r.resyncs, r.err
}

// follow reads l into a replay until the listener ends.
func follow(l *Listener) *replay {
	r := &replay{nodes: map[string]view{}, finished: make(chan struct{})}
	go func() {
		defer close(r.finished)
		for {
			ev, err := l.Next(context.Background())
			if err != nil {
				r.mu.Lock()
				r.ended = err
				r.mu.Unlock()
				return
			}
			r.apply(ev)
		}
	}()
	return r
}

// model is one run of the model check on one backend.
type model struct {
	e      *env
	writer backend.Session
	client backend.Client
	proxy  *faultnet.Proxy
	cache  *Tree
	rng    *rand.Rand
	etcd   *clientv3.Client // etcd only: to compact
	logf   func(string, ...any)
	counts map[fault]int
}

// write makes one random change under the model's root: a create (with
// its parents), a set, a delete (with the subtree), or a delete and a
// create again of the same path with the same data, so that its version
// is the same as before.
func (m *model) write(ctx context.Context) error {
	p := modelPaths[m.rng.IntN(len(modelPaths))]
	data := []byte(fmt.Sprint("d", m.rng.IntN(4)))
	st, err := m.writer.Exists(ctx, p)
	if err != nil {
		return err
	}
	if st == nil {
		_, err := m.writer.Create(ctx, p, data, backend.Persistent, backend.WithParents(backend.Persistent))
		return err
	}
	switch r := m.rng.IntN(10); {
	case r < 5:
		_, err = m.writer.Set(ctx, p, data, backend.AnyVersion)
	case r < 7 && p != modelRoot || r < 6:
		err = backend.DeleteAll(ctx, m.writer, p)
	default:
		old, _, err := m.writer.Get(ctx, p)
		if err != nil {
			return err
		}
		if err := backend.DeleteAll(ctx, m.writer, p); err != nil {
			return err
		}
		_, err = m.writer.Create(ctx, p, old, backend.Persistent, backend.WithParents(backend.Persistent))
	}
	if errors.Is(err, backend.ErrNoNode) {
		err = nil
	}
	return err
}

func (m *model) writes(ctx context.Context, n int) error {
	for range n {
		if err := m.write(ctx); err != nil {
			return err
		}
	}
	return nil
}

// round makes n writes under fault f.
func (m *model) round(ctx context.Context, f fault, n int) error {
	m.counts[f]++
	switch f {
	case faultNone:
		return m.writes(ctx, n)
	case faultCut:
		m.proxy.Cut()
		defer m.proxy.Heal()
		return m.writes(ctx, n)
	case faultExpire:
		if err := m.writes(ctx, n/2); err != nil {
			return err
		}
		s, err := m.client.Session(ctx)
		if err != nil {
			return err
		}
		if err := s.(backend.Expirer).Expire(ctx); err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		return m.writes(ctx, n-n/2)
	case faultCompact:
		m.proxy.Cut()
		defer m.proxy.Heal()
		if err := m.writes(ctx, n); err != nil {
			return err
		}
		resp, err := m.etcd.Get(ctx, "compact-probe")
		if err != nil {
			return err
		}
		_, err = m.etcd.Compact(ctx, resp.Header.Revision)
		return err
	case faultLost:
		s, err := m.client.Session(ctx)
		if err != nil {
			return err
		}
		m.proxy.Cut()
		defer m.proxy.Heal()
		if err := m.writes(ctx, n/2); err != nil {
			return err
		}
		select {
		case <-s.Done():
		case <-ctx.Done():
			return fmt.Errorf("the cut-off session was not lost: %w", ctx.Err())
		}
		return m.writes(ctx, n-n/2)
	}
	return nil
}

// quiet waits, after a round, until the cache equals a fresh read of the
// subtree and the replayed events equal the cache. It returns what still
// differs at the deadline.
func (m *model) quiet(ctx context.Context, r *replay, depth int) error {
	want, err := readTree(ctx, m.writer, modelRoot, depth)
	if err != nil {
		return err
	}
	var last string
	for {
		got := viewsOf(m.cache.Snapshot())
		replayed, _, rerr := r.state()
		if rerr != nil {
			return rerr
		}
		d1, d2 := diffViews(got, want), diffViews(replayed, got)
		if d1 == "" && d2 == "" {
			return nil
		}
		last = ""
		if d1 != "" {
			last += "\n the cache differs from a fresh read:" + d1
		}
		if d2 != "" {
			last += "\n the replayed events differ from the cache:" + d2
		}
		if err := m.cache.Err(); err != nil {
			return fmt.Errorf("the cache ended: %w%s", err, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not converged:%s", last)
		case <-time.After(10 * time.Millisecond): // polling the cache, which converges silently
		}
	}
}

// runModel runs the model check: random writes from another client in
// rounds, each under a fault (none, a cut, an expiry, an etcd compaction,
// a cut long enough to lose the session), and after each round the cache
// must equal a fresh read and the replayed event stream the cache, within
// quietWait (which bounds the round's writes too). It returns the first
// discrepancy.
func runModel(t *testing.T, e *env, ops int, seed uint64, quietWait time.Duration, opts ...Option) error {
	m := &model{e: e, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), logf: t.Logf, counts: map[fault]int{}}
	m.writer = e.Session(t)
	m.client, m.proxy = proxiedClient(t, e, lostTimeout)
	if e.Backend.Name == "etcd" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		m.etcd = cli
	}
	ctx := context.Background()
	if err := m.writes(ctx, 10); err != nil {
		t.Fatal(err)
	}
	c, err := New(m.client, modelRoot, opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.cache = c
	l := c.Listen()
	r := follow(l)
	defer func() {
		c.Close()
		<-r.finished
		l.Close()
	}()
	if err := c.Start(ctxT(t)); err != nil {
		return err
	}
	faults := []fault{faultNone, faultCut, faultExpire, faultNone, faultCut}
	if m.etcd != nil {
		faults = append(faults, faultCompact)
	}
	const perRound = 40
	rounds := max(ops/perRound, len(faults)+2)
	spent := map[fault]time.Duration{}
	for i := range rounds {
		f := faults[m.rng.IntN(len(faults))]
		if i == 1 || i == rounds/2 {
			f = faultLost // twice per run: each costs a session timeout
		}
		_, resyncsBefore, _ := r.state()
		began := time.Now()
		rctx, cancel := context.WithTimeout(ctx, quietWait)
		err := m.round(rctx, f, perRound)
		if err == nil {
			err = m.quiet(rctx, r, -1)
		}
		if err == nil && (f == faultExpire || f == faultLost) {
			// A new session: the cache must say it resynced.
			for {
				if _, n, _ := r.state(); n > resyncsBefore {
					break
				}
				if rctx.Err() != nil {
					err = fmt.Errorf("no Resynced after the session was lost")
					break
				}
				time.Sleep(5 * time.Millisecond) // polling the replay
			}
		}
		cancel()
		spent[f] += time.Since(began)
		if err != nil {
			return fmt.Errorf("round %d (fault %v): %w", i, f, err)
		}
	}
	_, resyncs, _ := r.state()
	t.Logf("%d rounds of %d writes, faults %v (time spent %v); %d events, %d resyncs, cache of %d nodes",
		rounds, perRound, m.counts, spent, r.events, resyncs, c.Len())
	return nil
}

// TestModel is the model check on both backends; see runModel.
//
// The check was seen failing: with versionIdentity forced on (the
// comparison by Version of CURATOR-391: "the cache differs from a fresh
// read: /m/... CreateToken ..."), with the coalescing of a removal into a
// pending add turned into a drop of the removal alone ("removed /m/a, which
// the listener does not have"), and with the dropped removal of
// TestModelCatchesBrokenCache below. A cache that dropped only the first
// removal passed it (later writes and resyncs healed the copy before the
// round ended): the planted fault is now a persistent one.
func TestModel(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		if err := runModel(t, e, *modelOps, uint64(time.Now().UnixNano()), wait); err != nil {
			t.Fatal(err)
		}
		noGoroutinesLeft(t)
	})
}

// TestModelCatchesBrokenCache runs the model check on caches with a fault
// planted on purpose; it must report each. A checker that cannot fail
// proves nothing.
func TestModelCatchesBrokenCache(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		t.Run("drops removals", func(t *testing.T) {
			err := runModel(t, e, 400, 1, 5*time.Second, func(o *options) error { o.dropRemovals = true; return nil })
			if err == nil {
				t.Fatal("the model check passed a cache that dropped a removal")
			}
			t.Logf("caught: %v", err)
		})
		t.Run("compares versions", func(t *testing.T) {
			err := runModel(t, e, 400, 2, 5*time.Second, func(o *options) error { o.versionIdentity = true; return nil })
			if err == nil {
				t.Fatal("the model check passed a cache that compared versions instead of CreateTokens")
			}
			t.Logf("caught: %v", err)
		})
		noGoroutinesLeft(t)
	})
}
