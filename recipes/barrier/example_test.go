package barrier_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/barrier"
)

// exampleSession opens a session on the etcd the examples run against: one
// started inside the test binary (internal/devetcd, stopped by TestMain).
// In your code, list your cluster's members; on ZooKeeper use
// zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
func exampleSession(ctx context.Context, namespace string) (backend.Session, func()) {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: namespace, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	s, err := client.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { _ = client.Close() }
}

// ExampleBarrier holds workers at a barrier until a coordinator removes it.
func ExampleBarrier() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, done := exampleSession(ctx, "/example-barrier")
	defer done()

	gate, err := barrier.New(s, "/deploy/gate")
	if err != nil {
		log.Fatal(err)
	}
	if err := gate.Set(ctx); err != nil {
		log.Fatal(err)
	}
	set, _ := gate.IsSet(ctx)
	fmt.Println("gate set:", set)

	waited := make(chan error, 1)
	go func() { waited <- gate.Wait(ctx) }() // a worker, blocked until the gate goes

	if err := gate.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker passed:", <-waited == nil)
	// Output:
	// gate set: true
	// worker passed: true
}

// ExampleDoubleBarrier runs three members through a double barrier: none
// computes before all three are in, none goes on before all three are out.
func ExampleDoubleBarrier() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	entered := 0
	for i := range n {
		// Each member has a session of its own, as separate processes would.
		s, done := exampleSession(ctx, "/example-double")
		defer done()
		d, err := barrier.NewDouble(s, "/round", n, barrier.WithMemberName(fmt.Sprintf("member-%d", i)))
		if err != nil {
			log.Fatal(err)
		}
		wg.Go(func() {
			if err := d.Enter(ctx); err != nil {
				log.Fatal(err)
			}
			mu.Lock()
			entered++
			mu.Unlock()
			// ... compute ...
			if err := d.Leave(ctx); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	fmt.Println("members through both barriers:", entered)
	// Output:
	// members through both barriers: 3
}
