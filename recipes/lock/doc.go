// Package lock is a fair, distributed exclusive lock (a mutex) over a
// backend.Session, on ZooKeeper or etcd alike.
//
//	m, err := lock.New(session, "/locks/orders", lock.WithData([]byte(hostname)))
//	lease, err := m.Lock(ctx)      // blocks until held, ctx ends or the session is lost
//	defer lease.Unlock(ctx)
//	select { case <-lease.Done(): /* stop: lease.Err() says why */ ... }
//
// # How it works
//
// The lock is a directory node. Each contender creates one protected
// ephemeral-sequential child (its name carries a GUID, so a create whose
// reply was lost is found again rather than made twice; the directory is
// created as a Container when missing). The child with the lowest sequence
// number holds the lock; every other child watches only the child just
// before it, with a data watch, so a release wakes exactly one waiter and
// waiters get the lock in arrival order. Lock and TryLock return a Lease,
// which carries the fencing token, the Done channel and Unlock.
//
// # Node layout
//
// The default layout, Curator, is the one of Curator's InterProcessMutex:
//
//	<path>/_c_<guid>-lock-<10 digits>
//
// The Kazoo layout (WithLayout(Kazoo)) is the one of kazoo's Lock:
//
//	<path>/<32 hex digits>__lock__<10 digits>
//
// On ZooKeeper these are ordinary znodes, ephemeral and sequential, with the
// data given by WithData. On etcd they are the keys backend/etcd maps these
// znodes to, attached to the session's lease; the sequence number comes from
// the parent's counter as on ZooKeeper. Children whose names the layout does
// not recognise are ignored for ordering: they neither hold nor block the
// lock. Every process sharing a lock directory must use the same layout.
//
// # Compatibility
//
// On ZooKeeper, a Mutex with the Curator layout and a Curator
// InterProcessMutex on the same path exclude each other: they read the same
// names the same way (sequence after "lock-"), and each watches its
// predecessor. With the Kazoo layout our nodes are kazoo's own names, so a
// kazoo Lock on the same path sees them without any setting. A kazoo Lock
// sharing a directory with Curator-layout nodes would not see them unless
// its extra_lock_patterns included "-lock-"; use the Kazoo layout instead.
// Reentrancy, revocation and Curator's lock schema are not offered. On etcd
// the nodes are only shared with other zkrecipes clients.
//
// # Guarantees
//
//   - At most one Lease per lock is granted at a time, as seen by the
//     server: a node is the first child only after every older node is gone.
//   - Waiters are served in the order their nodes were created.
//   - Token is the lock node's CreateToken (ZooKeeper czxid, etcd create
//     revision), strictly larger for every later grant of the lock, even
//     after the directory was removed and created again (the sequence
//     number is not: it restarts with the directory).
//   - Lock never returns a Lease for a session that is gone or a node that
//     was deleted: the node is read back on the live session first.
//   - A Lock that fails (ctx, session loss) or a TryLock that finds the lock
//     held removes its node before returning.
//   - A Mutex handle is not reentrant: Lock while it holds or acquires is
//     ErrAlreadyHeld at once, not a deadlock.
//
// # Failure behaviour
//
// Done is closed once when the lock can no longer be trusted: the session is
// Lost or Closed, the lock node was deleted (by anyone), or, under the
// default policy OnSuspend, the connection is down (Suspended). Err says why
// (ErrLost wrapping the cause). The policy is the trade-off Curator's Tech
// Note 14 describes: while the connection is down, the server may already
// have expired the session and granted the lock to another, so trusting a
// suspended lock (OnLost) risks two holders for up to the session timeout;
// dropping it on every connection blip (OnSuspend) costs availability but
// never trusts a lock the server may have given away. Under OnLost, Done
// fires only when the session is Lost (seen on reconnect on ZooKeeper, or
// when the lease TTL has passed without renewal on etcd).
//
// After Done, call Unlock anyway: it removes the node if the session came
// back (under OnSuspend it usually did), frees the handle, and returns the
// loss (matching ErrNotHeld and ErrLost) so the caller learns the lock did
// not cover all of its work.
//
// # A lock is not mutual exclusion for a resource
//
// A process can pause (GC, swap, a stopped VM) or lose its network after it
// checked Done, and go on writing after its session expired and another
// process took the lock. A lock alone cannot prevent that. Two tools help:
//
// Guard runs writes to the same backend in one transaction with a check that
// the lock node still exists, so they fail once the lock is gone:
//
//	_, err := lease.Guard(ctx, backend.SetOp{Path: "/orders/state", Data: v, Version: backend.AnyVersion})
//	if errors.Is(err, lock.ErrLost) { /* someone else may hold the lock now */ }
//
// For any other resource, pass Token to it with every write and have the
// resource refuse tokens lower than the highest it has accepted:
//
//	lease, err := m.Lock(ctx)
//	...
//	err = store.Write(ctx, key, value, lease.Token())
//
//	// In the store, atomically with the write:
//	if token < highestToken[key] {
//		return ErrStaleToken // a newer holder has written: refuse
//	}
//	highestToken[key] = token
//
// # Goroutines
//
// A Lease runs two goroutines watching the session state and the lock node;
// they end at Unlock, at loss, or when the session ends. Lock runs none of
// its own beyond its calls' watches, which end with the call.
package lock
