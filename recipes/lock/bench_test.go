package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// BenchmarkMutexContended puts n contenders (contenderCounts), each with
// a session (and a client) of its own, on one lock; each loops Lock,
// Unlock with no hold time. It runs ours beside the peers, interleaved in
// one run so the machine's noise hits all alike:
//
//	MutexContended/SERVER/n=N/round=R/IMPL
//
// SERVER is zk or etcd (the test servers, fsync on), or zk-nosync or
// etcd-nosync (scripts/servers.sh start-nosync: ZooKeeper forceSync=no,
// etcd --unsafe-no-fsync, data on tmpfs), skipped with one line unless
// ZKRECIPES_ZK_ENDPOINTS_NOSYNC and ZKRECIPES_ETCD_ENDPOINTS_NOSYNC are set.
// Each round runs every IMPL once, in turn: on ZooKeeper ours,
// gozk-Lock (go-zookeeper's zk.Lock), curator-InterProcessMutex and
// kazoo-Lock (internal/peers: one Curator or kazoo process holding the n
// sessions, a thread each, measured the same way); on etcd ours and
// etcd-concurrency-Mutex. Medians over the rounds: go run
// ./internal/benchplot. Before the rounds every implementation runs an
// unreported warm-up (all sessions, JIT). Besides ns/op (one op = one lock
// cycle; it includes joining and draining the queue, n-1 more cycles) the
// metrics are:
//
//	cycles/s          grants per second after the warm-up (the first n grants)
//	handoff-p50-ms    time from the holder calling Unlock to the next
//	handoff-p99-ms    holder's Lock returning (monotonic clock)
//	req/cycle         client requests per cycle after the warm-up, when
//	                  b.N > n (ours: every Session call; etcd
//	                  concurrency.Mutex: unary gRPC calls, no watches)
//	wakeups/release   ours: watch events on another contender's node, per release
//	self-events/rel   ours: watch events on the contender's own node (the
//	                  lease's monitor sees its own node deleted at Unlock)
//
// and, from the server's own counters over the whole run (all b.N+n-1
// grants, joining and draining included; idle sessions' pings included,
// which is why the sessions are long), per grant:
//
//	srv-pkts/cycle    ZooKeeper: packets received (mntr zk_packets_received)
//	watch-fires/cycle ZooKeeper: watches triggered (zk_sum_node_*_watch_count)
//	srv-rpcs/cycle    etcd: unary gRPC calls handled (grpc_server_handled_total)
//	proposals/cycle   etcd: raft proposals committed
//	fsyncs/cycle      WAL or txn-log fsyncs (0 with fsync off)
//
// B/op and allocs/op mean something for the Go implementations only; the
// Curator and kazoo processes' allocations are not counted.

// contenderCounts are the numbers of contenders on the one lock.
var contenderCounts = []int{1, 8, 64}

// benchRounds is how many times each implementation runs per (server, n).
const benchRounds = 3

// benchSessionTimeout is every contender's session timeout (ZooKeeper) or
// lease TTL (etcd), the peers' included: long, so that idle sessions ping
// rarely and the server's packet counts are mostly the locks'.
const benchSessionTimeout = 20 * time.Second

// benchTimeout bounds one run of a contended benchmark.
const benchTimeout = 5 * time.Minute

// acquireFunc takes the lock for one contender and returns how to release it.
type acquireFunc func(ctx context.Context) (release func(context.Context) error, err error)

// contendedResult is what one run measured.
//
// The first n grants are the warm-up (every contender joins the queue at
// once); the steady state is from grant n to the last counted grant, and
// cycles/s and the per-cycle counts are taken over it when cycles > n.
type contendedResult struct {
	cycles   int             // counted grants after the warm-up
	window   time.Duration   // from the warm-up's end to the last counted grant
	handoffs []time.Duration // one per counted grant that followed a release
}

// contend runs cycles lock cycles over the contenders. After the last
// counted grant every waiter takes the lock once more and leaves, the same
// for every implementation (zk.Lock cannot give up waiting): cycles+n-1
// grants in all. internal/peers' bench-lock does the same in the Curator
// and kazoo processes.
//
// mark, if not nil, is called by the goroutine taking grant number n (the
// end of the warm-up, when cycles > n) and by the one taking the last grant.
func contend(acquire []acquireFunc, cycles int, mark func()) (contendedResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	base := time.Now()
	var (
		remaining   atomic.Int64
		lastRelease atomic.Int64 // ns since base when the last holder called release; 0: none yet
		endAt       atomic.Int64
		warmAt      atomic.Int64
		wg          sync.WaitGroup
		errMu       sync.Mutex
		firstErr    error
	)
	remaining.Store(int64(cycles))
	warm := len(acquire)
	if cycles <= warm {
		warm = 0 // too short a run for a warm-up: take it all
	}
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	handoffs := make([][]time.Duration, len(acquire))
	for i, acq := range acquire {
		wg.Go(func() {
			for {
				release, err := acq(ctx)
				got := time.Since(base)
				if err != nil {
					fail(fmt.Errorf("contender %d: lock: %w", i, err))
					return
				}
				left := remaining.Add(-1)
				k := int64(cycles) - left // this grant's number
				if left >= 0 && k > int64(warm) {
					if lr := lastRelease.Load(); lr != 0 {
						handoffs[i] = append(handoffs[i], got-time.Duration(lr))
					}
				}
				if (warm > 0 && k == int64(warm)) || left == 0 {
					if left != 0 {
						warmAt.Store(int64(got))
					} else {
						endAt.Store(int64(got))
					}
					if mark != nil {
						mark()
					}
				}
				lastRelease.Store(int64(time.Since(base)))
				rctx, rcancel := context.WithTimeout(context.Background(), wait)
				err = release(rctx)
				rcancel()
				if err != nil {
					fail(fmt.Errorf("contender %d: unlock: %w", i, err))
					return
				}
				if left <= 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return contendedResult{}, firstErr
	}
	return contendedResult{cycles: cycles - warm, window: time.Duration(endAt.Load() - warmAt.Load()), handoffs: slices.Concat(handoffs...)}, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r contendedResult) report(b *testing.B) {
	b.Helper()
	if r.window > 0 {
		b.ReportMetric(float64(r.cycles)/r.window.Seconds(), "cycles/s")
	}
	slices.Sort(r.handoffs)
	b.ReportMetric(ms(percentile(r.handoffs, 0.50)), "handoff-p50-ms")
	b.ReportMetric(ms(percentile(r.handoffs, 0.99)), "handoff-p99-ms")
}

// opCounts counts what the contenders' sessions were asked and told.
type opCounts struct {
	requests   atomic.Int64 // Session calls that reach the server
	wakeups    atomic.Int64 // watch events on another contender's node
	selfEvents atomic.Int64 // watch events on the session's own node
}

func (c *opCounts) snapshot() [3]int64 {
	return [3]int64{c.requests.Load(), c.wakeups.Load(), c.selfEvents.Load()}
}

// countingSession counts the requests made through it and the events
// delivered on its one-shot watches. It is a test decorator: nothing in
// the lock package knows about it.
type countingSession struct {
	backend.Session
	n   *opCounts
	own atomic.Pointer[string] // the node this session created last
}

func (c *countingSession) req() { c.n.requests.Add(1) }

// watch forwards the one event of a one-shot watch, counting it.
func (c *countingSession) watch(path string, in <-chan backend.Event) <-chan backend.Event {
	if in == nil {
		return nil
	}
	out := make(chan backend.Event, 1)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Type != backend.EventNotWatching {
				if own := c.own.Load(); own != nil && *own == path {
					c.n.selfEvents.Add(1)
				} else {
					c.n.wakeups.Add(1)
				}
			}
			out <- ev
		}
	}()
	return out
}

func (c *countingSession) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	c.req()
	p, err := c.Session.Create(ctx, path, data, mode, opts...)
	if err == nil {
		c.own.Store(&p)
	}
	return p, err
}

func (c *countingSession) Get(ctx context.Context, path string) ([]byte, backend.Stat, error) {
	c.req()
	return c.Session.Get(ctx, path)
}

func (c *countingSession) GetW(ctx context.Context, path string) ([]byte, backend.Stat, <-chan backend.Event, error) {
	c.req()
	d, st, ch, err := c.Session.GetW(ctx, path)
	return d, st, c.watch(path, ch), err
}

func (c *countingSession) Exists(ctx context.Context, path string) (*backend.Stat, error) {
	c.req()
	return c.Session.Exists(ctx, path)
}

func (c *countingSession) ExistsW(ctx context.Context, path string) (*backend.Stat, <-chan backend.Event, error) {
	c.req()
	st, ch, err := c.Session.ExistsW(ctx, path)
	return st, c.watch(path, ch), err
}

func (c *countingSession) Set(ctx context.Context, path string, data []byte, version int32) (backend.Stat, error) {
	c.req()
	return c.Session.Set(ctx, path, data, version)
}

func (c *countingSession) Delete(ctx context.Context, path string, version int32) error {
	c.req()
	return c.Session.Delete(ctx, path, version)
}

func (c *countingSession) Children(ctx context.Context, path string) ([]string, backend.Stat, error) {
	c.req()
	return c.Session.Children(ctx, path)
}

func (c *countingSession) ChildrenW(ctx context.Context, path string) ([]string, backend.Stat, <-chan backend.Event, error) {
	c.req()
	kids, st, ch, err := c.Session.ChildrenW(ctx, path)
	return kids, st, c.watch(path, ch), err
}

func (c *countingSession) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	c.req()
	return c.Session.Multi(ctx, ops...)
}

func (c *countingSession) Sync(ctx context.Context, path string) error {
	c.req()
	return c.Session.Sync(ctx, path)
}

// lockImpl is one implementation BenchmarkMutexContended runs: Go code in
// this process (acquire) or a Curator or kazoo process (peer).
type lockImpl struct {
	name string
	skip error // why it cannot run here: each of its benchmarks skips

	acquire []acquireFunc // one per contender, for the largest n
	// counters, if not nil, snapshots the implementation's own counters,
	// reported per cycle over the steady state under the names units.
	counters func() []int64
	units    []string

	peer *peers.Peer
	path string // the lock the peer's contenders share
}

// warmUp runs 4n unreported cycles at the largest n: every session is used
// once and the JVM has compiled its hot paths before the first round.
func (im *lockImpl) warmUp(b *testing.B) {
	b.Helper()
	if im.skip != nil {
		return
	}
	n := slices.Max(contenderCounts)
	if im.peer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
		defer cancel()
		if _, err := im.peer.BenchLock(ctx, im.path, n, 4*n); err != nil {
			b.Fatalf("%s: warm-up: %v", im.name, err)
		}
		return
	}
	if _, err := contend(im.acquire[:n], 4*n, nil); err != nil {
		b.Fatalf("%s: warm-up: %v", im.name, err)
	}
}

// run runs b.N cycles with n contenders and reports them.
func (im *lockImpl) run(b *testing.B, n int) {
	if im.skip != nil {
		b.Skip(im.skip)
	}
	if im.peer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
		defer cancel()
		b.ResetTimer()
		r, err := im.peer.BenchLock(ctx, im.path, n, b.N)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if r.Window > 0 {
			b.ReportMetric(r.CyclesPerSecond(), "cycles/s")
		}
		b.ReportMetric(ms(r.HandoffP50), "handoff-p50-ms")
		b.ReportMetric(ms(r.HandoffP99), "handoff-p99-ms")
		return
	}
	b.ReportAllocs()
	var (
		mu    sync.Mutex
		marks [][]int64
		mark  func()
	)
	if im.counters != nil {
		mark = func() {
			mu.Lock()
			marks = append(marks, im.counters())
			mu.Unlock()
		}
	}
	b.ResetTimer()
	r, err := contend(im.acquire[:n], b.N, mark)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	r.report(b)
	if len(marks) == 2 { // counts over the steady state only
		for i, unit := range im.units {
			b.ReportMetric(float64(marks[1][i]-marks[0][i])/float64(r.cycles), unit)
		}
	}
}

// BenchmarkMutexContended: n contenders, a session each, on one lock; ours
// and the peers in turn. See the comment at the top of this file.
func BenchmarkMutexContended(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps := srv.Endpoints(b)
			impls := []*lockImpl{oursLock(b, srv.Backend, eps)}
			if srv.Kind == "zk" {
				connect := strings.Join(eps, ",")
				impls = append(impls, gozkLock(b, eps),
					peerLock(b, "curator-InterProcessMutex", connect, peers.CheckCurator, peers.Curator),
					peerLock(b, "kazoo-Lock", connect, peers.CheckKazoo, peers.Kazoo))
			} else {
				impls = append(impls, etcdMutex(b, eps))
			}
			for _, im := range impls {
				im.warmUp(b)
			}
			stats := serverStats(srv.Kind, eps[0])
			for _, n := range contenderCounts {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					for r := range benchRounds {
						b.Run(fmt.Sprintf("round=%d", r+1), func(b *testing.B) {
							for _, im := range impls {
								b.Run(im.name, func(b *testing.B) {
									before, err := stats()
									im.run(b, n)
									if err == nil {
										after, err2 := stats()
										err = err2
										reportServer(b, srv.Kind, before, after, b.N+n-1)
									}
									if err != nil {
										b.Logf("no server counts: %v", err)
									}
								})
							}
						})
					}
				})
			}
		})
	}
}

// oursLock is this package's Mutex, each contender's session counted.
func oursLock(b *testing.B, bc recipetest.Backend, eps []string) *lockImpl {
	e := &env{Backend: bc, Endpoints: eps, Namespace: "/zkrbench/" + backend.NewGUID(), Timeout: benchSessionTimeout}
	counts := &opCounts{}
	im := &lockImpl{
		name:     "ours",
		acquire:  make([]acquireFunc, slices.Max(contenderCounts)),
		counters: func() []int64 { s := counts.snapshot(); return s[:] },
		units:    []string{"req/cycle", "wakeups/release", "self-events/rel"},
	}
	for i := range im.acquire {
		m := mustNew(b, &countingSession{Session: e.Session(b), n: counts}, "/contended")
		im.acquire[i] = func(ctx context.Context) (func(context.Context) error, error) {
			l, err := m.Lock(ctx)
			if err != nil {
				return nil, err
			}
			return l.Unlock, nil
		}
	}
	return im
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// gozkLock is go-zookeeper's zk.Lock, a connection each.
func gozkLock(b *testing.B, eps []string) *lockImpl {
	dir := "/zkrbench/" + backend.NewGUID() + "/contended"
	im := &lockImpl{name: "gozk-Lock", acquire: make([]acquireFunc, slices.Max(contenderCounts))}
	for i := range im.acquire {
		conn, _, err := gozk.Connect(eps, benchSessionTimeout, gozk.WithLogger(discardLogger{}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(conn.Close)
		l := gozk.NewLock(conn, dir, gozk.WorldACL(gozk.PermAll))
		im.acquire[i] = func(context.Context) (func(context.Context) error, error) {
			// zk.Lock takes no context: a waiter leaves only by taking
			// the lock, so a run drains through the lock.
			if err := l.Lock(); err != nil {
				return nil, err
			}
			return func(context.Context) error { return l.Unlock() }, nil
		}
	}
	b.Cleanup(func() { cleanupZK(b, eps, dir) })
	return im
}

// etcdMutex is etcd's concurrency.Mutex, a client and session each, its
// unary gRPC calls counted.
func etcdMutex(b *testing.B, eps []string) *lockImpl {
	prefix := "/zkrbench/" + backend.NewGUID() + "/contended"
	var unary atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		unary.Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	im := &lockImpl{
		name:     "etcd-concurrency-Mutex",
		acquire:  make([]acquireFunc, slices.Max(contenderCounts)),
		counters: func() []int64 { return []int64{unary.Load()} },
		units:    []string{"req/cycle"},
	}
	for i := range im.acquire {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   eps,
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
			DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cli.Close() })
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(int(benchSessionTimeout/time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		m := concurrency.NewMutex(s, prefix)
		im.acquire[i] = func(ctx context.Context) (func(context.Context) error, error) {
			if err := m.Lock(ctx); err != nil {
				return nil, err
			}
			return m.Unlock, nil
		}
	}
	return im
}

// peerLock is a Curator or kazoo process whose bench-lock command runs the
// contenders, on sessions of its own (internal/peers). A peer that cannot
// run here is left out: its benchmarks skip.
func peerLock(b *testing.B, name, connect string, check func() error, start func(testing.TB, string, ...peers.Option) *peers.Peer) *lockImpl {
	im := &lockImpl{name: name, path: "/zkrbench/" + backend.NewGUID() + "/contended"}
	if im.skip = check(); im.skip != nil {
		return im
	}
	im.peer = start(b, connect, peers.WithSessionTimeout(benchSessionTimeout), peers.ForBenchmark())
	eps := strings.Split(connect, ",")
	b.Cleanup(func() { cleanupZK(b, eps, im.path) }) // kazoo's parents are persistent
	return im
}

// serverStats returns a function that reads the cumulative counters of
// the server at addr that reportServer uses: ZooKeeper's `mntr`, etcd's
// /metrics.
func serverStats(kind, addr string) func() (map[string]float64, error) {
	if kind == "zk" {
		return func() (map[string]float64, error) { return zkMntr(addr) }
	}
	return func() (map[string]float64, error) { return etcdMetrics(addr) }
}

func zkMntr(addr string) (map[string]float64, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "mntr"); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(l, "\t")
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); ok && err == nil {
			m[k] = f
		}
	}
	if _, ok := m["zk_packets_received"]; !ok {
		return nil, fmt.Errorf("mntr on %s: no zk_packets_received in %q", addr, out)
	}
	return m, nil
}

func etcdMetrics(addr string) (map[string]float64, error) {
	tr := &http.Transport{DisableKeepAlives: true} // no connection outlives the call (goleak)
	defer tr.CloseIdleConnections()
	cl := http.Client{Timeout: 5 * time.Second, Transport: tr}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		name := l[:i]
		switch {
		case strings.HasPrefix(name, "grpc_server_handled_total{") && strings.Contains(name, `grpc_type="unary"`):
			m["unary"] += v
		case name == "etcd_server_proposals_committed_total", name == "etcd_disk_wal_fsync_duration_seconds_count":
			m[name] = v
		}
	}
	return m, sc.Err()
}

// reportServer reports the server's counter deltas per grant.
func reportServer(b *testing.B, kind string, before, after map[string]float64, grants int) {
	g := float64(grants)
	d := func(keys ...string) float64 {
		var sum float64
		for _, k := range keys {
			sum += after[k] - before[k]
		}
		return sum / g
	}
	if kind == "zk" {
		b.ReportMetric(d("zk_packets_received"), "srv-pkts/cycle")
		b.ReportMetric(d("zk_sum_node_created_watch_count", "zk_sum_node_deleted_watch_count",
			"zk_sum_node_changed_watch_count", "zk_sum_node_children_watch_count"), "watch-fires/cycle")
		b.ReportMetric(d("zk_cnt_fsynctime"), "fsyncs/cycle")
		return
	}
	b.ReportMetric(d("unary"), "srv-rpcs/cycle")
	b.ReportMetric(d("etcd_server_proposals_committed_total"), "proposals/cycle")
	b.ReportMetric(d("etcd_disk_wal_fsync_duration_seconds_count"), "fsyncs/cycle")
}

// cleanupZK removes what zk.Lock left under dir (its parents are persistent).
func cleanupZK(b *testing.B, eps []string, dir string) {
	conn, _, err := gozk.Connect(eps, sessionTimeout, gozk.WithLogger(discardLogger{}))
	if err != nil {
		b.Log(err)
		return
	}
	defer conn.Close()
	for p := dir; p != "/zkrbench" && p != "/"; p = backend.Parent(p) {
		kids, _, err := conn.Children(p)
		if errors.Is(err, gozk.ErrNoNode) {
			continue
		}
		for _, k := range kids {
			_ = conn.Delete(p+"/"+k, -1)
		}
		_ = conn.Delete(p, -1)
	}
}
