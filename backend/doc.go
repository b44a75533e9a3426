// Package backend is the contract every zkrecipes recipe is written against:
// ZooKeeper's znode semantics, offered alike by backend/zk (ZooKeeper) and
// backend/etcd (etcd), and held to one conformance suite (backend/backendtest)
// run against real servers.
//
// # The tree
//
// Nodes form a tree addressed by absolute, '/'-separated paths following
// ZooKeeper's rules (ValidatePath). A bad path is ErrBadPath before any round
// trip. Every node has data (at most Capabilities.MaxDataSize bytes, else
// ErrTooLarge before sending) and a Stat: data and children versions, and two
// cluster-wide monotonic tokens, CreateToken (ZooKeeper czxid, etcd create
// revision) and ModifyToken (mzxid, mod revision). CreateToken is what recipes
// hand out as a fencing token: a node created later always has a larger one.
//
// A node's Mode says how it lives: Persistent, Ephemeral (removed when the
// owning session ends; no children), sequential variants (a 10-digit,
// zero-padded counter of the parent appended to the name), Container
// (removed by the server after its last child goes) and TTL (removed when
// childless and unmodified for the TTL). A mode the server cannot do is
// ErrUnsupported, never a substitute.
//
// A sequential suffix is unique and increasing within one life of the
// parent: while the parent lives, each suffix is larger than every suffix
// handed out under it before, deleted nodes included, so suffix order is
// creation order (CreateToken order). A parent deleted and created again,
// even within one Multi, starts again at 0, as ZooKeeper's does: a suffix
// says nothing across lives of its parent. The numbers themselves are the
// backend's: ZooKeeper counts the children created, etcd the CVersion.
//
// A node's children version (Stat.CVersion) moves with every create and
// delete of a child, with one exception on etcd: an ephemeral child removed
// because its session's lease expired (or was revoked) does not move it,
// since etcd deletes a lease's keys by itself (backend/etcd, "Ephemeral
// nodes and lease expiry"). Watches and NumChildren see that removal on
// both backends; a recipe that must notice a child's going watches the
// children, never the children version alone.
//
// # Sessions and clients
//
// A Session owns ephemeral nodes and carries every call. Its State moves from
// Connected through any number of Suspended (connection down; the session may
// live) and Reconnected, to Lost (the server ended it, or may have) or
// Closed (its owner did). A session that has not heard from the servers
// for its timeout is Lost without waiting to be told: it counts from a
// moment by which the server had certainly heard from it, so it is Lost
// before the server can expire it, even if the servers are never reached
// again. StateChanges delivers every change in order to every subscriber;
// Done is closed once at the end. A session the server expired never comes
// back: calls on it fail with ErrSessionExpired, and a backend never opens a
// replacement under the caller. A Client owns the connection and hands out the
// current session, opening a new one after a loss, so services rejoin without
// a reconnect loop of their own.
//
// # Watches
//
// GetW, ExistsW and ChildrenW read and register a one-shot watch with no gap:
// the first change after the returned state fires it. A watch delivers exactly
// one Event and its channel is closed; it ends with EventNotWatching when its
// context ends or its session is lost or closed. WatchTree streams a subtree:
// its state, then changes; each backend documents what it may coalesce.
//
// # Writes that may or may not have happened
//
// ErrConnectionLoss means the call's outcome is unknown. CreateProtected and
// CreateWithGUID put a GUID in the node's name so that a create whose reply
// was lost is found again rather than made twice.
//
// The root "/" always exists and can be read, set and listed; creating it is
// ErrNodeExists, deleting it ErrBadPath. Inside a namespace, "/" is the
// namespace's own node.
//
// # Retries
//
// Clients wrap their sessions with a RetryPolicy (Retrying; default
// ExponentialBackoff): reads and versioned writes are retried across a
// connection loss; a create, an unconditional write or a Multi is never
// repeated and reports ErrOutcomeUnknown (which also matches
// ErrConnectionLoss); a versioned write whose retry meets a conflict
// reports ErrOutcomeUnknown too, since its first try may have landed.
// ErrSessionExpired, ErrClosed and the caller's context are never retried.
// Retrying changes no state: a session's State follows its connection as
// its backend sees it (each backend's documentation says when it shows
// Suspended), so a call may wait to retry while the state still shows
// Connected. A session cut off from its server shows Suspended before it is
// Lost, so a recipe can stop trusting what it holds before the session
// ends. Unwrap returns the session under the wrapper, which never retries.
//
// # Goroutines
//
// Close waits for every goroutine a session started, except the one feeding
// a StateChanges channel: that one ends when its reader's context ends or the
// reader has received the final state. A one-shot watch's goroutine ends when
// the watch fires, its context ends or the session ends. A WatchTree never
// drops an event while it runs; when it ends, an event the reader has not yet
// taken may give way to TreeEnded, which is always last.
//
// # Access control
//
// On backends with per-node ACLs (Capabilities.ACL: ZooKeeper), a create
// takes an ACL with WithACL, else the client's default; parents made by
// WithParents get the same. backend/zk's default is CreatorAllACL (only the
// creating identities may do anything) when the client has credentials,
// and OpenACL (anyone may do anything) when it has none. Recipes take an
// ACL option of their own for every node they create. etcd has no per-node
// ACLs (access is its RBAC over key ranges, set up by an administrator): a
// create with an ACL fails with ErrUnsupported there, never silently
// widening access, and so does a recipe given an ACL. A refusal by the
// server's access control is ErrNoAuth on both.
//
// # Errors
//
// Every operation returns *OpError values naming the operation and path,
// matching one of the sentinels (ErrNoNode, ErrNodeExists, ErrBadVersion,
// ErrNotEmpty, ErrNoChildrenForEphemerals, ErrSessionExpired,
// ErrConnectionLoss, ErrClosed, ErrBadPath, ErrTooLarge, ErrNoAuth,
// ErrUnsupported, or a context error) with errors.Is, and keeping the
// driver's own error in the chain. A failed Multi is a *MultiError naming the
// failing operation. Credentials never appear in errors.
package backend
