package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// ExampleDiscovery registers two instances of a service as Curator
// x-discovery would, updates one, and picks instances with a round-robin
// Provider in another process, which stops giving an instance once it has
// been noted down twice.
func ExampleDiscovery() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	open := func() *etcd.Client {
		c, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-discovery", SessionTimeout: 10 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port := func(p int) *int { return &p }

	server, client := open(), open()
	defer server.Close()
	defer client.Close()
	servers, err := registry.NewDiscovery(server, "/services")
	if err != nil {
		log.Fatal(err)
	}
	defer servers.Close() // unregisters what it registered
	for _, id := range []string{"api-1", "api-2"} {
		if _, err := servers.Register(ctx, registry.Instance{Name: "api", ID: id, Address: "10.0.0.1", Port: port(8080)}); err != nil {
			log.Fatal(err)
		}
	}
	r, err := servers.Register(ctx, registry.Instance{Name: "api", ID: "api-3", Address: "10.0.0.3", Port: port(8080)})
	if err != nil {
		log.Fatal(err)
	}
	moved := r.Instance()
	moved.Port = port(9090)
	moved.Payload = json.RawMessage(`{"@class":"java.util.LinkedHashMap","zone":"b"}`)
	if err := r.Update(ctx, moved); err != nil { // Curator's updateService
		log.Fatal(err)
	}

	clients, err := registry.NewDiscovery(client, "/services")
	if err != nil {
		log.Fatal(err)
	}
	defer clients.Close()
	p, err := clients.Provider("api", registry.WithDownPolicy(time.Minute, 2))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	for range 4 {
		i, err := p.Instance()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s at %s:%d", i.ID, i.Address, *i.Port)
		if i.Payload != nil {
			fmt.Printf(" %s", i.Payload)
		}
		fmt.Println()
	}
	down, _ := p.Instance()
	p.NoteError(down) // calls to it failed twice: left out for a minute
	p.NoteError(down)
	fmt.Println("down:", down.ID)
	for _, i := range p.Instances() {
		fmt.Println("up:", i.ID)
	}

	if err := r.Close(); err != nil { // unregister api-3
		log.Fatal(err)
	}
	for {
		changed := p.Changes() // before reading: no change is missed
		if len(p.Instances()) == 1 {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			log.Fatal(ctx.Err())
		}
	}
	i, _ := p.Instance()
	fmt.Println("left:", i.ID)
	p.NoteError(i)
	p.NoteError(i)
	_, err = p.Instance()
	fmt.Println(errors.Is(err, registry.ErrNoInstances))
	// Output:
	// api-1 at 10.0.0.1:8080
	// api-2 at 10.0.0.1:8080
	// api-3 at 10.0.0.3:9090 {"@class":"java.util.LinkedHashMap","zone":"b"}
	// api-1 at 10.0.0.1:8080
	// down: api-2
	// up: api-1
	// up: api-3
	// left: api-1
	// true
}
