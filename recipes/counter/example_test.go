package counter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/counter"
)

// openExample opens a session on the example's etcd, which runs inside the
// test binary (internal/devetcd); list your cluster's members instead. On
// ZooKeeper: zk.New(zk.Config{Servers: ...}).
func openExample(ctx context.Context, namespace string) (backend.Session, func()) {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: namespace, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	session, err := client.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return session, func() { _ = client.Close() }
}

// ExampleAtomic counts page views in a node that Curator's
// DistributedAtomicLong can share (CuratorInt64, the default). Every write
// returns the value before and after it; a CompareAndSet that finds
// another value says which.
func ExampleAtomic() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, done := openExample(ctx, "/example-atomic")
	defer done()

	views, err := counter.NewAtomic(session, "/stats/views")
	if err != nil {
		log.Fatal(err)
	}
	defer views.Close()
	if created, err := views.Initialize(ctx, 100); err != nil || !created {
		log.Fatal(created, err)
	}
	c, err := views.Add(ctx, 5)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("add 5: %d -> %d\n", c.Pre, c.Post)
	if c, err = views.Increment(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("increment: %d -> %d\n", c.Pre, c.Post)
	var mismatch *counter.MismatchError
	if _, err := views.CompareAndSet(ctx, 100, 0); errors.As(err, &mismatch) {
		fmt.Printf("reset refused: the value is %d\n", mismatch.Current)
	}
	v, err := views.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("views:", v.N)
	// Output:
	// add 5: 100 -> 105
	// increment: 105 -> 106
	// reset refused: the value is 106
	// views: 106
}

// ExampleShared keeps a shared limit two services agree on, in Curator
// SharedCount's format (CuratorInt32): one sets it, the other hears of it.
// A TrySet based on a value that has changed since is refused.
func ExampleShared() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, done := openExample(ctx, "/example-shared")
	defer done()

	open := func() *counter.Shared {
		c, err := counter.NewShared(session, "/config/limit", 10)
		if err != nil {
			log.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			log.Fatal(err)
		}
		return c
	}
	admin, worker := open(), open()
	defer admin.Close()
	defer worker.Close()
	heard := worker.Listen()
	defer heard.Close()

	before := admin.Get()
	fmt.Println("limit:", before.N)
	if _, err := admin.Set(ctx, 20); err != nil {
		log.Fatal(err)
	}
	v, err := heard.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker heard:", v.N)
	_, ok, err := worker.TrySet(ctx, before, 15)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stale try-set landed:", ok)
	// Output:
	// limit: 10
	// worker heard: 20
	// stale try-set landed: false
}
