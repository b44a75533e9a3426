package etcd

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// treeMirror is what a subtree watch knows of the subtree: every node's
// data key, counter and extras keys, and number of children.
type treeMirror struct {
	root  string
	data  map[string]*mvccpb.KeyValue
	count map[string]*mvccpb.KeyValue // C(p)
	extra map[string]*mvccpb.KeyValue // E(p)
	meta  map[string]*mvccpb.KeyValue // M(p)
	kids  map[string]int64
}

func newMirror(root string) *treeMirror {
	return &treeMirror{
		root:  root,
		data:  map[string]*mvccpb.KeyValue{},
		count: map[string]*mvccpb.KeyValue{},
		extra: map[string]*mvccpb.KeyValue{},
		meta:  map[string]*mvccpb.KeyValue{},
		kids:  map[string]int64{},
	}
}

func (m *treeMirror) has(p string) bool {
	_, ok := m.data[p]
	return ok
}

func (m *treeMirror) state(p string) nodeState {
	return nodeState{path: p, d: m.data[p], c: m.count[p], e: m.extra[p], m: m.meta[p], children: m.kids[p]}
}

// addNode records a node (its data key; nil for a root without one).
func (m *treeMirror) addNode(p string, kv *mvccpb.KeyValue) {
	if !m.has(p) && p != m.root {
		m.kids[backend.Parent(p)]++
	}
	m.data[p] = kv
}

func (m *treeMirror) removeNode(p string) {
	if !m.has(p) {
		return
	}
	delete(m.data, p)
	delete(m.kids, p)
	if p != m.root {
		m.kids[backend.Parent(p)]--
	}
}

// paths returns the mirror's paths, parents before children.
func (m *treeMirror) paths() []string {
	ps := make([]string, 0, len(m.data))
	for p := range m.data {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b string) int {
		if da, db := backend.Depth(a), backend.Depth(b); da != db {
			return da - db
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return ps
}

// WatchTree streams the subtree at path: NodeAdded for every node (the node
// itself included, parents before children), TreeInitialized, then every
// change until ctx or the session ends (TreeEnded, then the channel is
// closed). It lists the subtree level by level at one revision r (with
// TreeDepth(n), levels depth(path) to depth(path)+n only), then watches
// from r + 1. On etcd 3.6 and later it watches each level of the subtree
// (its data keys and its counter keys: two etcd watches per level, on a
// gRPC stream of its own, a new level from the revision its first node
// appeared at) and puts their events back in revision order with progress
// notifications; a subtree deeper than 8 levels, or an older server, gets
// one watch of every key of the depths covered, in the whole key space,
// filtered on the client. Nodes deeper than the depth asked for are
// neither read nor received; the nodes at the depth limit report
// NumChildren 0 (their children are not counted) and an exact CVersion.
// Events are never dropped or coalesced; those a slow reader has not taken
// yet wait in the client's memory, without bound (clientv3 keeps receiving
// a watch's responses and buffers them until they are read). A watch that
// clientv3 or this backend opened again after a connection loss or "no
// leader" resumes at the revision after the last one applied: nothing is
// missed or repeated, and no TreeResynced is sent. After etcd compacted
// the revisions the watch needed, the subtree is listed again, the
// differences are reported (a node whose CreateToken changed is
// NodeRemoved then NodeAdded; children are removed before their parents),
// then TreeResynced.
func (s *Session) WatchTree(ctx context.Context, path string, opts ...backend.TreeOption) (<-chan backend.TreeEvent, error) {
	const op = "watchtree"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, err
	}
	o := backend.NewTreeOptions(opts...)
	octx, done := s.opCtx(ctx)
	mirror, rev, err := s.c.listTree(octx, full, o.Depth)
	done()
	if err != nil {
		return nil, s.fail(ctx, op, path, err)
	}
	out := make(chan backend.TreeEvent, 16)
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	ok := s.spawn(func() {
		defer cancel()
		defer stop()
		defer close(out)
		t := &treeWatch{s: s, ctx: wctx, out: out, m: mirror, opts: o, hooks: treeHooksOf(ctx)}
		t.run(rev)
		// The end: TreeEnded, waiting for the reader while the session
		// lives (a bit longer when it is the session that ended).
		end := backend.TreeEvent{Type: backend.TreeEnded, Path: path, Err: s.watchEndErr(ctx)}
		grace := time.NewTimer(5 * time.Second)
		defer grace.Stop()
		select {
		case out <- end:
		case <-grace.C:
			s.c.log.Info("etcd: a tree watch's reader did not take its end", "path", path)
		}
	})
	if !ok {
		stop()
		cancel()
		return nil, backend.Errorf(op, path, s.watchEndErr(ctx), nil)
	}
	// The initial state is sent by the goroutine, from the mirror.
	return out, nil
}

// listTree reads the subtree at p, level by level, at one revision: depth
// levels below p (negative: all of them).
func (c *Client) listTree(ctx context.Context, p string, depth int) (*treeMirror, int64, error) {
	for {
		m, rev, err := c.listTreeOnce(ctx, p, depth)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		return m, rev, err
	}
}

func (c *Client) listTreeOnce(ctx context.Context, p string, depth int) (*treeMirror, int64, error) {
	m := newMirror(p)
	n, err := c.readNode(ctx, p, readOpts{noChildren: true})
	if err != nil {
		return nil, 0, err
	}
	rev := n.rev
	if !n.exists() {
		return m, rev, nil
	}
	m.addNode(p, n.d)
	if n.c != nil {
		m.count[p] = n.c
	}
	if n.e != nil {
		m.extra[p] = n.e
	}
	if n.m != nil {
		m.meta[p] = n.m
	}
	last := MaxDepth
	if depth >= 0 {
		last = min(last, backend.Depth(p)+depth)
	}
	for d := backend.Depth(p) + 1; d <= last; d++ {
		prefix := levelPrefix(p, d, typeData)
		kvs, err := c.rangeAll(ctx, prefix, prefixEnd(prefix), rev)
		if err != nil {
			return nil, 0, err
		}
		if len(kvs) == 0 {
			break
		}
		for _, kv := range kvs {
			if q, kind := parseKey(string(kv.Key)); kind == kindData {
				m.addNode(q, kv)
			}
		}
		cprefix := levelPrefix(p, d, typeCounter)
		ckvs, err := c.rangeAll(ctx, cprefix, prefixEnd(cprefix), rev)
		if err != nil {
			return nil, 0, err
		}
		for _, kv := range ckvs {
			m.setCounter(kv)
		}
	}
	return m, rev, nil
}

// setCounter records a counter or extras key of the subtree.
func (m *treeMirror) setCounter(kv *mvccpb.KeyValue) {
	q, kind := parseKey(string(kv.Key))
	switch kind {
	case kindCounter:
		m.count[q] = kv
	case kindExtras:
		m.extra[q] = kv
	case kindMeta:
		m.meta[q] = kv
	}
}

func (m *treeMirror) dropCounter(kv *mvccpb.KeyValue) {
	q, kind := parseKey(string(kv.Key))
	switch kind {
	case kindCounter:
		delete(m.count, q)
	case kindExtras:
		delete(m.extra, q)
	case kindMeta:
		delete(m.meta, q)
	}
}

// rangeAll reads every key in [start, end) at rev, page by page.
func (c *Client) rangeAll(ctx context.Context, start, end string, rev int64) ([]*mvccpb.KeyValue, error) {
	var all []*mvccpb.KeyValue
	for {
		resp, err := c.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(pageSize))
		if err != nil {
			return nil, err
		}
		all = append(all, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 {
			return all, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// treeWatch is the goroutine of one WatchTree.
type treeWatch struct {
	s     *Session
	ctx   context.Context
	out   chan<- backend.TreeEvent
	m     *treeMirror
	opts  backend.TreeOptions
	hooks *treeHooks // nil but in tests
}

// treeHooks let a test see and disturb a tree watch.
type treeHooks struct {
	// received, if set, is called with every event the etcd watch
	// delivers, before filtering: what reaches the client.
	received func(*clientv3.Event)
	// opened, if set, is called with the cancel of each etcd watch the tree
	// watch opens: calling it ends that watch as a member losing its
	// leader would, which one test server cannot show.
	opened func(cancel func())
	// singleRange makes the tree watch use the single range of its depths
	// even on a server that supports the level watches.
	singleRange bool
}

// treeHooksKey is the context key of a test's treeHooks.
type treeHooksKey struct{}

// withTreeHooks returns a context whose tree watches call h.
func withTreeHooks(ctx context.Context, h *treeHooks) context.Context {
	return context.WithValue(ctx, treeHooksKey{}, h)
}

func treeHooksOf(ctx context.Context) *treeHooks {
	h, _ := ctx.Value(treeHooksKey{}).(*treeHooks)
	return h
}

// watchRange returns the key range of a tree watch of root, depth levels
// deep (negative: all): every key of depths depth(root) to depth(root) +
// depth, one contiguous range in this layout.
func watchRange(root string, depth int) (start, end string) {
	d := backend.Depth(root)
	start, end = treeRange(d)
	if depth >= 0 && d+depth < MaxDepth {
		end = keyPrefix + depthField(d+depth+1)
	}
	return start, end
}

// send delivers one event, waiting for the reader; false when ctx ended.
func (t *treeWatch) send(typ backend.TreeEventType, p string) bool {
	if typ != backend.TreeInitialized && typ != backend.TreeResynced && !t.opts.Within(t.m.root, p) {
		return true // below the depth asked for
	}
	ev := backend.TreeEvent{Type: typ, Path: t.s.c.rel(p)}
	if typ == backend.NodeAdded || typ == backend.NodeUpdated {
		st := t.m.state(p)
		ev.Stat, ev.Data = st.stat()
	}
	select {
	case t.out <- ev:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *treeWatch) run(rev int64) {
	for _, p := range t.m.paths() {
		if !t.send(backend.NodeAdded, p) {
			return
		}
	}
	if !t.send(backend.TreeInitialized, t.m.root) {
		return
	}
	start, end := watchRange(t.m.root, t.opts.Depth)
	next := rev + 1
	levels := t.levelsSupported()
	for t.ctx.Err() == nil {
		var err error
		if levels {
			next, err = t.followLevels(next)
			if errors.Is(err, errTooDeep) {
				levels = false // for good: a deep subtree tends to stay deep
				continue
			}
		} else {
			ictx, icancel := context.WithCancel(clientv3.WithRequireLeader(t.ctx))
			wch := t.s.c.cli.Watch(ictx, start, clientv3.WithRange(end), clientv3.WithRev(next))
			if t.hooks != nil && t.hooks.opened != nil {
				t.hooks.opened(icancel)
			}
			err = t.follow(wch, &next)
			icancel()
		}
		switch {
		case t.ctx.Err() != nil:
			return
		case errors.Is(err, rpctypes.ErrCompacted):
			m, rev, lerr := t.s.c.listTree(t.ctx, t.m.root, t.opts.Depth)
			if lerr != nil {
				sleepCtx(t.ctx, 100*time.Millisecond)
				continue
			}
			if !t.resync(m) || !t.send(backend.TreeResynced, t.m.root) {
				return
			}
			next = rev + 1
		default:
			// No leader, or the watch failed otherwise: open it again from
			// the revision after the last one applied. No gap, so no
			// re-list and no TreeResynced.
			t.s.c.log.Debug("etcd: re-opening a tree watch", "err", err)
			sleepCtx(t.ctx, 100*time.Millisecond)
		}
	}
}

// follow applies the watch's events until it fails (the error) or ctx ends.
func (t *treeWatch) follow(wch clientv3.WatchChan, next *int64) error {
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-t.ctx.Done():
			return nil
		case resp, ok = <-wch:
		}
		if !ok {
			return errors.New("etcd: watch closed")
		}
		if err := resp.Err(); err != nil {
			return err
		}
		evs := resp.Events
		if t.hooks != nil && t.hooks.received != nil {
			for _, ev := range evs {
				t.hooks.received(ev)
			}
		}
		for len(evs) > 0 {
			// One revision at a time: its counter and extras keys first, so
			// the stats of its data events are complete.
			r := evs[0].Kv.ModRevision
			j := 1
			for j < len(evs) && evs[j].Kv.ModRevision == r {
				j++
			}
			if !t.apply(evs[:j]) {
				return nil
			}
			evs = evs[j:]
			*next = r + 1
		}
	}
}

// apply applies the events of one revision and reports them.
func (t *treeWatch) apply(evs []*clientv3.Event) bool {
	for _, ev := range evs {
		q, kind := parseKey(string(ev.Kv.Key))
		if (kind != kindCounter && kind != kindExtras && kind != kindMeta) || !under(q, t.m.root) {
			continue
		}
		if ev.Type == mvccpb.DELETE {
			t.m.dropCounter(ev.Kv)
		} else {
			t.m.setCounter(ev.Kv)
		}
	}
	for _, ev := range evs {
		q, kind := parseKey(string(ev.Kv.Key))
		if kind != kindData || !under(q, t.m.root) {
			continue
		}
		if ev.Type == mvccpb.DELETE {
			if t.m.has(q) {
				t.m.removeNode(q)
				if !t.send(backend.NodeRemoved, q) {
					return false
				}
			}
			continue
		}
		h, _ := parseData(ev.Kv.Value)
		switch {
		case !t.m.has(q):
			t.m.addNode(q, ev.Kv)
			if !t.send(backend.NodeAdded, q) {
				return false
			}
		case q != "/" && (ev.Kv.Version == 1 || h.flags&flagRecreated != 0):
			// Deleted and created again (in one Multi).
			t.m.removeNode(q)
			if !t.send(backend.NodeRemoved, q) {
				return false
			}
			t.m.addNode(q, ev.Kv)
			if !t.send(backend.NodeAdded, q) {
				return false
			}
		default:
			t.m.data[q] = ev.Kv
			if !t.send(backend.NodeUpdated, q) {
				return false
			}
		}
	}
	return true
}

// resync reports the difference between the mirror and a new listing, and
// adopts the listing.
func (t *treeWatch) resync(m *treeMirror) bool {
	old := t.m
	t.m = m
	oldPaths := old.paths()
	// Removed nodes, children first.
	for i := len(oldPaths) - 1; i >= 0; i-- {
		p := oldPaths[i]
		ost := old.state(p)
		if !m.has(p) || m.state(p).createToken() != ost.createToken() {
			if !t.send(backend.NodeRemoved, p) {
				return false
			}
		}
	}
	for _, p := range m.paths() {
		nst := m.state(p)
		switch {
		case !old.has(p):
			if !t.send(backend.NodeAdded, p) {
				return false
			}
		case nst.createToken() != old.state(p).createToken():
			if !t.send(backend.NodeAdded, p) {
				return false
			}
		case modOf(nst.d) != modOf(old.data[p]):
			if !t.send(backend.NodeUpdated, p) {
				return false
			}
		}
	}
	return true
}

func modOf(kv *mvccpb.KeyValue) int64 {
	if kv == nil {
		return 0
	}
	return kv.ModRevision
}
