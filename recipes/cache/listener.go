package cache

import (
	"context"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
)

// EventType is what a cache event reports.
type EventType int

// Cache event types.
const (
	// Added: a node the listener had not seen is in the cache. New is set.
	Added EventType = iota + 1
	// Updated: a node's data changed (its ModifyToken moved). Old and New
	// are set and have the same CreateToken.
	Updated
	// Removed: a node the listener had seen is gone (deleted, or deleted
	// and created again: then an Added follows). Old is set.
	Removed
	// Initialized: every node of the first full read has been reported.
	// Sent once per listener.
	Initialized
	// Resynced: the cache recovered from a gap (a reconnection, an etcd
	// compaction, a new session after the last one was lost), read the
	// subtree again and reported the differences before this event. After
	// it the listener's view equals the cache's state at the re-read.
	Resynced
)

var eventNames = [...]string{"", "added", "updated", "removed", "initialized", "resynced"}

// String returns the event type's name, e.g. "removed".
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return fmt.Sprintf("event(%d)", int(t))
}

// Node is one node as a cache holds it. Its Data is shared by the cache and
// every reader: do not modify it.
type Node struct {
	Path string
	Data []byte
	Stat backend.Stat
}

// Event is one change a listener receives. Old is the node as the listener
// last saw it, New the node now; each is nil where it does not apply.
type Event struct {
	Type EventType
	Path string // the node's path; the cache's root for Initialized and Resynced
	Old  *Node
	New  *Node
}

// Listener receives a cache's events in order, at its own pace: the cache
// never waits for it. Its stream begins with Added for every node the cache
// held when it was made, then Initialized (once the cache's first full read
// is in), then the changes.
//
// A listener that falls behind is not dropped and does not hold the cache
// back: its undelivered events coalesce per path (see the package
// documentation, "Slow listeners"). Its queue is bounded by about twice the
// number of nodes in the cache, plus one event per resync.
type Listener struct {
	cache *Tree
	keep  func(path string) bool // nil: every path

	mu      sync.Mutex
	queue   []*item
	head    int
	pending map[string]*item // the newest undelivered Added or Updated of a path
	wake    chan struct{}    // capacity 1: an event was queued or the cache ended
	closed  bool
}

type item struct {
	ev   Event
	dead bool // merged away: skip it
}

func newListener(c *Tree, keep func(string) bool) *Listener {
	return &Listener{cache: c, keep: keep, pending: map[string]*item{}, wake: make(chan struct{}, 1)}
}

// push queues ev, coalescing with an undelivered event of the same path.
// It never blocks.
func (l *Listener) push(ev Event) {
	if l.keep != nil && (ev.Type == Added || ev.Type == Updated || ev.Type == Removed) && !l.keep(ev.Path) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	switch ev.Type {
	case Updated:
		if it := l.pending[ev.Path]; it != nil {
			// Latest value wins; the type (Added or Updated) and Old stay
			// those of the event the listener has not yet received.
			it.ev.New = ev.New
			return
		}
	case Removed:
		if it := l.pending[ev.Path]; it != nil {
			delete(l.pending, ev.Path)
			it.dead = true
			if it.ev.Type == Added {
				// The listener never saw this life of the node: neither
				// its coming nor its going is news to it.
				return
			}
			ev.Old = it.ev.Old // what the listener saw before the update
		}
	case Initialized, Resynced:
		// A marker is a barrier: nothing after it merges into what is
		// before it, so the view at the marker is the view the cache had.
		clear(l.pending)
	}
	it := &item{ev: ev}
	l.queue = append(l.queue, it)
	if ev.Type == Added || ev.Type == Updated {
		l.pending[ev.Path] = it
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// poke wakes a waiting Next without an event: the cache ended.
func (l *Listener) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take returns the next undelivered event, if any.
func (l *Listener) take() (Event, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Event{}, false, ErrClosed
	}
	for l.head < len(l.queue) {
		it := l.queue[l.head]
		l.queue[l.head] = nil
		l.head++
		if l.head == len(l.queue) || l.head > 1024 && 2*l.head > len(l.queue) {
			l.queue = append(l.queue[:0:0], l.queue[l.head:]...)
			l.head = 0
		}
		if it.dead {
			continue
		}
		if l.pending[it.ev.Path] == it {
			delete(l.pending, it.ev.Path)
		}
		return it.ev, true, nil
	}
	return Event{}, false, nil
}

// Next returns the next event, waiting for one until ctx ends. When the
// cache has ended and every event before its end was returned, Next returns
// the cache's Err (ErrClosed after Close); after the listener's own Close,
// ErrClosed.
func (l *Listener) Next(ctx context.Context) (Event, error) {
	for {
		ev, ok, err := l.take()
		if ok || err != nil {
			return ev, err
		}
		select {
		case <-l.cache.done:
			// The cache pushes nothing after done is closed: one more look.
			if ev, ok, err := l.take(); ok || err != nil {
				return ev, err
			}
			return Event{}, l.cache.Err()
		default:
		}
		select {
		case <-l.wake:
		case <-l.cache.done:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Pending returns the number of events queued for the listener, merged ones
// not counted twice: what a slow reader has yet to take.
func (l *Listener) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, it := range l.queue[l.head:] {
		if !it.dead {
			n++
		}
	}
	return n
}

// Close stops the listener: the cache queues nothing more for it, and Next
// returns ErrClosed. Idempotent.
func (l *Listener) Close() {
	l.cache.unlisten(l)
	l.mu.Lock()
	l.closed = true
	l.queue, l.head, l.pending = nil, 0, nil
	l.mu.Unlock()
	l.poke()
}
