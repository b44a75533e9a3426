// Package counter holds shared integers and values over a backend.Session:
//
//   - Atomic: an integer at a node, changed by optimistic compare-and-set
//     (Curator's DistributedAtomicLong and DistributedAtomicInteger, kazoo's
//     Counter);
//   - AtomicBytes: opaque data with compare-and-set (Curator's
//     DistributedAtomicValue);
//   - Shared: a versioned integer that follows its node and tells listeners
//     of changes (Curator's SharedCount);
//   - IDs: cluster-unique, increasing 64-bit IDs, singly or in blocks, with
//     no node that every client writes;
//   - Names: unique names from sequential nodes, ordered across
//     ZooKeeper's int32 wrap.
//
// They use the byte formats of Curator and kazoo, so their clients and ours
// share one node.
//
// # Layout
//
// The same on ZooKeeper and on etcd (backend/etcd emulates the znodes):
//
//	<path>                       the value, in the path's Codec (persistent;
//	                             missing parents are made as Container nodes)
//	<path>/writer-<16 hex>       an Atomic's writer marker: ephemeral, made by
//	                             its first write, removed by Close or with the
//	                             session; data = the id of its last write
//	<lockPath>/_c_<guid>-lock-<n>  WithPromotion's lock: recipes/lock's Mutex in
//	                             Curator's layout, so Curator's PromotedToLock
//	                             on the same lockPath excludes ours and back
//
// Curator and kazoo read and write only the node's data and ignore the
// markers. A node with markers cannot be deleted (backend.ErrNotEmpty)
// until their Atomics are closed or their sessions end.
//
// # Codecs
//
// The codec is chosen per path (WithCodec) and every client of one node
// must use the same one:
//
//	CuratorInt64  8-byte big-endian  Curator DistributedAtomicLong (Atomic's default)
//	CuratorInt32  4-byte big-endian  Curator SharedCount and DistributedAtomicInteger,
//	                                 kazoo Counter(support_curator=True) (Shared's default)
//	KazooASCII    decimal text       kazoo's default Counter with an int ("42")
//
// kazoo's Curator mode (kazoo #558, PR #559) is int32 only: kazoo has no
// 8-byte mode, so it cannot share a DistributedAtomicLong. Empty data reads as 0, as Curator's atomics and
// kazoo read a node made by ensure_path (Curator's SharedCount fails on it
// with a BufferUnderflowException). Anything else a codec cannot read - a
// wrong length, text that is not a number, the IP address Curator writes as
// a node's default data - is a *CorruptError matching ErrCorrupt that
// names the bytes, never a silent 0. An 8-byte IP string ("10.0.0.1") has a
// long's size, so CuratorInt64 refuses any such text as well: the longs
// whose bytes spell an IPv4 address (all beyond 3.3e18) cannot be stored.
//
// # Writes
//
// An Atomic write reads the node and writes the next value conditionally on
// the version read (or creates the node if absent). After a write that met
// no other writer, the next one starts from the value and version that
// write left, without reading (with the writer marker only: the marker, a
// child of the counter, keeps it from being made again at the same version
// unseen); if the counter moved meanwhile, the write fails on the version,
// and the Atomic reads and decides again. A concurrent write
// makes it read and try again, after a jittered backoff, until it lands,
// the context ends, WithMaxTries tries have failed (ErrContended), or
// WithPromotion's tries have failed and it goes on under the lock. Every
// write returns the value before and after, read and written in one
// compare-and-set, and an error: never a zero standing for a failure (the
// "always returns 0" trap of Curator's AtomicValue, Netflix/curator#256,
// whose callers must check succeeded()).
//
// # How an unknown outcome is resolved
//
// A write whose reply is lost (backend.ErrConnectionLoss) may or may not
// have landed; retried blindly, an increment counts twice. So by default
// every write of an Atomic is one Multi that also sets the Atomic's writer
// marker:
//
//	SetOp <path>   data = next value, version = v (as read)
//	SetOp marker   data = a fresh write id, version = mv (as last seen)
//
// (on an absent counter: CreateOp <path> and CreateOp marker, one Multi).
// When the reply is lost the Atomic reads its marker back, once the session
// can talk again. If the marker holds the id of one of this call's writes,
// that write landed: the call returns its Pre and Post. Otherwise none has
// landed yet, and the next try carries the marker's version as read. Every
// write of one call carries the same marker version until one lands (only
// this Atomic writes its marker, one write at a time), and the one that
// lands moves it on; so of a first write that lands late, after it was
// looked for, and its retry, exactly one lands, and the marker says which.
// If the late one wins, the retry fails on the marker's version and the
// next read of the marker finds the late one's id. A marker found missing
// (the create of counter and marker whose reply was lost) is settled the
// same way when it is made again.
//
// If the session or the context ends before the outcome is read back, the
// error matches backend.ErrOutcomeUnknown: the write may have landed. That
// is the only error of a write that leaves its outcome open: a write that
// returns any other error (ErrMismatch, ErrContended, ErrOverflow, a
// context or session error that does not match ErrOutcomeUnknown, ...)
// wrote nothing, and trying it again cannot count twice. The checked run
// (TestTotalCounter: 16 clients behind fault proxies, cuts, stalls and
// lost replies) retries exactly those errors and finds every increment
// counted once, with no unknown outcome, on both backends.
// WithAmbiguousOutcome turns the marker off: writes are a plain
// conditional set (cheaper: one node written instead of two), and a lost
// reply the backend's own retry cannot settle is backend.ErrOutcomeUnknown,
// for the caller to read back.
//
// # Shared
//
// Start creates the node with the seed if absent, reads it with a watch
// and re-arms the watch after every event and reconnection, so a lost
// watch cannot leave the value stale (CURATOR-311), and a node at version 0
// is picked up like any other (CURATOR-329). Values move forward by the
// node's ModifyToken (ZooKeeper mzxid, etcd mod revision), never by its
// int32 version, which wraps negative after 2^31 writes and froze Curator's
// SharedCount (CURATOR-688). TrySet compares the version, as Curator's
// trySetCount does. A Listener returns the latest value it has not
// returned, not every change; Listener.Close removes it (CURATOR-420's
// removeListener did nothing). When the session ends, Done closes and Err
// says why; Get keeps the last value. Data that cannot be decoded while
// following is logged and skipped; Get keeps the last good value.
//
// # IDs and names
//
// IDs hands out cluster-unique, increasing 64-bit IDs without a hot key:
// each IDs value sets only its own ephemeral node <path>/<16 hex digits>,
// and a call's IDs are token<<BlockBits + i (i < n <= 1<<16), token being
// that Set's Stat.ModifyToken (ZooKeeper's zxid, etcd's revision): the
// 64-bit analogue of ZOOKEEPER-4706. No two writes share a token, so IDs
// never repeat. A call's write completes before it returns and later
// writes get larger tokens, so its IDs are above every ID of any call, of
// any IDs value, that returned before it began; overlapping calls get
// unique IDs in no set order. IDs are not dense: other writes, and writes
// made again after a lost reply, leave gaps. Block reserves n IDs in one
// write. A token of 2^47 or more is ErrIDSpace: on ZooKeeper after 2^15
// leader epochs, on etcd never in practice.
//
// Names hands out <prefix><10-digit sequence> names from protected
// sequential nodes (<dir>/_c_<guid>-<prefix><seq>: a create whose reply
// was lost is found again) under a persistent dir; WithEphemeral ties a
// name to its session. The sequence is ZooKeeper's signed int32 printed
// %010d, so after 2147483647 comes -2147483648: Name.Seq maps it to its
// unsigned value (creation order for 2^32 creates), and ParseSequence and
// CompareNames order names across the wrap (kazoo#730 compared strings).
//
// # Errors
//
// ErrCorrupt (*CorruptError), ErrOverflow (a value beyond the codec, an Add
// past its range: nothing written), ErrMismatch (*MismatchError,
// *BytesMismatchError: CompareAndSet found another value, nothing written),
// ErrContended, ErrNotStarted, ErrClosed, ErrBadOption; and the backend's,
// wrapped: backend.ErrBadPath, backend.ErrSessionExpired,
// backend.ErrClosed, backend.ErrOutcomeUnknown, context errors.
package counter
