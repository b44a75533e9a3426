package zk_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

// BenchmarkWatchTreeEvents: events per second through one WatchTree of /a
// while another session creates b.N nodes under /a in Multis of 64, on a
// persistent recursive watch and on the one-shot mirror (the fallback for
// ZooKeeper 3.5). The timer runs from the first write to the b.N-th
// NodeAdded, so the writes' round trips are in it, and the allocations
// count the writer's too (the same in both). reads/event is the reads the
// WatchTree made per event (persistent mode: one getData per created
// node; the one-shot mirror's reads are not counted).
func BenchmarkWatchTreeEvents(b *testing.B) {
	for _, mode := range []treeMode{persistentMode, oneShotMode} {
		b.Run(string(mode), func(b *testing.B) {
			cfg := testConfig(b)
			s := newSession(b, cfg)
			w := newSession(b, testConfigNS(b, cfg.Namespace))
			if mode == oneShotMode {
				zk.ForceOneShotTrees(w)
			}
			mustCreate(b, s, "/a", nil, backend.Persistent)
			ctx, cancel := context.WithCancel(context.Background())
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
			if got := zk.TreeMode(w); got != string(mode) {
				b.Fatalf("WatchTree ran as %s", got)
			}
			before := zk.TreeReadsOf(w)
			writeErr := make(chan error, 1)
			timeout := time.NewTimer(5 * time.Minute)
			defer timeout.Stop()
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				ops := make([]backend.Op, 0, 64)
				for i := 0; i < b.N; i += 64 {
					ops = ops[:0]
					for j := i; j < min(i+64, b.N); j++ {
						ops = append(ops, backend.CreateOp{Path: fmt.Sprintf("/a/k%07d", j), Data: []byte("v")})
					}
					if _, err := s.Multi(ctx, ops...); err != nil {
						writeErr <- err
						return
					}
				}
				writeErr <- nil
			}()
			for got := 0; got < b.N; {
				select {
				case ev := <-ch:
					switch ev.Type {
					case backend.NodeAdded:
						got++
					case backend.TreeEnded:
						b.Fatalf("the tree watch ended: %v", ev.Err)
					}
				case <-timeout.C:
					b.Fatal("the tree watch stalled")
				}
			}
			b.StopTimer()
			if err := <-writeErr; err != nil {
				b.Fatal(err)
			}
			after := zk.TreeReadsOf(w)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(after.Data+after.Lists+after.Light-before.Data-before.Lists-before.Light)/float64(b.N), "reads/event")
		})
	}
}
