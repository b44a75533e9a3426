package counter_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/counter"
)

// ExampleIDs hands out order numbers from two IDs values, as two services
// would: each writes only its own node, and every ID is larger than the
// ones handed out before it, by either. A Block reserves IDs for a batch
// in one write.
func ExampleIDs() {
	// The example's etcd runs inside the test binary; list your cluster's
	// members instead. On ZooKeeper: zk.New(zk.Config{Servers: ...}).
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: "/example-ids", SessionTimeout: 10 * time.Second})
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

	web, err := counter.NewIDs(session, "/orders/ids")
	if err != nil {
		log.Fatal(err)
	}
	defer web.Close()
	batch, err := counter.NewIDs(session, "/orders/ids")
	if err != nil {
		log.Fatal(err)
	}
	defer batch.Close()

	var last int64
	increasing := true
	for i := range 6 {
		g := web
		if i%2 == 1 {
			g = batch
		}
		id, err := g.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		increasing = increasing && id > last
		last = id
	}
	fmt.Println("six IDs, each larger than the last:", increasing)

	block, err := batch.Block(ctx, 500)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("a block of", block.N, "IDs, all above them:", block.First > last, block.Contains(block.First+499))

	nodes, _, err := session.Children(ctx, "/orders/ids")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("nodes written:", len(nodes))
	// Output:
	// six IDs, each larger than the last: true
	// a block of 500 IDs, all above them: true true
	// nodes written: 2
}

// ExampleNames hands out worker names that live as long as the session
// (WithEphemeral), and orders names across ZooKeeper's 32-bit wrap.
func ExampleNames() {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	// A namespace of its own, so the names start at 0 whenever it runs.
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: "/example-names-" + backend.NewGUID()[:8], SessionTimeout: 10 * time.Second})
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

	workers, err := counter.NewNames(session, "/workers", "worker-", counter.WithEphemeral())
	if err != nil {
		log.Fatal(err)
	}
	var names []counter.Name
	for range 3 {
		n, err := workers.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		names = append(names, n)
		fmt.Println(n, n.Seq)
	}
	if err := workers.Release(ctx, names[1]); err != nil {
		log.Fatal(err)
	}

	// Past 2147483647 ZooKeeper prints the counter negative; CompareNames
	// still puts the names in creation order.
	fmt.Println(counter.CompareNames("worker-2147483647", "worker--2147483648"))
	// Output:
	// worker-0000000000 0
	// worker-0000000001 1
	// worker-0000000002 2
	// -1
}
