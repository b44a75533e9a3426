package lock_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// Example takes a lock on ZooKeeper, does guarded work while it holds it,
// and stops when the lock is lost. It needs a server, so it has no output
// to check.
func Example() {
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

	m, err := lock.New(session, "/locks/orders", lock.WithData([]byte("worker-1")))
	if err != nil {
		log.Fatal(err)
	}
	lease, err := m.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Unlock(context.Background())

	// Writes to the backend are applied only while the lock node exists.
	if _, err := lease.Guard(ctx, backend.SetOp{Path: "/orders/owner", Data: []byte("worker-1"), Version: backend.AnyVersion}); err != nil {
		log.Print(err)
	}
	// Any other resource gets the token and refuses lower ones.
	fmt.Println("fencing token:", lease.Token())

	select {
	case <-lease.Done():
		log.Print("lock lost: ", lease.Err())
	case <-ctx.Done():
	}
}
