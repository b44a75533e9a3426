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

// BenchmarkAtomicAdd runs b.N Add(1) on one counter from clients clients
// (each with a client, a session and an Atomic of its own), with the
// writer marker (the default: each write is a Multi of counter and marker)
// and without it (WithAmbiguousOutcome: a plain conditional set):
//
//	AtomicAdd/SERVER/clients=N/MODE
//
// SERVER is zk or etcd (the test servers), or zk-nosync or etcd-nosync
// (skipped unless the fsync-off servers are named; see
// recipetest.BenchServers). Besides ns/op (one op = one increment, all
// clients together) it reports increments/s and tries/op (writes sent per
// increment: 1 without contention). It checks the sum at the end.
func BenchmarkAtomicAdd(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps := srv.Endpoints(b)
			for _, clients := range []int{1, 16} {
				for _, mode := range []struct {
					name string
					opts []Option
				}{{"marker", nil}, {"ambiguous", []Option{WithAmbiguousOutcome()}}} {
					b.Run(fmt.Sprintf("clients=%d/%s", clients, mode.name), func(b *testing.B) {
						benchAdd(b, srv.Backend, eps, clients, mode.opts)
					})
				}
			}
		})
	}
}

func benchAdd(b *testing.B, be recipetest.Backend, eps []string, clients int, opts []Option) {
	b.ReportAllocs()
	ns := testenv.Namespace(b)
	atomics := make([]*Atomic, clients)
	for i := range atomics {
		s := (&recipetest.Env{Backend: be, Endpoints: eps, Namespace: ns, Timeout: 10 * time.Second}).Session(b)
		atomics[i] = newAtomic(b, s, "/bench", opts...)
	}
	if _, err := atomics[0].Set(ctxT(b), 0); err != nil { // counter and marker made
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var left, tries atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, a := range atomics {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				c, err := a.Add(ctx, 1)
				if err != nil {
					failed.Store(err)
					return
				}
				tries.Add(int64(c.Tries))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("Add: %v", err)
	}
	v, err := atomics[0].Get(ctxT(b))
	if err != nil || v.N != int64(b.N) {
		b.Fatalf("sum %d, %v; want %d", v.N, err, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "increments/s")
	b.ReportMetric(float64(tries.Load())/float64(b.N), "tries/op")
}
