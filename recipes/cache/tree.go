package cache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Tree is a local copy of a subtree, kept up to date by one goroutine that
// follows the backend's WatchTree, with a stream of changes for any number
// of listeners. Get, Children, Snapshot and Len read the copy and never wait
// for the network. Make one with New, start it with Start, end it with
// Close.
type Tree struct {
	client backend.Client
	root   string
	o      options

	cancel context.CancelFunc
	run    func() // the goroutine's body, started once by Start
	start  sync.Once
	wg     sync.WaitGroup
	ready  chan struct{} // closed when the first full read is in
	done   chan struct{} // closed when the cache has ended

	mu          sync.Mutex
	nodes       map[string]*Node
	kids        map[string]map[string]struct{} // cached children's names by parent path
	bytes       int
	initialized bool
	err         error
	listeners   map[*Listener]struct{}
}

// New returns a cache of the subtree at root on client's sessions. It
// reads nothing until Start. A bad root is backend.ErrBadPath; a bad option
// ErrBadOption.
func New(client backend.Client, root string, opts ...Option) (*Tree, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newTree(client, root, o)
}

func newTree(client backend.Client, root string, o options) (*Tree, error) {
	if err := backend.ValidatePath(root); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tree{
		client:    client,
		root:      root,
		o:         o,
		cancel:    cancel,
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		nodes:     map[string]*Node{},
		kids:      map[string]map[string]struct{}{},
		listeners: map[*Listener]struct{}{},
	}
	t.run = func() {
		defer t.wg.Done()
		t.finish(t.follow(ctx))
	}
	return t, nil
}

// Root returns the path of the subtree's root.
func (t *Tree) Root() string { return t.root }

// Start starts the cache, if it was not started, and waits until its first
// full read is in (an empty cache if the root does not exist), until the
// cache ends (its Err), or until ctx ends: then the cache is closed and
// Start returns ctx's error. Calling Start again waits again.
func (t *Tree) Start(ctx context.Context) error {
	t.start.Do(func() {
		select {
		case <-t.done: // closed before it started
		default:
			t.wg.Add(1)
			go t.run()
		}
	})
	select {
	case <-t.ready:
		return nil
	case <-t.done:
		return t.Err()
	case <-ctx.Done():
		t.Close()
		return fmt.Errorf("cache: start %s: %w", t.root, ctx.Err())
	}
}

// Done is closed when the cache has ended: Close, or an error (Err).
func (t *Tree) Done() <-chan struct{} { return t.done }

// Err is nil while the cache runs; then why it ended: ErrClosed after
// Close, ErrTooLarge past a bound, or the backend's error (the client was
// closed; the server refused a read).
func (t *Tree) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close ends the cache and waits for its goroutine. The copy stays
// readable; listeners receive what was queued, then ErrClosed. Idempotent.
func (t *Tree) Close() error {
	t.start.Do(func() {}) // a cache closed before Start never starts
	t.cancel()
	t.wg.Wait()
	t.finish(ErrClosed)
	return nil
}

// finish records why the cache ended (the first reason wins) and wakes the
// listeners.
func (t *Tree) finish(err error) {
	t.mu.Lock()
	if t.err != nil {
		t.mu.Unlock()
		return
	}
	t.err = err
	ls := slices.Collect(maps.Keys(t.listeners))
	close(t.done)
	t.mu.Unlock()
	if !errors.Is(err, ErrClosed) {
		t.o.log.Info("cache: ended", "root", t.root, "err", err)
	}
	for _, l := range ls {
		l.poke()
	}
}

// Get returns the node at path, if the cache holds it.
func (t *Tree) Get(path string) (Node, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[path]
	if !ok {
		return Node{}, false
	}
	return *n, true
}

// Children returns the cached children of path, sorted by name.
func (t *Tree) Children(path string) []Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Node
	for _, name := range slices.Sorted(maps.Keys(t.kids[path])) {
		out = append(out, *t.nodes[backend.Join(path, name)])
	}
	return out
}

// Snapshot returns every cached node, sorted by path (parents before their
// children): one consistent view, as of one moment of the cache.
func (t *Tree) Snapshot() []Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Node, 0, len(t.nodes))
	for _, p := range slices.Sorted(maps.Keys(t.nodes)) {
		out = append(out, *t.nodes[p])
	}
	return out
}

// Len returns the number of cached nodes.
func (t *Tree) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.nodes)
}

// Listen returns a new listener: its stream begins with Added for every
// node the cache holds now and, if the first full read is in, Initialized;
// then the changes. Close it when done; a listener the cache has ended
// still returns what was queued.
func (t *Tree) Listen() *Listener { return t.listen(nil) }

func (t *Tree) listen(keep func(string) bool) *Listener {
	l := newListener(t, keep)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(t.nodes)) {
		l.push(Event{Type: Added, Path: p, New: t.nodes[p]})
	}
	if t.initialized {
		l.push(Event{Type: Initialized, Path: t.root})
	}
	if t.err == nil {
		t.listeners[l] = struct{}{}
	}
	return l
}

func (t *Tree) unlisten(l *Listener) {
	t.mu.Lock()
	delete(t.listeners, l)
	t.mu.Unlock()
}

// emitLocked queues ev for every listener. t.mu is held.
func (t *Tree) emitLocked(ev Event) {
	for l := range t.listeners {
		l.push(ev)
	}
}

// keep reports whether the cache keeps p: within the depth, and accepted
// by the selector with every ancestor up to the root.
func (t *Tree) keep(p string) bool {
	if t.o.depth >= 0 && backend.Depth(p)-backend.Depth(t.root) > t.o.depth {
		return false
	}
	if t.o.selector == nil {
		return true
	}
	for q := p; ; q = backend.Parent(q) {
		if !t.o.selector(q) {
			return false
		}
		if q == t.root || q == "/" {
			return true
		}
	}
}

func nodeBytes(n *Node) int { return len(n.Path) + len(n.Data) }

// fits reports, as ErrTooLarge, a cache that would hold nodes nodes of
// bytes bytes past its bounds.
func (t *Tree) fits(nodes, bytes int) error {
	if t.o.maxNodes > 0 && nodes > t.o.maxNodes {
		return fmt.Errorf("%w: %s: %d nodes, MaxNodes is %d", ErrTooLarge, t.root, nodes, t.o.maxNodes)
	}
	if t.o.maxBytes > 0 && bytes > t.o.maxBytes {
		return fmt.Errorf("%w: %s: %d bytes, MaxBytes is %d", ErrTooLarge, t.root, bytes, t.o.maxBytes)
	}
	return nil
}

// Backoff between attempts to get a session or start a watch that failed
// for the connection.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = 2 * time.Second
)

// follow keeps the cache in step with the server until ctx ends or an error
// that no new session can cure: it takes the client's current session,
// follows one WatchTree on it, and when the session is lost takes the next.
func (t *Tree) follow(ctx context.Context) error {
	var backoff time.Duration
	for {
		s, err := t.client.Session(ctx)
		if err == nil {
			err = t.watch(ctx, s)
			s = nil // the cache keeps no lost session alive
		}
		switch {
		case ctx.Err() != nil:
			return ErrClosed
		case errors.Is(err, backend.ErrSessionExpired):
			backoff = 0 // a new session cures it; Session waits for it
			t.o.log.Debug("cache: session lost; taking a new one", "root", t.root)
			continue
		case errors.Is(err, backend.ErrConnectionLoss):
			backoff = min(max(2*backoff, minRetry), maxRetry)
			t.o.log.Debug("cache: connection lost; trying again", "root", t.root, "after", backoff)
			tm := time.NewTimer(backoff)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				return ErrClosed
			}
			continue
		}
		return err
	}
}

// watch follows one WatchTree on s. The nodes of its initial state are
// gathered apart and, at TreeInitialized, compared with the cache's copy;
// after that its changes are applied as they come. It returns why the watch
// ended.
func (t *Tree) watch(ctx context.Context, s backend.Session) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchTree(wctx, t.root, backend.TreeDepth(t.o.depth))
	if err != nil {
		return err
	}
	defer func() {
		// End the stream and let its goroutine finish: it closes the
		// channel once its context is done.
		cancel()
		for range ch {
		}
	}()
	fresh := map[string]*Node{}
	freshBytes := 0
	live := false
	for ev := range ch {
		switch ev.Type {
		case backend.NodeAdded, backend.NodeUpdated, backend.NodeRemoved:
			if !t.keep(ev.Path) {
				continue
			}
			if live {
				if err := t.apply(ev); err != nil {
					return err
				}
				continue
			}
			if old := fresh[ev.Path]; old != nil {
				freshBytes -= nodeBytes(old)
				delete(fresh, ev.Path)
			}
			if ev.Type != backend.NodeRemoved {
				n := &Node{Path: ev.Path, Data: ev.Data, Stat: ev.Stat}
				fresh[ev.Path] = n
				freshBytes += nodeBytes(n)
				if err := t.fits(len(fresh), freshBytes); err != nil {
					return err
				}
			}
		case backend.TreeInitialized:
			live = true
			t.replace(fresh)
			fresh = nil
		case backend.TreeResynced:
			if !live {
				continue // the diff at TreeInitialized covers it
			}
			t.mu.Lock()
			t.emitLocked(Event{Type: Resynced, Path: t.root})
			t.mu.Unlock()
			t.o.log.Debug("cache: resynced", "root", t.root)
		case backend.TreeEnded:
			if ev.Err != nil {
				return ev.Err
			}
			return s.Err()
		}
	}
	return s.Err()
}

// same reports whether a and b are one life of a node: the same CreateToken.
func (t *Tree) same(a, b *Node) bool {
	if t.o.versionIdentity {
		return true // the planted fault: identity not checked at all
	}
	return a.Stat.CreateToken == b.Stat.CreateToken
}

// changed reports whether b is a newer state of a's node than a.
func (t *Tree) changed(a, b *Node) bool {
	if t.o.versionIdentity {
		return a.Stat.Version != b.Stat.Version
	}
	return a.Stat.ModifyToken != b.Stat.ModifyToken
}

// replace makes fresh, a full read, the cache's copy, reporting the
// differences: removals first (children before parents; a node created
// again is removed here), then additions and updates (parents first), then
// Initialized the first time and Resynced after.
func (t *Tree) replace(fresh map[string]*Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []string
	for p, old := range t.nodes {
		if n := fresh[p]; n == nil || !t.same(old, n) {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone)
	for _, p := range slices.Backward(gone) {
		t.removeLocked(p)
	}
	for _, p := range slices.Sorted(maps.Keys(fresh)) {
		n := fresh[p]
		switch old := t.nodes[p]; {
		case old == nil:
			t.addLocked(n)
		case t.changed(old, n):
			t.updateLocked(old, n)
		case !t.o.versionIdentity:
			t.setLocked(n) // same data; other fields of the stat may have moved
		}
	}
	if t.initialized {
		t.emitLocked(Event{Type: Resynced, Path: t.root})
		t.o.log.Debug("cache: resynced", "root", t.root, "nodes", len(t.nodes))
		return
	}
	t.initialized = true
	t.emitLocked(Event{Type: Initialized, Path: t.root})
	close(t.ready)
}

// apply applies one change of a live watch. A change the cache already has
// is not reported again; a node whose CreateToken changed is reported
// removed and added.
func (t *Tree) apply(ev backend.TreeEvent) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.nodes[ev.Path]
	if ev.Type == backend.NodeRemoved {
		if old == nil {
			return nil
		}
		if t.o.dropRemovals {
			return nil
		}
		t.removeLocked(ev.Path)
		return nil
	}
	n := &Node{Path: ev.Path, Data: ev.Data, Stat: ev.Stat}
	nodes, bytes := len(t.nodes)+1, t.bytes+nodeBytes(n)
	if old != nil {
		nodes, bytes = nodes-1, bytes-nodeBytes(old)
	}
	if err := t.fits(nodes, bytes); err != nil {
		return err
	}
	switch {
	case old == nil:
		t.addLocked(n)
	case !t.same(old, n):
		t.removeLocked(ev.Path)
		t.addLocked(n)
	case t.changed(old, n):
		t.updateLocked(old, n)
	}
	return nil
}

func (t *Tree) setLocked(n *Node) {
	if old := t.nodes[n.Path]; old != nil {
		t.bytes -= nodeBytes(old)
	}
	t.nodes[n.Path] = n
	t.bytes += nodeBytes(n)
	if n.Path != t.root {
		parent := backend.Parent(n.Path)
		if t.kids[parent] == nil {
			t.kids[parent] = map[string]struct{}{}
		}
		t.kids[parent][backend.Base(n.Path)] = struct{}{}
	}
}

func (t *Tree) addLocked(n *Node) {
	t.setLocked(n)
	t.emitLocked(Event{Type: Added, Path: n.Path, New: n})
}

func (t *Tree) updateLocked(old, n *Node) {
	t.setLocked(n)
	t.emitLocked(Event{Type: Updated, Path: n.Path, Old: old, New: n})
}

// removeLocked forgets p and whatever the cache holds below it, reporting
// each removal, children before parents.
func (t *Tree) removeLocked(p string) {
	old := t.nodes[p]
	if old == nil {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(t.kids[p])) {
		t.removeLocked(backend.Join(p, name))
	}
	delete(t.kids, p)
	delete(t.nodes, p)
	t.bytes -= nodeBytes(old)
	if p != t.root {
		parent := backend.Parent(p)
		delete(t.kids[parent], backend.Base(p))
		if len(t.kids[parent]) == 0 {
			delete(t.kids, parent)
		}
	}
	t.emitLocked(Event{Type: Removed, Path: p, Old: old})
}
