// Package lock is a fair, distributed exclusive lock (a mutex), a fair
// readers-writer lock and an all-or-nothing multi-lock over a
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
// # Access control
//
// The nodes a lock creates (its contenders' nodes, and the directory and
// its ancestors when missing) get the ACL of WithACL, or else the
// session's default. On ZooKeeper with credentials that default is
// creator-only (backend.CreatorAllACL): in a lock directory such a client
// created, a session without those credentials can neither read nor
// delete the holder's and waiters' nodes, nor queue (backend.ErrNoAuth). Processes of
// several users sharing one lock give it an ACL naming all of them,
// WithACL or zk.Config.DefaultACL. etcd has no per-node ACLs: WithACL is
// backend.ErrUnsupported there (New fails), and access is etcd's RBAC.
//
// # Compatibility
//
// On ZooKeeper a lock shares its path with Curator's and kazoo's. Whatever
// layout it writes, a Mutex orders every node in its directory whose name
// Curator or kazoo would write for an exclusive lock ("_c_<guid>-lock-<n>",
// "<hex32>__lock__<n>") by sequence number, and so waits for a holder of
// either library. Whether they wait for us depends on what they read:
//
//	               ours waits for it   it waits for our Curator layout   it waits for our Kazoo layout
//	Curator mutex  yes                 yes                               no (orders kazoo's names as text)
//	kazoo Lock     yes                 only with extra_lock_patterns     yes
//	                                   ["-lock-"]
//
// So with Curator processes on the path, use the Curator layout (the
// default); with kazoo processes, the Kazoo layout, or the default with
// extra_lock_patterns set on kazoo's side; with both, the Curator layout and
// that kazoo setting. A read-write lock, likewise, orders the readers and
// writers of both libraries' read-write locks ("__READ__"/"__WRIT__",
// "__rlock__"/"__lock__"; see Read-write lock); kazoo sees only its own
// names there. The semaphore speaks Curator's SemaphoreV2 protocol (a lease
// directory and a lock directory) and shares with Curator's
// InterProcessSemaphoreV2; kazoo's Semaphore is another protocol, and the
// two exclude nothing of each other. TestCrossLayout and TestInterop check
// the table against the real libraries.
//
// ZooKeeper's sequence numbers are signed 32-bit and go negative past
// 2147483647; a lock orders them as the server assigned them (a negative
// number after every positive one), where kazoo compares them as text.
// Reentrancy and Curator's lock schema are not offered; revocation is (see
// Revocation). On etcd the nodes are only shared with other zkrecipes
// clients.
//
// # Read-write lock
//
// RWMutex (NewRWMutex) is a readers-writer lock: RLock and TryRLock take a
// shared lease, Lock and TryLock an exclusive one, both the same Lease type.
// Readers and writers join one queue in one directory, ordered by sequence
// number, and the rule is fair in arrival order:
//
//   - a reader waits only for the writers ahead of it, and watches only the
//     nearest of them; readers ahead of it, and writers that arrived after
//     it, never block it;
//   - a writer waits for every node ahead of it, reader or writer, and
//     watches only the node just before it.
//
// So readers share the lock, a writer holds it alone, and a writer cannot be
// starved by a stream of readers: a reader arriving after a waiting writer
// queues behind it. A read lease's Token is its node's CreateToken, but
// readers overlap, so it is no fence among them; only a write lease's Token
// is a fencing token.
//
// The Curator layout (default) is the one of Curator's
// InterProcessReadWriteLock, the Kazoo layout the one of kazoo's ReadLock and
// WriteLock:
//
//	Curator: <path>/_c_<guid>-__READ__<10 digits>   <path>/_c_<guid>-__WRIT__<10 digits>
//	Kazoo:   <path>/<32 hex digits>__rlock__<10 digits>   <path>/<32 hex digits>__lock__<10 digits>
//
// Whatever its layout, an RWMutex reads the nodes of both and orders them
// by the digits after the marker, so on ZooKeeper our readers and writers
// and Curator's and kazoo's share one queue and exclude each other as the
// rule says, as far as each library reads the others' names (kazoo reads
// only its own, Curator orders kazoo's as text). A kazoo WriteLock's node is also a kazoo Lock's,
// so a kazoo Lock on the path acts as a writer. kazoo 2.8 (Debian's) still
// has kazoo#649: its ReadLock also waits for writers that arrived after it, so a
// kazoo reader queued ahead of a writer (ours or kazoo's) can wait for that
// writer while the writer waits for it, until a session ends. Our readers do
// not have the bug, but they cannot fix kazoo's: do not mix kazoo 2.8
// readers with writers on one path unless kazoo is fixed (kazoo PR #650).
//
// A handle may hold several read leases; Lock while it holds or acquires
// anything, and RLock while it holds or acquires the write lock, fail with
// ErrAlreadyHeld instead of waiting for themselves.
//
// # Multi-lock
//
// MultiLock (NewMultiLock) takes the Mutexes of several paths all or
// nothing, as Curator's InterProcessMultiLock does. Lock takes them one by
// one in sorted path order, whatever order they were given in, so two
// MultiLocks over overlapping sets never hold one path each while waiting
// for the other's. When a Lock fails (ctx, session loss) it unlocks what it
// had taken, so no node of it remains. The MultiLease it returns has one
// Lease per path (Tokens gives their fencing tokens by path); its Done is
// closed when any part can no longer be trusted, and Unlock releases all.
//
// # Revocation
//
// A holder can be asked to give its lock up, cooperatively, as in Curator:
// RequestRevoke (or Mutex.Revoke and RWMutex.Revoke, by node name) sets the
// lock node's data to RevokeMessage, the bytes "__REVOKE__" that Curator's
// Revoker writes. A lease taken with WithRevocable closes its Revoked
// channel when it sees them; the holder decides whether and when to Unlock.
// A request is not a loss: Done stays open. Without WithRevocable the
// request is ignored (the lease watches its node anyway, to see it deleted,
// and reads the marker without acting on it). A request overwrites the
// node's data (WithData).
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
// Note 14 describes. While the connection is down nothing can be checked:
// OnSuspend stops trusting the lock at once, at the price of giving it up
// on every blip; OnLost keeps it through a blip and gives it up when the
// session is Lost. A session that has heard nothing from the servers for
// its timeout is Lost on its own, on both backends, counted from a moment
// by which the server had certainly heard from it (backend/zk,
// backend/etcd), so even a holder cut off for good lets go before the
// server can expire its session and grant the lock to another. What
// neither policy can stop is a process paused (GC, SIGSTOP, a VM
// migration) across that moment, acting on a lease that has ended: only
// the fencing token catches that.
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
// they end at Unlock, at loss, or when the session ends. A MultiLease runs
// one more per part, watching its Done; they end at Unlock or at the first
// loss. Lock runs none of its own beyond its calls' watches, which end with
// the call.
//
// # Semaphore
//
// A Semaphore (NewSemaphore(s, path, maxLeases)) grants at most maxLeases
// leases at a time, with the protocol and node names of Curator's
// InterProcessSemaphoreV2, so that both share a semaphore on ZooKeeper when
// they give the same path and maxLeases (Curator's SharedCount for
// maxLeases is not supported). Acquire takes the mutex at path/locks (a
// Curator InterProcessMutex queue), creates a protected
// ephemeral-sequential lease node in path/leases, lists path/leases with a
// watch until it has at most maxLeases children (Curator counts every
// child), then releases the mutex; Release deletes the lease node:
//
//	<path>/locks/_c_<guid>-lock-<10 digits>    held only while acquiring
//	<path>/leases/_c_<guid>-lease-<10 digits>  one per lease; data from WithData
//
// Safety rests on the count alone (a lease is granted only when every
// node in path/leases, all held leases among them, fits in maxLeases); the
// mutex lets one waiter at a time count, so waiters cannot block each
// other. No lease leaks: a failed Acquire (ctx ended, session lost, a
// full semaphore for TryAcquire) deletes its lease node and its lock node
// before returning, a create whose reply was lost is found again by its
// GUID, and lease nodes are ephemeral (Curator's SemaphoreV2 leaked leases
// after reconnects and interrupts and on LOST: CURATOR-315, 462, 595, 335).
// A SemaphoreLease has Done, Err and Guard like a Lease, under the same
// LossPolicy, and runs the same two goroutines; its Token is the
// lease node's CreateToken and is not a fencing token, since up to
// maxLeases holders hold at once. It is not compatible with kazoo's
// Semaphore, which is a different protocol (max_leases in the data of
// path itself, a kazoo Lock on the sibling path-__lock__, lease nodes
// named by a bare uuid4 hex directly under path): a kazoo Semaphore and a
// Semaphore on the same path do not see each other's leases, and
// WithLayout(Kazoo) is refused.
package lock
