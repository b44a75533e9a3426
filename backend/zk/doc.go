// Package zk is the ZooKeeper backend: backend.Client and backend.Session
// over github.com/go-zookeeper/zk v1.0.4, for ZooKeeper 3.5 and later
// (tested against 3.8).
//
//	c, err := zk.New(zk.Config{Servers: []string{"zk1:2181", "zk2:2181"}, Namespace: "/myapp"})
//	...
//	defer c.Close()
//	s, err := c.Session(ctx) // the current session; a new one after a loss
//
// # Namespace
//
// go-zookeeper has no chroot, so Config.Namespace is implemented here: every
// path is prefixed with it on the way in, and created paths (sequential
// names included), Multi results and watch events are stripped of it on the
// way out. "/" inside the namespace is the namespace node itself: it can be
// read, set and listed, not deleted (ErrBadPath) nor created
// (ErrNodeExists). The namespace node and its ancestors are created with
// Config.DefaultACL when a session starts and finds it missing: with
// credentials, creator-only, so the first client to use a namespace owns
// it and its missing ancestors (create shared ancestors beforehand with the
// ACL they need). Namespaces that share a prefix ("/a" and "/ab") never see
// each other's nodes.
//
// # Sessions and states
//
// Each Session owns one go-zookeeper connection, and each connection one
// ZooKeeper session. States come from the driver's event callback, which
// sees every event (its event channel drops events when full):
//
//	first StateHasSession                   Connected
//	StateDisconnected                       Suspended (the session may live)
//	StateHasSession, same session id        Reconnected
//	StateExpired, or another session id     Lost (backend.ErrSessionExpired)
//	Close                                   Closed (backend.ErrClosed)
//
// Suspended follows two thirds of the negotiated timeout without a word from
// the server (the driver's receive timeout), or a failed connection.
//
// A session cut off from every server never hears of its own expiry, so it
// does not wait to: once a session timeout (less a twentieth, for late
// timers) has passed since a moment by which the server had certainly heard
// from it, a Suspended session is Lost, with an error matching
// ErrSessionExpired. That moment is the send time of the last request the
// server answered, pings included, and the server expires a session no
// earlier than a timeout after it last heard from it; so the session is
// Lost here before another session can take over what it held, even if the
// partition never heals. This is Curator's simulated expiry, counted from
// the last answer rather than from the disconnection. Every
// call on a Lost session fails with ErrSessionExpired at once, and on a
// Closed one with ErrClosed, without touching the network. Client.Session
// closes a lost session and opens a new one, on a new connection.
//
// The trap this avoids: after an expiry go-zookeeper silently opens a new
// session on the same connection object and carries on, so ephemeral nodes,
// locks and watches of the old session would seem to survive. Here the
// Session is marked Lost synchronously, inside the driver's callback, before
// the driver can reconnect; the dialer it uses refuses to connect once the
// session is over; a connect response that names another session id is
// failed before the driver reads it; and the connection is closed in the
// background. Nothing is ever sent under a new session id.
//
// Close sends closeSession and waits for the server's answer (at most about
// a second when the server cannot be reached), so the session's ephemeral
// nodes are gone when it returns; then it waits for every goroutine of the
// session and of its connection.
//
// # Calls and contexts
//
// go-zookeeper's calls take no context. Each call runs in a goroutine the
// session waits for at Close, and the caller waits for it or for its
// context: a cancelled context returns at once (wrapped in an OpError), but
// the request, once sent, still reaches the server and may take effect. A
// context that has already ended returns before anything is sent. The
// driver answers every request within the session's receive timeout, or
// fails it with a connection loss.
//
// Errors are *backend.OpError values holding the driver's error as Cause:
//
//	ErrNoNode, ErrNodeExists, ErrBadVersion, ErrNotEmpty,
//	ErrNoChildrenForEphemerals, ErrSessionExpired    the same
//	ErrNoAuth, ErrAuthFailed                         ErrNoAuth
//	ErrConnectionClosed, ErrNoServer, ErrSessionMoved,
//	other and unknown errors                         ErrConnectionLoss
//	ErrClosing                                       ErrClosed
//	ErrInvalidACL, ErrInvalidFlags, Unimplemented    ErrUnsupported
//	ErrBadArguments, ErrInvalidPath                  ErrBadPath (ErrUnsupported for a TTL out of range)
//
// A call cut short because the session ended reports why it ended
// (ErrSessionExpired or ErrClosed) rather than a connection loss.
//
// The Sessions Client.Session returns are wrapped with Config.RetryPolicy
// (backend.Retrying): reads and versioned writes are retried across a
// connection loss; other writes report backend.ErrOutcomeUnknown.
// backend.Unwrap returns the *Session, which never retries.
//
// # Watches
//
// GetW, ExistsW and ChildrenW register ZooKeeper's one-shot watches with the
// read, so no change falls between the read and the watch. The channel the
// caller gets is this package's: it delivers exactly one event, then is
// closed. A goroutine forwards the driver's event, or EventNotWatching with
// the context's error when the call's context ends first, or with
// ErrSessionExpired or ErrClosed when the session ends. go-zookeeper cannot
// remove a watch: after the context ended, the server-side watch stays
// until it fires or the session ends. A GetW or ChildrenW on a missing node
// returns ErrNoNode and no watch. The driver re-registers its watches after
// a reconnection, and the server then fires those whose nodes changed
// meanwhile; ZooKeeper sends no events while disconnected, so a node created
// and deleted during a disconnection is never seen.
//
// # WatchTree
//
// On ZooKeeper 3.6 and later WatchTree runs on a persistent recursive
// watch (addWatch, mode PERSISTENT_RECURSIVE). go-zookeeper v1.0.4 cannot
// send addWatch, so the session sends it on the driver's own connection:
// the request is written between two of the driver's frames with an xid
// the driver never uses (from -2^20 down), and its reply is taken by its
// xid as it passes (the driver drops a reply with an xid it did not send).
// The watch's notifications are ordinary watch events: NodeCreated,
// NodeDataChanged and NodeDeleted for every node of the subtree, never
// NodeChildrenChanged.
//
// The watch is added first, then the subtree is read (getData for each
// node, getChildren for each node above the TreeDepth limit; nothing below
// it is read), so no change falls between the read and the watch.
// Notifications are applied in the order the server sent them: a created
// or changed node is read (getData) and reported as NodeAdded, or as
// NodeUpdated if its ModifyToken moved (no update is reported twice); a
// deleted one is reported as NodeRemoved with its mirrored subtree,
// children first. A node whose deletion is already queued is not read, and
// a read showing a node gone or of another CreateToken is left to the
// notifications of that deletion, which the server sent before the reply
// (ZooKeeper's ordering guarantee): a node deleted and created again is
// NodeRemoved then NodeAdded, never NodeUpdated. Notifications below the
// depth limit are dropped unread. Coalesced: several changes of a node
// whose notifications wait together are read once (one NodeUpdated, the
// latest data). Notifications wait in memory, one entry per change, while
// the reader is slow.
//
// Persistent watches belong to the connection. After a reconnection the
// watch is added again on the new connection and the notifications that
// came on the old one are applied. If the server's zxid in the addWatch
// reply equals the largest zxid of a reply on the old connection, nothing
// changed anywhere in between (every notification up to that zxid came
// before that reply) and nothing is read. Otherwise the mirror is
// compared with the server, reading only what may have changed: one
// Exists per node (siblings 32 at a time, pipelined); getData only for a
// node whose ModifyToken moved; getChildren only for a node whose
// children version or pzxid moved since the mirror last listed it.
// Exists per node is the floor: no request of ZooKeeper's tells a leaf's
// ModifyToken without one per leaf. Measured on a 2-core test machine: a
// subtree of 10,011 nodes in 11 directories, reconnected with a change
// elsewhere, cost 10,011 Exists, no listing and no data read (about 2 s);
// with no change anywhere, no read. The differences are reported as on
// any change (a node deleted and created again while the connection was
// down is NodeRemoved then NodeAdded, as the CreateToken says), then
// TreeResynced, in both cases. A read that fails with a connection loss
// leads to the compare whatever the zxid; during the first read it delays
// TreeInitialized until a compare succeeded.
//
// When the WatchTree's context ends, its watch is removed from the server
// (removeWatches) before TreeEnded is sent; WatchTrees of one session on
// the same path share the server's one watch, and the last to end removes
// it. ZooKeeper 3.9 removes a persistent recursive watch alone (watcher
// type PersistentRecursive, ZOOKEEPER-4472); 3.6 to 3.8 refuse that type
// (logging an error) and then only type Any reaches it, which would also
// remove the one-shot watches (GetW, ExistsW, ChildrenW) the same session
// holds on that very path, and they would never fire: so while a caller
// waits on one of those, the persistent watch is left on the server until
// the connection ends (its notifications are dropped). A session tries
// the exact type once and remembers the answer.
//
// A server without addWatch (ZooKeeper 3.5 answers UNIMPLEMENTED and
// closes the connection, which the session rides out as a reconnection)
// is found at a session's first WatchTree; then that WatchTree and every
// later one of the session mirror the subtree with one-shot watches: a
// data watch (GetW) and a children watch (ChildrenW) on every node, an
// exists watch on the root while it is missing. The driver's event
// callback marks the node of each event dirty; the watch's goroutine
// re-reads dirty nodes (parents first) and reports the difference with
// the mirror, as above. After a reconnection, and after a read that
// failed with a connection loss, the whole subtree is re-read and
// compared (every node's data, every listing), then TreeResynced. This
// mirror reads below the TreeDepth limit too, reporting only what is
// within it. What it can coalesce, since a one-shot watch must be
// re-armed by a read:
//
//   - Several data changes between a watch firing and the re-read show as
//     one NodeUpdated with the latest data.
//   - A child created and deleted between two listings of its parent is
//     never seen; so is anything created and deleted while disconnected.
//   - A node deleted and created again between two reads is reported as
//     NodeRemoved (with its mirrored subtree) then NodeAdded (with its new
//     subtree), recognised by its CreateToken; its data and children are
//     those of the new node.
//   - The reads of one pass are not a snapshot: a node's data and its
//     children list are read one after the other.
//
// Either way, events reach the reader in order; the watch waits for the
// reader (one event of slack) and never drops one, except that when the
// watch ends an event the reader has not yet received is replaced by
// TreeEnded, always the last event. A read the server refuses (a node
// the session may not read: ErrNoAuth) ends the watch with that error
// rather than leave a hole in the mirror. The mirror keeps a copy of the
// data of every node in the subtree; large subtrees are better watched
// where they change.
//
// # Multi
//
// Multi maps CreateOp, SetOp, DeleteOp and CheckOp to go-zookeeper's
// CreateRequest, SetDataRequest, DeleteRequest and CheckVersionRequest.
// go-zookeeper v1.0.4 can only send plain creates in a multi: the server
// would make a Container create there as a plain persistent node (the flag
// is honoured only by createContainer), refuses a TTL create (it needs
// createTTL's TTL field), and the driver cannot decode the results either
// would return. So inside a Multi, Container and TTL modes are
// backend.ErrUnsupported, checked before anything is sent, as is
// WithParents. A failed Multi is a *backend.MultiError naming the first op
// the server refused (the ops after it are marked "runtime inconsistency"
// and skipped).
//
// # Limits
//
// A create or set with more than Config.MaxDataSize bytes of data (default
// 1 MiB - 1 KiB), and any request (a Multi, a create with a long path or
// ACL) larger than max(1 MiB, MaxDataSize + 1 KiB), is backend.ErrTooLarge
// before sending: ZooKeeper answers a request over its jute.maxbuffer
// (1 MiB by default) by closing the connection, which would suspend the
// session. Raise MaxDataSize only together with the servers' jute.maxbuffer.
//
// Replies are not limited: go-zookeeper's receive buffer grows to fit (this
// package does not set WithMaxBufferSize). A Java client with the default
// jute.maxbuffer cannot list a node whose children's names take more than
// 1 MiB (100,000 children with 16-character names make a 2 MB reply): it
// fails with a connection loss on every try. This client lists it, at the
// cost of the memory the reply takes (tested with a 2.1 MB reply). After a
// reconnection the driver re-registers its watches in requests of at most
// 128 KiB, so many watches do not hit the server's limit either.
//
// # Node modes
//
// Container nodes use createContainer; the server removes them some time
// after their last child goes (its znode.container.checkIntervalMs, 60 s by
// default). TTL modes use createTTL, the TTL rounded up to whole
// milliseconds; the server must have extendedTypesEnabled=true, or it
// answers Unimplemented, reported as backend.ErrUnsupported; a TTL out of
// the server's range is ErrUnsupported too.
//
// # Authentication and ACLs
//
// Config.Auth credentials are added to every new session before it is
// handed out, and go-zookeeper sends them again after every reconnection; a
// scheme the server refuses fails Client.Session with ErrNoAuth (the server
// closes such a session). Digest credentials cross the network in plain
// text. Credentials never appear in errors or logs: Auth prints redacted,
// and a server address carrying userinfo is printed without it.
//
// Nodes are created with Config.DefaultACL unless backend.WithACL says
// otherwise, and parents made by WithParents get the node's ACL. The
// default depends on the credentials:
//
//	Config.Auth set      backend.CreatorAllACL  auth::cdrwa, stored as e.g. digest:alice:<hash>
//	no Config.Auth       backend.OpenACL        world:anyone:cdrwa
//
// Creator-only nodes refuse every other session (no or other credentials)
// with backend.ErrNoAuth: it cannot read them (Get, Children) or change
// them, nor create or delete children under them, so it can neither queue
// in a lock or election directory such a client made nor remove the
// nodes queued there. ZooKeeper checks a delete against the parent's ACL:
// a creator-only node directly under an open parent (the root znode, or a
// namespace made without credentials) can still be deleted by anyone when
// it has no children. Sharing takes an explicit ACL: DefaultACL for the
// whole client, backend.WithACL per node, or a recipe's WithACL option
// (lock.WithACL, election.WithACL) per recipe. Without credentials the
// default stays open, since ZooKeeper refuses a creator-only ACL to a
// session with no identity; anyone who can reach the servers can then
// change the nodes. ZooKeeper ACLs are per node and not inherited. Before
// 3.7.3/3.8.4/3.9.2 the server answers exists (Exists) without checking
// READ, so a node's existence and stat are not secret there.
//
// # Expire
//
// Session implements backend.Expirer for fault tests. Expire resumes the
// session on a connection of its own, with the session id and password
// captured from the server's connect response (go-zookeeper keeps the
// password private), and sends closeSession, as kazoo's test harness does.
// The session then sees its expiry as it would see a real one.
//
// # Logging
//
// The package and the driver log through Config.Logger only (driver lines at
// debug level); a nil Logger discards everything.
package zk
