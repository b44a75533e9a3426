// Peer is the Apache Curator side of zkrecipes' interop tests: a line
// protocol on stdin/stdout over Curator's recipes, driven by the Go package
// internal/peers, which compiles this single file with javac at test time.
//
// Usage: java -cp CLASSES:JARS Peer CONNECT SESSION_TIMEOUT_MS [NAMESPACE]
//
// It prints "connected" once the session is up, then reads one command a
// line and answers with one line per event (see internal/peers/doc.go).
// Every blocking recipe call runs in a thread of its own, so the peer keeps
// reading commands while it waits.

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.RetryPolicy;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicInteger;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.locks.Revoker;
import org.apache.curator.framework.recipes.queue.DistributedDelayQueue;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.queue.SimpleDistributedQueue;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

public final class Peer {
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);

    /** say prints one protocol line and flushes it. */
    static void say(String line) {
        synchronized (OUT) {
            OUT.print(line);
            OUT.print('\n');
            OUT.flush();
        }
    }

    static String message(Throwable e) {
        String m = e.getClass().getSimpleName();
        if (e.getMessage() != null) {
            m += ": " + e.getMessage();
        }
        return m.replace('\n', ' ');
    }

    /** Acquirer acquires one recipe's grant and returns what releases it. */
    interface Acquirer {
        Releaser acquire() throws Exception;
    }

    interface Releaser {
        void release() throws Exception;
    }

    /**
     * Hold is one lock, read or write lock or semaphore lease: a thread that
     * acquires, holds until release is asked for, then releases. Curator's
     * InterProcessMutex must be released by the thread that acquired it.
     */
    static final class Hold {
        final String kind;
        final String path;
        final CountDownLatch releaseAsked = new CountDownLatch(1);
        volatile boolean acquired;
        final Thread thread;

        Hold(String kind, String path, Acquirer acquirer) {
            this.kind = kind;
            this.path = path;
            this.thread = new Thread(() -> run(acquirer), kind + " " + path);
            this.thread.setDaemon(true);
        }

        void run(Acquirer acquirer) {
            Releaser r;
            try {
                r = acquirer.acquire();
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                say("error " + kind + " " + path + ": " + message(e));
                forget(this);
                return;
            }
            acquired = true;
            say("acquired " + kind + " " + path);
            try {
                releaseAsked.await();
            } catch (InterruptedException e) {
                return;
            }
            try {
                r.release();
                say("released " + kind + " " + path);
            } catch (Exception e) {
                say("error release " + kind + " " + path + ": " + message(e));
            }
            forget(this);
        }
    }

    static final List<Hold> holds = new ArrayList<>();
    static final Map<String, LeaderLatch> latches = new LinkedHashMap<>();
    static CuratorFramework client;
    /** builder makes client and the bench sessions alike. */
    static CuratorFrameworkFactory.Builder builder;
    /** benchClients are bench-lock's sessions, one per contender, kept for later runs. */
    static final List<CuratorFramework> benchClients = new ArrayList<>();

    /** benchClients returns the first n bench sessions, starting those missing. */
    static List<CuratorFramework> benchClients(int n) throws Exception {
        synchronized (benchClients) {
            while (benchClients.size() < n) {
                CuratorFramework c = builder.build();
                c.start();
                if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
                    c.close();
                    throw new IllegalStateException("bench session " + benchClients.size() + " not connected after 60s");
                }
                benchClients.add(c);
            }
            return new ArrayList<>(benchClients.subList(0, n));
        }
    }

    /** closeBenchClients closes every bench session: their nodes go with them. */
    static void closeBenchClients() {
        synchronized (benchClients) {
            for (CuratorFramework c : benchClients) {
                c.close();
            }
            benchClients.clear();
        }
    }

    /**
     * CacheBench is one bench-cache run: n CuratorCaches on PATH, each on a
     * bench session of its own, count the create, change and delete events
     * they report after their initial read, until each has seen PATH/end
     * created (the Go side writes, then creates it), as the Go benchmark
     * counts its Trees' (recipes/cache/bench_test.go, BenchmarkTreeEvents).
     * It prints "cache-ready PATH" once every cache is initialized, then
     * "benched-cache PATH events=E" (summed over the caches, the end marker
     * not counted) once every cache has seen the end.
     */
    static final class CacheBench {
        static void run(String path, int n) throws Exception {
            List<CuratorFramework> clients = benchClients(n);
            String end = path + "/end";
            AtomicLong events = new AtomicLong();
            CountDownLatch ready = new CountDownLatch(n);
            CountDownLatch ended = new CountDownLatch(n);
            List<CuratorCache> caches = new ArrayList<>();
            try {
                for (int i = 0; i < n; i++) {
                    CuratorCache c = CuratorCache.build(clients.get(i), path);
                    c.listenable().addListener(new CuratorCacheListener() {
                        volatile boolean initialized;
                        boolean seenEnd;

                        @Override
                        public void event(Type type, ChildData oldData, ChildData data) {
                            if (!initialized || seenEnd) {
                                return;
                            }
                            if (type == Type.NODE_CREATED && data != null && data.getPath().equals(end)) {
                                seenEnd = true;
                                ended.countDown();
                                return;
                            }
                            events.incrementAndGet();
                        }

                        @Override
                        public void initialized() {
                            initialized = true;
                            ready.countDown();
                        }
                    });
                    caches.add(c);
                    c.start();
                }
                if (!ready.await(120, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("bench-cache: caches not initialized after 120s");
                }
                say("cache-ready " + path);
                if (!ended.await(600, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("bench-cache: end marker not seen by every cache after 600s");
                }
                say("benched-cache " + path + " events=" + events.get());
            } finally {
                for (CuratorCache c : caches) {
                    c.close();
                }
            }
        }
    }

    /**
     * LockBench is one bench-lock run: n contenders, each an InterProcessMutex
     * on a session of its own, loop acquire, release with no hold time until
     * `cycles` grants are counted, the way the Go benchmarks run theirs
     * (recipes/lock/bench_test.go, runContended). The first n grants are the
     * warm-up (all join at once) unless cycles <= n; a hand-off is from one
     * holder calling release to the next holder's acquire returning, on one
     * monotonic clock. After the last counted grant every waiter takes the
     * lock once more and leaves: cycles + n - 1 grants in all.
     */
    static final class LockBench {
        static final long NONE = Long.MIN_VALUE;
        final long cycles;
        final int warm;
        final long base = System.nanoTime();
        final AtomicLong remaining;
        final AtomicLong lastRelease = new AtomicLong(NONE);
        final AtomicReference<Exception> failure = new AtomicReference<>();
        final long[][] handoffs;
        final int[] counts;
        volatile long warmAt;
        volatile long endAt;
        Thread[] threads;

        LockBench(int n, long cycles) {
            this.cycles = cycles;
            this.warm = cycles > n ? n : 0;
            this.remaining = new AtomicLong(cycles);
            this.handoffs = new long[n][];
            this.counts = new int[n];
            this.warmAt = base;
        }

        static String run(String path, int n, long cycles) throws Exception {
            List<CuratorFramework> clients = benchClients(n);
            LockBench b = new LockBench(n, cycles);
            b.threads = new Thread[n];
            for (int i = 0; i < n; i++) {
                final int id = i;
                InterProcessMutex m = new InterProcessMutex(clients.get(i), path);
                b.threads[i] = new Thread(() -> b.contend(id, m), "bench-lock " + i);
                b.threads[i].setDaemon(true);
            }
            for (Thread t : b.threads) {
                t.start();
            }
            for (Thread t : b.threads) {
                t.join();
            }
            Exception e = b.failure.get();
            if (e != null) {
                closeBenchClients(); // drops any node a contender left
                throw e;
            }
            int total = 0;
            for (int c : b.counts) {
                total += c;
            }
            long[] all = new long[total];
            int at = 0;
            for (int i = 0; i < n; i++) {
                if (b.counts[i] > 0) {
                    System.arraycopy(b.handoffs[i], 0, all, at, b.counts[i]);
                    at += b.counts[i];
                }
            }
            Arrays.sort(all);
            return "benched-lock " + path + " cycles=" + (cycles - b.warm) + " window-ns=" + (b.endAt - b.warmAt)
                    + " handoffs=" + total + " p50-ns=" + percentile(all, 0.50) + " p99-ns=" + percentile(all, 0.99);
        }

        /** percentile is the Go benchmarks' rule: sorted[int(p*(len-1))]. */
        static long percentile(long[] sorted, double p) {
            return sorted.length == 0 ? 0 : sorted[(int) (p * (sorted.length - 1))];
        }

        void contend(int id, InterProcessMutex m) {
            long[] mine = new long[64];
            int count = 0;
            try {
                for (;;) {
                    m.acquire();
                    long got = System.nanoTime();
                    long left = remaining.decrementAndGet();
                    long k = cycles - left; // this grant's number
                    if (left >= 0 && k > warm) {
                        long lr = lastRelease.get();
                        if (lr != NONE) {
                            if (count == mine.length) {
                                mine = Arrays.copyOf(mine, 2 * count);
                            }
                            mine[count++] = got - lr;
                        }
                    }
                    if (warm > 0 && k == warm && left != 0) {
                        warmAt = got;
                    } else if (left == 0) {
                        endAt = got;
                    }
                    lastRelease.set(System.nanoTime());
                    m.release();
                    if (left <= 0) {
                        break;
                    }
                }
            } catch (Exception e) {
                if (failure.compareAndSet(null, e)) {
                    for (Thread t : threads) {
                        if (t != Thread.currentThread()) {
                            t.interrupt(); // a waiter's acquire throws and deletes its node
                        }
                    }
                }
            } finally {
                handoffs[id] = mine;
                counts[id] = count;
            }
        }
    }

    /**
     * QueueBench is one bench-queue run: one producer (the peer's own
     * session) puts `items` items, each holding its send time on the
     * process's monotonic clock (System.nanoTime), while n consumers, each
     * on a bench session of its own, take them. A latency sample is from the
     * producer reading the clock before its put to a consumer receiving the
     * item; the window is from before the first put to the last item's
     * receipt. Kinds:
     *
     * DistributedQueue: QueueBuilder with lockPath(PATH + "-locks"), the
     * at-least-once queue: a consumer locks an item (an ephemeral node
     * under the lock path), hands it to its QueueConsumer, then deletes it
     * and the lock. Each consumer is a queue of its own, processing items in
     * its one thread (the builder's default executor). The producer is a
     * producer-only queue with putInBackground(false): one put at a time, as
     * the Go producer puts.
     *
     * SimpleDistributedQueue: offer and take, at most once (take deletes the
     * item). After the items the producer offers one stop item per
     * consumer: a consumer leaves when it takes one.
     */
    static final class QueueBench {
        static final byte[] STOP = "stop".getBytes(StandardCharsets.UTF_8);

        final int items;
        final List<Long> latencies = new ArrayList<>();
        final AtomicLong received = new AtomicLong();
        final AtomicLong last = new AtomicLong();
        volatile long start; // before the first put
        final AtomicReference<Exception> failure = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);

        QueueBench(int items) {
            this.items = items;
        }

        /** got records one item, sent at sent on System.nanoTime's clock. */
        void got(long sent) {
            long now = System.nanoTime();
            synchronized (latencies) {
                latencies.add(now - sent);
            }
            last.accumulateAndGet(now, Math::max);
            if (received.incrementAndGet() == items) {
                done.countDown();
            }
        }

        void fail(Exception e) {
            failure.compareAndSet(null, e);
            done.countDown();
        }

        static final QueueSerializer<Long> SERIALIZER = new QueueSerializer<Long>() {
            @Override
            public byte[] serialize(Long item) {
                return Long.toString(item).getBytes(StandardCharsets.UTF_8);
            }

            @Override
            public Long deserialize(byte[] bytes) {
                return Long.parseLong(new String(bytes, StandardCharsets.UTF_8));
            }
        };

        static String run(String path, int items, int n, String kind) throws Exception {
            List<CuratorFramework> clients = benchClients(n);
            QueueBench b = new QueueBench(items);
            switch (kind) {
                case "DistributedQueue":
                    b.distributed(path, clients);
                    break;
                case "SimpleDistributedQueue":
                    b.simple(path, clients);
                    break;
                default:
                    throw new IllegalArgumentException("bench-queue: kind " + kind
                            + ": Curator has DistributedQueue and SimpleDistributedQueue");
            }
            Exception e = b.failure.get();
            if (e != null) {
                throw e;
            }
            long[] all;
            synchronized (b.latencies) {
                all = new long[b.latencies.size()];
                for (int i = 0; i < all.length; i++) {
                    all[i] = b.latencies.get(i);
                }
            }
            if (all.length != items) {
                throw new IllegalStateException("received " + all.length + " items, put " + items);
            }
            Arrays.sort(all);
            return "benched-queue " + path + " items=" + all.length + " window-ns=" + (b.last.get() - b.start)
                    + " p50-ns=" + LockBench.percentile(all, 0.50) + " p99-ns=" + LockBench.percentile(all, 0.99);
        }

        void distributed(String path, List<CuratorFramework> clients) throws Exception {
            List<DistributedQueue<Long>> queues = new ArrayList<>();
            try {
                for (CuratorFramework c : clients) {
                    QueueConsumer<Long> consumer = new QueueConsumer<Long>() {
                        @Override
                        public void consumeMessage(Long sent) {
                            got(sent);
                        }

                        @Override
                        public void stateChanged(CuratorFramework client, ConnectionState state) {
                        }
                    };
                    DistributedQueue<Long> q = QueueBuilder.builder(c, consumer, SERIALIZER, path)
                            .lockPath(path + "-locks").buildQueue();
                    queues.add(q);
                    q.start();
                }
                DistributedQueue<Long> producer = QueueBuilder.builder(client, null, SERIALIZER, path)
                        .putInBackground(false).buildQueue();
                queues.add(producer);
                producer.start();
                start = System.nanoTime();
                for (int i = 0; i < items; i++) {
                    producer.put(System.nanoTime());
                }
                if (!done.await(600, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("bench-queue: " + received.get() + " of " + items
                            + " items received after 600s");
                }
                // The last item's consumer deletes it after consumeMessage:
                // closing the queues before would interrupt that (logged).
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!client.getChildren().forPath(path).isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
            } finally {
                for (DistributedQueue<Long> q : queues) {
                    q.close();
                }
            }
        }

        void simple(String path, List<CuratorFramework> clients) throws Exception {
            Thread[] threads = new Thread[clients.size()];
            for (int i = 0; i < threads.length; i++) {
                SimpleDistributedQueue q = new SimpleDistributedQueue(clients.get(i), path);
                threads[i] = new Thread(() -> {
                    try {
                        for (;;) {
                            byte[] b = q.take();
                            if (Arrays.equals(b, STOP)) {
                                return;
                            }
                            got(Long.parseLong(new String(b, StandardCharsets.UTF_8)));
                        }
                    } catch (Exception e) {
                        fail(e);
                    }
                }, "bench-queue " + i);
                threads[i].setDaemon(true);
                threads[i].start();
            }
            SimpleDistributedQueue producer = new SimpleDistributedQueue(client, path);
            start = System.nanoTime();
            try {
                for (int i = 0; i < items; i++) {
                    producer.offer(Long.toString(System.nanoTime()).getBytes(StandardCharsets.UTF_8));
                }
            } finally {
                for (Thread t : threads) { // even after a failed offer: no consumer waits for ever
                    producer.offer(STOP);
                }
            }
            for (Thread t : threads) {
                t.join();
            }
        }
    }

    /**
     * Queues are the dq-*, delayq-* and sq-* commands' Curator queues, kept
     * per PATH for later commands; only the command thread touches the
     * maps. Messages are UTF-8 strings (STRING). Producers put in the
     * foreground (putInBackground(false)), so a put is in ZooKeeper when
     * the command answers. Consumers are DistributedQueues (or
     * DistributedDelayQueues) of their own with a QueueConsumer and the
     * lock path: Curator's at-least-once mode, where the consumer creates
     * LOCKPATH/<item name> (ephemeral), hands the message to consumeMessage
     * in the queue's one thread, and deletes the item, then the lock, when
     * it returns.
     */
    static final class Queues {
        static final QueueSerializer<String> STRING = new QueueSerializer<String>() {
            @Override
            public byte[] serialize(String item) {
                return item.getBytes(StandardCharsets.UTF_8);
            }

            @Override
            public String deserialize(byte[] bytes) {
                return new String(bytes, StandardCharsets.UTF_8);
            }
        };

        static final Map<String, DistributedQueue<String>> producers = new HashMap<>();
        static final Map<String, DistributedDelayQueue<String>> delayProducers = new HashMap<>();
        static final Map<String, Closeable> consumers = new HashMap<>();

        /** put puts data on PATH's DistributedQueue, starting its producer on first use. */
        static void put(String path, String lockPath, String data) throws Exception {
            DistributedQueue<String> q = producers.get(path);
            if (q == null) {
                q = QueueBuilder.builder(client, null, STRING, path).lockPath(lockPath)
                        .putInBackground(false).buildQueue();
                q.start();
                producers.put(path, q);
            }
            q.put(data);
        }

        /** delayPut puts data on PATH's DistributedDelayQueue, due delayMs from now. */
        static void delayPut(String path, String lockPath, String data, long delayMs) throws Exception {
            DistributedDelayQueue<String> q = delayProducers.get(path);
            if (q == null) {
                q = QueueBuilder.builder(client, null, STRING, path).lockPath(lockPath)
                        .putInBackground(false).buildDelayQueue();
                q.start();
                delayProducers.put(path, q);
            }
            q.put(data, System.currentTimeMillis() + delayMs);
        }

        /**
         * consumer returns a QueueConsumer that prints "<got> PATH DATA" per
         * message and returns (Curator then deletes the item), or with hold
         * blocks after printing until its thread is interrupted (dq-stop,
         * exit), so the item stays locked; the peer is then killed or the
         * interrupt makes consumeMessage throw, and Curator gives the item
         * back (its ErrorMode.REQUEUE, or its lock's deletion).
         */
        static QueueConsumer<String> consumer(String got, String path, boolean hold) {
            return new QueueConsumer<String>() {
                @Override
                public void consumeMessage(String message) throws Exception {
                    say(got + " " + path + " " + message);
                    if (hold) {
                        new CountDownLatch(1).await();
                    }
                }

                @Override
                public void stateChanged(CuratorFramework c, ConnectionState state) {
                }
            };
        }

        static void consume(String path, String lockPath, String mode) throws Exception {
            if (!mode.equals("ack") && !mode.equals("hold")) {
                throw new IllegalArgumentException("dq-consume: MODE is ack or hold, not " + mode);
            }
            checkNoConsumer(path);
            DistributedQueue<String> q = QueueBuilder.builder(client, consumer("dq-got", path, mode.equals("hold")),
                    STRING, path).lockPath(lockPath).buildQueue();
            q.start();
            consumers.put(path, q);
        }

        static void delayConsume(String path, String lockPath) throws Exception {
            checkNoConsumer(path);
            DistributedDelayQueue<String> q = QueueBuilder.builder(client, consumer("delayq-got", path, false),
                    STRING, path).lockPath(lockPath).buildDelayQueue();
            q.start();
            consumers.put(path, q);
        }

        static void checkNoConsumer(String path) {
            if (consumers.containsKey(path)) {
                throw new IllegalStateException("a consumer runs on " + path);
            }
        }

        /** stop closes PATH's consumer (its thread is interrupted). */
        static void stop(String path) throws Exception {
            Closeable q = consumers.remove(path);
            if (q == null) {
                throw new IllegalStateException("no consumer on " + path);
            }
            q.close();
        }

        /** sqTake runs SimpleDistributedQueue.poll (take when timeoutMs < 0) in a thread of its own. */
        static void sqTake(String path, long timeoutMs) {
            SimpleDistributedQueue q = new SimpleDistributedQueue(client, path);
            Thread t = new Thread(() -> {
                try {
                    byte[] b = timeoutMs < 0 ? q.take() : q.poll(timeoutMs, TimeUnit.MILLISECONDS);
                    say(b == null ? "sq-empty " + path : "sq-got " + path + " " + new String(b, StandardCharsets.UTF_8));
                } catch (InterruptedException e) {
                    // exit
                } catch (Exception e) {
                    say("error sq-take " + path + ": " + message(e));
                }
            }, "sq-take " + path);
            t.setDaemon(true);
            t.start();
        }

        /** closeAll closes every consumer, then every producer. */
        static void closeAll() {
            List<Closeable> all = new ArrayList<>(consumers.values());
            all.addAll(producers.values());
            all.addAll(delayProducers.values());
            consumers.clear();
            producers.clear();
            delayProducers.clear();
            for (Closeable c : all) {
                try {
                    c.close();
                } catch (Exception e) {
                    // closing the client below drops their locks anyway
                }
            }
        }
    }

    /** daemon starts body in a daemon thread named name. */
    static void daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
    }

    /**
     * Barriers are the barrier-* and dbarrier-* commands: Curator's
     * DistributedBarrier (a fresh one per command: it keeps no state but its
     * path) and DistributedDoubleBarrier, one member per PATH, kept from
     * dbarrier-enter to the end of dbarrier-leave. Waits run in threads of
     * their own. Only the command thread touches the map.
     */
    static final class Barriers {
        static final Map<String, DistributedDoubleBarrier> members = new HashMap<>();

        static void waitOn(String path, long timeoutMs) {
            DistributedBarrier b = new DistributedBarrier(client, path);
            daemon("barrier-wait " + path, () -> {
                try {
                    boolean passed = true;
                    if (timeoutMs < 0) {
                        b.waitOnBarrier();
                    } else {
                        passed = b.waitOnBarrier(timeoutMs, TimeUnit.MILLISECONDS);
                    }
                    say((passed ? "barrier-passed " : "barrier-timeout ") + path);
                } catch (InterruptedException e) {
                    // exit
                } catch (Exception e) {
                    say("error barrier-wait " + path + ": " + message(e));
                }
            });
        }

        /**
         * node returns the member node name the barrier will create: Curator
         * keeps it, a random UUID chosen in the constructor, in the private
         * field ourPath.
         */
        static String node(DistributedDoubleBarrier b) throws Exception {
            java.lang.reflect.Field f = DistributedDoubleBarrier.class.getDeclaredField("ourPath");
            f.setAccessible(true);
            String p = (String) f.get(b);
            return p.substring(p.lastIndexOf('/') + 1);
        }

        static void enter(String path, int n, long timeoutMs) throws Exception {
            if (members.containsKey(path)) {
                throw new IllegalStateException("dbarrier-enter: already a member of " + path);
            }
            DistributedDoubleBarrier b = new DistributedDoubleBarrier(client, path, n);
            String node = node(b);
            members.put(path, b);
            daemon("dbarrier-enter " + path, () -> {
                try {
                    boolean entered = true;
                    if (timeoutMs < 0) {
                        b.enter();
                    } else {
                        entered = b.enter(timeoutMs, TimeUnit.MILLISECONDS);
                    }
                    say(entered ? "dbarrier-entered " + path + " " + node : "dbarrier-timeout " + path);
                } catch (InterruptedException e) {
                    // exit
                } catch (Exception e) {
                    say("error dbarrier-enter " + path + ": " + message(e));
                }
            });
        }

        static void leave(String path) {
            DistributedDoubleBarrier b = members.remove(path);
            if (b == null) {
                throw new IllegalStateException("dbarrier-leave: not a member of " + path);
            }
            daemon("dbarrier-leave " + path, () -> {
                try {
                    b.leave();
                    say("dbarrier-left " + path);
                } catch (InterruptedException e) {
                    // exit
                } catch (Exception e) {
                    say("error dbarrier-leave " + path + ": " + message(e));
                }
            });
        }
    }

    /**
     * Counters are the sharedcount-*, atomiclong-add and atomicint-add
     * commands. A SharedCount is kept per PATH from sharedcount-start until
     * the peer exits, with every VersionedValue it has printed, so that
     * sharedcount-tryset can offer a stale one. The atomic numbers retry a
     * failed compare-and-set at once (ATOMIC_RETRY), as the Go Atomic does.
     */
    static final class Counters {
        /** ATOMIC_RETRY retries contended sets immediately, enough times to succeed. */
        static final RetryPolicy ATOMIC_RETRY = new RetryNTimes(1_000_000, 0);

        static final Map<String, SharedCount> shared = new HashMap<>();
        /** seen holds, per PATH, the VersionedValues printed, by version. */
        static final Map<String, Map<Integer, VersionedValue<Integer>>> seen = new HashMap<>();

        static void report(String path, VersionedValue<Integer> v) {
            synchronized (seen) {
                seen.computeIfAbsent(path, k -> new HashMap<>()).put(v.getVersion(), v);
            }
            say("sharedcount " + path + " " + v.getValue() + " " + v.getVersion());
        }

        static void start(String path, int seed) throws Exception {
            if (shared.containsKey(path)) {
                throw new IllegalStateException("sharedcount-start: " + path + " is started");
            }
            SharedCount sc = new SharedCount(client, path, seed);
            sc.addListener(new SharedCountListener() {
                @Override
                public void countHasChanged(SharedCountReader r, int newCount) {
                    report(path, r.getVersionedValue());
                }

                @Override
                public void stateChanged(CuratorFramework c, ConnectionState state) {
                }
            });
            sc.start();
            shared.put(path, sc);
            report(path, sc.getVersionedValue());
        }

        /** trySet is trySetCount(previous, n): previous is the current value, or the one printed with version. */
        static boolean trySet(String path, int n, Integer version) throws Exception {
            SharedCount sc = shared.get(path);
            if (sc == null) {
                throw new IllegalStateException("sharedcount-tryset: " + path + " is not started");
            }
            VersionedValue<Integer> prev = sc.getVersionedValue();
            if (version != null) {
                synchronized (seen) {
                    prev = seen.getOrDefault(path, Map.of()).get(version);
                }
                if (prev == null) {
                    throw new IllegalStateException("sharedcount-tryset: never printed version " + version + " of " + path);
                }
            }
            return sc.trySetCount(prev, n);
        }

        static String line(String kind, String path, AtomicValue<? extends Number> v) {
            return kind + " " + path + " " + v.succeeded() + " " + v.preValue() + " " + v.postValue();
        }

        static void closeAll() {
            for (SharedCount sc : shared.values()) {
                try {
                    sc.close();
                } catch (Exception e) {
                    // closing the client below ends its watches anyway
                }
            }
            shared.clear();
        }
    }

    /**
     * CounterBench is one bench-counter run: CLIENTS threads, each with a
     * bench session of its own, each increment a DistributedAtomicLong on
     * PATH (with ATOMIC_RETRY) n times, all starting together. It answers
     * "benched-counter PATH ops=OPS window-ns=W": OPS the increments that
     * succeeded, W from the start to the last thread's last increment.
     */
    static final class CounterBench {
        static String run(String path, int clients, int n) throws Exception {
            List<CuratorFramework> cs = benchClients(clients);
            CountDownLatch go = new CountDownLatch(1);
            AtomicLong ops = new AtomicLong();
            AtomicLong last = new AtomicLong();
            AtomicReference<Exception> failure = new AtomicReference<>();
            Thread[] threads = new Thread[clients];
            for (int i = 0; i < clients; i++) {
                DistributedAtomicLong a = new DistributedAtomicLong(cs.get(i), path, Counters.ATOMIC_RETRY);
                threads[i] = new Thread(() -> {
                    try {
                        go.await();
                        for (int k = 0; k < n && failure.get() == null; k++) {
                            AtomicValue<Long> v = a.increment();
                            if (!v.succeeded()) {
                                throw new IllegalStateException("increment did not succeed within the retries");
                            }
                            ops.incrementAndGet();
                        }
                        last.accumulateAndGet(System.nanoTime(), Math::max);
                    } catch (Exception e) {
                        failure.compareAndSet(null, e);
                    }
                }, "bench-counter " + i);
                threads[i].setDaemon(true);
                threads[i].start();
            }
            long start = System.nanoTime();
            go.countDown();
            for (Thread t : threads) {
                t.join();
            }
            Exception e = failure.get();
            if (e != null) {
                throw e;
            }
            return "benched-counter " + path + " ops=" + ops.get() + " window-ns=" + (last.get() - start);
        }
    }

    /**
     * Discovery is the sd-* commands: Curator x-discovery's ServiceDiscovery
     * (one per BASE, JsonInstanceSerializer of a Map payload, compatible
     * mode, watchInstances off), its queryForNames and queryForInstances, and
     * a ServiceProvider per service (round robin, Curator's defaults).
     * Instances travel base64-encoded, as JSON. Only the command thread
     * touches the maps.
     */
    static final class Discovery {
        static final JsonInstanceSerializer<Map> SERIALIZER = new JsonInstanceSerializer<Map>(Map.class);
        static final Map<String, ServiceDiscovery<Map>> discoveries = new LinkedHashMap<>();
        static final Map<String, ServiceInstance<Map>> registered = new HashMap<>(); // BASE + " " + ID
        static final Map<String, ServiceProvider<Map>> providers = new LinkedHashMap<>(); // BASE + " " + NAME

        static ServiceDiscovery<Map> of(String base) throws Exception {
            ServiceDiscovery<Map> d = discoveries.get(base);
            if (d == null) {
                d = ServiceDiscoveryBuilder.builder(Map.class)
                        .client(client)
                        .basePath(base)
                        .serializer(SERIALIZER)
                        .watchInstances(false)
                        .build();
                d.start();
                discoveries.put(base, d);
            }
            return d;
        }

        static ServiceInstance<Map> decode(String b64) throws Exception {
            return SERIALIZER.deserialize(Base64.getDecoder().decode(b64));
        }

        static String encode(ServiceInstance<Map> i) throws Exception {
            return Base64.getEncoder().encodeToString(SERIALIZER.serialize(i));
        }

        static String encodeAll(Iterable<ServiceInstance<Map>> all) throws Exception {
            List<String> out = new ArrayList<>();
            for (ServiceInstance<Map> i : all) {
                out.add(encode(i));
            }
            return out.isEmpty() ? "-" : String.join(",", out);
        }

        static String register(String base, String b64) throws Exception {
            ServiceInstance<Map> i = decode(b64);
            of(base).registerService(i);
            registered.put(base + " " + i.getId(), i);
            return i.getId();
        }

        static String update(String base, String b64) throws Exception {
            ServiceInstance<Map> i = decode(b64);
            of(base).updateService(i);
            registered.put(base + " " + i.getId(), i);
            return i.getId();
        }

        static void unregister(String base, String id) throws Exception {
            ServiceInstance<Map> i = registered.remove(base + " " + id);
            if (i == null) {
                throw new IllegalArgumentException("sd-unregister: " + id + " was not registered under " + base);
            }
            of(base).unregisterService(i);
        }

        static ServiceProvider<Map> provider(String base, String name) throws Exception {
            ServiceProvider<Map> p = providers.get(base + " " + name);
            if (p == null) {
                p = of(base).serviceProviderBuilder().serviceName(name).build();
                p.start();
                providers.put(base + " " + name, p);
            }
            return p;
        }

        static void closeAll() {
            List<Closeable> all = new ArrayList<>(providers.values());
            all.addAll(discoveries.values());
            providers.clear();
            discoveries.clear();
            registered.clear();
            for (Closeable c : all) {
                try {
                    c.close();
                } catch (Exception e) {
                    // closing the client below drops the ephemeral instances anyway
                }
            }
        }
    }

    static synchronized void forget(Hold h) {
        holds.remove(h);
    }

    static synchronized void start(Hold h) {
        holds.add(h);
        h.thread.start();
    }

    /** unlock releases the newest hold on path, or the newest hold at all. */
    static void unlock(String path) {
        Hold h = null;
        synchronized (Peer.class) {
            for (int i = holds.size() - 1; i >= 0; i--) {
                Hold c = holds.get(i);
                if (c.acquired && c.releaseAsked.getCount() > 0 && (path == null || c.path.equals(path))) {
                    h = c;
                    break;
                }
            }
        }
        if (h == null) {
            say("error unlock: nothing held" + (path == null ? "" : " on " + path));
            return;
        }
        h.releaseAsked.countDown();
    }

    static void latch(String path, String id) throws Exception {
        if (latches.containsKey(id)) {
            throw new IllegalStateException("latch " + id + " exists");
        }
        LeaderLatch l = new LeaderLatch(client, path, id);
        l.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                say("leader " + id);
            }

            @Override
            public void notLeader() {
                say("not-leader " + id);
            }
        });
        latches.put(id, l);
        l.start();
        say("started latch " + id);
    }

    static void closeLatch(String id) throws Exception {
        String key = id;
        if (key == null) {
            for (String k : latches.keySet()) {
                key = k;
            }
        }
        LeaderLatch l = key == null ? null : latches.remove(key);
        if (l == null) {
            throw new IllegalStateException("no latch" + (id == null ? "" : " " + id));
        }
        l.close();
        say("closed-latch " + key);
    }

    static void need(String[] f, int n, String usage) {
        if (f.length != n) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    /** handle runs one command; it returns false on exit. */
    static boolean handle(String line) throws Exception {
        String[] f = line.trim().split("\\s+");
        switch (f[0]) {
            case "":
                return true;
            case "ping":
                say("pong");
                return true;
            case "session":
                say("session 0x" + Long.toHexString(client.getZookeeperClient().getZooKeeper().getSessionId()));
                return true;
            case "lock": {
                need(f, 2, "lock PATH");
                InterProcessMutex m = new InterProcessMutex(client, f[1]);
                start(new Hold("lock", f[1], () -> {
                    m.acquire();
                    return m::release;
                }));
                return true;
            }
            case "revocable-lock": {
                need(f, 2, "revocable-lock PATH");
                final String path = f[1];
                InterProcessMutex m = new InterProcessMutex(client, path);
                m.makeRevocable(lock -> say("revoke-requested " + path));
                start(new Hold("revocable-lock", path, () -> {
                    m.acquire();
                    return m::release;
                }));
                return true;
            }
            case "revoke": {
                need(f, 3, "revoke PATH NODE");
                Revoker.attemptRevoke(client, f[1] + "/" + f[2]);
                say("revoke-sent " + f[2]);
                return true;
            }
            case "read-lock":
            case "write-lock": {
                need(f, 2, f[0] + " PATH");
                InterProcessReadWriteLock rw = new InterProcessReadWriteLock(client, f[1]);
                InterProcessMutex m = f[0].equals("read-lock") ? rw.readLock() : rw.writeLock();
                start(new Hold(f[0], f[1], () -> {
                    m.acquire();
                    return m::release;
                }));
                return true;
            }
            case "semaphore": {
                need(f, 3, "semaphore PATH N");
                InterProcessSemaphoreV2 s = new InterProcessSemaphoreV2(client, f[1], Integer.parseInt(f[2]));
                start(new Hold("semaphore", f[1], () -> {
                    Lease lease = s.acquire();
                    return lease::close;
                }));
                return true;
            }
            case "unlock":
                unlock(f.length > 1 ? f[1] : null);
                return true;
            case "latch":
                need(f, 3, "latch PATH ID");
                latch(f[1], f[2]);
                return true;
            case "close-latch":
                closeLatch(f.length > 1 ? f[1] : null);
                return true;
            case "bench-lock": {
                need(f, 4, "bench-lock PATH N CYCLES");
                final String path = f[1];
                final int n = Integer.parseInt(f[2]);
                final long cycles = Long.parseLong(f[3]);
                if (n < 1 || cycles < 1) {
                    throw new IllegalArgumentException("bench-lock: N and CYCLES must be at least 1");
                }
                Thread t = new Thread(() -> {
                    try {
                        say(LockBench.run(path, n, cycles));
                    } catch (Exception e) {
                        say("error bench-lock " + path + ": " + message(e));
                    }
                }, "bench-lock " + path);
                t.setDaemon(true);
                t.start();
                return true;
            }
            case "bench-cache": {
                need(f, 3, "bench-cache PATH N");
                final String path = f[1];
                final int n = Integer.parseInt(f[2]);
                if (n < 1) {
                    throw new IllegalArgumentException("bench-cache: N must be at least 1");
                }
                Thread t = new Thread(() -> {
                    try {
                        CacheBench.run(path, n);
                    } catch (Exception e) {
                        say("error bench-cache " + path + ": " + message(e));
                    }
                }, "bench-cache " + path);
                t.setDaemon(true);
                t.start();
                return true;
            }
            case "bench-queue": {
                if (f.length != 4 && f.length != 5) {
                    throw new IllegalArgumentException("usage: bench-queue PATH ITEMS CONSUMERS [KIND]");
                }
                final String path = f[1];
                final int items = Integer.parseInt(f[2]);
                final int n = Integer.parseInt(f[3]);
                final String kind = f.length == 5 ? f[4] : "DistributedQueue";
                if (items < 1 || n < 1) {
                    throw new IllegalArgumentException("bench-queue: ITEMS and CONSUMERS must be at least 1");
                }
                Thread t = new Thread(() -> {
                    try {
                        say(QueueBench.run(path, items, n, kind));
                    } catch (Exception e) {
                        closeBenchClients(); // drops any lock a consumer left
                        say("error bench-queue " + path + ": " + message(e));
                    }
                }, "bench-queue " + path);
                t.setDaemon(true);
                t.start();
                return true;
            }
            case "dq-put":
                need(f, 4, "dq-put PATH LOCKPATH DATA");
                Queues.put(f[1], f[2], f[3]);
                say("dq-put " + f[1]);
                return true;
            case "dq-consume":
                need(f, 4, "dq-consume PATH LOCKPATH ack|hold");
                Queues.consume(f[1], f[2], f[3]);
                say("dq-consuming " + f[1]);
                return true;
            case "dq-stop":
            case "delayq-stop":
                need(f, 2, f[0] + " PATH");
                Queues.stop(f[1]);
                say(f[0].substring(0, f[0].length() - "stop".length()) + "stopped " + f[1]);
                return true;
            case "delayq-put":
                need(f, 5, "delayq-put PATH LOCKPATH DATA DELAY_MS");
                Queues.delayPut(f[1], f[2], f[3], Long.parseLong(f[4]));
                say("delayq-put " + f[1]);
                return true;
            case "delayq-consume":
                need(f, 3, "delayq-consume PATH LOCKPATH");
                Queues.delayConsume(f[1], f[2]);
                say("delayq-consuming " + f[1]);
                return true;
            case "sq-put":
                need(f, 3, "sq-put PATH DATA");
                if (!new SimpleDistributedQueue(client, f[1]).offer(f[2].getBytes(StandardCharsets.UTF_8))) {
                    throw new IllegalStateException("sq-put " + f[1] + ": offer refused");
                }
                say("sq-put " + f[1]);
                return true;
            case "sq-take":
                need(f, 3, "sq-take PATH TIMEOUT_MS");
                Queues.sqTake(f[1], Long.parseLong(f[2]));
                return true;
            case "barrier-set":
                need(f, 2, "barrier-set PATH");
                new DistributedBarrier(client, f[1]).setBarrier();
                say("barrier-set " + f[1]);
                return true;
            case "barrier-remove":
                need(f, 2, "barrier-remove PATH");
                new DistributedBarrier(client, f[1]).removeBarrier();
                say("barrier-removed " + f[1]);
                return true;
            case "barrier-wait":
                need(f, 3, "barrier-wait PATH TIMEOUT_MS");
                Barriers.waitOn(f[1], Long.parseLong(f[2]));
                return true;
            case "dbarrier-enter":
                if (f.length != 3 && f.length != 4) {
                    throw new IllegalArgumentException("usage: dbarrier-enter PATH N [TIMEOUT_MS]");
                }
                Barriers.enter(f[1], Integer.parseInt(f[2]), f.length == 4 ? Long.parseLong(f[3]) : -1);
                return true;
            case "dbarrier-leave":
                need(f, 2, "dbarrier-leave PATH");
                Barriers.leave(f[1]);
                return true;
            case "sharedcount-start":
                need(f, 3, "sharedcount-start PATH SEED");
                Counters.start(f[1], Integer.parseInt(f[2]));
                return true;
            case "sharedcount-tryset": {
                if (f.length != 3 && f.length != 4) {
                    throw new IllegalArgumentException("usage: sharedcount-tryset PATH N [VERSION]");
                }
                Integer version = f.length == 4 ? Integer.valueOf(f[3]) : null;
                say("sharedcount-tryset " + f[1] + " " + Counters.trySet(f[1], Integer.parseInt(f[2]), version));
                return true;
            }
            case "atomiclong-add": {
                need(f, 3, "atomiclong-add PATH DELTA");
                DistributedAtomicLong a = new DistributedAtomicLong(client, f[1], Counters.ATOMIC_RETRY);
                say(Counters.line("atomiclong", f[1], a.add(Long.parseLong(f[2]))));
                return true;
            }
            case "atomicint-add": {
                need(f, 3, "atomicint-add PATH DELTA");
                DistributedAtomicInteger a = new DistributedAtomicInteger(client, f[1], Counters.ATOMIC_RETRY);
                say(Counters.line("atomicint", f[1], a.add(Integer.parseInt(f[2]))));
                return true;
            }
            case "bench-counter": {
                need(f, 4, "bench-counter PATH CLIENTS N");
                final String path = f[1];
                final int clients = Integer.parseInt(f[2]);
                final int n = Integer.parseInt(f[3]);
                if (clients < 1 || n < 1) {
                    throw new IllegalArgumentException("bench-counter: CLIENTS and N must be at least 1");
                }
                daemon("bench-counter " + path, () -> {
                    try {
                        say(CounterBench.run(path, clients, n));
                    } catch (Exception e) {
                        say("error bench-counter " + path + ": " + message(e));
                    }
                });
                return true;
            }
            case "sd-register":
                need(f, 3, "sd-register BASE B64JSON");
                say("sd-registered " + Discovery.register(f[1], f[2]));
                return true;
            case "sd-update":
                need(f, 3, "sd-update BASE B64JSON");
                say("sd-updated " + Discovery.update(f[1], f[2]));
                return true;
            case "sd-unregister":
                need(f, 3, "sd-unregister BASE ID");
                Discovery.unregister(f[1], f[2]);
                say("sd-unregistered " + f[2]);
                return true;
            case "sd-names": {
                need(f, 2, "sd-names BASE");
                Collection<String> names = Discovery.of(f[1]).queryForNames();
                say("sd-names " + f[1] + " " + (names.isEmpty() ? "-" : String.join(",", names)));
                return true;
            }
            case "sd-query":
                need(f, 3, "sd-query BASE NAME");
                say("sd-instances " + f[2] + " " + Discovery.encodeAll(Discovery.of(f[1]).queryForInstances(f[2])));
                return true;
            case "sd-provider": {
                need(f, 3, "sd-provider BASE NAME");
                ServiceInstance<Map> i = Discovery.provider(f[1], f[2]).getInstance();
                say("sd-provider " + f[2] + " " + (i == null ? "none" : Discovery.encode(i)));
                return true;
            }
            case "sd-provider-all":
                need(f, 3, "sd-provider-all BASE NAME");
                say("sd-provider-all " + f[2] + " " + Discovery.encodeAll(Discovery.provider(f[1], f[2]).getAllInstances()));
                return true;
            case "exit":
                return false;
            default:
                throw new IllegalArgumentException("unknown command " + f[0]);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: Peer CONNECT SESSION_TIMEOUT_MS [NAMESPACE]");
            System.exit(2);
        }
        int sessionMs = Integer.parseInt(args[1]);
        CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder()
                .connectString(args[0])
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(Math.min(sessionMs, 15000))
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000));
        if (args.length == 3 && !args[2].isEmpty()) {
            b = b.namespace(args[2]);
        }
        builder = b;
        client = b.build();
        client.getConnectionStateListenable().addListener((c, state) -> say("state " + state));
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) {
            say("error not connected to " + args[0] + " after 60s");
            System.exit(1);
        }
        say("connected");

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            boolean more;
            try {
                more = handle(line);
            } catch (Exception e) {
                say("error " + message(e));
                continue;
            }
            if (!more) {
                break;
            }
        }
        // exit or end of input: give up every grant, then the session.
        List<Hold> left;
        synchronized (Peer.class) {
            left = new ArrayList<>(holds);
        }
        for (Hold h : left) {
            h.releaseAsked.countDown();
        }
        for (Hold h : left) {
            if (h.acquired) { // a waiter stays blocked; closing the session drops its node
                h.thread.join(5000);
            }
        }
        for (LeaderLatch l : latches.values()) {
            try {
                l.close();
            } catch (Exception e) {
                // closing the client below removes its node anyway
            }
        }
        Queues.closeAll();
        Counters.closeAll();
        Discovery.closeAll();
        closeBenchClients();
        client.close();
        say("bye");
        System.exit(0);
    }
}
