package partition_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/partition"
)

// newClient connects the example to an etcd started inside the test
// binary (internal/devetcd, stopped by TestMain), so that it runs with
// nothing installed. In your code, list your cluster's members; on
// ZooKeeper use zk.New(zk.Config{Servers: ...}): the rest is the same.
func newClient(namespace string) backend.Client {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	c, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: namespace, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// Two members share four partitions: the first alone claims all four;
// when the second joins, the first revokes two (its work on them stops
// before their owner nodes go) and the second claims them.
func ExamplePartitioner_Run() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c1, c2 := newClient("/example-partition"), newClient("/example-partition")
	defer c1.Close()
	defer c2.Close()
	s1, err := c1.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	s2, err := c2.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	items := []string{"orders-0", "orders-1", "orders-2", "orders-3"}
	events := make(chan string, 64)
	handler := func(member string) partition.Handler {
		return partition.Funcs{
			OnAssigned: func(_ context.Context, claims []*partition.Claim) {
				for _, c := range claims {
					events <- fmt.Sprintf("%s assigned %s (token > 0: %v)", member, c.Item(), c.Token() > 0)
				}
			},
			OnRevoked: func(_ context.Context, claims []*partition.Claim) {
				for _, c := range claims {
					events <- fmt.Sprintf("%s revoked %s", member, c.Item())
				}
			},
		}
	}
	run := func(s backend.Session, member string) (stop func()) {
		p, err := partition.New(s, "/groups/orders", partition.Member(member), partition.Items(items...), partition.WithStrategy(partition.Range))
		if err != nil {
			log.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = p.Run(rctx, handler(member)) }()
		return func() { cancel(); <-done }
	}
	show := func(n int) {
		for range n {
			fmt.Println(<-events)
		}
	}
	stopA := run(s1, "a")
	show(4)
	stopB := run(s2, "b")
	show(4)
	stopB()
	stopA()
	// Output:
	// a assigned orders-0 (token > 0: true)
	// a assigned orders-1 (token > 0: true)
	// a assigned orders-2 (token > 0: true)
	// a assigned orders-3 (token > 0: true)
	// a revoked orders-2
	// a revoked orders-3
	// b assigned orders-2 (token > 0: true)
	// b assigned orders-3 (token > 0: true)
}
