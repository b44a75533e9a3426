package task

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// BenchmarkTasks measures task distribution end to end: one op is a run in
// which a producer submits benchN tasks, one at a time, while a master
// and N workers (capacity 1 each, every process on a session and client of
// its own) run them with a function that returns at once. Metrics:
//
//	tasks/s    tasks done per second, from the first Submit to the last
//	           task's Complete
//	p50-ms     submit-to-done latency of a task: from before its Submit to
//	p99-ms     its Complete returning, on this process's clock
//
// No library has a task recipe to run beside it (see the package doc);
// recipes/queue's benchmark is the nearest, for a queue's take-and-ack
// without a master in the path. Allocations are the whole process's: the
// master's caches, the workers and the producer.
func BenchmarkTasks(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		b.Run(srv.Name, func(b *testing.B) {
			eps := srv.Endpoints(b)
			for _, n := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) { runTasksBench(b, srv.Backend, eps, n) })
			}
		})
	}
}

const benchN = 200

func runTasksBench(b *testing.B, bc recipetest.Backend, eps []string, workers int) {
	b.ReportAllocs()
	var lat []time.Duration
	var window time.Duration
	for i := range b.N {
		ns := testenv.Namespace(b) + fmt.Sprintf("-%d", i)
		open := func() backend.Session {
			c := bc.Open(b, eps, ns, 10*time.Second)
			s, err := c.Session(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		m, err := NewMaster(open(), root)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = m.Run(ctx) })
		var mu sync.Mutex
		submitted := map[string]time.Time{}
		doneAt := map[string]time.Time{}
		all := make(chan struct{})
		for j := range workers {
			w, err := Register(ctx, open(), root, fmt.Sprintf("w%d", j))
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				defer w.Close()
				_ = w.Run(ctx, func(ctx context.Context, a *Assignment) ([]byte, error) { return nil, nil })
			})
			// Run completes the task after fn returns; the board's Wait
			// below sees it land.
		}
		bd, err := NewBoard(open(), root)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for j := range benchN {
			id := fmt.Sprintf("t%05d", j)
			mu.Lock()
			submitted[id] = time.Now()
			mu.Unlock()
			if _, err := bd.Submit(ctx, nil, ID(id)); err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				if _, err := bd.Wait(ctx, id); err != nil {
					return
				}
				mu.Lock()
				doneAt[id] = time.Now()
				if len(doneAt) == benchN {
					close(all)
				}
				mu.Unlock()
			})
		}
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatal("tasks not done within 5 minutes")
		}
		b.StopTimer()
		mu.Lock()
		last := start
		for id, t := range doneAt {
			lat = append(lat, t.Sub(submitted[id]))
			if t.After(last) {
				last = t
			}
		}
		mu.Unlock()
		window += last.Sub(start)
		cancel()
		wg.Wait()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(benchN*b.N)/window.Seconds(), "tasks/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
