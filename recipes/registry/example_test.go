package registry_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// exampleEndpoints returns the etcd the examples run against: one started
// inside the test binary (internal/devetcd, stopped by TestMain). In your
// code, list your cluster's members.
func exampleEndpoints() []string {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	return eps
}

// ExampleGroup joins two workers to a group, one of them in kazoo Party's
// layout, updates one's data, and lists the group as a third process
// would.
func ExampleGroup() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	open := func() *etcd.Client {
		c, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-registry", SessionTimeout: 10 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c1, c2, c3 := open(), open(), open()
	defer c1.Close()
	defer c2.Close()
	defer c3.Close()
	curator, err := registry.NewGroup(c1, "/workers")
	if err != nil {
		log.Fatal(err)
	}
	defer curator.Close()
	kazoo, err := registry.NewGroup(c2, "/workers", registry.WithLayout(registry.KazooParty))
	if err != nil {
		log.Fatal(err)
	}
	defer kazoo.Close()

	w1, err := curator.Join(ctx, "worker-1", []byte("10.0.0.1:8080"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := kazoo.Join(ctx, "worker-2", nil); err != nil {
		log.Fatal(err)
	}
	if err := w1.Update(ctx, []byte("10.0.0.1:9090")); err != nil {
		log.Fatal(err)
	}

	watcher, err := registry.NewGroup(c3, "/workers")
	if err != nil {
		log.Fatal(err)
	}
	defer watcher.Close()
	if err := watcher.Start(ctx); err != nil {
		log.Fatal(err)
	}
	for _, m := range watcher.Members() {
		fmt.Printf("%s (%v): %s\n", m.ID, m.Layout, m.Data)
	}
	// Output:
	// worker-1 (curator): 10.0.0.1:9090
	// worker-2 (kazoo-party): worker-2
}
