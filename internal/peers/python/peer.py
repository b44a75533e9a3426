"""The kazoo side of zkrecipes' interop tests.

A line protocol on stdin/stdout over kazoo's recipes, driven by the Go
package internal/peers. Run with Debian's /usr/bin/python3 (python3-kazoo):

    /usr/bin/python3 peer.py CONNECT SESSION_TIMEOUT_MS [CHROOT]

It prints "connected" once the session is up, then reads one command a line
and answers with one line per event (see internal/peers/doc.go). Every
blocking recipe call runs in a thread of its own, so the peer keeps reading
commands while it waits.
"""

import logging
import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.counter import Counter
from kazoo.retry import KazooRetry

_out_lock = threading.Lock()


def say(line):
    """Prints one protocol line and flushes it."""
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def message(exc):
    text = type(exc).__name__
    if str(exc):
        text += ": " + str(exc)
    return text.replace("\n", " ")


class Hold:
    """One lock, read or write lock or semaphore lease, held by a thread."""

    def __init__(self, kind, path, recipe):
        self.kind = kind
        self.path = path
        self.recipe = recipe
        self.acquired = False
        self.release_asked = threading.Event()
        self.thread = threading.Thread(target=self.run, name=kind + " " + path, daemon=True)

    def run(self):
        try:
            self.recipe.acquire()
        except Exception as exc:  # reported on the protocol
            say("error %s %s: %s" % (self.kind, self.path, message(exc)))
            peer.forget(self)
            return
        self.acquired = True
        say("acquired %s %s" % (self.kind, self.path))
        self.release_asked.wait()
        try:
            self.recipe.release()
            say("released %s %s" % (self.kind, self.path))
        except Exception as exc:
            say("error release %s %s: %s" % (self.kind, self.path, message(exc)))
        peer.forget(self)


class Candidate:
    """One kazoo Election run in a thread; it leads until resign."""

    def __init__(self, election, ident):
        self.election = election
        self.ident = ident
        self.leading = False
        self.resign_asked = threading.Event()
        self.thread = threading.Thread(target=self.run, name="elect " + ident, daemon=True)

    def lead(self):
        self.leading = True
        say("leader " + self.ident)
        self.resign_asked.wait()

    def run(self):
        try:
            self.election.run(self.lead)
        except Exception as exc:
            say("error elect %s: %s" % (self.ident, message(exc)))
            return
        say("resigned " + self.ident)

    def resign(self):
        self.resign_asked.set()
        if not self.leading:
            self.election.cancel()  # stops a candidate that does not lead yet


class Partition:
    """One kazoo SetPartitioner run in a thread, driven as kazoo's docs
    drive it (release_set on RELEASE, wait on ALLOCATING); it reports each
    acquired set until partition-stop."""

    def __init__(self, client, path, ident, boundary, items):
        self.path = path
        self.ident = ident
        self.changed = threading.Event()
        self.stop_asked = threading.Event()
        self.sp = client.SetPartitioner(path, set=items, identifier=ident,
                                        time_boundary=boundary, state_change_event=self.changed)
        self.thread = threading.Thread(target=self.run, name="partition " + ident, daemon=True)

    def run(self):
        sp = self.sp
        try:
            while not self.stop_asked.is_set():
                if sp.failed:
                    say("error partition %s %s: failed" % (self.path, self.ident))
                    return
                if sp.release:
                    sp.release_set()
                    say("partition-released %s %s" % (self.path, self.ident))
                    continue
                if sp.acquired:
                    say("partition-acquired %s %s %s" % (self.path, self.ident, ",".join(sorted(sp)) or "-"))
                    # wait for the next state change (party change, session trouble)
                    while sp.acquired and not self.stop_asked.is_set():
                        self.changed.wait(0.2)
                        self.changed.clear()
                    continue
                self.changed.wait(0.2)
                self.changed.clear()
            sp.finish()
            say("partition-stopped %s" % self.ident)
        except Exception as exc:
            say("error partition %s %s: %s" % (self.path, self.ident, message(exc)))


def percentile(sorted_values, p):
    """The Go benchmarks' rule: sorted[int(p*(len-1))]."""
    if not sorted_values:
        return 0
    return sorted_values[int(p * (len(sorted_values) - 1))]


class LockBench:
    """One bench-lock run: n contenders, each a kazoo Lock on a client
    (session) of its own, loop acquire, release with no hold time until
    `cycles` grants are counted, the way the Go benchmarks run theirs
    (recipes/lock/bench_test.go, runContended). The first n grants are the
    warm-up (all join at once) unless cycles <= n; a hand-off is from one
    holder calling release to the next holder's acquire returning, on one
    monotonic clock. After the last counted grant every waiter takes the lock
    once more and leaves: cycles + n - 1 grants in all."""

    def __init__(self, path, locks, cycles):
        self.path = path
        self.locks = locks
        self.cycles = cycles
        self.warm = len(locks) if cycles > len(locks) else 0
        self.mu = threading.Lock()
        self.remaining = cycles
        self.last_release = None
        self.base = time.monotonic_ns()
        self.warm_at = self.base
        self.end_at = self.base
        self.handoffs = [[] for _ in locks]
        self.failure = None

    def contend(self, i):
        lk, mine = self.locks[i], self.handoffs[i]
        try:
            while True:
                lk.acquire()
                got = time.monotonic_ns()
                with self.mu:
                    self.remaining -= 1
                    left = self.remaining
                    lr = self.last_release
                k = self.cycles - left  # this grant's number
                if left >= 0 and k > self.warm and lr is not None:
                    mine.append(got - lr)
                if self.warm > 0 and k == self.warm and left != 0:
                    self.warm_at = got
                elif left == 0:
                    self.end_at = got
                with self.mu:
                    self.last_release = time.monotonic_ns()
                lk.release()
                if left <= 0:
                    return
        except Exception as exc:
            with self.mu:
                first = self.failure is None
                if first:
                    self.failure = exc
            if first:
                for other in self.locks:
                    if other is not lk:
                        other.cancel()  # a waiter's acquire raises CancelledError

    def run(self):
        threads = [threading.Thread(target=self.contend, args=(i,), name="bench-lock %d" % i, daemon=True)
                   for i in range(len(self.locks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.failure is not None:
            raise self.failure
        all_handoffs = sorted(h for mine in self.handoffs for h in mine)
        return "benched-lock %s cycles=%d window-ns=%d handoffs=%d p50-ns=%d p99-ns=%d" % (
            self.path, self.cycles - self.warm, self.end_at - self.warm_at, len(all_handoffs),
            percentile(all_handoffs, 0.50), percentile(all_handoffs, 0.99))


class QueueBench:
    """One bench-queue run over kazoo's LockingQueue: one producer (the
    peer's own session) puts `items` items, each holding its send time on
    the process's monotonic clock, while n consumers, each a LockingQueue on
    a bench session of its own, loop get, consume. A consumer's latency
    sample is from the producer reading the clock before put to its get
    returning; the window is from before the first put to the last item's
    get. After the items the producer puts one stop item per consumer (same
    priority, so after every item): a consumer leaves when it gets one."""

    STOP = b"stop"

    def __init__(self, producer, clients, path, items):
        self.producer = producer
        self.clients = clients
        self.path = path
        self.items = items
        self.start = 0
        self.latencies = [[] for _ in clients]
        self.last = [0 for _ in clients]
        self.failure = None

    def consume(self, i):
        q = self.clients[i].LockingQueue(self.path)
        mine = self.latencies[i]
        try:
            while True:
                value = q.get()
                got = time.monotonic_ns()
                if value == self.STOP:
                    q.consume()
                    return
                mine.append(got - int(value))
                self.last[i] = got
                if not q.consume():
                    raise RuntimeError("consume: the entry's lock is no longer ours")
        except Exception as exc:
            self.failure = self.failure or exc

    def run(self):
        threads = [threading.Thread(target=self.consume, args=(i,), name="bench-queue %d" % i, daemon=True)
                   for i in range(len(self.clients))]
        for t in threads:
            t.start()
        q = self.producer.LockingQueue(self.path)
        self.start = time.monotonic_ns()
        try:
            for _ in range(self.items):
                q.put(str(time.monotonic_ns()).encode())
        finally:
            for _ in threads:  # even after a failed put: no consumer waits for ever
                q.put(self.STOP)
        for t in threads:
            t.join()
        if self.failure is not None:
            raise self.failure
        lat = sorted(v for mine in self.latencies for v in mine)
        if len(lat) != self.items:
            raise RuntimeError("took %d items, put %d" % (len(lat), self.items))
        return "benched-queue %s items=%d window-ns=%d p50-ns=%d p99-ns=%d" % (
            self.path, len(lat), max(self.last) - self.start, percentile(lat, 0.50), percentile(lat, 0.99))


class RetryAtOnce(object):
    """A client as kazoo's Counter sees it, whose retry (the client's
    command_retry, which Counter runs its read-add-set under) retries a
    failed set at once and for ever, as the Go Atomic and the Curator peer
    do; everything else is the client's own. kazoo's default, 0.1 s doubling
    per retry, would measure its backoff instead of its round trips."""

    def __init__(self, client):
        self._client = client
        self.retry = KazooRetry(max_tries=-1, delay=0, backoff=1, max_jitter=0,
                                sleep_func=client.handler.sleep_func)

    def __getattr__(self, name):
        return getattr(self._client, name)


class Member:
    """One DoubleBarrier member on a path: enter, then leave, each in a
    thread of its own. kazoo's enter has no timeout: with one, the peer
    stops waiting after it and reports dbarrier-timeout, the member's node
    staying (as Curator's does after enter(ms) returns false); the enter
    thread stays blocked and never reports."""

    def __init__(self, client, path, n, timeout):
        self.path = path
        self.barrier = DoubleBarrier(client, path, n)
        self.timeout = timeout
        self.entered = threading.Event()
        self.failure = None

    def enter(self):
        try:
            self.barrier.enter()
        except Exception as exc:
            self.failure = exc
        self.entered.set()

    def run_enter(self):
        threading.Thread(target=self.enter, name="dbarrier-enter " + self.path, daemon=True).start()
        if not self.entered.wait(self.timeout):
            say("dbarrier-timeout " + self.path)
            return
        if self.failure is not None:
            say("error dbarrier-enter %s: %s" % (self.path, message(self.failure)))
        elif not self.barrier.participating:  # enter swallows KazooExceptions
            say("error dbarrier-enter %s: not participating" % self.path)
        else:
            say("dbarrier-entered %s %s" % (self.path, self.barrier.node_name))

    def run_leave(self):
        try:
            self.barrier.leave()
        except Exception as exc:
            say("error dbarrier-leave %s: %s" % (self.path, message(exc)))
            return
        say("dbarrier-left " + self.path)


def barrier_wait(client, path, timeout):
    try:
        passed = Barrier(client, path).wait(timeout)
    except Exception as exc:
        say("error barrier-wait %s: %s" % (path, message(exc)))
        return
    say(("barrier-passed " if passed else "barrier-timeout ") + path)


class CounterBench:
    """One bench-counter run: one thread per client, each adding 1 to a
    kazoo Counter (ASCII) on path n times through its own client (with
    RetryAtOnce), all starting together. The window is from the start to
    the last thread's last increment."""

    def __init__(self, clients, path, n):
        self.clients = clients
        self.path = path
        self.n = n
        self.go = threading.Event()
        self.mu = threading.Lock()
        self.ops = 0
        self.last = 0
        self.failure = None

    def work(self, i):
        counter = Counter(RetryAtOnce(self.clients[i]), self.path)
        try:
            self.go.wait()
            for _ in range(self.n):
                if self.failure is not None:
                    break
                counter += 1
                with self.mu:
                    self.ops += 1
            with self.mu:
                self.last = max(self.last, time.monotonic_ns())
        except Exception as exc:
            self.failure = self.failure or exc

    def run(self):
        threads = [threading.Thread(target=self.work, args=(i,), name="bench-counter %d" % i, daemon=True)
                   for i in range(len(self.clients))]
        for t in threads:
            t.start()
        start = time.monotonic_ns()
        self.go.set()
        for t in threads:
            t.join()
        if self.failure is not None:
            raise self.failure
        return "benched-counter %s ops=%d window-ns=%d" % (self.path, self.ops, self.last - start)


class Peer:
    def __init__(self, client, hosts, timeout):
        self.client = client
        self.hosts = hosts
        self.timeout = timeout
        self.ident = "kazoo-%d" % os.getpid()
        self.mu = threading.Lock()
        self.holds = []
        self.candidates = []
        self.bench_mu = threading.Lock()
        self.bench_clients = []  # bench-lock's sessions, one per contender, kept for later runs
        self.queues = {}  # path -> the LockingQueue of the lq-* commands
        self.partitions = {}  # identifier -> the Partition of the partition commands
        self.members = {}  # path -> the Member of the dbarrier commands

    def bench_sessions(self, n):
        """Returns the first n bench clients, starting those missing."""
        with self.bench_mu:
            while len(self.bench_clients) < n:
                c = KazooClient(hosts=self.hosts, timeout=self.timeout)
                c.start(timeout=60)
                self.bench_clients.append(c)
            return self.bench_clients[:n]

    def close_bench_sessions(self):
        with self.bench_mu:
            clients, self.bench_clients = self.bench_clients, []
        for c in clients:
            c.stop()
            c.close()

    def bench_lock(self, path, n, cycles):
        try:
            clients = self.bench_sessions(n)
            locks = [c.Lock(path, "%s-%d" % (self.ident, i)) for i, c in enumerate(clients)]
            say(LockBench(path, locks, cycles).run())
        except Exception as exc:
            self.close_bench_sessions()  # drops any node a contender left
            say("error bench-lock %s: %s" % (path, message(exc)))

    def bench_cache(self, path, n):
        """One bench-cache run: n kazoo TreeCaches on path, each on a bench
        session of its own, count the added, updated and removed events
        they report after their initial read, until each has seen path/end
        added, as the Go benchmark counts its Trees'
        (recipes/cache/bench_test.go, BenchmarkTreeEvents)."""
        caches = []
        try:
            clients = self.bench_sessions(n)
            end = path.rstrip("/") + "/end"
            mu = threading.Lock()
            counts = {"events": 0}
            ready = threading.Semaphore(0)
            ended = threading.Semaphore(0)

            def listener():
                state = {"initialized": False, "ended": False}

                def on_event(event):
                    if state["ended"]:
                        return
                    if event.event_type == TreeEvent.INITIALIZED:
                        state["initialized"] = True
                        ready.release()
                        return
                    if not state["initialized"] or event.event_type not in (
                            TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED):
                        return
                    if event.event_type == TreeEvent.NODE_ADDED and event.event_data.path == end:
                        state["ended"] = True
                        ended.release()
                        return
                    with mu:
                        counts["events"] += 1
                return on_event

            for c in clients:
                cache = TreeCache(c, path)
                cache.listen(listener())
                caches.append(cache)
                cache.start()
            for _ in range(n):
                if not ready.acquire(timeout=120):
                    raise RuntimeError("bench-cache: caches not initialized after 120s")
            say("cache-ready " + path)
            for _ in range(n):
                if not ended.acquire(timeout=600):
                    raise RuntimeError("bench-cache: end marker not seen by every cache after 600s")
            with mu:
                events = counts["events"]
            say("benched-cache %s events=%d" % (path, events))
        except Exception as exc:
            say("error bench-cache %s: %s" % (path, message(exc)))
        finally:
            for cache in caches:
                cache.close()

    def bench_queue(self, path, items, n, kind):
        try:
            if kind != "LockingQueue":
                raise ValueError("bench-queue: kind %r: kazoo has LockingQueue" % kind)
            say(QueueBench(self.client, self.bench_sessions(n), path, items).run())
        except Exception as exc:
            self.close_bench_sessions()  # drops any entry a consumer had locked
            say("error bench-queue %s: %s" % (path, message(exc)))

    def bench_counter(self, path, clients, n):
        try:
            say(CounterBench(self.bench_sessions(clients), path, n).run())
        except Exception as exc:
            say("error bench-counter %s: %s" % (path, message(exc)))

    def locking_queue(self, path):
        """Returns the one LockingQueue of the lq-* commands on path."""
        with self.mu:
            q = self.queues.get(path)
            if q is None:
                q = self.queues[path] = self.client.LockingQueue(path)
            return q

    def lq_get(self, path, timeout):
        try:
            value = self.locking_queue(path).get(timeout)
        except Exception as exc:
            say("error lq-get %s: %s" % (path, message(exc)))
            return
        if value is None:
            say("lq-empty " + path)
        else:
            say("lq-got %s %s" % (path, value.decode("utf-8", "replace")))

    def forget(self, hold):
        with self.mu:
            if hold in self.holds:
                self.holds.remove(hold)

    def start(self, hold):
        with self.mu:
            self.holds.append(hold)
        hold.thread.start()

    def unlock(self, path):
        found = None
        with self.mu:
            for hold in reversed(self.holds):
                if hold.acquired and not hold.release_asked.is_set() and (path is None or hold.path == path):
                    found = hold
                    break
        if found is None:
            say("error unlock: nothing held" + ("" if path is None else " on " + path))
            return
        found.release_asked.set()

    def resign(self, ident):
        with self.mu:
            found = None
            for cand in reversed(self.candidates):
                if not cand.resign_asked.is_set() and (ident is None or cand.ident == ident):
                    found = cand
                    break
        if found is None:
            say("error resign: no candidate" + ("" if ident is None else " " + ident))
            return
        found.resign()

    def handle(self, line):
        """Runs one command; returns False on exit."""
        f = line.split()
        if not f:
            return True
        cmd, args = f[0], f[1:]

        def need(n, usage):
            if len(args) != n:
                raise ValueError("usage: " + usage)

        if cmd == "ping":
            say("pong")
        elif cmd == "session":
            say("session 0x%x" % self.client.client_id[0])
        elif cmd == "lock":
            # lock PATH [PATTERN...]: the patterns are kazoo's
            # extra_lock_patterns, other libraries' node markers.
            if not args:
                raise ValueError("usage: lock PATH [PATTERN...]")
            lk = self.client.Lock(args[0], self.ident, extra_lock_patterns=args[1:])
            self.start(Hold("lock", args[0], lk))
        elif cmd == "read-lock":
            need(1, "read-lock PATH")
            self.start(Hold(cmd, args[0], self.client.ReadLock(args[0], self.ident)))
        elif cmd == "write-lock":
            need(1, "write-lock PATH")
            self.start(Hold(cmd, args[0], self.client.WriteLock(args[0], self.ident)))
        elif cmd == "semaphore":
            need(2, "semaphore PATH N")
            sem = self.client.Semaphore(args[0], identifier=self.ident, max_leases=int(args[1]))
            self.start(Hold(cmd, args[0], sem))
        elif cmd == "unlock":
            self.unlock(args[0] if args else None)
        elif cmd == "elect":
            need(2, "elect PATH ID")
            cand = Candidate(self.client.Election(args[0], args[1]), args[1])
            with self.mu:
                self.candidates.append(cand)
            cand.thread.start()
            say("started elect " + args[1])
        elif cmd == "resign":
            self.resign(args[0] if args else None)
        elif cmd == "bench-lock":
            need(3, "bench-lock PATH N CYCLES")
            n, cycles = int(args[1]), int(args[2])
            if n < 1 or cycles < 1:
                raise ValueError("bench-lock: N and CYCLES must be at least 1")
            threading.Thread(target=self.bench_lock, args=(args[0], n, cycles),
                             name="bench-lock " + args[0], daemon=True).start()
        elif cmd == "bench-cache":
            need(2, "bench-cache PATH N")
            n = int(args[1])
            if n < 1:
                raise ValueError("bench-cache: N must be at least 1")
            threading.Thread(target=self.bench_cache, args=(args[0], n),
                             name="bench-cache " + args[0], daemon=True).start()
        elif cmd == "lq-put":
            need(3, "lq-put PATH PRIO DATA")
            self.locking_queue(args[0]).put(args[2].encode(), priority=int(args[1]))
            say("lq-put " + args[0])
        elif cmd == "lq-get":
            need(2, "lq-get PATH TIMEOUT_S")
            timeout = float(args[1])
            threading.Thread(target=self.lq_get, args=(args[0], None if timeout < 0 else timeout),
                             name="lq-get " + args[0], daemon=True).start()
        elif cmd == "lq-consume":
            need(1, "lq-consume PATH")
            say("lq-consumed %s %s" % (args[0], self.locking_queue(args[0]).consume()))
        elif cmd == "lq-release":
            need(1, "lq-release PATH")
            say("lq-released %s %s" % (args[0], self.locking_queue(args[0]).release()))
        elif cmd == "lq-len":
            need(1, "lq-len PATH")
            say("lq-len %s %d" % (args[0], len(self.locking_queue(args[0]))))
        elif cmd == "bench-queue":
            if len(args) not in (3, 4):
                raise ValueError("usage: bench-queue PATH ITEMS CONSUMERS [KIND]")
            items, n = int(args[1]), int(args[2])
            if items < 1 or n < 1:
                raise ValueError("bench-queue: ITEMS and CONSUMERS must be at least 1")
            kind = args[3] if len(args) == 4 else "LockingQueue"
            threading.Thread(target=self.bench_queue, args=(args[0], items, n, kind),
                             name="bench-queue " + args[0], daemon=True).start()
        elif cmd == "partition":
            # partition PATH ID TIME_BOUNDARY_S ITEM,ITEM,...: a SetPartitioner
            need(4, "partition PATH ID TIME_BOUNDARY_S ITEMS")
            part = Partition(self.client, args[0], args[1], float(args[2]), args[3].split(","))
            with self.mu:
                self.partitions[args[1]] = part
            part.thread.start()
            say("started partition " + args[1])
        elif cmd == "partition-stop":
            need(1, "partition-stop ID")
            with self.mu:
                part = self.partitions.pop(args[0], None)
            if part is None:
                raise ValueError("partition-stop: no partition " + args[0])
            part.stop_asked.set()
            part.changed.set()
        elif cmd == "barrier-set":
            need(1, "barrier-set PATH")
            Barrier(self.client, args[0]).create()
            say("barrier-set " + args[0])
        elif cmd == "barrier-remove":
            need(1, "barrier-remove PATH")
            Barrier(self.client, args[0]).remove()
            say("barrier-removed " + args[0])
        elif cmd == "barrier-wait":
            need(2, "barrier-wait PATH TIMEOUT_MS")
            ms = int(args[1])
            threading.Thread(target=barrier_wait, args=(self.client, args[0], None if ms < 0 else ms / 1000.0),
                             name="barrier-wait " + args[0], daemon=True).start()
        elif cmd == "dbarrier-enter":
            if len(args) not in (2, 3):
                raise ValueError("usage: dbarrier-enter PATH N [TIMEOUT_MS]")
            with self.mu:
                if args[0] in self.members:
                    raise ValueError("dbarrier-enter: already a member of " + args[0])
                ms = int(args[2]) if len(args) == 3 else -1
                member = self.members[args[0]] = Member(self.client, args[0], int(args[1]),
                                                        None if ms < 0 else ms / 1000.0)
            threading.Thread(target=member.run_enter, name="dbarrier " + args[0], daemon=True).start()
        elif cmd == "dbarrier-leave":
            need(1, "dbarrier-leave PATH")
            with self.mu:
                member = self.members.pop(args[0], None)
            if member is None:
                raise ValueError("dbarrier-leave: not a member of " + args[0])
            threading.Thread(target=member.run_leave, name="dbarrier-leave " + args[0], daemon=True).start()
        elif cmd == "counter-add":
            need(3, "counter-add PATH DELTA ascii|curator")
            if args[2] not in ("ascii", "curator"):
                raise ValueError("counter-add: format is ascii or curator, not " + args[2])
            counter = Counter(RetryAtOnce(self.client), args[0], support_curator=args[2] == "curator")
            counter += int(args[1])
            say("counter %s %d" % (args[0], counter.post_value))
        elif cmd == "bench-counter":
            need(3, "bench-counter PATH CLIENTS N")
            clients, n = int(args[1]), int(args[2])
            if clients < 1 or n < 1:
                raise ValueError("bench-counter: CLIENTS and N must be at least 1")
            threading.Thread(target=self.bench_counter, args=(args[0], clients, n),
                             name="bench-counter " + args[0], daemon=True).start()
        elif cmd == "exit":
            return False
        else:
            raise ValueError("unknown command " + cmd)
        return True

    def shutdown(self):
        with self.mu:
            holds, self.holds = self.holds, []
            cands, self.candidates = self.candidates, []
        for hold in holds:
            hold.release_asked.set()
        for cand in cands:
            cand.resign()
        for hold in holds:
            if hold.acquired:  # a waiter stays blocked; the session's end drops its node
                hold.thread.join(5)
        for cand in cands:
            cand.thread.join(5)
        with self.mu:
            parts, self.partitions = list(self.partitions.values()), {}
        for part in parts:
            part.stop_asked.set()
            part.changed.set()
        for part in parts:
            part.thread.join(5)
        self.close_bench_sessions()


peer = None


def main():
    global peer
    if len(sys.argv) not in (3, 4):
        sys.stderr.write("usage: peer.py CONNECT SESSION_TIMEOUT_MS [CHROOT]\n")
        sys.exit(2)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hosts = sys.argv[1]
    if len(sys.argv) == 4 and sys.argv[3]:
        hosts += "/" + sys.argv[3].strip("/")
    timeout = int(sys.argv[2]) / 1000.0
    client = KazooClient(hosts=hosts, timeout=timeout)
    client.add_listener(lambda state: say("state " + str(state)))
    try:
        client.start(timeout=60)
    except Exception as exc:
        say("error not connected to %s: %s" % (hosts, message(exc)))
        sys.exit(1)
    say("connected")
    peer = Peer(client, hosts, timeout)
    for line in sys.stdin:
        try:
            if not peer.handle(line):
                break
        except Exception as exc:
            say("error " + message(exc))
    peer.shutdown()
    client.stop()
    client.close()
    say("bye")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
