package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// ExampleRegisterHive registers two HiveServer2 servers of two versions,
// one publishing its configs, lists them, drains the older version as
// "hiveserver2 --deregister 3.1.3" does, waits for that server to notice,
// and picks a server as a JDBC client would.
func ExampleRegisterHive() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	open := func() *etcd.Client {
		c, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-hive", SessionTimeout: 4 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c1, c2, admin := open(), open(), open()
	defer c1.Close()
	defer c2.Close()
	defer admin.Close()

	old, err := registry.RegisterHive(ctx, c1, "/hiveserver2", "hs2-a.example.com", 10000, "3.1.3", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer old.Close()
	conf := map[string]string{"hive.server2.authentication": "NONE"}
	cur, err := registry.RegisterHive(ctx, c2, "/hiveserver2", "hs2-b.example.com", 10000, "4.0.1", conf)
	if err != nil {
		log.Fatal(err)
	}
	defer cur.Close()

	s, err := admin.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	servers, err := registry.HiveServers(ctx, s, "/hiveserver2")
	if err != nil {
		log.Fatal(err)
	}
	for _, hs := range servers {
		fmt.Printf("%s:%d version %s\n", hs.Host, hs.Port, hs.Version)
	}

	n, err := registry.DrainHive(ctx, s, "/hiveserver2", "3.1.3")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("drained:", n)
	select {
	case <-old.Done():
		fmt.Println("3.1.3 server deregistered:", errors.Is(old.Err(), registry.ErrDeregistered))
	case <-ctx.Done():
		log.Fatal(ctx.Err())
	}

	host, port, published, err := registry.PickHive(ctx, s, "/hiveserver2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("connect to %s:%d (authentication %s)\n", host, port, published["hive.server2.authentication"])
	// Output:
	// hs2-a.example.com:10000 version 3.1.3
	// hs2-b.example.com:10000 version 4.0.1
	// drained: 1
	// 3.1.3 server deregistered: true
	// connect to hs2-b.example.com:10000 (authentication NONE)
}
