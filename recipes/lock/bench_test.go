package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// The contended benchmarks put n contenders, each with a session (and a
// client) of its own, on one lock; each loops Lock, Unlock with no hold
// time. They report, besides ns/op (one op = one lock cycle; it includes
// draining the queue at the end of a run, n-1 more cycles):
//
//	cycles/s         grants per second after the warm-up (the first n grants)
//	handoff-p50-ms   time from the holder calling Unlock to the next
//	handoff-p99-ms   holder's Lock returning (monotonic clock)
//	req/cycle        backend requests per cycle after the warm-up, reported
//	                 when b.N > n (ours: every Session call;
//	                 etcd concurrency.Mutex: unary gRPC calls, no watches)
//	wakeups/release  watch events on another contender's node, per release
//	self-events/rel  watch events on the contender's own node (the lease's
//	                 monitor sees its own node deleted at Unlock)
//
// The peers run the same workload: go-zookeeper's zk.Lock on ZooKeeper and
// etcd's concurrency.Mutex on etcd.

var contenderCounts = []int{8, 64}

// benchTimeout bounds one run of a contended benchmark.
const benchTimeout = 5 * time.Minute

// acquireFunc takes the lock for one contender and returns how to release it.
type acquireFunc func(ctx context.Context) (release func(context.Context) error, err error)

// contendedResult is what one run measured.
//
// The first n grants are the warm-up (every contender joins the queue at
// once); the steady state is from grant n to the last counted grant, and
// cycles/s and the per-cycle counts are taken over it when b.N > n.
type contendedResult struct {
	cycles   int             // counted grants after the warm-up
	window   time.Duration   // from the warm-up's end to the last counted grant
	handoffs []time.Duration // one per counted grant that followed a release
}

// runContended runs b.N lock cycles over the contenders. After the last
// counted grant every waiter takes the lock once more and leaves, the same
// for every implementation (zk.Lock cannot give up waiting), so ns/op
// includes n-1 extra cycles per run; cycles/s does not.
//
// mark, if not nil, is called by the goroutine taking grant number n (the
// end of the warm-up, when b.N > n) and by the one taking the last grant.
func runContended(b *testing.B, acquire []acquireFunc, mark func()) contendedResult {
	b.Helper()
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
	remaining.Store(int64(b.N))
	warm := len(acquire)
	if b.N <= warm {
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
	b.ResetTimer()
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
				k := int64(b.N) - left // this grant's number
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
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return contendedResult{cycles: b.N - warm, window: time.Duration(endAt.Load() - warmAt.Load()), handoffs: slices.Concat(handoffs...)}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func (r contendedResult) report(b *testing.B) {
	b.Helper()
	if r.window > 0 {
		b.ReportMetric(float64(r.cycles)/r.window.Seconds(), "cycles/s")
	}
	slices.Sort(r.handoffs)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
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

// BenchmarkMutexContended: n contenders, a session each, on one Mutex.
func BenchmarkMutexContended(b *testing.B) {
	for _, bc := range backends {
		b.Run(bc.Name, func(b *testing.B) {
			e := &env{Backend: bc, Endpoints: bc.Endpoints(b), Namespace: "/zkrbench/" + backend.NewGUID(), Timeout: sessionTimeout}
			counts := &opCounts{}
			maxN := slices.Max(contenderCounts)
			mutexes := make([]*Mutex, maxN)
			for i := range mutexes {
				s := &countingSession{Session: e.Session(b), n: counts}
				mutexes[i] = mustNew(b, s, "/contended")
			}
			for _, n := range contenderCounts {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					acquire := make([]acquireFunc, n)
					for i, m := range mutexes[:n] {
						acquire[i] = func(ctx context.Context) (func(context.Context) error, error) {
							l, err := m.Lock(ctx)
							if err != nil {
								return nil, err
							}
							return l.Unlock, nil
						}
					}
					b.ReportAllocs()
					var (
						mu    sync.Mutex
						marks [][3]int64
					)
					r := runContended(b, acquire, func() {
						mu.Lock()
						marks = append(marks, counts.snapshot())
						mu.Unlock()
					})
					r.report(b)
					if len(marks) == 2 { // counts over the steady state only
						cyc := float64(r.cycles)
						b.ReportMetric(float64(marks[1][0]-marks[0][0])/cyc, "req/cycle")
						b.ReportMetric(float64(marks[1][1]-marks[0][1])/cyc, "wakeups/release")
						b.ReportMetric(float64(marks[1][2]-marks[0][2])/cyc, "self-events/rel")
					}
				})
			}
		})
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// BenchmarkMutexContendedPeer runs the contended workload on the peers:
// go-zookeeper's zk.Lock on ZooKeeper, etcd's concurrency.Mutex on etcd.
func BenchmarkMutexContendedPeer(b *testing.B) {
	b.Run("gozk-Lock", func(b *testing.B) {
		eps := testenv.ZooKeeper(b)
		dir := "/zkrbench/" + backend.NewGUID() + "/contended"
		maxN := slices.Max(contenderCounts)
		locks := make([]*gozk.Lock, maxN)
		for i := range locks {
			conn, _, err := gozk.Connect(eps, sessionTimeout, gozk.WithLogger(discardLogger{}))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(conn.Close)
			locks[i] = gozk.NewLock(conn, dir, gozk.WorldACL(gozk.PermAll))
		}
		b.Cleanup(func() { cleanupZK(b, eps, dir) })
		for _, n := range contenderCounts {
			b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
				acquire := make([]acquireFunc, n)
				for i, l := range locks[:n] {
					acquire[i] = func(context.Context) (func(context.Context) error, error) {
						// zk.Lock takes no context: a waiter leaves only by
						// taking the lock, so a run drains through the lock.
						if err := l.Lock(); err != nil {
							return nil, err
						}
						return func(context.Context) error { return l.Unlock() }, nil
					}
				}
				b.ReportAllocs()
				runContended(b, acquire, nil).report(b)
			})
		}
	})
	b.Run("etcd-concurrency-Mutex", func(b *testing.B) {
		eps := testenv.Etcd(b)
		prefix := "/zkrbench/" + backend.NewGUID() + "/contended"
		maxN := slices.Max(contenderCounts)
		var unary atomic.Int64
		count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			unary.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		mutexes := make([]*concurrency.Mutex, maxN)
		for i := range mutexes {
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
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(int(sessionTimeout/time.Second)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			mutexes[i] = concurrency.NewMutex(s, prefix)
		}
		for _, n := range contenderCounts {
			b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
				acquire := make([]acquireFunc, n)
				for i, m := range mutexes[:n] {
					acquire[i] = func(ctx context.Context) (func(context.Context) error, error) {
						if err := m.Lock(ctx); err != nil {
							return nil, err
						}
						return m.Unlock, nil
					}
				}
				b.ReportAllocs()
				var (
					mu    sync.Mutex
					marks []int64
				)
				r := runContended(b, acquire, func() {
					mu.Lock()
					marks = append(marks, unary.Load())
					mu.Unlock()
				})
				r.report(b)
				if len(marks) == 2 {
					b.ReportMetric(float64(marks[1]-marks[0])/float64(r.cycles), "req/cycle")
				}
			})
		}
	})
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
