package config_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/config"
)

// ExampleCenter publishes Dubbo's global configuration, changes it with a
// ticket as Dubbo's publishConfigCas does (a stale ticket is refused),
// reads it, lists its history and rolls it back.
func ExampleCenter() {
	eps, err := devetcd.SharedEndpoints() // in your code, your cluster's members
	if err != nil {
		log.Fatal(err)
	}
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: "/example-config-center", SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	center, err := config.New(client, config.WithAuthor("ops"), config.WithHistory(5))
	if err != nil {
		log.Fatal(err)
	}
	defer center.Close()
	key := config.DubboPath("", "dubbo.properties") // /dubbo/config/dubbo/dubbo.properties
	if err := center.Delete(ctx, key); err != nil { // a clean start for the example
		log.Fatal(err)
	}

	if _, err := center.Publish(ctx, key, []byte("dubbo.protocol.port=20880\n")); err != nil {
		log.Fatal(err)
	}
	_, ticket, err := center.Read(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := center.CompareAndPublish(ctx, key, []byte("dubbo.protocol.port=20881\n"), ticket); err != nil {
		log.Fatal(err)
	}
	_, err = center.CompareAndPublish(ctx, key, []byte("dubbo.protocol.port=1\n"), ticket) // the same ticket again
	fmt.Println("stale ticket refused:", errors.Is(err, config.ErrConflict))

	value, ticket, err := center.Read(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s at ticket %v: %q\n", key, ticket, value)

	if _, err := center.Rollback(ctx, key, 0); err != nil {
		log.Fatal(err)
	}
	history, err := center.History(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range history {
		fmt.Printf("version %d by %s: %q (rollback of %d)\n", r.Version, r.Author, r.Value, r.RollbackOf)
	}
	// Output:
	// stale ticket refused: true
	// /dubbo/config/dubbo/dubbo.properties at ticket 1: "dubbo.protocol.port=20881\n"
	// version 0 by ops: "dubbo.protocol.port=20880\n" (rollback of -1)
	// version 1 by ops: "dubbo.protocol.port=20881\n" (rollback of -1)
	// version 2 by ops: "dubbo.protocol.port=20880\n" (rollback of 0)
}
