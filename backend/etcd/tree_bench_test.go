package etcd

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// BenchmarkWatchTreeEvents: events per second through one WatchTree of /a
// catching up on b.N creates under /a, alone ("a"), interleaved with as
// many creates under /b at the same depth ("a+b": the watch receives those
// too and filters them out on the client), and interleaved with as many
// creates deeper under /b while the watch is one level deep
// ("a+deep-b/depth=1": those are outside its range and never received);
// each with the level watches (levels/, etcd 3.6 and later) and with the
// single range of the depths (range/). The writes are raw etcd
// transactions of 64 data keys each, made before the timer starts; the
// watch starts from the revision before them, so what is timed, and what
// the allocations count, is the watch alone: etcd's replay, clientv3, and
// the backend's filtering and events. received/event is the etcd events
// the watch took in per tree event it sent.
func BenchmarkWatchTreeEvents(b *testing.B) {
	for _, mode := range []string{"levels", "range"} {
		for _, bc := range []struct {
			name  string
			noise string // where the other writer writes; "" none
			depth int
		}{{"a", "", -1}, {"a+b", "/b", -1}, {"a+deep-b/depth=1", "/b/x/y", 1}} {
			b.Run(mode+"/"+bc.name, func(b *testing.B) {
				s := testSession(b)
				mustCreate(b, s, "/a", nil, backend.Persistent)
				mustCreate(b, s, "/b/x/y", nil, backend.Persistent, backend.WithParents(backend.Persistent))
				m, rev, err := s.c.listTree(tctx(b), s.c.abs("/a"), bc.depth)
				if err != nil {
					b.Fatal(err)
				}
				put := func(dir string, from, n int) {
					ops := make([]clientv3.Op, 0, n)
					for i := from; i < from+n; i++ {
						ops = append(ops, clientv3.OpPut(dataKey(s.c.abs(fmt.Sprintf("%s/k%07d", dir, i))), "v"))
					}
					if _, err := s.c.cli.Txn(tctx(b)).Then(ops...).Commit(); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < b.N; i += 64 {
					n := min(64, b.N-i)
					put("/a", i, n)
					if bc.noise != "" {
						put(bc.noise, i, n)
					}
				}
				var received atomic.Int64
				out := make(chan backend.TreeEvent, 16)
				ctx, cancel := context.WithCancel(context.Background())
				tw := &treeWatch{s: s, ctx: ctx, out: out, m: m, opts: backend.NewTreeOptions(backend.TreeDepth(bc.depth)),
					hooks: &treeHooks{received: func(*clientv3.Event) { received.Add(1) }, singleRange: mode == "range"}}
				if mode == "levels" && !tw.levelsSupported() {
					b.Skip("the server is older than etcd 3.6: no level watches")
				}
				done := make(chan struct{})
				timeout := time.NewTimer(5 * time.Minute)
				defer timeout.Stop()
				b.ReportAllocs()
				b.ResetTimer()
				go func() {
					defer close(done)
					tw.run(rev)
				}()
				for got := 0; got < b.N; {
					select {
					case ev := <-out:
						if ev.Type == backend.NodeAdded && ev.Path != "/a" {
							got++
						}
					case <-timeout.C:
						b.Fatal("the tree watch stalled")
					}
				}
				b.StopTimer()
				cancel()
				<-done
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(received.Load())/float64(b.N), "received/event")
			})
		}
	}
}

// BenchmarkWatchTreeLatency: one Set under /a, then wait for its
// NodeUpdated from a WatchTree of /a: a write's round trip plus the time
// its event takes to reach the reader, with the level watches (which wait
// for a progress notification before they let an event through) and with
// the single range.
func BenchmarkWatchTreeLatency(b *testing.B) {
	for _, mode := range []string{"levels", "range"} {
		b.Run(mode, func(b *testing.B) {
			s := testSession(b)
			w := testSession(b, func(c *Config) { c.Namespace = s.c.ns })
			mustCreate(b, s, "/a", nil, backend.Persistent)
			mustCreate(b, s, "/a/n", nil, backend.Persistent)
			h := &treeHooks{singleRange: mode == "range"}
			if tw := (&treeWatch{s: w, ctx: tctx(b), hooks: h}); mode == "levels" && !tw.levelsSupported() {
				b.Skip("the server is older than etcd 3.6: no level watches")
			}
			ctx, cancel := context.WithCancel(withTreeHooks(context.Background(), h))
			defer cancel()
			ch, err := w.WatchTree(ctx, "/a")
			if err != nil {
				b.Fatal(err)
			}
			for ev := range ch {
				if ev.Type == backend.TreeInitialized {
					break
				}
			}
			timeout := time.NewTimer(time.Minute)
			defer timeout.Stop()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Set(ctx, "/a/n", []byte("x"), backend.AnyVersion); err != nil {
					b.Fatal(err)
				}
				select {
				case <-ch:
				case <-timeout.C:
					b.Fatal("no event within a minute")
				}
			}
			b.StopTimer()
			cancel()
			for range ch {
			}
		})
	}
}
