package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	recipe "go.etcd.io/etcd/client/v3/experimental/recipes"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
)

// BenchmarkQueuePeers runs this package's queue beside other libraries'
// queues on the same servers, the same way:
//
//	QueuePeers/SERVER/consumers=N/IMPL
//	QueuePeers/SERVER/length=L/ours
//	QueuePeers/SERVER/length=L/ours-sharded
//
// SERVER is zk or etcd (the test servers, fsync on), or zk-nosync or
// etcd-nosync (skipped unless ZKRECIPES_ZK_ENDPOINTS_NOSYNC and
// ZKRECIPES_ETCD_ENDPOINTS_NOSYNC name fsync-off servers; see
// recipetest.BenchServers).
//
// consumers=N: one producer puts items (ZKRECIPES_QUEUE_BENCH_ITEMS,
// default 200) one at a time, each item's data the time the producer read
// just before its put, while N consumers (1, 4, 16), each on a session and
// client of its own, take and acknowledge them, one at a time each. One op
// is one such run, on a fresh queue. IMPL on ZooKeeper: ours (Take, Ack),
// kazoo-LockingQueue (get, consume), curator-DistributedQueue (QueueBuilder
// with lockPath: at least once, items processed by each consumer queue's
// thread) and curator-SimpleDistributedQueue (take: at most once); the
// peers run the same loop in their own process (internal/peers
// bench-queue: one Python or JVM process holding the producer's and the N
// consumers' sessions). On etcd: ours and etcd-recipe-Queue
// (go.etcd.io/etcd/client/v3/experimental/recipes Queue: Dequeue deletes
// the item, at most once, and cannot be cancelled: its consumers leave on
// stop items put after the items). Every implementation first runs an
// unreported warm-up (its sessions opened, the JVM's JIT). Metrics:
//
//	items/s      items taken per second, from before the first put to the
//	             last item's take
//	p50-ms       put-to-take latency: from the producer reading the clock
//	p99-ms       before its put to a consumer's take returning it, on one
//	             clock (this process's, or the peer process's); it grows
//	             with the backlog when the consumers fall behind the producer
//	req/item     ours: requests our sessions (producer's and consumers')
//	             sent per item
//	listed/item  ours: child names our sessions' listings returned per item
//
// B/op and allocs/op count this process only: ours, and the etcd recipe;
// for the peers they are the benchmark's own waiting.
//
// length=L: does our cost per take grow with the queue's length? One
// consumer takes and acknowledges 100 items from a queue holding L more,
// put beforehand (not timed): ours is the flat layout, ours-sharded
// Sharded(1000). L is 1,000 and 10,000, or the comma-separated list in
// ZKRECIPES_QUEUE_BENCH_LENGTHS (e.g. 1000,10000,100000: the fill of
// 100,000 takes minutes on etcd). The flat layout skips lengths over
// 20,000: one listing of entries/ would near ZooKeeper's 1 MB
// jute.maxbuffer (the package doc's Size). Metrics: ns/take, req/take and
// listed/take.
//
// Every run checks what it measured: every item taken once, and (ours)
// nothing left in the queue after the Acks. Broken on purpose, in a copy
// of the tree (Item.Ack returning nil without writing), the benchmark
// failed in ours' warm-up: "64 items left after every Ack".
//
// Run: go test -run '^$' -bench QueuePeers -benchtime 1x ./recipes/queue
// (30 to 60 s on the dev servers); ZKRECIPES_QUEUE_BENCH_ITEMS=2000 for
// longer runs.
func BenchmarkQueuePeers(b *testing.B) {
	items := qbItems(b)
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps := srv.Endpoints(b)
			ours := qbNewOurs(b, srv)
			impls := []*qbImpl{ours.impl(1), ours.impl(qbBatch)}
			if srv.Kind == "zk" {
				connect := strings.Join(eps, ",")
				impls = append(impls, qbPeer(b, srv, "kazoo-LockingQueue", "", connect, peers.CheckKazoo, peers.Kazoo))
				curator := qbPeer(b, srv, "curator-DistributedQueue", "", connect, peers.CheckCurator, peers.Curator)
				simple := *curator // the same process, another kind
				simple.name, simple.kind = "curator-SimpleDistributedQueue", "SimpleDistributedQueue"
				impls = append(impls, curator, &simple)
			} else {
				impls = append(impls, qbEtcdRecipe(b, eps))
			}
			for _, im := range impls {
				im.warmUp(b)
			}
			for _, n := range qbConsumerCounts {
				for _, im := range impls {
					b.Run(fmt.Sprintf("consumers=%d/%s", n, im.name), func(b *testing.B) { im.bench(b, n, items) })
				}
			}
			for _, l := range qbLengths(b) {
				b.Run(fmt.Sprintf("length=%d/ours", l), func(b *testing.B) {
					if l > qbFlatMax {
						b.Skipf("the flat layout's listing of %d entries would near ZooKeeper's packet limit", l)
					}
					ours.benchLength(b, l)
				})
				b.Run(fmt.Sprintf("length=%d/ours-sharded", l), func(b *testing.B) {
					ours.benchLength(b, l, queue.Sharded(qbBucketSize))
				})
			}
		})
	}
}

// qbConsumerCounts are the numbers of consumers.
var qbConsumerCounts = []int{1, 4, 16}

const (
	// The length benchmark takes qbLengthTakes items per op, from queues
	// of qbDefaultLengths unless qbLengthsVar says otherwise; the flat
	// layout up to qbFlatMax items, the sharded one in buckets of
	// qbBucketSize.
	qbLengthTakes    = 100
	qbDefaultLengths = "1000,10000"
	qbLengthsVar     = "ZKRECIPES_QUEUE_BENCH_LENGTHS"
	qbFlatMax        = 20_000
	qbBucketSize     = 1000

	// qbDefaultItems is the items per run unless qbItemsVar says otherwise.
	qbDefaultItems = 200
	qbItemsVar     = "ZKRECIPES_QUEUE_BENCH_ITEMS"
	// qbSessionTimeout is every session's timeout, the peers' included:
	// long, so that idle sessions ping rarely.
	qbSessionTimeout = 20 * time.Second
	// qbTimeout bounds one run.
	qbTimeout = 5 * time.Minute
	// qbStop is the data of the stop items the etcd recipe's consumers
	// leave on.
	qbStop = "stop"
)

func qbLengths(b *testing.B) []int {
	v := os.Getenv(qbLengthsVar)
	if v == "" {
		v = qbDefaultLengths
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("%s=%q: want comma-separated queue lengths", qbLengthsVar, v)
		}
		out = append(out, n)
	}
	return out
}

func qbItems(b *testing.B) int {
	v := os.Getenv(qbItemsVar)
	if v == "" {
		return qbDefaultItems
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number of items", qbItemsVar, v)
	}
	return n
}

// qbRun is what one run measured.
type qbRun struct {
	items    int
	window   time.Duration // from before the first put to the last item's take
	p50, p99 time.Duration // put-to-take
}

// qbRunOf makes a qbRun from a run's latencies, sorting them; percentiles
// as internal/peers computes them: sorted[int(p*(len-1))].
func qbRunOf(window time.Duration, lat []time.Duration) qbRun {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	return qbRun{items: len(lat), window: window, p50: pct(0.50), p99: pct(0.99)}
}

// qbImpl is one implementation BenchmarkQueuePeers runs.
type qbImpl struct {
	name string
	skip error // why it cannot run here: its benchmarks skip
	kind string
	// run runs one batch of items with n consumers on a fresh queue.
	run func(ctx context.Context, n, items int, kind string) (qbRun, error)
	// counters, if not nil, snapshots the implementation's own counters,
	// reported per item under the names units.
	counters func() []int64
	units    []string
	allocs   bool // B/op and allocs/op mean something: Go in this process
}

// warmUp runs one unreported batch with the most consumers.
func (im *qbImpl) warmUp(b *testing.B) {
	b.Helper()
	if im.skip != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), qbTimeout)
	defer cancel()
	n := slices.Max(qbConsumerCounts)
	if _, err := im.run(ctx, n, 4*n, im.kind); err != nil {
		b.Fatalf("%s: warm-up: %v", im.name, err)
	}
}

// bench runs b.N batches of items with n consumers and reports them:
// items/s over all batches, the median of the batches' percentiles.
func (im *qbImpl) bench(b *testing.B, n, items int) {
	if im.skip != nil {
		b.Skip(im.skip)
	}
	if im.allocs {
		b.ReportAllocs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), qbTimeout)
	defer cancel()
	var before []int64
	if im.counters != nil {
		before = im.counters()
	}
	var runs []qbRun
	b.ResetTimer()
	for range b.N {
		r, err := im.run(ctx, n, items, im.kind)
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, r)
	}
	b.StopTimer()
	var total int
	var window time.Duration
	var p50s, p99s []time.Duration
	for _, r := range runs {
		total += r.items
		window += r.window
		p50s = append(p50s, r.p50)
		p99s = append(p99s, r.p99)
	}
	if window > 0 {
		b.ReportMetric(float64(total)/window.Seconds(), "items/s")
	}
	b.ReportMetric(qbMs(qbMedian(p50s)), "p50-ms")
	b.ReportMetric(qbMs(qbMedian(p99s)), "p99-ms")
	if im.counters != nil && total > 0 {
		after := im.counters()
		for i, unit := range im.units {
			b.ReportMetric(float64(after[i]-before[i])/float64(total), unit)
		}
	}
}

func qbMedian(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func qbMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// qbCounts counts what our sessions were asked.
type qbCounts struct {
	requests atomic.Int64 // Session calls that reach the server
	listed   atomic.Int64 // child names Children and ChildrenW returned
}

func (c *qbCounts) snapshot() []int64 { return []int64{c.requests.Load(), c.listed.Load()} }

// qbCounting counts the requests made through a session and the names its
// listings return: a test decorator the queue knows nothing about.
type qbCounting struct {
	backend.Session
	n *qbCounts
}

func (c *qbCounting) req() { c.n.requests.Add(1) }

func (c *qbCounting) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	c.req()
	return c.Session.Create(ctx, path, data, mode, opts...)
}

func (c *qbCounting) Get(ctx context.Context, path string) ([]byte, backend.Stat, error) {
	c.req()
	return c.Session.Get(ctx, path)
}

func (c *qbCounting) GetW(ctx context.Context, path string) ([]byte, backend.Stat, <-chan backend.Event, error) {
	c.req()
	return c.Session.GetW(ctx, path)
}

func (c *qbCounting) Exists(ctx context.Context, path string) (*backend.Stat, error) {
	c.req()
	return c.Session.Exists(ctx, path)
}

func (c *qbCounting) ExistsW(ctx context.Context, path string) (*backend.Stat, <-chan backend.Event, error) {
	c.req()
	return c.Session.ExistsW(ctx, path)
}

func (c *qbCounting) Set(ctx context.Context, path string, data []byte, version int32) (backend.Stat, error) {
	c.req()
	return c.Session.Set(ctx, path, data, version)
}

func (c *qbCounting) Delete(ctx context.Context, path string, version int32) error {
	c.req()
	return c.Session.Delete(ctx, path, version)
}

func (c *qbCounting) Children(ctx context.Context, path string) ([]string, backend.Stat, error) {
	c.req()
	kids, st, err := c.Session.Children(ctx, path)
	c.n.listed.Add(int64(len(kids)))
	return kids, st, err
}

func (c *qbCounting) ChildrenW(ctx context.Context, path string) ([]string, backend.Stat, <-chan backend.Event, error) {
	c.req()
	kids, st, ev, err := c.Session.ChildrenW(ctx, path)
	c.n.listed.Add(int64(len(kids)))
	return kids, st, ev, err
}

func (c *qbCounting) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	c.req()
	return c.Session.Multi(ctx, ops...)
}

func (c *qbCounting) Sync(ctx context.Context, path string) error {
	c.req()
	return c.Session.Sync(ctx, path)
}

// qbOurs is this package's queue: a producer session and a session per
// consumer (each on a client of its own), opened once per server in a
// namespace of the benchmark's own and counted.
type qbOurs struct {
	producer  backend.Session
	consumers []backend.Session
	counts    qbCounts
	next      atomic.Int64 // names each run's queue
	big       bool         // etcd: smaller PutAll batches
}

func qbNewOurs(b *testing.B, srv recipetest.BenchServer) *qbOurs {
	ns := "/zkrbench/" + backend.NewGUID()
	e := &recipetest.Env{Backend: srv.Backend, Endpoints: srv.Endpoints(b), Namespace: ns, Timeout: qbSessionTimeout}
	o := &qbOurs{big: srv.Kind == "zk"}
	o.producer = &qbCounting{Session: e.Session(b), n: &o.counts}
	for range slices.Max(qbConsumerCounts) {
		o.consumers = append(o.consumers, &qbCounting{Session: e.Session(b), n: &o.counts})
	}
	b.Cleanup(func() { qbCleanup(b, srv, ns) })
	return o
}

// qbCleanup deletes base and everything below it, through a session of
// its own outside any namespace.
func qbCleanup(b *testing.B, srv recipetest.BenchServer, base string) {
	ctx, cancel := context.WithTimeout(context.Background(), qbTimeout)
	defer cancel()
	s, err := srv.Open(b, srv.Endpoints(b), "", qbSessionTimeout).Session(ctx)
	if err == nil {
		err = qbDeleteTree(ctx, s, base)
	}
	if err != nil {
		b.Logf("clean-up of %s: %v", base, err)
	}
}

// qbBatch is the batch of the ours-batch rows: TakeN and AckAll.
const qbBatch = 8

func (o *qbOurs) impl(batch int) *qbImpl {
	name := "ours"
	if batch > 1 {
		name = fmt.Sprintf("ours-batch%d", batch)
	}
	return &qbImpl{
		name:     name,
		run:      func(ctx context.Context, n, items int, _ string) (qbRun, error) { return o.run(ctx, n, items, batch) },
		counters: o.counts.snapshot,
		units:    []string{"req/item", "listed/item"},
		allocs:   true,
	}
}

// newQueues opens the producer's queue and n consumers' on a fresh path.
func (o *qbOurs) newQueues(n int, opts ...queue.Option) (*queue.Queue, []*queue.Queue, func(), error) {
	path := fmt.Sprintf("/q%d", o.next.Add(1))
	var all []*queue.Queue
	closeAll := func() {
		for _, q := range all {
			_ = q.Close()
		}
	}
	for _, s := range append([]backend.Session{o.producer}, o.consumers[:n]...) {
		q, err := queue.New(s, path, opts...)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		all = append(all, q)
	}
	return all[0], all[1:], closeAll, nil
}

// run is one batch: the producer puts items one at a time while n
// consumers Take and Ack them (batch > 1: TakeN(batch) and AckAll); every
// consumer stops once the items are all taken.
func (o *qbOurs) run(ctx context.Context, n, items, batch int) (qbRun, error) {
	prod, cons, closeAll, err := o.newQueues(n)
	if err != nil {
		return qbRun{}, err
	}
	defer closeAll()
	takeCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		errOnce  sync.Once
		firstErr error
		taken    atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		stop()
	}
	lat := make([][]time.Duration, n)
	last := make([]time.Duration, n)
	base := time.Now()
	for i, q := range cons {
		wg.Go(func() {
			for {
				its, err := q.TakeN(takeCtx, batch)
				if err != nil {
					if takeCtx.Err() == nil {
						fail(fmt.Errorf("consumer %d: %w", i, err))
					}
					return
				}
				got := time.Since(base)
				for _, it := range its {
					sent, err := strconv.ParseInt(string(it.Data), 10, 64)
					if err != nil {
						fail(fmt.Errorf("consumer %d: item %q: %w", i, it.Data, err))
						return
					}
					lat[i] = append(lat[i], got-time.Duration(sent))
				}
				last[i] = got
				if err := queue.AckAll(ctx, its...); err != nil {
					fail(fmt.Errorf("consumer %d: ack: %w", i, err))
					return
				}
				if taken.Add(int64(len(its))) == int64(items) {
					stop()
				}
			}
		})
	}
	for range items {
		if takeCtx.Err() != nil {
			break
		}
		sent := strconv.FormatInt(int64(time.Since(base)), 10)
		if _, err := prod.Put(ctx, []byte(sent)); err != nil {
			fail(fmt.Errorf("producer: %w", err))
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		return qbRun{}, firstErr
	}
	if got := taken.Load(); got != int64(items) {
		return qbRun{}, fmt.Errorf("took %d items, put %d", got, items)
	}
	if left, err := prod.Len(ctx); err != nil || left != 0 {
		return qbRun{}, fmt.Errorf("%d items left after every Ack (%v)", left, err)
	}
	return qbRunOf(slices.Max(last), slices.Concat(lat...)), nil
}

// benchLength times qbLengthTakes takes and acks per op by one consumer
// from a queue (opened with opts) holding length more items, put
// beforehand.
func (o *qbOurs) benchLength(b *testing.B, length int, opts ...queue.Option) {
	ctx, cancel := context.WithTimeout(context.Background(), qbTimeout)
	defer cancel()
	prod, cons, closeAll, err := o.newQueues(1, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer closeAll()
	takes := qbLengthTakes * b.N
	if err := o.fill(ctx, prod, length+takes); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	before := o.counts.snapshot()
	b.ResetTimer()
	start := time.Now()
	for range takes {
		it, err := cons[0].Take(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := it.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	after := o.counts.snapshot()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(takes), "ns/take")
	b.ReportMetric(float64(after[0]-before[0])/float64(takes), "req/take")
	b.ReportMetric(float64(after[1]-before[1])/float64(takes), "listed/take")
	if n, err := prod.Len(ctx); err != nil || n != length {
		b.Fatalf("Len after the takes: %d, %v; want %d", n, err, length)
	}
	if err := qbDeleteTree(ctx, o.producer, prod.Path()); err != nil {
		b.Logf("clean-up of %s: %v", prod.Path(), err)
	}
}

// fill puts n items with PutAll, in batches the backend takes (etcd: 128
// operations per transaction).
func (o *qbOurs) fill(ctx context.Context, q *queue.Queue, n int) error {
	batch := 40
	if o.big {
		batch = 1000
	}
	data := make([][]byte, batch)
	for i := range data {
		data[i] = []byte("fill")
	}
	for n > 0 {
		k := min(batch, n)
		_, err := q.PutAll(ctx, data[:k])
		if errors.Is(err, backend.ErrTooLarge) && batch > 1 {
			batch /= 2
			continue
		}
		if err != nil {
			return fmt.Errorf("fill %s: %w", q.Path(), err)
		}
		n -= k
	}
	return nil
}

// qbDeleteTree deletes everything below p (and p, unless it is "/"):
// children in transactions of 40 deletes, one at a time (and their
// subtrees first) where a transaction finds one that is not empty.
func qbDeleteTree(ctx context.Context, s backend.Session, p string) error {
	kids, _, err := s.Children(ctx, p)
	if errors.Is(err, backend.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for len(kids) > 0 {
		k := min(40, len(kids))
		ops := make([]backend.Op, k)
		for i, name := range kids[:k] {
			ops[i] = backend.DeleteOp{Path: backend.Join(p, name), Version: backend.AnyVersion}
		}
		if _, err := s.Multi(ctx, ops...); err != nil {
			for _, op := range ops {
				if err := qbDeleteTree(ctx, s, op.OpPath()); err != nil {
					return err
				}
			}
		}
		kids = kids[k:]
	}
	if p == "/" {
		return nil
	}
	if err := s.Delete(ctx, p, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
		return err
	}
	return nil
}

// qbPeer is a kazoo or Curator process whose bench-queue command runs the
// producer and the consumers on sessions of its own. A peer that cannot
// run here is left out: its benchmarks skip.
func qbPeer(b *testing.B, srv recipetest.BenchServer, name, kind, connect string, check func() error, start func(testing.TB, string, ...peers.Option) *peers.Peer) *qbImpl {
	im := &qbImpl{name: name, kind: kind}
	if im.skip = check(); im.skip != nil {
		return im
	}
	base := "/zkrbench/" + backend.NewGUID()
	peer := start(b, connect, peers.WithSessionTimeout(qbSessionTimeout), peers.ForBenchmark())
	var next atomic.Int64
	im.run = func(ctx context.Context, n, items int, kind string) (qbRun, error) {
		r, err := peer.BenchQueue(ctx, fmt.Sprintf("%s/q%d", base, next.Add(1)), items, n, kind)
		if err != nil {
			return qbRun{}, err
		}
		if r.Items != items {
			return qbRun{}, fmt.Errorf("%s received %d items, put %d", name, r.Items, items)
		}
		return qbRun{items: r.Items, window: r.Window, p50: r.P50, p99: r.P99}, nil
	}
	// kazoo's directories and Curator's queue node are persistent.
	b.Cleanup(func() { qbCleanup(b, srv, base) })
	return im
}

// qbEtcdRecipe is etcd's experimental/recipes Queue: a client for the
// producer and one per consumer.
func qbEtcdRecipe(b *testing.B, eps []string) *qbImpl {
	newClient := func() *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	producer := newClient()
	var consumers []*clientv3.Client
	for range slices.Max(qbConsumerCounts) {
		consumers = append(consumers, newClient())
	}
	prefix := "/zkrbench/" + backend.NewGUID()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), qbTimeout)
		defer cancel()
		if _, err := producer.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
			b.Logf("clean-up of %s: %v", prefix, err)
		}
	})
	var next atomic.Int64
	return &qbImpl{
		name:   "etcd-recipe-Queue",
		allocs: true,
		run: func(_ context.Context, n, items int, _ string) (qbRun, error) {
			// A key prefix no other run's is a prefix of: Dequeue reads
			// by prefix.
			key := fmt.Sprintf("%s/run%06d", prefix, next.Add(1))
			return qbEtcdRun(recipe.NewQueue(producer, key), key, consumers[:n], items)
		},
	}
}

// qbEtcdRun is one batch through etcd's recipe Queue. Dequeue takes no
// context: every consumer leaves on a stop item, put after the items (even
// when a put failed); a consumer that fails leaves its stop item behind.
func qbEtcdRun(prod *recipe.Queue, key string, consumers []*clientv3.Client, items int) (qbRun, error) {
	var (
		errMu    sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	lat := make([][]time.Duration, len(consumers))
	last := make([]time.Duration, len(consumers))
	base := time.Now()
	for i, cli := range consumers {
		q := recipe.NewQueue(cli, key)
		wg.Go(func() {
			for {
				v, err := q.Dequeue()
				if err != nil {
					fail(fmt.Errorf("consumer %d: %w", i, err))
					return
				}
				got := time.Since(base)
				if v == qbStop {
					return
				}
				sent, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					fail(fmt.Errorf("consumer %d: item %q: %w", i, v, err))
					return
				}
				lat[i] = append(lat[i], got-time.Duration(sent))
				last[i] = got
			}
		})
	}
	for range items {
		if err := prod.Enqueue(strconv.FormatInt(int64(time.Since(base)), 10)); err != nil {
			fail(fmt.Errorf("producer: %w", err))
			break
		}
	}
	for range consumers {
		if err := prod.Enqueue(qbStop); err != nil {
			fail(fmt.Errorf("producer: stop item: %w", err))
			// The consumers would wait for ever: end their clients' calls.
			for _, cli := range consumers {
				_ = cli.Close()
			}
			break
		}
	}
	wg.Wait()
	if firstErr != nil {
		return qbRun{}, firstErr
	}
	r := qbRunOf(slices.Max(last), slices.Concat(lat...))
	if r.items != items {
		return qbRun{}, fmt.Errorf("etcd recipe: took %d items, put %d", r.items, items)
	}
	return r, nil
}
