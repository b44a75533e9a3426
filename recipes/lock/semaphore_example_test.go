package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// ExampleSemaphore lets at most three workers use a resource at once. On
// ZooKeeper, Curator's InterProcessSemaphoreV2 clients on the same path and
// with the same limit share the leases.
func ExampleSemaphore() {
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-semaphore", SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := client.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}

	sem, err := lock.NewSemaphore(session, "/semaphores/exporter", 3, lock.WithData([]byte("worker-1")))
	if err != nil {
		log.Fatal(err)
	}
	var leases []*lock.SemaphoreLease
	for range 3 {
		lease, err := sem.Acquire(ctx) // blocks until one of the 3 leases is ours
		if err != nil {
			log.Fatal(err)
		}
		leases = append(leases, lease)
	}
	holders, err := sem.Leases(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d of %d leases taken\n", len(holders), sem.MaxLeases())

	// A fourth would wait; TryAcquire does not.
	if _, err := sem.TryAcquire(ctx); errors.Is(err, lock.ErrLocked) {
		fmt.Println("TryAcquire: all leases taken")
	}

	// A holder checks Done before each piece of work: the lease can be lost.
	select {
	case <-leases[0].Done():
		log.Print("lease lost: ", leases[0].Err())
	default:
	}
	if err := leases[0].Release(ctx); err != nil {
		log.Fatal(err)
	}
	lease, err := sem.TryAcquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after a release, TryAcquire: got a lease")
	for _, l := range append(leases[1:], lease) {
		if err := l.Release(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// 3 of 3 leases taken
	// TryAcquire: all leases taken
	// after a release, TryAcquire: got a lease
}
