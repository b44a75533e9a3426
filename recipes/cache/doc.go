// Package cache keeps a local, always-converging copy of part of the tree,
// with a stream of its changes: Tree (a subtree, to a depth, filtered by a
// selector, bounded in nodes and bytes), NodeCache (one node: a Tree of
// depth 0) and ChildrenCache (one level: a Tree of depth 1 whose parent is
// not one of its children). They play the part of Curator's
// NodeCache/PathChildrenCache/TreeCache/CuratorCache and kazoo's
// TreeCache/DataWatch/ChildrenWatch, on ZooKeeper and etcd alike.
//
// # How it works
//
// A cache is made from a backend.Client, not a Session: one goroutine takes
// the client's current session, follows backend.Session.WatchTree on the
// root (to the cache's depth), and applies its events to the copy under a
// lock. The nodes of a watch's initial state are gathered apart and, at its
// TreeInitialized, compared with the copy: the differences are applied and
// reported, then Initialized (the first time) or Resynced. When the session
// is lost the watch ends; the goroutine takes the client's next session
// (Client.Session opens it), starts a new watch and diffs again, so a lost
// session is one more resync. The cache keeps no reference to a session
// after its watch ended. Recoveries inside one session (a reconnection, an
// etcd compaction) are the backend's: it re-reads and reports the
// differences, then TreeResynced, which the cache passes on as Resynced.
//
// A recovery costs one read of the subtree, done by the backend (a new
// session's WatchTree, or the backend's own resync), and the cache adds no
// reads of its own: no read per node per event, no storm on reconnection
// (kazoo#664). Close ends the WatchTree; backend/zk cannot remove one-shot
// watches from the server, so the ones it set stay there until they fire
// or the session ends, and nothing on the client waits for them.
//
// Start starts the goroutine and returns once the first full read is in.
// Get, Children, Snapshot and Len read the copy and never wait for the
// network; between a fault and its resync they return the last known state.
//
// # Identity
//
// A node is identified by its CreateToken (ZooKeeper czxid, etcd create
// revision), never by its version: a node deleted and created again while
// the cache could not see it, even with the same data and version 0, is a
// Removed (with its cached subtree) and an Added, never an Updated
// (CURATOR-391). An update is a change of ModifyToken; a change the copy
// already has is never reported again (no duplicate Added, CURATOR-324).
//
// # Events
//
// A Listener (Listen) receives Added, Updated and Removed events with the
// node before (Old) and after (New), Initialized once, and Resynced after
// every recovery from a gap (CURATOR-296). Its stream begins with Added for
// every node the cache holds when it was made, so a listener made at any
// time sees a state, then changes: replaying its events onto an empty
// tree gives the cache's copy. Events come in the order the cache applied
// them, which is the order the backend reported the changes: for each path
// the order the server applied them, on both backends; across paths too on
// etcd, whose watch is one ordered stream, while backend/zk re-reads the
// nodes whose one-shot watches fired, parents first. Parents are always
// added before their children and children removed before their parents.
// A resync reports its removals first (children first), then its additions
// and updates (parents first). What a backend itself coalesces (backend/zk:
// several changes between a watch firing and the re-read; a node created
// and deleted between two reads) reaches the cache as the net change.
//
// # Slow listeners
//
// The goroutine that applies changes never waits for a listener. Each
// listener has a queue of its own, and the events it has not yet taken
// coalesce per path, as latest values:
//
//   - An Updated of a path whose Added or Updated is still queued merges
//     into it: that event keeps its type, its place and its Old, and takes
//     the new New.
//   - A Removed of a path whose Added is still queued deletes both: the
//     listener never saw that node. A Removed of a path whose Updated is
//     still queued replaces it, with the Old the listener last saw.
//   - Removals are never dropped otherwise: a node the listener has seen is
//     always reported removed.
//   - Initialized and Resynced are barriers: nothing after one merges into
//     an event before it.
//
// So a queue holds at most about one event per cached node and one per
// node the listener has seen removed, plus the markers: it cannot grow
// without bound however slow its reader, and the reader's view converges
// on the cache's. The price: while a listener lags, an update may be
// delivered ahead of events of other paths that happened before it, and
// intermediate values are skipped. A listener that reads promptly sees
// every event the cache applied.
//
// # The root
//
// A cache of a root that does not exist starts empty (Start succeeds) and
// reports the root, with its subtree, when it is created. A root deleted is
// reported as the removal of every cached node, children first, and the
// cache goes on watching: a root made again, such as a container parent
// the server reaped and a client made again, is reported as added, with
// its new children (CURATOR-182, CURATOR-183, CURATOR-388). A
// ChildrenCache's listeners hear nothing of the parent itself, and List
// never includes it (CURATOR-574); Parent says whether it exists.
//
// # Bounds
//
// MaxNodes and MaxBytes (paths plus data) bound what the cache keeps: a
// read or a change that would take it past a bound ends the cache with
// ErrTooLarge (the change not applied) rather than grow. Select keeps a
// part of the subtree, Depth limits its levels; the backend still watches
// what the depth covers (backend/zk mirrors it, with a copy of every node's
// data), so a selector bounds the cache's memory, not the backend's.
//
// # What fails and how
//
// The cache ends (Done closed, Err set, listeners get the events queued
// before, then Err from Next) on Close (ErrClosed), past a bound
// (ErrTooLarge), when its client is closed, or when the server refuses a
// read (backend.ErrNoAuth): errors no new session cures. A lost session and
// a lost connection are not the end: the cache retries, with backoff, for as
// long as it runs, and keeps serving its last state meanwhile. Start
// returns early with the cache's Err, or with ctx's error (and closes the
// cache) when ctx ends first. Bad input (a bad path, a negative bound, an
// option that does not apply) is ErrBadOption or backend.ErrBadPath, from
// the constructor.
//
// # Goroutines
//
// A cache runs one goroutine (and the backend's watch goroutine) from Start
// to Close; Close waits for it, and for the watch's stream to close.
// Listeners have no goroutine: Next takes from the queue.
package cache
