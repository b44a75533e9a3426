package etcd

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// BenchmarkCreateDelete: create then delete an ephemeral node (two
// transactions), with the raw etcd client doing the same writes as a baseline.
func BenchmarkCreateDelete(b *testing.B) {
	s := testSession(b)
	ctx := context.Background()
	mustCreate(b, s, "/dir", nil, backend.Persistent)
	b.Run("backend", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Create(ctx, "/dir/n", []byte("data"), backend.Ephemeral); err != nil {
				b.Fatal(err)
			}
			if err := s.Delete(ctx, "/dir/n", backend.AnyVersion); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-etcd", func(b *testing.B) {
		b.ReportAllocs()
		key := dataKey(s.c.abs("/dir/raw"))
		for b.Loop() {
			if _, err := s.c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, "data", clientv3.WithLease(s.lease))).Commit(); err != nil {
				b.Fatal(err)
			}
			if _, err := s.c.cli.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGet: one linearizable read transaction per Get.
func BenchmarkGet(b *testing.B) {
	s := testSession(b)
	ctx := context.Background()
	mustCreate(b, s, "/n", make([]byte, 100), backend.Persistent)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Get(ctx, "/n"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChildren lists parents of 1,000 and (without -short) 100,000 children.
func BenchmarkChildren(b *testing.B) {
	sizes := []int{1000}
	if !testing.Short() {
		sizes = append(sizes, 100000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := testSession(b)
			mustCreate(b, s, "/p", nil, backend.Persistent)
			fill(b, s, "/p", n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				kids, _, err := s.Children(ctx, "/p")
				if err != nil || len(kids) != n {
					b.Fatalf("%d children, %v", len(kids), err)
				}
			}
		})
	}
}

// BenchmarkSequentialCreate64: 64 goroutines creating sequential nodes under
// one parent, sharing one client (its creates queue per parent and reuse
// the counter) or each with a client of its own (they race for the
// parent's counter and retry).
func BenchmarkSequentialCreate64(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "own-clients"
		if shared {
			name = "shared-client"
		}
		b.Run(name, func(b *testing.B) {
			setup := testSession(b)
			mustCreate(b, setup, "/q", nil, backend.Persistent)
			sessions := make([]*Session, 64)
			for i := range sessions {
				if shared {
					sessions[i] = setup
				} else {
					sessions[i] = testSession(b, func(c *Config) { c.Namespace = setup.c.ns; c.ReapInterval = -1 })
				}
			}
			ctx := context.Background()
			var left atomic.Int64
			left.Store(int64(b.N))
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, s := range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						if _, err := s.Create(ctx, "/q/n-", nil, backend.PersistentSequential); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if _, st, err := setup.Children(ctx, "/q"); err != nil || int(st.NumChildren) != b.N {
				b.Fatalf("%d children after %d creates: %v", st.NumChildren, b.N, err)
			}
		})
	}
}

// BenchmarkSet: one transaction per Set, versioned or not.
func BenchmarkSet(b *testing.B) {
	s := testSession(b)
	ctx := context.Background()
	mustCreate(b, s, "/n", nil, backend.Persistent)
	data := make([]byte, 100)
	b.ReportAllocs()
	v := int32(0)
	for b.Loop() {
		if _, err := s.Set(ctx, "/n", data, v); err != nil {
			b.Fatal(err)
		}
		v++
	}
}

// BenchmarkWatchUnderWrites: the time from a Set to the event of a GetW
// armed just before it, while another client writes other keys all along,
// as a lock directory sees under contention. A watch opened after its read
// from the read's revision + 1 is usually behind by then and waits for
// etcd's 100 ms catch-up tick; GetW opens its watch first (issue 12).
// Reports the median and p99 in ms.
func BenchmarkWatchUnderWrites(b *testing.B) {
	s := testSession(b)
	w := testSession(b, func(c *Config) { c.Namespace = s.c.ns })
	noise := testSession(b, func(c *Config) { c.Namespace = s.c.ns })
	ctx := context.Background()
	mustCreate(b, s, "/n", nil, backend.Persistent)
	mustCreate(b, s, "/noise", nil, backend.Persistent)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = noise.Set(ctx, "/noise", nil, backend.AnyVersion)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		_, _, ch, err := w.GetW(ctx, "/n")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := s.Set(ctx, "/n", nil, backend.AnyVersion); err != nil {
			b.Fatal(err)
		}
		if ev := <-ch; ev.Type != backend.EventDataChanged {
			b.Fatalf("event %+v", ev)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// BenchmarkSequentialCrowd (issue 12): n clients, each with a session of
// its own, create one sequential child under one parent at the same moment,
// b.N times. Reports the transactions sent per create ("tries/create": a
// constant would be linear work; the nested guesses keep it near log2(n),
// where a single compare-and-retry on the parent's counter made it grow
// with n) and the time for the whole crowd.
func BenchmarkSequentialCrowd(b *testing.B) {
	first := testSession(b, func(c *Config) { c.SessionTimeout = 10 * time.Second })
	mustCreate(b, first, "/crowd", nil, backend.Persistent)
	for _, n := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			sessions := make([]*Session, n)
			for i := range sessions {
				sessions[i] = testSession(b, func(c *Config) {
					c.Namespace = first.c.ns
					c.SessionTimeout = 10 * time.Second
					c.ReapInterval = -1
				})
			}
			var tries0 int64
			for _, s := range sessions {
				tries0 += s.c.seqTries.Load()
			}
			round := 0
			var total time.Duration
			for b.Loop() {
				round++
				dir := mustCreate(b, first, fmt.Sprintf("/crowd/%d-%d", n, round), nil, backend.Persistent)
				start := make(chan struct{})
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i, s := range sessions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = s.Create(context.Background(), dir+"/x-", nil, backend.EphemeralSequential)
					}()
				}
				began := time.Now()
				close(start)
				wg.Wait()
				total += time.Since(began)
				for i, err := range errs {
					if err != nil {
						b.Fatalf("client %d: %v", i, err)
					}
				}
			}
			var tries int64
			for _, s := range sessions {
				tries += s.c.seqTries.Load()
			}
			b.ReportMetric(float64(tries-tries0)/float64(n*round), "tries/create")
			b.ReportMetric(total.Seconds()/float64(round), "s/crowd")
		})
	}
}
