// Package peers runs real Apache Curator (Java) and kazoo (Python) clients as
// subprocesses, so tests can check that zkrecipes' locks, elections, queues,
// barriers and counters work side by side with theirs on one ZooKeeper.
//
// The drivers are kept as source beside this package and built at test time:
// java/Peer.java is compiled with javac against Debian's Curator 5.4.0 jars
// into os.UserCacheDir()/zkrecipes/peers/<hash of source and classpath>, and
// reused by later runs; python/peer.py runs under Debian's /usr/bin/python3
// with python3-kazoo 2.8. `scripts/servers.sh` installs both with apt-get when
// missing. Curator and Kazoo skip the test when a peer cannot run here, and
// fail it under CI=true.
//
// # Protocol
//
// A peer prints "connected" once its session is up. It then reads commands
// from stdin, one a line, and prints one line per event on stdout, flushed
// at once. Blocking recipe calls run in a thread of their own, so a peer keeps
// reading commands while it waits for a lock.
//
//	command              answer(s)                       peers
//	ping                 pong                            both
//	session              session 0x<session id, hex>     both
//	lock PATH [PAT...]   acquired lock PATH              both: InterProcessMutex, kazoo Lock; kazoo
//	                                                     takes PATs as its extra_lock_patterns
//	revocable-lock PATH  acquired revocable-lock PATH,   Curator: InterProcessMutex.makeRevocable; the
//	                     revoke-requested PATH           listener prints when a revoke is asked for
//	revoke PATH NODE     revoke-sent NODE                Curator: Revoker.attemptRevoke(PATH/NODE)
//	read-lock PATH       acquired read-lock PATH         both: InterProcessReadWriteLock.readLock, kazoo ReadLock
//	write-lock PATH      acquired write-lock PATH        both: ...writeLock, kazoo WriteLock
//	semaphore PATH N     acquired semaphore PATH         both: InterProcessSemaphoreV2, kazoo Semaphore(max_leases=N)
//	unlock [PATH]        released KIND PATH              both: the newest grant (on PATH)
//	latch PATH ID        started latch ID, leader ID,    Curator: LeaderLatch(PATH, ID)
//	                     not-leader ID (when lost)
//	close-latch [ID]     closed-latch ID                 Curator: the newest latch, or ID
//	elect PATH ID        started elect ID, leader ID     kazoo: Election(PATH, ID).run(f); f blocks
//	resign [ID]          resigned ID                     kazoo: f returns (or a waiting candidate cancels)
//	bench-lock PATH N CYCLES
//	                     benched-lock PATH cycles=C      both: a lock benchmark (below); C, W, H
//	                     window-ns=W handoffs=H          counted grants, ns, hand-offs; X, Y the
//	                     p50-ns=X p99-ns=Y               hand-off percentiles in ns
//	bench-cache PATH N   cache-ready PATH, then          both: a cache benchmark (below): CuratorCache,
//	                     benched-cache PATH events=E     kazoo TreeCache; E the events after the
//	                                                     caches' initial reads
//	lq-put PATH PRIO DATA
//	                     lq-put PATH                     kazoo: LockingQueue(PATH).put(DATA, PRIO); DATA
//	                                                     is one token (no spaces)
//	lq-get PATH TIMEOUT_S
//	                     lq-got PATH DATA, or            kazoo: LockingQueue(PATH).get(TIMEOUT_S) (< 0:
//	                     lq-empty PATH                   no timeout); the entry stays locked by the peer
//	lq-consume PATH      lq-consumed PATH True|False     kazoo: .consume() of the entry the peer holds
//	lq-release PATH      lq-released PATH True|False     kazoo: .release() of the entry the peer holds
//	lq-len PATH          lq-len PATH N                   kazoo: len(LockingQueue(PATH))
//	dq-put PATH LOCKPATH DATA
//	                     dq-put PATH                     Curator: DistributedQueue (QueueBuilder with
//	                                                     lockPath(LOCKPATH), putInBackground(false)).put
//	dq-consume PATH LOCKPATH ack|hold
//	                     dq-consuming PATH, then         Curator: a DistributedQueue consumer with
//	                     dq-got PATH DATA per message    lockPath(LOCKPATH); hold blocks in consumeMessage
//	dq-stop PATH         dq-stopped PATH                 Curator: closes PATH's consumer (dq or delayq)
//	delayq-put PATH LOCKPATH DATA DELAY_MS
//	                     delayq-put PATH                 Curator: DistributedDelayQueue.put(DATA, now+DELAY_MS)
//	delayq-consume PATH LOCKPATH
//	                     delayq-consuming PATH, then     Curator: a DistributedDelayQueue consumer (ack)
//	                     delayq-got PATH DATA per message
//	delayq-stop PATH     delayq-stopped PATH             Curator: as dq-stop
//	sq-put PATH DATA     sq-put PATH                     Curator: SimpleDistributedQueue(PATH).offer(DATA)
//	sq-take PATH TIMEOUT_MS
//	                     sq-got PATH DATA, or            Curator: SimpleDistributedQueue(PATH).poll(TIMEOUT_MS)
//	                     sq-empty PATH                   (< 0: take, no timeout)
//	bench-queue PATH ITEMS CONSUMERS [KIND]
//	                     benched-queue PATH items=N      both: a queue benchmark (below); N the items
//	                     window-ns=W p50-ns=X p99-ns=Y   received, W ns, X, Y put-to-take percentiles
//	barrier-set PATH     barrier-set PATH                both: DistributedBarrier.setBarrier, kazoo
//	                                                     Barrier.create
//	barrier-remove PATH  barrier-removed PATH            both: removeBarrier, kazoo Barrier.remove
//	barrier-wait PATH TIMEOUT_MS
//	                     barrier-passed PATH, or         both: waitOnBarrier(TIMEOUT_MS), kazoo
//	                     barrier-timeout PATH            Barrier.wait(TIMEOUT_MS/1000) (< 0: no timeout)
//	dbarrier-enter PATH N [TIMEOUT_MS]
//	                     dbarrier-entered PATH NODE, or  both: DistributedDoubleBarrier(PATH, N).enter,
//	                     dbarrier-timeout PATH           kazoo DoubleBarrier(PATH, N).enter; NODE the
//	                                                     member node's name; one member per PATH
//	dbarrier-leave PATH  dbarrier-left PATH              both: the member's leave, once all have left
//	sharedcount-start PATH SEED
//	                     sharedcount PATH VALUE VERSION  Curator: SharedCount(PATH, SEED).start; the
//	                                                     line again on every listener call
//	sharedcount-tryset PATH N [VERSION]
//	                     sharedcount-tryset PATH         Curator: trySetCount(previous, N); previous is
//	                     true|false                      the current value, or the one printed with VERSION
//	atomiclong-add PATH DELTA
//	                     atomiclong PATH OK PRE POST     Curator: DistributedAtomicLong.add(DELTA); OK is
//	                                                     true|false (succeeded)
//	atomicint-add PATH DELTA
//	                     atomicint PATH OK PRE POST      Curator: DistributedAtomicInteger.add(DELTA)
//	counter-add PATH DELTA ascii|curator
//	                     counter PATH VALUE              kazoo: Counter(PATH, support_curator=...) +=
//	                                                     DELTA; VALUE the value it set (post_value)
//	bench-counter PATH CLIENTS N
//	                     benched-counter PATH ops=OPS    both: a counter benchmark (below)
//	                     window-ns=W
//	exit                 bye, then exit status 0         both: releases grants, closes the session
//
// The Curator peer also drives x-discovery's ServiceDiscovery and
// ServiceProvider: the sd-* commands, listed in discovery.go.
//
// bench-cache starts N caches (CuratorCache, kazoo's TreeCache) on PATH, each on a bench session of its
// own, and answers cache-ready once every one has its initial state; the
// caller then writes under PATH and last creates PATH/end. Once every cache
// has seen PATH/end created it answers with E, the create, change and
// delete events the caches reported after their initial reads, summed
// (PATH/end not counted), and closes the caches. Peer.BenchCache sends it;
// recipes/cache/bench_test.go counts its Trees' events the same way.
//
// bench-lock measures InterProcessMutex or kazoo's Lock the way
// recipes/lock/bench_test.go measures the Go locks, so the numbers compare:
// N contenders, each with a session of its own (N clients in the one
// process, each used by one thread: started on first use, besides the
// peer's own session, and kept for later bench-lock commands), loop acquire,
// release on PATH with no hold time. The first N grants are the warm-up
// (every contender joins at once) and are not counted, unless CYCLES <= N;
// counting stops after CYCLES counted grants, and then every waiter takes
// the lock once more and leaves (CYCLES + N - 1 grants in all). W is from
// the warm-up's last grant to the last counted grant, so C/W is cycles per
// second. A hand-off is from one holder calling release to the next
// holder's acquire returning, on the process's monotonic clock; the
// percentiles are sorted[int(p*(len-1))]. The run is in a thread of its
// own: the peer keeps reading commands. Peer.BenchLock sends it and parses
// the answer; ForBenchmark gives the Curator JVM its full JIT.
//
// The lq-* commands drive one kazoo LockingQueue per PATH, as one kazoo
// consumer: it holds at most one entry, and an lq-get while it holds one
// answers that entry again (kazoo's get does). lq-get runs in a thread of
// its own; one lq-* command at a time per PATH. Peer.QueuePut, QueueGet,
// QueueConsume, QueueRelease and QueueLen send them.
//
// The dq-*, delayq-* and sq-* commands drive Curator's queues with UTF-8
// string messages, DATA being one token (no spaces). A producer is kept per
// PATH (one for dq-put, one for delayq-put) and puts in the foreground: the
// item is in ZooKeeper when the peer answers. A consumer is a queue of its
// own on the peer's session, at most one per PATH, processing messages one
// at a time in its thread: Curator creates LOCKPATH/<item name>
// (ephemeral), calls consumeMessage, which prints the got line, and, when
// it returns, deletes the item and then the lock. A hold consumer never
// returns: its item stays locked until the peer dies (the lock goes with
// its session) or dq-stop interrupts it (consumeMessage throws; Curator
// requeues the item as a new queue-<seq> and deletes the lock). A
// consumer skips an item whose lock exists and looks again only when
// PATH's children change. sq-take runs in a thread of its own; Curator
// deletes the item as it takes it (at most once). Peer.DQPut, DQConsume,
// DQGot, DQStop, DelayQPut, DelayQConsume, DelayQGot, SQPut and SQTake send
// them and read the answers.
//
// bench-queue measures a queue the way recipes/queue/peerbench_test.go
// measures ours: one producer (the peer's own session) puts ITEMS items,
// one at a time, each holding the time it read just before its put, while
// CONSUMERS consumers, each on a bench session of its own (those of
// bench-lock), take them and acknowledge each before the next. A sample is
// from that time to a consumer receiving the item; producer and consumers
// are in the one process, so the clock is its monotonic clock
// (time.monotonic_ns, System.nanoTime) and the samples need no clock
// agreement between processes. W is from before the first put to the last
// item's receipt, so N/W is items per second. KIND is kazoo's LockingQueue
// (the default: get, consume), Curator's DistributedQueue (the default:
// QueueBuilder with lockPath(PATH+"-locks"), at least once; puts in the
// foreground) or SimpleDistributedQueue (offer, take; at most once). kazoo
// and SimpleDistributedQueue consumers leave when they take one of the
// stop items the producer puts after the items. The run is in a thread of
// its own. Peer.BenchQueue sends it and parses the answer.
//
// The barrier commands make a recipe object per command, except
// dbarrier-enter, whose member the peer keeps per PATH until its
// dbarrier-leave. barrier-wait, dbarrier-enter and dbarrier-leave run in
// threads of their own. Curator's member node name is the UUID its
// DistributedDoubleBarrier chose in its constructor (read from its private
// field ourPath), kazoo's DoubleBarrier.node_name. kazoo's enter has no
// timeout: with TIMEOUT_MS the peer stops waiting for it and answers
// dbarrier-timeout, the enter thread staying blocked and silent; with
// either peer the member's node then stays until dbarrier-leave. Curator's
// enter wakes only when PATH/ready is created: a member that enters as
// the N-th creates it, a member that waits never looks at the count again.
// Peer.BarrierSet, BarrierRemove, BarrierWait and BarrierPassed,
// DoubleBarrierEnter, DoubleBarrierEntered, DoubleBarrierLeave and
// DoubleBarrierLeft send them and read the answers.
//
// The counter commands retry a failed compare-and-set at once: Curator's
// atomic numbers with RetryNTimes(1000000, 0), kazoo's Counter through its
// client's retry replaced by one without delay and without limit (kazoo's
// default backs off from 0.1 s, doubling). sharedcount-start keeps one
// SharedCount per PATH and every VersionedValue it printed, so that
// sharedcount-tryset can offer a stale one: Curator refuses that without
// asking the server when its SharedCount already holds a newer value, and
// by the server's version check otherwise. Peer.SharedCountStart,
// SharedCountNext, SharedCountTrySet, SharedCountTrySetFrom, AtomicLongAdd,
// AtomicIntAdd and CounterAdd send them.
//
// bench-counter measures a counter the way recipes/counter/peerbench_test.go
// measures ours: CLIENTS threads, each with a bench session of its own
// (those of bench-lock), each add 1 N times to the counter at PATH
// (Curator's DistributedAtomicLong, kazoo's Counter in ASCII), all released
// at once; OPS counts the increments, W is from the release to the last
// thread's last increment, so OPS/W is increments per second. The run is in
// a thread of its own. Peer.BenchCounter sends it.
//
// Any failure prints "error <message>". Connection state changes print
// "state <STATE>": Curator's CONNECTED, SUSPENDED, RECONNECTED, LOST,
// READ_ONLY; kazoo's CONNECTED, SUSPENDED, LOST. A kazoo lock or semaphore
// uses the identifier "kazoo-<pid>".
//
// # Node layouts
//
// What the peers create below the PATH of a command, observed with Curator
// 5.4.0 and kazoo 2.8.0 on ZooKeeper 3.8.0 and checked by this package's
// tests (<uuid> is 36 characters, 8-4-4-4-12 lowercase hex; <hex32> is
// uuid4().hex; <seq> is ZooKeeper's 10-digit sequence; all nodes named with a
// sequence are ephemeral):
//
//	Curator lock         PATH/_c_<uuid>-lock-<seq>        data: the client's IP, "127.0.0.1"
//	Curator read lock    PATH/_c_<uuid>-__READ__<seq>     data: the client's IP
//	Curator write lock   PATH/_c_<uuid>-__WRIT__<seq>     data: the client's IP
//	Curator semaphore V2 PATH/leases/_c_<uuid>-lease-<seq> data: the client's IP
//	                     PATH/locks/ (a mutex, _c_<uuid>-lock-<seq>, held only while acquiring)
//	Curator LeaderLatch  PATH/_c_<uuid>-latch-<seq>       data: the latch id
//	kazoo Lock           PATH/<hex32>__lock__<seq>        data: the identifier
//	kazoo ReadLock       PATH/<hex32>__rlock__<seq>       data: the identifier
//	kazoo WriteLock      PATH/<hex32>__lock__<seq>        data: the identifier
//	kazoo Semaphore      PATH/<hex32> (no sequence)       data: the identifier
//	                     PATH itself                      data: max_leases, e.g. "2"
//	                     PATH-__lock__/ (a sibling kazoo Lock, held only while acquiring)
//	kazoo Election       PATH/<hex32>__lock__<seq>        data: the election id
//	kazoo LockingQueue   PATH/entries/entry-<ppp>-<seq>   data: the item; persistent (<ppp>: the
//	                                                      priority, %03d)
//	                     PATH/taken/<entry's name>        data: the consumer's <hex32>; ephemeral
//	Curator DistributedQueue
//	                     PATH/queue-<seq>                 data: Curator's item framing; persistent
//	                     LOCKPATH/queue-<seq>             ephemeral, while a consumer processes the item
//	                                                      (bench-queue's LOCKPATH: PATH-locks)
//	Curator DistributedDelayQueue
//	                     PATH/queue-|<due>|<seq>          as DistributedQueue; <due>: Unix ms, %08X
//	                     LOCKPATH/<item's name>           as DistributedQueue
//	Curator SimpleDistributedQueue
//	                     PATH/qn-<seq>                    data: the item as offered; persistent
//	Curator DistributedBarrier
//	                     PATH itself                      data: the client's IP; persistent
//	kazoo Barrier        PATH itself                      data: empty; persistent
//	Curator DistributedDoubleBarrier
//	                     PATH/<uuid>                      data: the client's IP; ephemeral, one per member
//	                     PATH/ready                       persistent: created by the member that
//	                                                      counts N children, deleted by leave (at its end)
//	kazoo DoubleBarrier  PATH/<hex32>                     data: "<fqdn>-<pid>"; ephemeral, one per member
//	                     PATH/ready                       as Curator's, but deleted as leave starts
//	Curator SharedCount, DistributedAtomicInteger
//	                     PATH itself                      data: a big-endian int32
//	Curator DistributedAtomicLong
//	                     PATH itself                      data: a big-endian int64
//	kazoo Counter        PATH itself                      data: the value's repr in ASCII, e.g. "42"; with
//	                                                      support_curator a big-endian int32
//
// Curator's item framing: a big-endian int32 0x00010001, then per message
// a byte 0x01, an int32 length and the message's bytes, then a byte 0x02.
// The queue rows are from the libraries' source and recipes/queue's
// interop tests (interop_test.go with kazoo, curator_interop_test.go), not
// checked by this package's tests; their entries are persistent despite
// their sequence.
//
// Curator's and kazoo's locks on one path do not exclude each other (see
// TestMixedLibrariesDoNotExclude): each recognises only its own node names.
package peers
