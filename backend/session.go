package backend

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// State is a session's connection state.
type State int

// Session states, in the order a session can pass through them:
// Connected, then any number of Suspended/Reconnected, then Lost or Closed.
const (
	// Connected: the session was established and the connection is up.
	Connected State = iota + 1
	// Suspended: the connection is down; the session may still be alive on the
	// server. Nothing this session holds can be trusted until Reconnected.
	Suspended
	// Reconnected: the connection is back and the same session is still alive.
	Reconnected
	// Lost: the server ended the session (expiry, lease gone). Final.
	Lost
	// Closed: the owner closed the session. Final.
	Closed
)

var stateNames = [...]string{"", "connected", "suspended", "reconnected", "lost", "closed"}

// String returns the state's name, e.g. "suspended".
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Final reports whether no further state can follow.
func (s State) Final() bool { return s == Lost || s == Closed }

// EventType is what a one-shot watch saw.
type EventType int

// One-shot watch event types.
const (
	// EventCreated: the watched node was created (ExistsW on a missing node).
	EventCreated EventType = iota + 1
	// EventDeleted: the watched node was deleted.
	EventDeleted
	// EventDataChanged: the watched node's data was set.
	EventDataChanged
	// EventChildrenChanged: a child of the watched node was created or deleted.
	EventChildrenChanged
	// EventNotWatching: the watch ended without seeing a change: its context
	// ended or its session was lost or closed. Event.Err says which.
	EventNotWatching
)

var eventNames = [...]string{"", "created", "deleted", "data-changed", "children-changed", "not-watching"}

// String returns the event type's name, e.g. "children-changed".
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return fmt.Sprintf("event(%d)", int(t))
}

// Event is what a one-shot watch delivers: exactly one Event, then the channel is closed.
type Event struct {
	Type EventType
	Path string // the watched path
	Err  error  // why an EventNotWatching ended the watch; nil otherwise
}

// TreeEventType is what a subtree watch saw.
type TreeEventType int

// Subtree watch event types.
const (
	// NodeAdded: a node in the subtree exists that the watcher had not seen.
	NodeAdded TreeEventType = iota + 1
	// NodeUpdated: a node's data changed.
	NodeUpdated
	// NodeRemoved: a node the watcher had seen is gone.
	NodeRemoved
	// TreeInitialized: every node that existed when the watch started has been
	// reported (as NodeAdded); what follows are changes. Sent once.
	TreeInitialized
	// TreeEnded: the watch is over; TreeEvent.Err says why. It is the last event.
	TreeEnded
	// TreeResynced: the watch recovered from a gap (a reconnect, an etcd
	// compaction) in which it could not see every change: it read the
	// subtree again and reported the differences as NodeAdded, NodeUpdated
	// and NodeRemoved events before this one. After it the watcher's view
	// equals the server's state at the re-read. Sent after every recovery,
	// also when nothing had changed.
	TreeResynced
)

var treeEventNames = [...]string{"", "added", "updated", "removed", "initialized", "ended", "resynced"}

// String returns the tree event type's name.
func (t TreeEventType) String() string {
	if t > 0 && int(t) < len(treeEventNames) {
		return treeEventNames[t]
	}
	return fmt.Sprintf("tree-event(%d)", int(t))
}

// TreeOptions are the settings of one WatchTree; see TreeOption.
type TreeOptions struct {
	// Depth is how many levels below the root are watched: 0 the root
	// alone, 1 the root and its children; negative (the default) all.
	Depth int
}

// TreeOption sets one of a WatchTree's TreeOptions.
type TreeOption func(*TreeOptions)

// TreeDepth limits a WatchTree to n levels below its root (0: the root
// alone, 1: the root and its children); a negative n watches all levels.
// Nodes deeper than n are neither reported nor read.
func TreeDepth(n int) TreeOption { return func(o *TreeOptions) { o.Depth = n } }

// NewTreeOptions applies opts to the defaults.
func NewTreeOptions(opts ...TreeOption) TreeOptions {
	o := TreeOptions{Depth: -1}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Within reports whether p is in the subtree at root within the depth.
func (o TreeOptions) Within(root, p string) bool {
	if root != "/" && p != root && !(strings.HasPrefix(p, root) && p[len(root)] == '/') {
		return false
	}
	return o.Depth < 0 || Depth(p)-Depth(root) <= o.Depth
}

// TreeEvent is one change seen by a subtree watch.
type TreeEvent struct {
	Type TreeEventType
	Path string
	Data []byte // the node's data after the change (NodeAdded, NodeUpdated)
	Stat Stat   // the node's stat after the change (NodeAdded, NodeUpdated)
	Err  error  // TreeEnded only
}

// Capabilities says what a session's backend can do.
type Capabilities struct {
	// Backend names the implementation: "zookeeper" or "etcd".
	Backend string
	// MaxDataSize is the largest node data accepted; larger is ErrTooLarge before sending.
	MaxDataSize int
	// TTL tells whether TTL modes are possible. On ZooKeeper the server must
	// also have extendedTypesEnabled: a server without it answers ErrUnsupported.
	TTL bool
	// Container tells whether the Container mode is possible.
	Container bool
	// ACL tells whether CreateOptions.ACL is honoured.
	ACL bool
	// ExactMode tells whether Stat.Mode (and Stat.TTL) is the mode the node
	// was created with, or only Ephemeral or Persistent (ZooKeeper).
	ExactMode bool
	// CreatedStat tells whether a create fills the Stat CreatedStat asks
	// for (etcd), or leaves it (ZooKeeper, until create2 is sent).
	CreatedStat bool
}

// Session is one session with the coordination service: the owner of ephemeral
// nodes, and the handle every recipe works through. All methods are safe for
// concurrent use. Every blocking method takes a context first and returns
// promptly when it ends.
//
// Paths are as seen inside the client's namespace. Errors are *OpError values
// matching the sentinels of this package.
type Session interface {
	// ID identifies the session on the server: ZooKeeper session ID, etcd lease ID.
	// It is what Stat.EphemeralOwner holds for this session's ephemeral nodes.
	ID() int64
	// Timeout is the session timeout negotiated with the server (etcd: the lease TTL).
	Timeout() time.Duration
	// Capabilities says what this session's backend can do.
	Capabilities() Capabilities

	// State returns the current connection state.
	State() State
	// StateChanges returns every state change from now on, in order, never
	// dropping one however slow the reader. The channel is closed after the
	// final state (Lost or Closed) was delivered, or when ctx ends.
	StateChanges(ctx context.Context) <-chan State
	// Done is closed once, when the session is lost or closed.
	Done() <-chan struct{}
	// Err is nil while the session lives; then ErrSessionExpired or ErrClosed.
	Err() error
	// Close ends the session: its ephemeral nodes are removed at once.
	// Close is idempotent and waits for the session's goroutines.
	Close() error

	// Create creates a node and returns its path (with the sequence suffix for
	// sequential modes). Missing parents are ErrNoNode unless WithParents is given.
	Create(ctx context.Context, path string, data []byte, mode Mode, opts ...CreateOption) (string, error)
	// Get returns a node's data and stat.
	Get(ctx context.Context, path string) ([]byte, Stat, error)
	// GetW is Get plus a one-shot watch on the node's data and existence: the
	// first change after the returned state fires it. No watch is left on error.
	GetW(ctx context.Context, path string) ([]byte, Stat, <-chan Event, error)
	// Exists returns the node's stat, or nil (and no error) when it does not exist.
	Exists(ctx context.Context, path string) (*Stat, error)
	// ExistsW is Exists plus a one-shot watch: EventCreated if the node did not
	// exist, EventDataChanged or EventDeleted if it did.
	ExistsW(ctx context.Context, path string) (*Stat, <-chan Event, error)
	// Set replaces a node's data if its version is version (AnyVersion for any).
	Set(ctx context.Context, path string, data []byte, version int32) (Stat, error)
	// Delete removes a node without children if its version is version (AnyVersion for any).
	Delete(ctx context.Context, path string, version int32) error
	// Children returns the names (not paths) of the node's direct children, in no set order.
	Children(ctx context.Context, path string) ([]string, Stat, error)
	// ChildrenW is Children plus a one-shot watch: EventChildrenChanged when a
	// child is created or deleted, EventDeleted when the node itself is.
	ChildrenW(ctx context.Context, path string) ([]string, Stat, <-chan Event, error)
	// Multi applies ops atomically: all or none. On failure the error is a
	// *MultiError naming the failing operation.
	Multi(ctx context.Context, ops ...Op) ([]OpResult, error)
	// Sync makes the next reads of this session see every write committed
	// before Sync was called (ZooKeeper sync; etcd: a linearizable read).
	Sync(ctx context.Context, path string) error
	// WatchTree streams the state of the subtree at path and every change
	// after it: first NodeAdded for every node, then TreeInitialized, then
	// changes, with TreeResynced after each recovery from a gap, until ctx
	// ends or the session ends (TreeEnded, then close). TreeDepth limits
	// how deep it looks. See each backend's documentation for what it can
	// coalesce.
	WatchTree(ctx context.Context, path string, opts ...TreeOption) (<-chan TreeEvent, error)
}

// Client owns the connection to a cluster and hands out its current session.
// When a session is lost, the next call to Session opens a new one, so a
// long-running service rejoins without a reconnect loop of its own.
type Client interface {
	// Session returns the current live session, opening a new one if there is
	// none or the last one was lost. It waits for the new session to connect,
	// until ctx ends.
	Session(ctx context.Context) (Session, error)
	// Close closes the current session and the connection. Idempotent.
	Close() error
}

// Expirer is implemented by sessions that can be made to expire on purpose,
// as a server would expire them: the tool fault tests use to show what a
// recipe does when its session dies. After Expire returns, the server has
// ended the session; the session itself notices as it would notice a real expiry.
type Expirer interface {
	Expire(ctx context.Context) error
}

// WaitState blocks until the session reaches one of the states, or ctx ends,
// or the session ends in another state.
func WaitState(ctx context.Context, s Session, states ...State) (State, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.StateChanges(ctx)
	match := func(st State) bool {
		for _, w := range states {
			if st == w {
				return true
			}
		}
		return false
	}
	if st := s.State(); match(st) {
		return st, nil
	}
	for {
		select {
		case st, ok := <-ch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return s.State(), err
				}
				return s.State(), s.Err()
			}
			if match(st) {
				return st, nil
			}
		case <-ctx.Done():
			return s.State(), ctx.Err()
		}
	}
}
