package counter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// BenchmarkIDs hands out b.N IDs from clients clients (each with a
// session of its own), three ways:
//
//	IDs/SERVER/clients=N/next       IDs.Next: one write to the client's own node per ID
//	IDs/SERVER/clients=N/block=100  IDs.Block(100): one write per 100 IDs
//	IDs/SERVER/clients=N/counter    an Atomic's Increment as the ID (WithAmbiguousOutcome):
//	                                the hot-key way, every client compare-and-sets one node
//
// Besides ns/op (one op = one ID, all clients together) it reports IDs/s
// and writes/op (writes sent per ID, the counter's failed compare-and-sets
// included). It checks at the end that no ID was handed out twice.
func BenchmarkIDs(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps := srv.Endpoints(b)
			for _, clients := range []int{1, 16} {
				for _, mode := range []struct {
					name  string
					block int
				}{{"next", 1}, {"block=100", 100}, {"counter", 0}} {
					b.Run(fmt.Sprintf("clients=%d/%s", clients, mode.name), func(b *testing.B) {
						benchIDs(b, srv, eps, clients, mode.block)
					})
				}
			}
		})
	}
}

// benchIDs runs one BenchmarkIDs case; block 0 is the counter baseline.
func benchIDs(b *testing.B, srv recipetest.BenchServer, eps []string, clients, block int) {
	b.ReportAllocs()
	ns := testenv.Namespace(b)
	next := make([]func(ctx context.Context, n int) (first int64, writes int, err error), clients)
	for i := range next {
		s := (&recipetest.Env{Backend: srv.Backend, Endpoints: eps, Namespace: ns, Timeout: 10 * time.Second}).Session(b)
		if block == 0 {
			a := newAtomic(b, s, "/bench-counter", WithAmbiguousOutcome())
			next[i] = func(ctx context.Context, _ int) (int64, int, error) {
				c, err := a.Increment(ctx)
				return c.Post, c.Tries, err
			}
			continue
		}
		g := newIDs(b, s, "/bench-ids")
		next[i] = func(ctx context.Context, n int) (int64, int, error) {
			if n == 1 {
				id, err := g.Next(ctx)
				return id, 1, err
			}
			bl, err := g.Block(ctx, n)
			return bl.First, 1, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var left, writes atomic.Int64
	left.Store(int64(b.N))
	// take reserves up to step of the IDs still to hand out.
	step := int64(max(block, 1))
	take := func() int {
		for {
			n := left.Load()
			if n <= 0 {
				return 0
			}
			if k := min(step, n); left.CompareAndSwap(n, n-k) {
				return int(k)
			}
		}
	}
	var failed atomic.Value
	firsts := make([][]int64, clients) // each write's first ID, per client
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, f := range next {
		wg.Go(func() {
			for n := take(); n > 0; n = take() {
				first, w, err := f(ctx, n)
				if err != nil {
					failed.Store(err)
					return
				}
				writes.Add(int64(w))
				firsts[i] = append(firsts[i], first)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("ID: %v", err)
	}
	seen := make(map[int64]bool, writes.Load())
	for _, fs := range firsts {
		for _, id := range fs {
			if seen[id] {
				b.Fatalf("ID %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "IDs/s")
	b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/op")
}
