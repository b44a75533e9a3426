package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// exampleEndpoints returns the etcd the examples run against: one started
// inside the test binary (internal/devetcd, stopped by TestMain), so that
// they run with nothing installed. In your code, list your cluster's
// members: []string{"10.0.0.1:2379", ...}.
func exampleEndpoints() []string {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	return eps
}

// Example takes a lock, does guarded work while it holds it, and watches
// for its loss.
func Example() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...});
	// the rest is the same.
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example", SessionTimeout: 10 * time.Second})
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
	// The node the guarded write below updates.
	if _, err := session.Create(ctx, "/orders/owner", nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil && !errors.Is(err, backend.ErrNodeExists) {
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
	fmt.Println("held")

	// Writes to the backend are applied only while the lock node exists.
	if _, err := lease.Guard(ctx, backend.SetOp{Path: "/orders/owner", Data: []byte("worker-1"), Version: backend.AnyVersion}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("guarded write applied")
	// Any other resource gets the token and refuses lower ones.
	fmt.Println("token > 0:", lease.Token() > 0)

	// A long-running holder stops when Done is closed; Err says why.
	select {
	case <-lease.Done():
		log.Print("lock lost: ", lease.Err())
	default:
		fmt.Println("still held")
	}
	if err := lease.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("unlocked")
	// Output:
	// held
	// guarded write applied
	// token > 0: true
	// still held
	// unlocked
}

// ExampleMutex shows two workers taking the same lock in turn: the second
// waits for the first, and its fencing token is larger. Each worker would
// be a process of its own; here they are two handles on one session.
func ExampleMutex() {
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-mutex", SessionTimeout: 10 * time.Second})
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

	first, err := lock.New(session, "/locks/report", lock.WithData([]byte("worker-1")))
	if err != nil {
		log.Fatal(err)
	}
	second, err := lock.New(session, "/locks/report", lock.WithData([]byte("worker-2")))
	if err != nil {
		log.Fatal(err)
	}

	lease1, err := first.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker-1 holds the lock")

	// TryLock does not wait: the lock is held, and the error names the holder.
	if _, err := second.TryLock(ctx); errors.Is(err, lock.ErrLocked) {
		fmt.Println("worker-2 TryLock: locked")
	}

	// Lock waits until worker-1 unlocks.
	type grant struct {
		lease *lock.Lease
		err   error
	}
	granted := make(chan grant, 1)
	go func() {
		l, err := second.Lock(ctx)
		granted <- grant{l, err}
	}()
	if err := lease1.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker-1 unlocked")
	g := <-granted
	if g.err != nil {
		log.Fatal(g.err)
	}
	lease2 := g.lease
	fmt.Println("worker-2 holds the lock")
	fmt.Println("worker-2's token is larger:", lease2.Token() > lease1.Token())
	if err := lease2.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// worker-1 holds the lock
	// worker-2 TryLock: locked
	// worker-1 unlocked
	// worker-2 holds the lock
	// worker-2's token is larger: true
}

// ExampleRWMutex shows readers sharing a lock that a writer holds alone.
func ExampleRWMutex() {
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-rwmutex", SessionTimeout: 10 * time.Second})
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

	readers, err := lock.NewRWMutex(session, "/locks/catalog")
	if err != nil {
		log.Fatal(err)
	}
	writer, err := lock.NewRWMutex(session, "/locks/catalog")
	if err != nil {
		log.Fatal(err)
	}

	r1, err := readers.RLock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r2, err := readers.RLock(ctx) // readers share the lock
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("two readers hold the lock")

	if _, err := writer.TryLock(ctx); errors.Is(err, lock.ErrLocked) {
		fmt.Println("writer TryLock: locked")
	}
	for _, r := range []*lock.Lease{r1, r2} {
		if err := r.Unlock(ctx); err != nil {
			log.Fatal(err)
		}
	}
	w, err := writer.Lock(ctx) // exclusive; its Token is a fencing token
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("writer holds the lock alone, token > 0:", w.Token() > 0)
	if err := w.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// two readers hold the lock
	// writer TryLock: locked
	// writer holds the lock alone, token > 0: true
}
