// Package etcd is the etcd backend of zkrecipes: ZooKeeper's znode
// semantics (a tree of nodes with data, versions, ephemeral and sequential
// nodes, containers, TTLs, one-shot watches and atomic multi-operations) on
// etcd's flat, revisioned key space, through go.etcd.io/etcd/client/v3.
//
//	c, err := etcd.New(etcd.Config{Endpoints: []string{"127.0.0.1:2379"}, Namespace: "/app"})
//	...
//	defer c.Close()
//	s, err := c.Session(ctx) // a backend.Session: hand it to the recipes
//
// # Key layout
//
// Every key starts with "/zkr/". A node's full path is its path inside the
// client's namespace with the namespace prepended; with d its depth (the
// number of components: "/" is 0, "/a" is 1) written as three digits ddd:
//
//	D(p) = "/zkr/" + ddd + "d" + p    data key: flags, mtime, data
//	C(p) = "/zkr/" + ddd + "c" + p    children counter: no value, its version counts
//	E(p) = C(p) + "\x00"             count corrections, rarely present (see Multi)
//	M(p) = C(p) + "\x01"             meta key: mode, ctime, TTL, written by the create
//	X(p) = "/zkr/x" + p               reaper index of container and TTL nodes
//	R(ns) = "/zkr/r" + ns             held by the namespace's reaper (see Container and TTL nodes)
//	F(l) = "/zkr/f" + hex(l)          the fence of session (lease) l, on its lease (see Sessions)
//
// For example, with /app and /app/locks, after four sequential creates
// under /app/locks (lock-0000000000 to lock-0000000003) and the deletes of
// the first three:
//
//	/zkr/000c/, /zkr/001c/app                  counters of the root and of /app
//	/zkr/001c/app\x01, /zkr/001d/app           meta and data of /app
//	/zkr/002c/app/locks                        version 7: CVersion of /app/locks is 7
//	/zkr/002c/app/locks\x01                    meta of /app/locks
//	/zkr/002d/app/locks                        data of /app/locks
//	/zkr/003c/app/locks/lock-0000000003\x01    meta of the lock; lease = the owner session
//	/zkr/003d/app/locks/lock-0000000003        data of the lock; lease = the owner session
//
// The children of p are exactly the data keys with the prefix
// "/zkr/" + ddd(d+1) + "d" + p + "/" (for the root, "/zkr/001d/"): one range
// read, paged by 10,000 keys at one revision, however many children there
// are. Grandchildren have another depth and fall outside the range, and
// "/a/b" and "/a/bc" never collide (FuzzKeyEncoding checks both). Counting
// that range (count-only) gives NumChildren; "no children" is the compare
// CreateRevision(range) = 0, which etcd evaluates over every key of the
// range and, for an empty range, against a zero key: true exactly when the
// range is empty. Paths deeper than MaxDepth (999 components, namespace
// included) are ErrBadPath. The root "/" of the whole key space always
// exists and has no data key until its data is first set.
//
// The depth comes before the key type (the brief this package was written
// from put the type first), so that all keys of consecutive depths, data
// and counters alike, form one contiguous range: WatchTree can watch the
// depths it covers with one etcd watch and keep every node's counts
// current.
//
// A node's metadata is split by how it changes. The data key holds what a
// set changes: a 10-byte header (format version, flags, mtime in Unix
// milliseconds) and the data. The meta key M(p), right after C(p) and E(p),
// holds what never changes after the create: format version, mode, ctime,
// TTL in milliseconds. One range read [C(p), M(p)] returns all three, and a
// set is a single put guarded by compares, with no read before it. (The
// brief this package was written from kept mode, ctime and TTL in the data
// key's header, so every set had to read the node first: two round trips,
// and a set whose read lost its reply never reached the server.) A data
// value this backend did not write reads as persistent raw data.
//
// # Namespaces are chroots
//
// Config.Namespace works like a ZooKeeper chroot: a client with namespace
// "/app" sees the node "/app/x" of a client with namespace "/" as "/x". This
// is what the conformance suite asks for (an outer namespace sees an inner
// one's nodes as ordinary nodes), and it is why namespaces cannot collide:
// namespaces "/a" and "/ab" hold different full paths, so different keys and
// ranges. The namespace node and its ancestors are created, persistent and
// empty, when a session starts. The namespace root cannot be deleted
// through its own client.
//
// # Stat
//
//	Version        = version(D) - 1 (+ correction from E)
//	CVersion       = version(C), 0 when C is absent (+ correction from E)
//	CreateToken    = create revision of D (a Multi's re-create: see below)
//	ModifyToken    = mod revision of D
//	EphemeralOwner = lease of D (the owning session's lease ID)
//	DataLength, Modified: from D; Created: from M; NumChildren: count of the child range
//
// Every create or delete made through this backend puts C(parent) in the
// same transaction, bumping its version, and deleting a node deletes its C,
// E and M keys, so a re-created node's CVersion starts again at 0 as in
// ZooKeeper; a Multi that deletes a node and creates it again deletes its C
// as well (unless it also changes the new node's children). So whatever
// changes a node's CVersion writes C(p): the version of C(p) (0 while it
// is absent) together with the mod revision of E(p) pins the CVersion,
// and sequential creates rely on it.
//
// # Ephemeral nodes and lease expiry
//
// An ephemeral node's data and meta keys are put with the session's lease. Creating a
// child compares the parent's lease with 0, so a child of an ephemeral node
// is ErrNoChildrenForEphemerals. When a lease expires (or is revoked),
// etcd deletes its keys by itself, without bumping C(parent): a child
// removed by lease expiry does not count in CVersion; the deletion is still
// seen by every watcher of the node (EventDeleted) and of the parent's
// children (EventChildrenChanged), and NumChildren drops. Session.Close, by
// contrast, deletes its ephemeral nodes through the ordinary delete (found
// with LeaseTimeToLive WithAttachedKeys, each delete guarded by the lease),
// so they count, and only then revokes the lease.
//
// # Sequential nodes
//
// The suffix is the parent's CVersion at the time of the create, formatted
// with backend.FormatSequence. It keeps the rule backend states: while the
// parent lives, each suffix is larger than every suffix handed out under it
// before (the CVersion grows with every create under the parent and never
// falls while it lives), so suffix order is creation order (and
// CreateToken order); a parent
// deleted and created again starts again at 0. ZooKeeper numbers by another
// count, the children created (its CVersion counts creates and deletes:
// after 4 creates and 2 deletes it is 6, and the next suffix 4), so the
// numbers themselves differ between the backends.
//
// The suffix is assigned in the transaction that creates the node, which
// carries k guesses of the counter, nested: If(the parent exists and has
// no lease, E(parent)'s mod revision is the one the guesses came from)
// Then(If(version of C(parent) = v, name v free) Then(put the node, put
// C(parent)) Else(If(version = v+1, name v+1 free) Then(...) Else(... the
// last guess's Else reads C and E of the parent))) Else(read the parent,
// its lease, and C and E). A CVersion is the version of C(parent) plus the
// correction E(parent) holds (see Multi), and every change of a CVersion
// writes C (see Stat), so the compares pin the CVersion of the very
// moment the create is applied: a counter from before a create, a delete
// or a re-create of the parent simply misses. Creates that reach the
// server together are applied one after the other and each finds the
// counter one further on; with a guess for each of them, all succeed at
// their first try. A create that misses learns the counter from the same
// transaction and tries again with twice as many guesses as it missed by
// (at most 32, fewer for large data, within etcd's default 128 operations
// per transaction); one that hit its first guess sends one guess next
// time. So N clients creating under one parent at once send about
// log2(N) transactions per create, not a number growing with N
// (TestSequentialCrowdWorkIsLinear; BenchmarkSequentialCrowd measures
// 3.1, 4.5 and 5.7 per create for 16, 64 and 256 clients, against 7.8,
// 16 and 40 with one guess). A name that a plain create already took is
// ErrNodeExists, as on ZooKeeper. The first attempt starts from the
// counter this client last saw for the parent (after its own creates and
// deletes, or a listing of the parent), or assumes a parent that never
// had a child; the creates of one Client under one parent queue behind
// each other instead of racing. Nothing is ever reserved ahead of a
// create.
//
// # Multi
//
// Multi reads every node its operations touch (and the children counts of
// the nodes it deletes or sets) at one revision, applies the operations in
// order to that snapshot, and commits the net effect in one transaction
// whose compares pin what it relied on: mod revision of each node operated
// on (0 for an absent one), create revision of each parent it creates in,
// mod revision of C for parents of sequential creates, "no child created
// since the snapshot" for the nodes it deletes. If another write got in
// between, the transaction's Else branch returns a fresh snapshot and the
// Multi is planned again; an operation whose own condition fails is a
// *backend.MultiError naming it. A Multi needing more than 128 compares or
// writes (etcd's default --max-txn-ops) is ErrTooLarge before anything is
// sent: a create writes two keys (three for container and TTL nodes) plus
// its parent's counter once per parent, so a Multi holds about 60 creates.
//
// etcd refuses a transaction that writes one key twice, and bumps a key's
// version once per transaction. So a Multi that changes a node's data or
// children several times writes the key once and stores the difference in
// E(p) (the node's version and CVersion stay exact), and a Multi that
// deletes a node and creates it again overwrites its data and meta keys,
// the data flagged "re-created", records the new CreateToken in E(p), and
// deletes C(p): Version 0, CVersion 0, a new CreateToken, the new mode and
// owner. Watchers read the flag and report the deletion (EventDeleted,
// EventChildrenChanged, and NodeRemoved then NodeAdded in WatchTree).
//
// # Round trips
//
//	Get, Exists, Sync             1 read (linearizable)
//	Children, ChildrenW           1 read per 10,000 children, at one revision
//	Create                        1 transaction; sequential: 1 when the client knows the
//	                              parent's counter, else 2; about log2(N) with N
//	                              clients creating under one parent at once
//	Delete                        1 transaction (+1 the first time a Multi left a correction)
//	Set                           1 transaction (+1 the first time a versioned Set meets a correction)
//	Multi                         1 read + 1 transaction (reads of more than 128 keys: 1 more per 128)
//	GetW, ExistsW                 1 read + a watch stream request
//	WatchTree                     1 Status per endpoint + 1 read per level (and page), at most
//	                              n+1 levels with TreeDepth(n), + 2 watches per level (etcd 3.6+,
//	                              and 1 progress request per batch of events) or 1 watch;
//	                              after a compaction, the reads again
//	Session                       1 lease grant (+1 read of the namespace node, unless Namespace is "/")
//	Session.Close                 1 lease read + 1 delete per ephemeral node + 1 revoke
//
// # Watches
//
// GetW and ExistsW read the node at revision r and watch D(p) from r+1;
// ChildrenW lists at r and watches the child range and D(p) from r+1. No
// change can fall between the read and the watch, and starting at r+1
// (not r) matters: etcd serves a watch starting at or below its current
// revision from its 100 ms catch-up loop, so a handoff would wait for it.
// The first event that means something fires the watch (a put with version
// 1: created; another put: data changed; a delete: deleted; for children,
// a child's first put or its delete), the etcd watch is cancelled, and the
// channel is closed. A watch ends with EventNotWatching when its context
// ends (ctx.Err()) or its session is lost (ErrSessionExpired) or closed
// (ErrClosed).
//
// Watches are opened with clientv3.WithRequireLeader: a member cut off from
// its leader cancels them with "no leader" instead of going silent, and the
// backend opens them again from the same revision, so nothing is missed. If
// etcd compacted that revision away (ErrCompacted), the backend reads the
// node (or the children) again: if it changed, the watch fires with what
// changed, else it watches on from the new revision + 1.
//
// WatchTree lists the subtree level by level (each level one range read
// under p, all at one revision r, stopping at the first empty level, or
// after n levels with TreeDepth(n)), reports it, then watches from r+1.
// On etcd 3.6 and later (asked of every endpoint with a Status call; one
// that does not answer within 5 s counts as older) it watches only the
// subtree: per level, the data keys and the counter keys
// of that depth under p, two etcd watches on a gRPC stream of the tree
// watch's own, down to one level below the deepest node (or to the depth
// asked for). A level's first node opens the watches of the level below
// it from that node's revision: none of its children can be older.
// etcd orders events within one watch only, so the events of the levels
// are held until every watch has passed their revision, then applied in
// revision order (in one revision, deletes children first, then puts
// parents first). A watch is known to have passed revision v when it
// delivered an event at v or a progress notification at v or later; when
// events wait, the tree watch asks for progress (etcd 3.6 and later send
// the notification only once every watch of the stream has sent all its
// events up to it, and drop the request while one is catching up, so it
// asks again every 100 ms). A change thus reaches the reader a round trip
// later than its etcd event. On older servers, whose progress notification
// may overtake events, and for subtrees more than 8 levels deep, the tree
// watch keeps one etcd watch of every key of the depths it covers,
// depth(p) to depth(p)+n (every depth from depth(p) on without TreeDepth),
// in the whole key space (one contiguous range), and filters on the
// client: it receives the changes to every other node at those depths
// (a watch of /config one level deep receives every change at depths 1
// and 2, the locks' included). Either way, nodes deeper than asked for
// are neither read nor received, and nodes at the depth limit report
// NumChildren 0 (their children are not read) and their exact CVersion.
// Events are never dropped or coalesced; those a slow reader has not
// taken yet wait in the client's memory, without bound (clientv3 keeps
// receiving and buffers a watch's responses until they are read). A watch
// cut off by a connection loss is resumed by clientv3, and one cancelled
// with "no leader" is opened again by the backend, both at the revision
// after the last event applied: no gap, no duplicate, no TreeResynced.
// After a compaction it lists again and reports the differences, identity
// by CreateToken (a node deleted and created again is NodeRemoved then
// NodeAdded; children are removed before their parents), then
// TreeResynced. After its context ends, read until the channel closes:
// the final TreeEnded waits for the reader (at most 5 s once the stream is
// over).
//
// # Sessions
//
// A session is one lease, TTL = SessionTimeout in whole seconds (at least
// 2 s, etcd's minimum; the server may raise it). Its own loop renews the
// lease with one LeaseKeepAliveOnce every TTL/3, each bounded by TTL/3
// (clientv3's KeepAlive helper is not used, so the state is ours): the
// session is Suspended when a renewal fails for the connection or none
// succeeded for 2/3 of the TTL, Reconnected at the next success, and Lost
// (ErrSessionExpired) when the server no longer knows the lease or when the
// TTL, less a twentieth, has passed since the last successful renewal was
// sent. The server expires the lease no earlier than a TTL after it
// received that renewal, so the session gives itself up before another
// session can take what it held, even if the server is never reached again
// (Curator's client-side expiry; the twentieth is room for a late timer). A lost session is never replaced under
// the caller: its calls fail with ErrSessionExpired at once, and
// Client.Session opens a new one. Every call of a session is bounded by the
// session: a call waiting for a connection ends when the session ends.
// Expire revokes the lease and wakes the loop, which sees the lease gone.
//
// A write whose reply is lost (the connection failed, or the caller's
// context ended, after it was sent) may still be applied after the session
// has reconnected and read: the server had read it but not yet proposed
// it, or proposed it but not yet committed it, when the read took its read
// index. A caller that reads back to settle the outcome (did my create
// land?) would decide wrongly, and the write would land behind it. So
// every write also compares the mod revision of the session's fence key
// F(lease) with the one the session knows, and after a write without an
// answer the session's next call, reads included, first puts F: a write
// sent before can no longer apply, and one applied before is visible to
// what follows. A write that meets a moved fence applied nothing and is
// sent again on the new revision. The fence costs one compare and one read
// per write, and one put after each lost reply; it takes one of the
// --max-txn-ops compares a Multi may use (127 are left).
//
// # Container and TTL nodes
//
// etcd has neither, so one client per namespace reaps (Config.ReapInterval,
// default 1 s; negative keeps a client out of it) over the index keys X(p)
// of its namespace: it deletes TTL nodes without children whose mtime + TTL
// has passed, and containers without children whose CVersion is above 0
// (they had a child), each with a transaction guarded by the mod revision
// read and the range-empty compare. The reaper is elected: it holds
// R(ns) = "/zkr/r" + ns with the lease of one of its sessions; every other
// client of the namespace keeps one idle watch on R(ns) and stands when it
// is deleted (the reaper closed, or its session was lost), so reaping costs
// the same for 64 clients as for one. A client without a live session does
// not stand. Nested namespaces ("/" and "/app") each have their reaper,
// and the guarded deletes make two reapers on one node safe. TTLs are
// judged by the reaping client's clock against the mtime the writer's
// clock recorded: keep clocks in sync, and expect reaping up to one
// interval late (more while a new reaper takes over). Reaping is an
// ordinary delete: it counts in the parent's CVersion.
//
// # Errors, retries and limits
//
// Paths are checked before any round trip (ErrBadPath), then the caller's
// context, then sizes (ErrTooLarge, before sending), then the session
// (ErrSessionExpired, ErrClosed). Errors are *backend.OpError values with
// the clientv3 error kept as their cause. The mapping, which puts etcd's
// failures in the same classes as ZooKeeper's (see backend/zk):
//
//	etcd / gRPC error                                  backend sentinel       ZooKeeper counterpart
//	Unavailable (no connection, transport closing)     ErrConnectionLoss      ConnectionLoss
//	ErrNoLeader, ErrLeaderChanged, ErrNotLeader,
//	  ErrStopped, ErrUnhealthy                         ErrConnectionLoss      ConnectionLoss (leader election)
//	ErrNotCapable (cluster version not yet agreed)     ErrConnectionLoss      ConnectionLoss (server starting)
//	ErrTimeout, ErrTimeoutDueToLeaderFail,
//	  ErrTimeoutDueToConnectionLost,
//	  ErrTimeoutWaitAppliedIndex                       ErrConnectionLoss      ConnectionLoss
//	DeadlineExceeded / Canceled not from the caller    ErrConnectionLoss      ConnectionLoss (request timeout)
//	ErrTooManyRequests (member overloaded), other
//	  ResourceExhausted but message size               ErrConnectionLoss      ConnectionLoss (throttled)
//	ErrNoSpace, ErrCorrupt (alarms),
//	  other unexplained errors                         ErrConnectionLoss      SystemError, a server stopping
//	ErrCompacted, ErrFutureRev (a read at a revision
//	  the member no longer or not yet has)             ErrConnectionLoss      -
//	ErrInvalidAuthToken, ErrAuthOldRevision (clientv3
//	  has fetched a new token: the next try succeeds)  ErrConnectionLoss      -
//	ErrLeaseNotFound                                   ErrSessionExpired      SessionExpired
//	ErrPermissionDenied, ErrAuthFailed, ErrUserEmpty,
//	  ErrUserNotFound, Unauthenticated                 ErrNoAuth              NoAuth, AuthFailed
//	ErrRequestTooLarge, ErrTooManyOps,
//	  ResourceExhausted (message size)                 ErrTooLarge            (jute.maxbuffer)
//	other InvalidArgument (empty or duplicate key,
//	  ErrKeyNotFound, ...), ErrLeaseTTLTooLarge,
//	  Unimplemented: refused whenever sent             ErrUnsupported         Unimplemented
//	the caller's context ended                         its ctx error          (same)
//
// An error is matched as clientv3 returns it (rpctypes.EtcdError) or as
// the server's gRPC status. ErrConnectionLoss is what the retry policy
// retries, with back-off; every other class is final at once.
// An ErrConnectionLoss on a write means its outcome is unknown.
// ACLs are ErrUnsupported.
//
// clientv3 retries reads (and lease calls) on Unavailable, up to 100 times by
// default, and never retries a write once sent; it also waits for a
// connection before sending (gRPC WaitForReady). This backend sets
// MaxUnaryRetries to 1, one attempt: a failed call surfaces as
// ErrConnectionLoss rather than being retried invisibly, and the one retry
// policy of zkrecipes applies on top: Client.Session wraps its sessions
// with backend.Retrying(Config.RetryPolicy), which retries reads and
// versioned writes and reports a connection loss on a create, an
// unconditional write or a Multi as backend.ErrOutcomeUnknown. Calls still
// wait for a connection, bounded by the caller's context and the session.
// gRPC reconnects with a backoff of at most 1 s, and the endpoint list is
// never synced from the cluster.
//
// The effective timeouts, then: a call ends when the caller's context ends;
// before that, a connection loss is retried by the client's policy
// (default: waits from 50 ms doubling to 2 s, for at most 30 s in all);
// and whatever the policy, a session whose lease could not be renewed for
// its TTL is Lost (client-side expiry, checked by the keep-alive loop every
// TTL/3), which ends every call on it with ErrSessionExpired. Suspended is
// set after two thirds of the TTL without a successful keep-alive, or at
// once when a keep-alive fails with a connection loss.
//
// MaxDataSize defaults to etcd's default request limit (1.5 MiB,
// --max-request-bytes) minus 16 KiB for the header, keys and transaction.
package etcd
