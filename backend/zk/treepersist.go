package zk

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// persistWatch mirrors one subtree on a persistent recursive watch (see
// the package documentation, "WatchTree"). The driver's event callback
// queues the watch's notifications in the order the server sent them; the
// run goroutine applies them to the mirror, reading what it must.
type persistWatch struct {
	s    *Session
	ctx  context.Context
	root string
	opts backend.TreeOptions
	out  chan backend.TreeEvent

	mu      sync.Mutex
	queue   []treeNote
	deletes map[string]int // NodeDeleted notes in queue, by path
	resync  bool           // the session reconnected: the watch is gone
	wake    chan struct{}  // capacity 1: queue or resync changed

	// Owned by run.
	nodes      map[string]*mirrorNode
	needResync bool       // the watch must be added again and the tree compared
	pending    []treeNote // notes taken since needResync, applied by resyncAll
	// mustCompare says the mirror may lack changes the notes announced (a
	// read failed on the way): the next resync compares it with the
	// server whatever the gap.
	mustCompare bool
}

// treeNote is one notification of the persistent watch.
type treeNote struct {
	typ  zk.EventType
	path string
}

// mirrorNode is what a persistWatch knows of one node.
type mirrorNode struct {
	data []byte
	stat backend.Stat
	kids map[string]struct{}
	// cversion and pzxid of the node when kids was last known to be its
	// children (a listing, or a node read with none); pzxid 0 when a
	// notification changed kids since.
	cversion int32
	pzxid    int64
}

func newPersistWatch(s *Session, ctx context.Context, root string, opts backend.TreeOptions) *persistWatch {
	return &persistWatch{
		s: s, ctx: ctx, root: root, opts: opts,
		out:     make(chan backend.TreeEvent, 1),
		deletes: map[string]int{},
		wake:    make(chan struct{}, 1),
		nodes:   map[string]*mirrorNode{},
	}
}

// note queues a notification. Called from the driver's event callback.
func (w *persistWatch) note(typ zk.EventType, p string) {
	w.mu.Lock()
	w.queue = append(w.queue, treeNote{typ, p})
	if typ == zk.EventNodeDeleted {
		w.deletes[p]++
	}
	w.mu.Unlock()
	w.poke()
}

// reconnected tells the watch its connection was replaced.
func (w *persistWatch) reconnected() {
	w.mu.Lock()
	w.resync = true
	w.mu.Unlock()
	w.poke()
}

func (w *persistWatch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the queued notes and the resync mark.
func (w *persistWatch) take() ([]treeNote, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, r := w.queue, w.resync
	w.queue, w.resync = nil, false
	for _, n := range q {
		if n.typ == zk.EventNodeDeleted {
			if w.deletes[n.path]--; w.deletes[n.path] == 0 {
				delete(w.deletes, n.path)
			}
		}
	}
	return q, r
}

// deleteQueued reports whether a NodeDeleted of p waits in the queue.
func (w *persistWatch) deleteQueued(p string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deletes[p] > 0
}

func (s *Session) dropPersist(w *persistWatch) {
	s.treeMu.Lock()
	delete(s.ptrees, w)
	s.treeMu.Unlock()
}

func (w *persistWatch) run() {
	w.s.holdWatch(w.root)
	err := w.addWatch()
	if errors.Is(err, errNoPersistentWatches) {
		w.s.dropPersist(w)
		w.s.releaseWatch(w.ctx, w.root) // never added: nothing to send
		w.fallBack()
		return
	}
	if err == nil {
		err = w.guard(w.load(w.root))
	}
	initialized := false
	var (
		backoff time.Duration
		retry   <-chan time.Time
	)
	for err == nil {
		if !initialized && !w.needResync {
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
			notes, resync := w.take()
			if resync {
				w.needResync, retry = true, nil
			}
			if w.needResync {
				w.pending = append(w.pending, notes...)
			} else {
				err = w.guard(w.apply(notes))
			}
		case <-retry:
			retry = nil
		case <-w.ctx.Done():
			err = w.ctx.Err()
		case <-w.s.feed.Done():
			err = w.s.feed.Err()
		}
	}
	w.s.dropPersist(w)
	w.release()
	w.end(err)
}

// addWatch adds the persistent watch, waiting across connection losses.
func (w *persistWatch) addWatch() error {
	var backoff time.Duration
	for {
		_, err := w.s.ensureWatch(w.ctx, w.root)
		if !errors.Is(err, backend.ErrConnectionLoss) {
			return err
		}
		backoff = min(max(2*backoff, minResyncInterval), maxResyncInterval)
		select {
		case <-w.wake: // maybe reconnected
		case <-time.After(backoff):
		case <-w.ctx.Done():
			return w.ctx.Err()
		case <-w.s.feed.Done():
			return w.s.feed.Err()
		}
		w.take() // the tree is read after the watch is set
	}
}

// release removes the watch from the server (when no other WatchTree of
// the session shares it), bounded by the session timeout.
func (w *persistWatch) release() {
	ctx, cancel := context.WithTimeout(context.Background(), w.s.Timeout())
	defer cancel()
	if err := w.s.releaseWatch(ctx, w.root); err != nil {
		w.s.log.Debug("zk: removing a persistent watch failed; it goes with the connection", "path", w.root, "err", err)
	}
}

// fallBack runs the one-shot mirror in this goroutine, for a server
// without persistent watches.
func (w *persistWatch) fallBack() {
	t := newTreeWatch(w.s, w.ctx, w.root, w.opts, w.out)
	w.s.treeMu.Lock()
	w.s.trees[t] = struct{}{}
	w.s.treeMu.Unlock()
	t.run()
}

func (w *persistWatch) guard(err error) error {
	if errors.Is(err, backend.ErrConnectionLoss) {
		w.needResync, w.mustCompare = true, true
		return nil
	}
	return err
}

func (w *persistWatch) end(err error) { endTree(w.s, w.ctx, w.out, w.root, err) }

func (w *persistWatch) emit(ev backend.TreeEvent) error { return emitTree(w.s, w.ctx, w.out, ev) }

func (w *persistWatch) emitNode(typ backend.TreeEventType, p string, n *mirrorNode) error {
	ev := backend.TreeEvent{Type: typ, Path: p}
	if n != nil {
		ev.Data = slices.Clone(n.data)
		ev.Stat = n.stat
	}
	return w.emit(ev)
}

// listable reports whether p's children are within the depth.
func (w *persistWatch) listable(p string) bool {
	return w.opts.Depth < 0 || backend.Depth(p)-backend.Depth(w.root) < w.opts.Depth
}

// The three reads, counted.

func (w *persistWatch) readData(p string) ([]byte, *zk.Stat, error) {
	w.s.persist.dataReads.Add(1)
	full := w.s.full(p)
	r, err := call(w.ctx, w.s, func(c *zk.Conn) (dataResult, error) {
		d, st, err := c.Get(full)
		return dataResult{data: d, stat: st}, err
	})
	if err != nil {
		return nil, nil, w.s.opError(treeOp, p, err)
	}
	return r.data, r.stat, nil
}

// readStat returns p's stat, or nil when p does not exist.
func (w *persistWatch) readStat(p string) (*zk.Stat, error) {
	w.s.persist.lightReads.Add(1)
	full := w.s.full(p)
	r, err := call(w.ctx, w.s, func(c *zk.Conn) (existsResult, error) {
		ok, st, err := c.Exists(full)
		return existsResult{ok: ok, stat: st}, err
	})
	if err != nil {
		return nil, w.s.opError(treeOp, p, err)
	}
	if !r.ok {
		return nil, nil
	}
	return r.stat, nil
}

func (w *persistWatch) readKids(p string) ([]string, *zk.Stat, error) {
	w.s.persist.listReads.Add(1)
	full := w.s.full(p)
	r, err := call(w.ctx, w.s, func(c *zk.Conn) (childrenResult, error) {
		names, st, err := c.Children(full)
		return childrenResult{names: names, stat: st}, err
	})
	if err != nil {
		return nil, nil, w.s.opError(treeOp, p, err)
	}
	slices.Sort(r.names)
	return r.names, r.stat, nil
}

// insert adds p to the mirror and reports NodeAdded.
func (w *persistWatch) insert(p string, data []byte, st *zk.Stat) (*mirrorNode, error) {
	n := &mirrorNode{data: data, stat: statOf(st), kids: map[string]struct{}{}}
	if st.NumChildren == 0 {
		n.cversion, n.pzxid = st.Cversion, st.Pzxid // no children: kids is exact
	}
	w.nodes[p] = n
	if p != w.root {
		if parent := w.nodes[backend.Parent(p)]; parent != nil {
			parent.kids[backend.Base(p)] = struct{}{}
			parent.pzxid = 0
		}
	}
	return n, w.emitNode(backend.NodeAdded, p, n)
}

// remove forgets p and its mirrored subtree, reporting NodeRemoved for
// each, children first.
func (w *persistWatch) remove(p string) error {
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
			parent.pzxid = 0
		}
	}
	return w.emitNode(backend.NodeRemoved, p, nil)
}

// load reads p and its subtree down to the depth into the mirror,
// reporting NodeAdded for each node, parents first. A node missing at its
// read is skipped: the watch was set before, so its removal is queued.
func (w *persistWatch) load(p string) error {
	data, st, err := w.readData(p)
	if isNoNode(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return w.loadRead(p, dataRead{data, st})
}

// dataRead is the result of one readData.
type dataRead struct {
	data []byte
	stat *zk.Stat
}

// loadRead is load with p already read. The children's data are read
// readAhead at a time, then applied in name order.
func (w *persistWatch) loadRead(p string, r dataRead) error {
	n, err := w.insert(p, r.data, r.stat)
	if err != nil || !w.listable(p) {
		return err
	}
	names, lst, err := w.readKids(p)
	if isNoNode(err) {
		return nil
	}
	if err != nil {
		return err
	}
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = backend.Join(p, name)
	}
	reads, errs := readAll(paths, func(c string) (dataRead, error) {
		d, st, err := w.readData(c)
		return dataRead{d, st}, err
	})
	for i, c := range paths {
		if isNoNode(errs[i]) {
			continue
		}
		if errs[i] != nil {
			return errs[i]
		}
		if err := w.loadRead(c, reads[i]); err != nil {
			return err
		}
	}
	n.cversion, n.pzxid = lst.Cversion, lst.Pzxid
	return nil
}

// readAhead is how many reads of siblings a WatchTree has in flight at
// once: the driver pipelines them on the connection, so a large directory
// costs about one round trip per readAhead nodes.
const readAhead = 32

// readAll runs read on every path, readAhead at a time, and returns the
// results in the order of paths.
func readAll[T any](paths []string, read func(string) (T, error)) ([]T, []error) {
	out := make([]T, len(paths))
	errs := make([]error, len(paths))
	if len(paths) == 1 {
		out[0], errs[0] = read(paths[0])
		return out, errs
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(readAhead, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = read(paths[i])
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errs
}

// apply applies notes in order. The nodes the notes say were created or
// changed are read first, readAhead at a time and once each: every read
// goes out after the batch was taken, so it shows at least what all the
// batch's notes of its node announce.
func (w *persistWatch) apply(notes []treeNote) error {
	later := map[string]int{} // NodeDeleted notes of each path after the current one
	last := map[string]zk.EventType{}
	for _, n := range notes {
		if n.typ == zk.EventNodeDeleted {
			later[n.path]++
		}
		last[n.path] = n.typ
	}
	var paths []string
	for p, typ := range last {
		if (typ == zk.EventNodeCreated || typ == zk.EventNodeDataChanged) && w.opts.Within(w.root, p) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	reads, errs := readAll(paths, func(p string) (dataRead, error) {
		d, st, err := w.readData(p)
		return dataRead{d, st}, err
	})
	read := make(map[string]int, len(paths))
	for i, p := range paths {
		read[p] = i
	}
	for _, n := range notes {
		if n.typ == zk.EventNodeDeleted {
			later[n.path]--
		}
		var r *dataRead
		var err error
		if i, ok := read[n.path]; ok {
			r, err = &reads[i], errs[i]
		}
		if err := w.applyNote(n, later[n.path] > 0, r, err); err != nil {
			return err
		}
	}
	return nil
}

// applyNote applies one notification. deletedLater says a NodeDeleted of
// the same path follows in this batch; r and rerr are the node's read, if
// it was made ahead.
//
// The server sends a notification before any reply that shows its change
// (ZooKeeper's ordering guarantee), and the driver hands notifications to
// the callback before it hands over later replies: so when a read shows a
// node missing, or a node of another CreateToken, the notes of the deletion
// (and re-creation) are already queued, and are left to them. A created
// or changed node whose deletion is queued is not applied.
func (w *persistWatch) applyNote(n treeNote, deletedLater bool, r *dataRead, rerr error) error {
	p := n.path
	if !w.opts.Within(w.root, p) {
		return nil // below the depth: no reads
	}
	switch n.typ {
	case zk.EventNodeDeleted:
		return w.remove(p)
	case zk.EventNodeCreated, zk.EventNodeDataChanged:
	default:
		return nil
	}
	if deletedLater || w.deleteQueued(p) {
		return nil
	}
	if p != w.root && w.nodes[backend.Parent(p)] == nil {
		return nil // the parent's deletion is queued
	}
	if r == nil {
		data, st, err := w.readData(p)
		r, rerr = &dataRead{data, st}, err
	}
	if isNoNode(rerr) {
		return nil
	}
	if rerr != nil {
		return rerr
	}
	data, st := r.data, r.stat
	old := w.nodes[p]
	switch {
	case old == nil:
		_, err := w.insert(p, data, st)
		return err
	case old.stat.CreateToken != st.Czxid:
		if w.deleteQueued(p) {
			return nil
		}
		// Not expected (see above); a node of another identity is
		// never an update.
		if err := w.remove(p); err != nil {
			return err
		}
		_, err := w.insert(p, data, st)
		return err
	case old.stat.ModifyToken != st.Mzxid:
		old.data, old.stat = data, statOf(st)
		return w.emitNode(backend.NodeUpdated, p, old)
	default:
		old.stat = statOf(st)
		return nil
	}
}

// resyncAll sets the watch again on the new connection, applies the
// notes that came before, then compares the mirror with the server,
// reading only what may have changed, and reports the differences. When
// the server's zxid shows that nothing at all changed since the last
// reply on the old connection, and the mirror had applied every note of
// it, there is nothing to compare.
func (w *persistWatch) resyncAll() error {
	gap, err := w.s.ensureWatch(w.ctx, w.root)
	if err != nil {
		return err
	}
	notes := w.pending
	w.pending = nil
	if err := w.apply(notes); err != nil {
		w.mustCompare = true
		return err
	}
	if !w.mustCompare && gap.none() {
		w.s.persist.quietGaps.Add(1)
		return nil
	}
	if w.nodes[w.root] == nil {
		err = w.load(w.root)
	} else {
		err = w.refresh(w.root)
	}
	if err == nil {
		w.mustCompare = false
	}
	return err
}

// refresh compares the mirrored node p (and its subtree) with the server:
// one Exists for each node (siblings readAhead at a time); a node's data
// only if its ModifyToken moved; its children only if its children
// version or pzxid moved since the mirror last knew them.
func (w *persistWatch) refresh(p string) error {
	st, err := w.readStat(p)
	if err != nil {
		return err
	}
	return w.refreshStat(p, st)
}

// refreshStat is refresh with p's stat already read (nil: p is gone).
func (w *persistWatch) refreshStat(p string, st *zk.Stat) error {
	n := w.nodes[p]
	if st == nil {
		return w.remove(p)
	}
	if st.Czxid != n.stat.CreateToken {
		if err := w.remove(p); err != nil {
			return err
		}
		return w.load(p)
	}
	if st.Mzxid != n.stat.ModifyToken {
		data, dst, err := w.readData(p)
		if isNoNode(err) {
			return w.remove(p)
		}
		if err != nil {
			return err
		}
		if dst.Czxid != n.stat.CreateToken {
			if err := w.remove(p); err != nil {
				return err
			}
			return w.load(p)
		}
		n.data, n.stat = data, statOf(dst)
		if err := w.emitNode(backend.NodeUpdated, p, n); err != nil {
			return err
		}
	}
	if !w.listable(p) {
		return nil
	}
	if n.pzxid == st.Pzxid && n.cversion == st.Cversion {
		return w.refreshKids(p, slices.Sorted(maps.Keys(n.kids)))
	}
	names, lst, err := w.readKids(p)
	if isNoNode(err) {
		return w.remove(p)
	}
	if err != nil {
		return err
	}
	var had, added []string
	for _, name := range names {
		if _, ok := n.kids[name]; ok {
			had = append(had, name)
		} else {
			added = append(added, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(n.kids)) {
		if _, ok := slices.BinarySearch(names, name); !ok {
			if err := w.remove(backend.Join(p, name)); err != nil {
				return err
			}
		}
	}
	if err := w.refreshKids(p, had); err != nil {
		return err
	}
	for _, name := range added {
		if err := w.load(backend.Join(p, name)); err != nil {
			return err
		}
	}
	if w.nodes[p] == n {
		n.cversion, n.pzxid = lst.Cversion, lst.Pzxid
	}
	return nil
}

// refreshKids refreshes the named children of p, their stats read
// readAhead at a time.
func (w *persistWatch) refreshKids(p string, names []string) error {
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = backend.Join(p, name)
	}
	stats, errs := readAll(paths, w.readStat)
	for i, c := range paths {
		if errs[i] != nil {
			return errs[i]
		}
		if err := w.refreshStat(c, stats[i]); err != nil {
			return err
		}
	}
	return nil
}
