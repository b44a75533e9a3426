// Package queue is a distributed work queue: producers Put items, consumers
// Take them, in priority order and first in, first out within a priority,
// with delays, and with at-least-once delivery whose acknowledgements are
// fenced. It runs unchanged on ZooKeeper and etcd, and on ZooKeeper it
// shares its path with kazoo's LockingQueue (Python): a kazoo producer or
// consumer and a Go one work on one queue.
//
// # Delivery
//
// Take claims an item; it stays in the queue, taken, until the consumer
// calls Ack (removed for good) or Nack (given back). An item whose consumer
// is lost holding it (its session ends: the process died, the network cut
// it off for longer than the session timeout) goes back to the queue by
// itself, so every item put is delivered until one consumer acknowledges
// it: at least once. A delivery after a loss is counted: Item.Attempt is 2
// the second time a zkrecipes consumer claims an item, and MaxAttempts moves
// an item that failed too often (nacked, or its consumers lost) to the dead
// letters, with its history (DeadLetters). AtMostOnce turns all this off:
// Take removes the item as it hands it out, as kazoo's Queue and Curator's
// DistributedQueue without a lock path do.
//
// Each claim carries a fencing token, Item.Token (the claim node's create
// token: ZooKeeper czxid, etcd create revision), larger for every later
// claim, and a signal, Item.Done, closed when the claim can no longer be
// trusted (LossPolicy). Ack, Nack and Guard (a transaction of the caller's
// writes to the same store) land only while the claim stands on the server:
// a consumer that was lost and came back, or whose claim was taken over,
// gets ErrLost and writes nothing. Writes to other stores are the caller's
// to fence with Token: the queue cannot stop a paused process from writing
// there after its claim was taken over (CURATOR-605 is this bug in
// Curator's queue, which exposes no token).
//
// An item costs three writes at least once: the put, the claim and the
// acknowledgement, each a transaction the server makes durable. TakeN and
// AckAll claim and acknowledge up to MaxBatch items in one transaction
// each, for consumers whose throughput matters more than one item's
// latency; PutAll does the same for producers.
//
// # Order and time
//
// Priorities run 0..999, lower first (kazoo's; DefaultPriority is 100).
// Within a priority, items come in the order the server numbered their
// nodes: the order their puts reached it. Consumers taking at the same
// time start at a random one of the first few items (as many as are taken
// at that moment, up to 16) rather than all racing for the first, so
// items that close together may be taken in either order; a consumer
// alone takes them strictly in order. A Nack without After leaves the
// item in its place, so it is the next one taken (kazoo's release); with
// After it is held from every zkrecipes consumer until then, and kazoo's
// consumers see it as taken (see Holds below).
//
// A delayed item (Delay, At) is invisible until due. Due is a wall-clock
// time: Delay adds to the producer's clock, and a consumer compares with
// its own. Neither ZooKeeper nor etcd offers a server time a client can
// read without writing, so a producer whose clock runs behind the
// consumers' by s delivers its delayed items s early (TestDelay shows an
// item delayed one hour by a producer one hour behind delivered at once),
// and one ahead delivers them s late. Keep clocks in sync (NTP) to within
// what your delays can bear; WithClock substitutes a clock. A due item
// becomes an ordinary item at the tail of its priority: delayed items are
// FIFO by due time.
//
// # Waiting without a herd
//
// A consumer that finds nothing joins the queue's waiters: an
// ephemeral-sequential node under waiters/, as a lock's contenders queue.
// Only the first waiter watches the directories; the others wait for the
// waiter ahead of them to leave. The first waiter leaves as soon as it has
// an item, or as soon as it sees more than one, so a put wakes one consumer
// and k puts wake at most k, not every consumer on every put (Curator's
// DistributedQueue wakes them all).
//
// # Layout
//
// Under the queue's path, on both backends:
//
//	entries/entry-<ppp>-<seq>        an item: kazoo's name, the data as put
//	entries/entry-<ppp>-<id>-<seq>   an item put WithID
//	taken/<entry name>               a claim: ephemeral, data the consumer's id
//	                                 (kazoo's); persistent with data
//	                                 "zkrecipes-hold" for a hold
//	held/<due ms>-<entry name>       the index of holds, by due time
//	delayed/due-<ms>-<ppp>-<id>-<seq> a delayed item, moved to entries/ when due
//	dead/<entry name>                a dead letter: JSON (DeadLetter)
//	waiters/_c_<guid>-waiter-<seq>   a consumer waiting for an item
//	puts/<32 hex digits>             a put WithID in flight: ephemeral
//
// With Sharded, items live in buckets instead of entries/:
//
//	buckets/<ppp>-<n>/entry-<ppp>-[<id>-]<seq>   an item in bucket n of its priority
//	taken/<ppp>-<n>-<item name>                  its claim
//
// <ppp> is the priority in three digits, <seq> the server's 10-character
// sequence suffix, <ms> a 13-digit Unix time in milliseconds, <n> a
// 10-digit bucket number. Names are
// ordered by their parsed priority and sequence, never as strings (the
// sequence wraps past 2^31; kazoo#730). Names in entries/ that are not
// items are ignored.
//
// A claim is one transaction: create taken/<name>, and set the entry's data
// again at the version just read. The entry's version therefore counts the
// claims (Attempt) and moves on with every new claim, which is what fences:
// Ack is one transaction checking the claim node and the entry's version,
// deleting both. A claim node re-created by another consumer after ours
// ended does not pass, because that consumer's claim moved the version.
// kazoo's consumers do not set the entry, so their claims are not counted
// and do not fence ours; kazoo's consume checks its claim node's data.
//
// Holds: a Nack with After replaces the ephemeral claim with a persistent
// one and indexes it under held/; the first zkrecipes consumer to look
// after the due time deletes both. A queue read by kazoo consumers alone
// never releases a hold.
//
// # Interoperation and its limits
//
// kazoo's LockingQueue (put, put_all, get, consume, release, len) works on
// the same queue: same entry names and priorities, same claims. kazoo sorts
// names as strings, so an item put WithID (whose name carries the id) is
// out of FIFO order for kazoo's consumers, and kazoo ignores delayed/ and
// held/ (it never sees a delayed item early, and never releases a hold).
// Curator's queues are options. CuratorQueue is DistributedQueue built
// with a lock path, its at-least-once mode: items path/queue-<seq> framed
// as Curator's ItemSerializer frames them, claims lockPath/<item name>
// (the lock Curator's consumer takes before it consumes, so each side
// honours the other's claims, and a hold too). CuratorDelayQueue is
// DistributedDelayQueue: the due time is in the name,
// queue-|<Unix ms, hex>|<seq>, and both sides wait for it by their own
// clocks, in due order. CuratorSimpleQueue is SimpleDistributedQueue (and
// ZooKeeper's own queue recipe): path/qn-<seq>, raw data; Curator's
// consumers delete what they take without looking at claims, so with them
// on the queue an item is delivered at most once to them and may go to
// both sides. In these layouts this package's own directories (claims for
// the simple queue, delayed, held, dead, waiters) are under
// path + "-zkrecipes", where Curator does not look; they have no
// priorities and no ids (Put refuses them), an item's ID is its node's
// name, and one node may carry several messages (Curator's putMulti:
// Item.Messages). Curator's DistributedPriorityQueue and
// DistributedIdQueue are not offered.
//
// # Size
//
// On ZooKeeper one listing of entries/ must fit the client's and the
// server's jute.maxbuffer (1 MB by default): about 40,000 items with names
// of 20 characters (Curator's Tech Note 4). And every take lists entries/
// whole, on etcd too, so a take costs more the longer the queue. Sharded
// lifts both: items go in buckets of about the bucket size, a take lists
// the buckets' names and then only the first bucket with an item free
// (one more when the first has none), and no listing is longer than a
// bucket. Its costs: kazoo cannot share the queue; Len reads every bucket;
// a bucket may hold more than the bucket size when several producers fill
// it at once (by at most their PutAll batches); and delayed/ is still one
// directory, so the delayed items at any time must fit one listing.
//
// A bucket is open while its data version is 0. A put is one transaction
// that checks its bucket is open and creates the item; the put whose
// sequence number reaches the bucket size closes the bucket and creates
// the next in one transaction, so the last bucket of a priority is always
// open, a closed bucket never gets another item, and order holds across
// buckets. Consumers delete the closed buckets they find empty.
//
// # Failures
//
// Errors match the package's sentinels with errors.Is, and wrap the
// backend's: ErrBadPriority, ErrBadDelay, ErrBadID and backend.ErrTooLarge
// (data over the backend's limit) refuse a Put before anything is written;
// ErrEmpty from TryTake and Peek; ErrLost from Ack, Nack and Guard when the
// claim is gone; ErrClosed after Close; context errors when ctx ends.
//
// A reply lost on the way (ErrConnectionLoss) is resolved wherever the
// outcome can be read back: a Put WithID creates, in the same
// transaction, an ephemeral marker under puts/ (deleted after), and after
// a lost reply the marker says whether the put landed, whatever became of
// the item (a consumer may have taken and acknowledged it before its
// producer heard back), so it never puts twice; a claim reads its claim node
// back and keeps it only if it is this session's; an Ack looks whether the
// item is gone while the session lives (gone: it landed; claimed again
// since: ErrLost; still at our claim's version: send again), a Nack
// whether the claim node is still this session's. A Put without an id
// cannot tell its node from another producer's and returns ErrUncertain
// (matching backend.ErrConnectionLoss) rather than putting twice; an Ack
// or Nack whose session or ctx ends before its outcome is read returns
// ErrUncertain too (matching ErrLost: an Ack that did not land means the
// item comes again).
//
// A claim given up while its session lives (a suspension under OnSuspend,
// or Done closed for any reason but the session's end) still stands on
// the server; it is given back, fenced, in the background once the
// connection is back, so the item does not stay out of the queue for the
// consumer's lifetime. A Take whose ctx ends leaves no claim and no
// waiter behind; a waiter node whose delete fails while the session lives
// is deleted in the background (left there, every waiting consumer would
// wait behind it). Close gives back the claims of the items it holds.
package queue
