package zk

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// WatchTree streams the subtree at path: NodeAdded for every node (the root
// of the watch included, when it exists) down to the TreeDepth, then
// TreeInitialized, then every change, with TreeResynced after each
// reconnection, until ctx ends or the session ends (TreeEnded, then the
// channel is closed).
//
// On ZooKeeper 3.6+ it runs on a persistent recursive watch (addWatch),
// removed from the server when the watch ends; on an older server, found
// out at the session's first WatchTree, on a mirror kept with one-shot
// watches. The package documentation says what each can coalesce and what
// a reconnection costs.
//
// Events are delivered in order, with backpressure: the watch waits for the
// reader (one event of slack) instead of dropping events. When the watch
// ends, an event the reader has not yet received may be replaced by
// TreeEnded, which is always the last event.
func (s *Session) WatchTree(ctx context.Context, path string, opts ...backend.TreeOption) (<-chan backend.TreeEvent, error) {
	const op = "watchtree"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, err
	}
	o := backend.NewTreeOptions(opts...)
	var (
		out <-chan backend.TreeEvent
		run func()
	)
	s.treeMu.Lock()
	if s.persist.mode.Load() == treeModeOneShot {
		w := newTreeWatch(s, ctx, path, o, make(chan backend.TreeEvent, 1))
		s.trees[w] = struct{}{}
		out, run = w.out, w.run
	} else {
		w := newPersistWatch(s, ctx, path, o)
		if s.ptrees == nil {
			s.ptrees = map[*persistWatch]struct{}{}
		}
		s.ptrees[w] = struct{}{}
		out, run = w.out, w.run
	}
	s.treeMu.Unlock()
	if !s.spawn(run) {
		s.treeMu.Lock()
		for w := range s.trees {
			if w.out == out {
				delete(s.trees, w)
			}
		}
		for w := range s.ptrees {
			if w.out == out {
				delete(s.ptrees, w)
			}
		}
		s.treeMu.Unlock()
		return nil, backend.Errorf(op, path, s.endErr(), nil)
	}
	return out, nil
}

func newTreeWatch(s *Session, ctx context.Context, root string, opts backend.TreeOptions, out chan backend.TreeEvent) *treeWatch {
	return &treeWatch{
		s:     s,
		ctx:   ctx,
		root:  root,
		opts:  opts,
		out:   out,
		dirty: map[string]dirty{},
		wake:  make(chan struct{}, 1),
		nodes: map[string]*treeNode{},
	}
}

// dirty says which of a node's one-shot watches fired.
type dirty uint8

const (
	dirtyData dirty = 1 << iota // the data (or exists) watch fired
	dirtyKids                   // the children watch fired
)

// treeWatch mirrors one subtree. Its run goroutine owns nodes; the driver's
// event callback only marks paths dirty (it must not block).
type treeWatch struct {
	s    *Session
	ctx  context.Context
	root string
	opts backend.TreeOptions
	out  chan backend.TreeEvent

	mu     sync.Mutex
	dirty  map[string]dirty
	resync bool          // the session reconnected: re-read everything
	wake   chan struct{} // capacity 1: dirty or resync was set

	// Owned by run.
	nodes      map[string]*treeNode
	rootArmed  bool // an exists watch waits for the missing root
	needResync bool // a read failed with connection loss
}

// treeNode is the mirror of one node and the one-shot watches on it.
type treeNode struct {
	data      []byte
	stat      backend.Stat
	kids      map[string]struct{} // names of mirrored children
	dataArmed bool                // a data watch is registered
	kidsArmed bool                // a children watch is registered
}

func within(root, p string) bool {
	return root == "/" || p == root || (strings.HasPrefix(p, root) && len(p) > len(root) && p[len(root)] == '/')
}

// routeTreeEvent marks the path of a watch event dirty in every one-shot
// subtree watch that covers it, and queues it in every persistent one.
// Called from the driver's event callback.
func (s *Session) routeTreeEvent(ev zk.Event) {
	var d dirty
	switch ev.Type {
	case zk.EventNodeCreated, zk.EventNodeDataChanged:
		d = dirtyData
	case zk.EventNodeChildrenChanged:
		d = dirtyKids
	case zk.EventNodeDeleted:
		d = dirtyData | dirtyKids
	default:
		return
	}
	p, ok := s.rel(ev.Path)
	if !ok {
		return
	}
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	if ev.Type != zk.EventNodeChildrenChanged {
		for w := range s.ptrees {
			if within(w.root, p) {
				w.note(ev.Type, p)
			}
		}
	}
	for w := range s.trees {
		if within(w.root, p) {
			w.mu.Lock()
			w.dirty[p] |= d
			w.mu.Unlock()
			w.poke()
		}
	}
}

// notifyTrees tells every subtree watch that the session reconnected.
func (s *Session) notifyTrees() {
	s.treeMu.Lock()
	defer s.treeMu.Unlock()
	for w := range s.trees {
		w.mu.Lock()
		w.resync = true
		w.mu.Unlock()
		w.poke()
	}
	for w := range s.ptrees {
		w.reconnected()
	}
}

func (s *Session) dropTree(w *treeWatch) {
	s.treeMu.Lock()
	delete(s.trees, w)
	s.treeMu.Unlock()
}

func (w *treeWatch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what the callback marked.
func (w *treeWatch) take() (map[string]dirty, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, r := w.dirty, w.resync
	w.dirty, w.resync = map[string]dirty{}, false
	return d, r
}

const (
	treeOp            = "watchtree"
	minResyncInterval = 50 * time.Millisecond
	maxResyncInterval = 2 * time.Second
)

func (w *treeWatch) run() {
	defer w.s.dropTree(w)
	err := w.guard(w.addRoot())
	initialized := false
	var (
		backoff time.Duration
		retry   <-chan time.Time
	)
	for err == nil {
		if !initialized && !w.needResync {
			// Every node has been reported: a connection loss while
			// reading the first snapshot delays this until a full re-read
			// succeeded.
			initialized = true
			err = w.emit(backend.TreeEvent{Type: backend.TreeInitialized, Path: w.root})
			continue
		}
		if w.needResync && retry == nil && w.s.State() != backend.Suspended {
			w.needResync = false
			err = w.guard(w.resyncAll())
			if w.needResync {
				backoff = min(max(2*backoff, minResyncInterval), maxResyncInterval)
				retry = time.After(backoff)
			} else {
				backoff = 0
				if err == nil && initialized {
					err = w.emit(backend.TreeEvent{Type: backend.TreeResynced, Path: w.root})
				}
			}
			continue
		}
		select {
		case <-w.wake:
			d, resync := w.take()
			if resync {
				w.needResync, retry = true, nil
			}
			w.disarm(d)
			if initialized {
				err = w.guard(w.process(d))
			} // else a full re-read is pending: it covers d
		case <-retry:
			retry = nil
		case <-w.ctx.Done():
			err = w.ctx.Err()
		case <-w.s.feed.Done():
			err = w.s.feed.Err()
		}
	}
	w.end(err)
}

// guard turns a connection loss into a pending full re-read; other errors
// end the watch.
func (w *treeWatch) guard(err error) error {
	if errors.Is(err, backend.ErrConnectionLoss) {
		w.needResync = true
		return nil
	}
	return err
}

// end delivers TreeEnded and closes the channel, without blocking: the
// channel has room for one event and only run sends, so after taking back
// an event the reader has not received, TreeEnded fits.
func (w *treeWatch) end(err error) { endTree(w.s, w.ctx, w.out, w.root, err) }

func (w *treeWatch) emit(ev backend.TreeEvent) error { return emitTree(w.s, w.ctx, w.out, ev) }

// endTree delivers a tree watch's TreeEnded on out and closes it, without
// blocking: the channel has room for one event and only the watch's own
// goroutine sends, so after taking back an event the reader has not
// received, TreeEnded fits. The watch's context or the session's end, if
// either came, is the reason given.
func endTree(s *Session, ctx context.Context, out chan backend.TreeEvent, root string, err error) {
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case s.feed.Err() != nil:
		err = s.feed.Err()
	}
	select {
	case <-out:
	default:
	}
	out <- backend.TreeEvent{Type: backend.TreeEnded, Path: root, Err: err}
	close(out)
}

// emitTree delivers one event of a tree watch, waiting for the reader
// until the watch's context or the session ends.
func emitTree(s *Session, ctx context.Context, out chan backend.TreeEvent, ev backend.TreeEvent) error {
	select {
	case out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.feed.Done():
		return s.feed.Err()
	}
}

func (w *treeWatch) emitNode(typ backend.TreeEventType, p string, n *treeNode) error {
	if !w.opts.Within(w.root, p) {
		return nil // below the depth asked for
	}
	ev := backend.TreeEvent{Type: typ, Path: p}
	if n != nil {
		ev.Data = slices.Clone(n.data)
		ev.Stat = n.stat
	}
	return w.emit(ev)
}

// disarm forgets the watches that fired: the server fired our watch of
// each kind on each path (watches are per connection, so an event for any
// watcher of a path fired ours too), and the next read must set it again.
func (w *treeWatch) disarm(d map[string]dirty) {
	for p, f := range d {
		if n := w.nodes[p]; n != nil {
			if f&dirtyData != 0 {
				n.dataArmed = false
			}
			if f&dirtyKids != 0 {
				n.kidsArmed = false
			}
		} else if p == w.root && f&dirtyData != 0 {
			w.rootArmed = false
		}
	}
}

// process re-reads the paths whose watches fired, parents first.
func (w *treeWatch) process(d map[string]dirty) error {
	for _, p := range slices.Sorted(maps.Keys(d)) {
		f := d[p]
		if f&dirtyData != 0 {
			if _, err := w.syncData(p); err != nil {
				return err
			}
		}
		if f&dirtyKids != 0 {
			if err := w.syncKids(p, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func isNoNode(err error) bool { return errors.Is(err, backend.ErrNoNode) }

// readData reads p's data, registering a data watch unless one is known to
// be registered (go-zookeeper keeps every registration until it fires, so
// registering again would pile them up).
func (w *treeWatch) readData(p string, n *treeNode) ([]byte, backend.Stat, error) {
	if n != nil && n.dataArmed {
		return w.s.Get(w.ctx, p)
	}
	r, err := w.s.getW(w.ctx, treeOp, p)
	if err != nil {
		return nil, backend.Stat{}, err
	}
	if n != nil {
		n.dataArmed = true
	}
	return r.data, statOf(r.stat), nil
}

// readKids lists p's children, registering a children watch unless one is
// known to be registered.
func (w *treeWatch) readKids(p string, n *treeNode) ([]string, error) {
	if n.kidsArmed {
		names, _, err := w.s.Children(w.ctx, p)
		return names, err
	}
	r, err := w.s.childrenW(w.ctx, treeOp, p)
	if err != nil {
		return nil, err
	}
	n.kidsArmed = true
	return r.names, nil
}

// addRoot adds the root of the watch, or watches for its creation.
func (w *treeWatch) addRoot() error {
	for {
		added, err := w.add(w.root)
		if err != nil || added {
			return err
		}
		if w.rootArmed {
			return nil
		}
		r, err := w.s.existsW(w.ctx, treeOp, w.root)
		if err != nil {
			return err
		}
		if !r.ok {
			w.rootArmed = true
			return nil // NodeCreated marks the root dirty
		}
		// Created between the two reads; the exists watch registered as a
		// data watch and will fire on its next change, harmlessly.
	}
}

// add mirrors the node at p and its subtree, reporting NodeAdded for each.
// It returns false if p does not exist.
func (w *treeWatch) add(p string) (bool, error) {
	r, err := w.s.getW(w.ctx, treeOp, p)
	if isNoNode(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n := &treeNode{data: r.data, stat: statOf(r.stat), kids: map[string]struct{}{}, dataArmed: true}
	w.nodes[p] = n
	if p != w.root {
		if parent := w.nodes[backend.Parent(p)]; parent != nil {
			parent.kids[backend.Base(p)] = struct{}{}
		}
	}
	if err := w.emitNode(backend.NodeAdded, p, n); err != nil {
		return true, err
	}
	names, err := w.readKids(p, n)
	if isNoNode(err) {
		return true, nil // deleted meanwhile: its data watch reports it
	}
	if err != nil {
		return true, err
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := w.add(backend.Join(p, name)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// remove forgets the node at p and its mirrored subtree, reporting
// NodeRemoved for each, children before parents.
func (w *treeWatch) remove(p string) error {
	n := w.nodes[p]
	if n == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(n.kids)) {
		if err := w.remove(backend.Join(p, name)); err != nil {
			return err
		}
	}
	delete(w.nodes, p)
	if p != w.root {
		if parent := w.nodes[backend.Parent(p)]; parent != nil {
			delete(parent.kids, backend.Base(p))
		}
	}
	return w.emitNode(backend.NodeRemoved, p, nil)
}

// syncData re-reads p's data. It reports NodeUpdated when the data changed,
// NodeRemoved when p is gone, and NodeRemoved then NodeAdded (for the
// subtree) when p was deleted and created again. fresh tells that p's
// subtree was (re-)read in full or removed.
func (w *treeWatch) syncData(p string) (fresh bool, err error) {
	n := w.nodes[p]
	if n == nil {
		if p == w.root {
			return true, w.addRoot()
		}
		return false, nil
	}
	data, st, err := w.readData(p, n)
	if isNoNode(err) {
		if err := w.remove(p); err != nil {
			return true, err
		}
		if p == w.root {
			return true, w.addRoot()
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if st.CreateToken != n.stat.CreateToken {
		if err := w.remove(p); err != nil {
			return true, err
		}
		if p == w.root {
			return true, w.addRoot()
		}
		_, err := w.add(p)
		return true, err
	}
	if st.ModifyToken != n.stat.ModifyToken {
		n.data, n.stat = data, st
		return false, w.emitNode(backend.NodeUpdated, p, n)
	}
	n.stat = st
	return false, nil
}

// syncKids re-lists p's children: new ones are added with their subtrees,
// vanished ones removed with theirs. With deep, children seen before are
// re-read too.
func (w *treeWatch) syncKids(p string, deep bool) error {
	n := w.nodes[p]
	if n == nil {
		return nil
	}
	names, err := w.readKids(p, n)
	if isNoNode(err) {
		_, err := w.syncData(p)
		return err
	}
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range slices.Sorted(maps.Keys(n.kids)) {
		if _, ok := slices.BinarySearch(names, name); !ok {
			if err := w.remove(backend.Join(p, name)); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		child := backend.Join(p, name)
		if _, had := n.kids[name]; !had {
			if _, err := w.add(child); err != nil {
				return err
			}
		} else if deep {
			if err := w.resyncNode(child); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *treeWatch) resyncNode(p string) error {
	fresh, err := w.syncData(p)
	if err != nil || fresh {
		return err
	}
	return w.syncKids(p, true)
}

// resyncAll re-reads the whole subtree and reports the difference: after a
// reconnection (go-zookeeper re-registers its watches, and the server fires
// those whose nodes changed meanwhile, but this does not rely on it) or a
// read that failed with connection loss.
func (w *treeWatch) resyncAll() error {
	if w.nodes[w.root] == nil {
		return w.addRoot()
	}
	return w.resyncNode(w.root)
}
