package election

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// The election benchmarks measure leadership changes, ours on each backend
// beside etcd's concurrency.Election on the same etcd:
//
//	BenchmarkHandover  n candidates (handoverCounts), each with a session
//	                   (and client) of its own, loop campaign, resign at
//	                   once; one op is one handover. handover-p50-ms/p99-ms:
//	                   from the leader calling Resign to the next leader's
//	                   Campaign returning (monotonic clock), which is when a
//	                   leader function would start; with one candidate, to
//	                   its own next Campaign returning. The first n terms
//	                   are the warm-up (all join at once) and are left out.
//	                   Named Handover/SERVER/n=N/round=R/IMPL: SERVER is zk
//	                   or etcd (fsync on) or zk-nosync or etcd-nosync
//	                   (scripts/servers.sh start-nosync; skipped unless
//	                   ZKRECIPES_*_ENDPOINTS_NOSYNC are set); each round
//	                   runs ours, then etcd-concurrency-Election on etcd,
//	                   so noise hits both alike (medians: go run
//	                   ./internal/benchplot).
//	BenchmarkFailover  per op, 4 fresh candidates; the leader's connection
//	                   runs through a proxy that is cut for good (the
//	                   process died: no close, no resign); failover-ms:
//	                   from the cut to the next leader's Campaign
//	                   returning. Sessions time out after
//	                   benchFailoverTimeout, which dominates.

const (
	benchCandidates      = 4
	benchFailoverTimeout = 2 * time.Second
	// benchRounds is how many times BenchmarkHandover runs each
	// implementation per (server, n).
	benchRounds = 3
	// benchSessionTimeout is the session timeout (lease TTL) of
	// BenchmarkHandover's candidates: long, so that idle candidates'
	// pings and keep-alives stay out of the way.
	benchSessionTimeout = 20 * time.Second
)

// handoverCounts are the numbers of candidates in BenchmarkHandover.
var handoverCounts = []int{1, 8, 64}

// benchCandidate campaigns once and returns how to resign.
type benchCandidate func(ctx context.Context) (resign func(context.Context) error, err error)

// ours returns a candidate of this package's election at path.
func oursCandidate(e *Election) benchCandidate {
	return func(ctx context.Context) (func(context.Context) error, error) {
		t, err := e.Campaign(ctx)
		if err != nil {
			return nil, err
		}
		return t.Resign, nil
	}
}

// etcdCandidate returns a candidate of concurrency.Election at pfx, on a
// client of its own connected to endpoint.
func etcdCandidate(b *testing.B, endpoint, pfx string, ttl time.Duration) benchCandidate {
	b.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cli.Close() })
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(ttl.Seconds())))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sess.Close() })
	e := concurrency.NewElection(sess, pfx)
	return func(ctx context.Context) (func(context.Context) error, error) {
		if err := e.Campaign(ctx, "v"); err != nil {
			return nil, err
		}
		return e.Resign, nil
	}
}

func BenchmarkHandover(b *testing.B) {
	type impl struct {
		name string
		cs   []benchCandidate // for the largest n
	}
	maxN := slices.Max(handoverCounts)
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps, ns := srv.Endpoints(b), testenv.Namespace(b)
			e := &env{Backend: srv.Backend, Endpoints: eps, Namespace: ns, Timeout: benchSessionTimeout}
			ours := make([]benchCandidate, maxN)
			for i := range ours {
				ours[i] = oursCandidate(mustNew(b, e.Session(b), "/handover"))
			}
			impls := []impl{{"ours", ours}}
			if srv.Kind == "etcd" {
				pfx := "/bench-peer" + ns
				cs := make([]benchCandidate, maxN)
				for i := range cs {
					cs[i] = etcdCandidate(b, eps[0], pfx, benchSessionTimeout)
				}
				impls = append(impls, impl{"etcd-concurrency-Election", cs})
			}
			for _, im := range impls { // warm-up: every session, unreported
				if _, err := handover(im.cs, 2*maxN); err != nil {
					b.Fatalf("%s: warm-up: %v", im.name, err)
				}
			}
			for _, n := range handoverCounts {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					for r := range benchRounds {
						b.Run(fmt.Sprintf("round=%d", r+1), func(b *testing.B) {
							for _, im := range impls {
								b.Run(im.name, func(b *testing.B) { benchHandover(b, im.cs[:n]) })
							}
						})
					}
				})
			}
		})
	}
}

// benchHandover runs b.N handovers among the candidates.
func benchHandover(b *testing.B, cs []benchCandidate) {
	b.ResetTimer()
	handovers, err := handover(cs, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportPercentiles(b, "handover", handovers)
}

// handover runs terms handovers among the candidates and returns those
// after the warm-up: the first len(cs) terms, unless terms <= len(cs).
func handover(cs []benchCandidate, terms int) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm := len(cs)
	if terms <= warm {
		warm = 0
	}
	var (
		mu         sync.Mutex
		won        int
		lastResign time.Time
		handovers  []time.Duration
		firstErr   error
		wg         sync.WaitGroup
	)
	for _, c := range cs {
		wg.Go(func() {
			for ctx.Err() == nil {
				resign, err := c(ctx)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpOr(firstErr, err)
						mu.Unlock()
						cancel()
					}
					return
				}
				now := time.Now()
				mu.Lock()
				won++
				if won > warm && !lastResign.IsZero() {
					handovers = append(handovers, now.Sub(lastResign))
				}
				done := won > terms
				lastResign = time.Now()
				mu.Unlock()
				rctx, rcancel := context.WithTimeout(context.Background(), wait)
				err = resign(rctx)
				rcancel()
				if err != nil && !errors.Is(err, context.Canceled) {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
				if done {
					cancel() // the waiters' campaigns end with ctx
					return
				}
			}
		})
	}
	wg.Wait()
	return handovers, firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// reportPercentiles reports the p50 and p99 of ds in milliseconds.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
}

func BenchmarkFailover(b *testing.B) {
	for _, bc := range backends {
		b.Run(bc.Name, func(b *testing.B) {
			eps, ns := bc.Endpoints(b), testenv.Namespace(b)
			benchFailover(b, eps[0], func(b *testing.B, endpoint string) benchCandidate {
				c := bc.Open(b, []string{endpoint}, ns, benchFailoverTimeout)
				s := (&env{Backend: bc, Endpoints: eps, Namespace: ns, Timeout: sessionTimeout}).SessionOf(b, c)
				return oursCandidate(mustNew(b, s, "/failover"))
			})
		})
	}
	b.Run("etcd-concurrency-Election", func(b *testing.B) {
		eps, pfx := testenv.Etcd(b), "/bench-peer"+testenv.Namespace(b)
		benchFailover(b, eps[0], func(b *testing.B, endpoint string) benchCandidate {
			return etcdCandidate(b, endpoint, pfx, benchFailoverTimeout)
		})
	})
}

// benchFailover: per op, a leader through a proxy and three standbys; the
// proxy is cut for good and the time to the next leader is measured.
func benchFailover(b *testing.B, endpoint string, newCandidate func(b *testing.B, endpoint string) benchCandidate) {
	var failovers []time.Duration
	for range b.N {
		b.StopTimer()
		d := failoverOnce(b, endpoint, newCandidate)
		failovers = append(failovers, d)
		b.StartTimer()
	}
	reportPercentiles(b, "failover", failovers)
}

func failoverOnce(b *testing.B, endpoint string, newCandidate func(b *testing.B, endpoint string) benchCandidate) time.Duration {
	p, err := faultnet.NewProxy(endpoint)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader := newCandidate(b, p.Addr())
	if _, err := leader(ctx); err != nil {
		b.Fatal(err)
	}
	type won struct {
		at     time.Time
		resign func(context.Context) error
		err    error
	}
	wins := make(chan won, benchCandidates)
	for range benchCandidates - 1 {
		c := newCandidate(b, endpoint)
		go func() {
			resign, err := c(ctx)
			wins <- won{time.Now(), resign, err}
		}()
	}
	// A standby that has not queued yet when the leader dies still waits
	// for the leader's session to end: the measure is the same.
	cut := time.Now()
	p.Cut()
	w := <-wins
	if w.err != nil {
		b.Fatal(w.err)
	}
	d := w.at.Sub(cut)
	if err := w.resign(ctx); err != nil {
		b.Fatal(err)
	}
	cancel() // the other standbys stop campaigning
	for range benchCandidates - 2 {
		<-wins
	}
	return d
}
