package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/fourletter"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// benchSessionTimeout is the benchmarks' session timeout: long, so that
// idle sessions ping rarely and the server's counters are mostly the
// caches'.
const benchSessionTimeout = 20 * time.Second

// benchTimeout bounds one run of a benchmark.
const benchTimeout = 5 * time.Minute

// Shape of BenchmarkTreeEvents' writes: eventNodes nodes under eventRoot,
// set in turn by eventWriters goroutines on one session (one writer, that
// many calls in flight).
const (
	eventRoot    = "/ev"
	eventNodes   = 64
	eventWriters = 8
)

// BenchmarkTreeEvents measures events per second through Trees: n caches
// (1 and 16, each on a client of its own, as separate processes would
// have) on one subtree of 64 nodes while one writer sets them, b.N sets in
// all, 8 in flight. Each cache has one listener, read by a goroutine of its
// own that only counts. The run ends when every listener has seen a node
// the writer creates after its last set. Metrics:
//
//	writes/s        the writer's sets per second
//	events/s/cache  Added, Updated and Removed events each listener took per
//	                second, from the first set to the end marker
//	events/s        the same, summed over the caches
//	events/write    events per set per cache: 1 when nothing coalesced;
//	                below 1 when the backend (backend/zk re-reads a node
//	                once for several notifications) or a lagging listener's
//	                queue merged changes
//
// On ZooKeeper each (server, n) runs ours, then curator-CuratorCache and
// kazoo-TreeCache: the same n caches as Curator 5.4's CuratorCache and
// kazoo 2.8's TreeCache in the peers (internal/peers bench-cache, one JVM or
// Python process holding the n sessions), counted the same way. B/op and
// allocs/op are ours only.
//
// Run: go test -run '^$' -bench TreeEvents -benchtime 5000x ./recipes/cache
func BenchmarkTreeEvents(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/caches=%d/ours", srv.Name, n), func(b *testing.B) { benchEvents(b, srv, n) })
			if srv.Kind == "zk" {
				b.Run(fmt.Sprintf("%s/caches=%d/curator-CuratorCache", srv.Name, n), func(b *testing.B) { benchPeerEvents(b, srv, n, peers.Curator) })
				b.Run(fmt.Sprintf("%s/caches=%d/kazoo-TreeCache", srv.Name, n), func(b *testing.B) { benchPeerEvents(b, srv, n, peers.Kazoo) })
			}
		}
	}
}

// eventPath is the node BenchmarkTreeEvents' k-th set writes.
func eventPath(k int) string { return fmt.Sprintf("%s/n%02d", eventRoot, k%eventNodes) }

// eventSetup opens the writer's session in a namespace of the benchmark's
// own and creates the nodes it sets.
func eventSetup(b *testing.B, ctx context.Context, srv recipetest.BenchServer) (eps []string, ns string, ws backend.Session) {
	b.Helper()
	eps = srv.Endpoints(b)
	ns = testenv.Namespace(b)
	ws, err := srv.Open(b, eps, ns, benchSessionTimeout).Session(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for i := range eventNodes {
		if _, err := ws.Create(ctx, eventPath(i), nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
			b.Fatal(err)
		}
	}
	return eps, ns, ws
}

// writeEvents makes n sets, eventWriters in flight, then creates the end
// marker, and returns how long the sets took.
func writeEvents(ctx context.Context, ws backend.Session, n int) (time.Duration, error) {
	start := time.Now()
	var next atomic.Int64
	var writers sync.WaitGroup
	var werr atomic.Value
	for range eventWriters {
		writers.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				if _, err := ws.Set(ctx, eventPath(k), []byte(strconv.Itoa(k)), backend.AnyVersion); err != nil {
					werr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	writers.Wait()
	written := time.Since(start)
	if err, _ := werr.Load().(error); err != nil {
		return written, err
	}
	_, err := ws.Create(ctx, eventRoot+"/end", nil, backend.Persistent)
	return written, err
}

// reportEvents reports BenchmarkTreeEvents' metrics: n sets in written,
// events (over all caches) in elapsed.
func reportEvents(b *testing.B, n, caches int, events int64, written, elapsed time.Duration) {
	perCache := float64(events) / float64(caches)
	b.ReportMetric(float64(n)/written.Seconds(), "writes/s")
	b.ReportMetric(perCache/elapsed.Seconds(), "events/s/cache")
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(perCache/float64(n), "events/write")
}

func benchEvents(b *testing.B, srv recipetest.BenchServer, caches int) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	eps, ns, ws := eventSetup(b, ctx, srv)

	counts := make([]atomic.Int64, caches)
	ended := make([]chan struct{}, caches)
	var readers sync.WaitGroup
	var trees []*Tree
	defer func() {
		for _, t := range trees {
			t.Close()
		}
		readers.Wait()
	}()
	for i := range caches {
		t, err := New(srv.Open(b, eps, ns, benchSessionTimeout), eventRoot)
		if err != nil {
			b.Fatal(err)
		}
		trees = append(trees, t)
		if err := t.Start(ctx); err != nil {
			b.Fatal(err)
		}
		l := t.Listen()
		ended[i] = make(chan struct{})
		readers.Go(func() {
			defer l.Close()
			initialized := false
			for {
				ev, err := l.Next(ctx)
				if err != nil {
					return // the cache was closed: the end of the run, or a failure the main goroutine sees
				}
				switch ev.Type {
				case Initialized:
					initialized = true
				case Added, Updated, Removed:
					if !initialized {
						continue
					}
					if ev.Path == eventRoot+"/end" {
						close(ended[i])
						return
					}
					counts[i].Add(1)
				}
			}
		})
	}

	b.ResetTimer()
	start := time.Now()
	written, err := writeEvents(ctx, ws, b.N)
	if err != nil {
		b.Fatal(err)
	}
	for i := range ended {
		select {
		case <-ended[i]:
		case <-ctx.Done():
			b.Fatalf("cache %d did not see the end marker: %v", i, ctx.Err())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var total int64
	for i := range counts {
		total += counts[i].Load()
	}
	reportEvents(b, b.N, caches, total, written, elapsed)
}

// benchPeerEvents is benchEvents with a peer's caches (internal/peers,
// bench-cache: Curator's CuratorCache or kazoo's TreeCache): the same
// writes, counted the same way, the time from the first set to the peer's
// answer that every cache saw the end marker.
func benchPeerEvents(b *testing.B, srv recipetest.BenchServer, caches int, start func(testing.TB, string, ...peers.Option) *peers.Peer) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	eps, ns, ws := eventSetup(b, ctx, srv)
	peer := start(b, strings.Join(eps, ","), peers.WithNamespace(ns), peers.ForBenchmark(),
		peers.WithSessionTimeout(benchSessionTimeout))
	var began time.Time
	var written time.Duration
	events, err := peer.BenchCache(ctx, eventRoot, caches, func() error {
		b.ResetTimer()
		began = time.Now()
		var err error
		written, err = writeEvents(ctx, ws, b.N)
		return err
	})
	elapsed := time.Since(began)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportEvents(b, b.N, caches, events, written, elapsed)
}

// reconnectNodes is the size of BenchmarkTreeReconnect's subtree.
const reconnectNodes = 10_000

// BenchmarkTreeReconnect measures what a Tree of 10,000 nodes pays for a
// connection cut while nothing changed: its client's connection runs
// through a fault proxy, and each op resets it (faultnet Reset: every
// connection closed at once, new ones accepted). On ZooKeeper an op ends
// when the cache reports Resynced (the backend's recovery after the
// reconnection); on etcd, whose watch resumes at its revision without a
// resync, when the cache reports a change the writer made after the reset.
// The write-elsewhere variant (ZooKeeper) has the writer set a node outside
// the subtree during each cut: the subtree is unchanged, but the server's
// zxid moved, so the backend cannot take the gap for a quiet one.
// Metrics:
//
//	load-ms       the first Start: the initial read of the subtree (once)
//	ns/op         reset to recovered, as above
//	srv-pkts/op   ZooKeeper: packets the server received per op (mntr
//	              zk_packets_received; pings of the two sessions and the
//	              write elsewhere included)
//	srv-ranges/op etcd: Range calls the server handled per op
//	              (grpc_server_handled_total), the cache's and the writer's
//
// Run: go test -run '^$' -bench TreeReconnect -benchtime 20x ./recipes/cache
func BenchmarkTreeReconnect(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		b.Run(fmt.Sprintf("%s/nodes=%d", srv.Name, reconnectNodes), func(b *testing.B) { benchReconnect(b, srv, false) })
		if srv.Kind == "zk" {
			b.Run(fmt.Sprintf("%s/nodes=%d/write-elsewhere", srv.Name, reconnectNodes), func(b *testing.B) { benchReconnect(b, srv, true) })
		}
	}
}

func benchReconnect(b *testing.B, srv recipetest.BenchServer, elsewhere bool) {
	eps := srv.Endpoints(b)
	ns := testenv.Namespace(b)
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	ws, err := srv.Open(b, eps, ns, benchSessionTimeout).Session(ctx)
	if err != nil {
		b.Fatal(err)
	}
	buildTree(b, ctx, ws, "/big", reconnectNodes)
	if _, err := ws.Create(ctx, "/elsewhere", nil, backend.Persistent); err != nil {
		b.Fatal(err)
	}
	p, err := faultnet.NewProxy(eps[0])
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// The cache's client is closed before the proxy (deferred calls run
	// last first), not at the benchmark's cleanup: a client left behind a
	// closed proxy would have its session expire during a later run, and
	// that closeSession moves the server's zxid, so a later run's gap would
	// not be a quiet one.
	c := srv.Open(b, []string{p.Addr()}, ns, benchSessionTimeout)
	defer c.Close()
	t, err := New(c, "/big")
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	loadStart := time.Now()
	if err := t.Start(ctx); err != nil {
		b.Fatal(err)
	}
	load := time.Since(loadStart)
	l := t.Listen()
	defer l.Close()
	// The listener's stream begins with the cache's state.
	for {
		ev, err := l.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Type == Initialized {
			break
		}
	}
	if t.Len() != reconnectNodes+1 {
		b.Fatalf("cache holds %d nodes, want %d", t.Len(), reconnectNodes+1)
	}
	counter := serverCounter(srv.Kind, eps[0])
	before, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		p.Reset()
		if elsewhere {
			if _, err := ws.Set(ctx, "/elsewhere", []byte(strconv.Itoa(i)), backend.AnyVersion); err != nil {
				b.Fatal(err)
			}
		}
		var marker string
		if srv.Kind == "etcd" {
			marker = strconv.Itoa(i)
			if _, err := ws.Set(ctx, "/big", []byte(marker), backend.AnyVersion); err != nil {
				b.Fatal(err)
			}
		}
		for {
			ev, err := l.Next(ctx)
			if err != nil {
				b.Fatalf("op %d: %v", i, err)
			}
			if srv.Kind == "zk" && ev.Type == Resynced {
				break
			}
			if srv.Kind == "zk" {
				b.Fatalf("op %d: %v %s after a reset with nothing changed", i, ev.Type, ev.Path)
			}
			if ev.Type == Updated && ev.Path == "/big" && string(ev.New.Data) == marker {
				break
			}
		}
	}
	b.StopTimer()
	after, err := counter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(load.Milliseconds()), "load-ms")
	unit := map[string]string{"zk": "srv-pkts/op", "etcd": "srv-ranges/op"}[srv.Kind]
	b.ReportMetric(float64(after-before)/float64(b.N), unit)
}

// buildTree makes root with n nodes below it: 100 parents (root/dNN) and
// their children (root/dNN/nNNNNN), in multis of 40 creates (etcd allows
// 128 writes in a transaction; a create takes two).
func buildTree(b *testing.B, ctx context.Context, s backend.Session, root string, n int) {
	b.Helper()
	const parents, batch = 100, 40
	var ops []backend.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := s.Multi(ctx, ops...); err != nil {
			b.Fatalf("building %s: %v", root, err)
		}
		ops = ops[:0]
	}
	add := func(op backend.Op) {
		if ops = append(ops, op); len(ops) == batch {
			flush()
		}
	}
	add(backend.CreateOp{Path: root, Mode: backend.Persistent})
	flush()
	for d := range parents {
		add(backend.CreateOp{Path: fmt.Sprintf("%s/d%02d", root, d), Mode: backend.Persistent})
	}
	flush()
	for i := range n - parents {
		add(backend.CreateOp{Path: fmt.Sprintf("%s/d%02d/n%05d", root, i%parents, i), Data: []byte("0123456789abcdef"), Mode: backend.Persistent})
	}
	flush()
}

// serverCounter returns a function reading the server's count of what
// BenchmarkTreeReconnect reports: ZooKeeper's packets received, etcd's
// Range calls handled.
func serverCounter(kind, addr string) func(context.Context) (int64, error) {
	if kind == "zk" {
		return func(ctx context.Context) (int64, error) {
			m, err := fourletter.GetMntr(ctx, addr)
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(m.Values["zk_packets_received"], 10, 64)
		}
	}
	return func(ctx context.Context) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		req.Close = true // no idle connection left behind (goleak)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sum int64
		found := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "grpc_server_handled_total{") || !strings.Contains(line, `grpc_method="Range"`) {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, err
			}
			sum += int64(v)
			found = true
		}
		if err := sc.Err(); err != nil {
			return 0, err
		}
		if !found {
			return 0, errors.New("etcd /metrics: no grpc_server_handled_total for Range")
		}
		return sum, nil
	}
}
