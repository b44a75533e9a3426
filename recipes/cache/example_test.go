package cache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
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

// Example keeps a local copy of a service registry: the children of
// /services/api, one per instance, with their addresses as data.
func Example() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-cache", SessionTimeout: 10 * time.Second})
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
	if _, err := session.Create(ctx, "/services/api/i1", []byte("10.0.0.1:80"), backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
		log.Fatal(err)
	}

	instances, err := cache.NewChildren(client, "/services/api")
	if err != nil {
		log.Fatal(err)
	}
	defer instances.Close()
	events := instances.Listen()
	defer events.Close()
	if err := instances.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// Reads never wait for the network.
	for _, n := range instances.List() {
		fmt.Printf("%s at %s\n", backend.Base(n.Path), n.Data)
	}

	if _, err := session.Create(ctx, "/services/api/i2", []byte("10.0.0.2:80"), backend.Ephemeral); err != nil {
		log.Fatal(err)
	}
	if err := session.Delete(ctx, "/services/api/i1", backend.AnyVersion); err != nil {
		log.Fatal(err)
	}
	// The stream: the state when the listener was made, Initialized, then
	// the changes, in order.
	for range 4 {
		ev, err := events.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Type {
		case cache.Added:
			fmt.Println(ev.Type, ev.Path, string(ev.New.Data))
		case cache.Removed:
			fmt.Println(ev.Type, ev.Path, "was", string(ev.Old.Data))
		default:
			fmt.Println(ev.Type)
		}
	}
	// Output:
	// i1 at 10.0.0.1:80
	// added /services/api/i1 10.0.0.1:80
	// initialized
	// added /services/api/i2 10.0.0.2:80
	// removed /services/api/i1 was 10.0.0.1:80
}
