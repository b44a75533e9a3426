package queue_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
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

// Example puts three jobs, takes them in priority order, records each
// job's effect only while the job is still this worker's (Guard), and
// acknowledges it. One job fails once and is given back (Nack): it comes
// back with its attempt counted.
func Example() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	client, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-queue", SessionTimeout: 10 * time.Second})
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

	jobs, err := queue.New(session, "/jobs")
	if err != nil {
		log.Fatal(err)
	}
	defer jobs.Close()
	for _, j := range []struct {
		name string
		prio int
	}{{"resize photo", 100}, {"send invoice", 10}, {"flaky export", 50}} {
		if _, err := jobs.Put(ctx, []byte(j.name), queue.Priority(j.prio)); err != nil {
			log.Fatal(err)
		}
	}

	failed := false
	for range 4 {
		job, err := jobs.Take(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if string(job.Data) == "flaky export" && !failed {
			failed = true
			fmt.Printf("%s: attempt %d failed, given back\n", job.Data, job.Attempt)
			if err := job.Nack(ctx, queue.Reason("disk full")); err != nil {
				log.Fatal(err)
			}
			continue
		}
		// The effect lands only if no other worker can have the job now.
		effect := backend.CreateOp{Path: "/done-" + job.ID, Data: job.Data, Mode: backend.Persistent}
		if _, err := job.Guard(ctx, effect); err != nil {
			log.Fatal(err)
		}
		if err := job.Ack(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: done on attempt %d\n", job.Data, job.Attempt)
	}
	n, err := jobs.Len(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("left:", n)
	// Output:
	// send invoice: done on attempt 1
	// flaky export: attempt 1 failed, given back
	// flaky export: done on attempt 2
	// resize photo: done on attempt 1
	// left: 0
}
