package lock_test

import (
	"context"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// ExampleSemaphore lets at most three workers use a resource at once, on
// the same path and with the same limit as Curator's InterProcessSemaphoreV2
// clients would. It needs a server, so it has no output to check.
func ExampleSemaphore() {
	client, err := zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, SessionTimeout: 10 * time.Second})
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
	lease, err := sem.Acquire(ctx) // blocks until one of the 3 leases is ours
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release(context.Background())

	holders, err := sem.Leases(ctx)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d of %d leases taken", len(holders), sem.MaxLeases())

	select {
	case <-lease.Done():
		log.Print("lease lost: ", lease.Err())
	case <-ctx.Done():
	}
}
