package election_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

// newClient connects the examples to an etcd started inside the test
// binary (internal/devetcd, stopped by TestMain), so that they run with
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

// session returns c's session, waiting for it.
func session(ctx context.Context, c backend.Client) backend.Session {
	s, err := c.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// Run calls the function while this process leads; leaderCtx is cancelled
// the moment leadership is lost. When the function returns, Run resigns
// (with WithRequeue it would compete again).
func ExampleElection_Run() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient("/example-run")
	defer c.Close()
	el, err := election.New(session(ctx, c), "/election/scheduler", election.WithValue([]byte("host-a:8080")))
	if err != nil {
		log.Fatal(err)
	}
	err = el.Run(ctx, func(leaderCtx context.Context, term *election.Term) error {
		fmt.Println("leading; fencing token > 0:", term.Token() > 0)
		// The leader's work goes here, and stops when leaderCtx is done.
		return nil
	})
	fmt.Println("Run returned:", err)
	// Output:
	// leading; fencing token > 0: true
	// Run returned: <nil>
}

// A latch stays in the election until closed; Await waits for leadership.
// Closing the leader's latch hands leadership to the next, whose term has a
// larger token.
func ExampleLatch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient("/example-latch")
	defer c.Close()
	s := session(ctx, c)
	first, err := election.NewLatch(s, "/election/indexer", election.WithValue([]byte("indexer-1")))
	if err != nil {
		log.Fatal(err)
	}
	t1, err := first.Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	second, err := election.NewLatch(s, "/election/indexer", election.WithValue([]byte("indexer-2")))
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()
	fmt.Println("indexer-1 leads:", first.IsLeader(), "indexer-2 leads:", second.IsLeader())

	if err := first.Close(); err != nil { // step out: the next candidate leads
		log.Fatal(err)
	}
	t2, err := second.Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("indexer-2 leads:", second.IsLeader(), "with a larger token:", t2.Token() > t1.Token())
	// Output:
	// indexer-1 leads: true indexer-2 leads: false
	// indexer-2 leads: true with a larger token: true
}

// Observe streams the leader: the current one, then each change.
func ExampleElection_Observe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient("/example-observe")
	defer c.Close()
	s := session(ctx, c)
	candidate := func(name string) *election.Election {
		el, err := election.New(s, "/election/scheduler", election.WithValue([]byte(name)))
		if err != nil {
			log.Fatal(err)
		}
		return el
	}
	a, err := candidate("a").Campaign(ctx)
	if err != nil {
		log.Fatal(err)
	}
	bLeads := make(chan *election.Term, 1)
	b := candidate("b")
	go func() {
		t, err := b.Campaign(ctx)
		if err != nil {
			log.Fatal(err)
		}
		bLeads <- t
	}()

	obsCtx, stop := context.WithCancel(ctx)
	defer stop()
	leaders := candidate("observer").Observe(obsCtx)
	fmt.Printf("leader: %s\n", (<-leaders).Value)
	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	// b may not have queued yet when a resigned: the observer may report
	// no candidate before it reports b.
	for l := range leaders {
		if l.Path != "" {
			fmt.Printf("leader: %s\n", l.Value)
			break
		}
	}
	if err := (<-bLeads).Resign(ctx); err != nil {
		log.Fatal(err)
	}
	if l := <-leaders; l.Path == "" {
		fmt.Println("no leader")
	}
	// Output:
	// leader: a
	// leader: b
	// no leader
}

// An active/standby pair in Hadoop HA's layout. The first active dies
// without cleaning up (its session ends; its breadcrumb stays), so the
// next one fences it before it becomes active.
func ExampleActiveStandby() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fence := func(ctx context.Context, previous []byte) error {
		fmt.Printf("fencing %s\n", previous) // e.g. tell it to stop, or cut its access
		return nil
	}
	run := func(c backend.Client, name string, active func(context.Context)) error {
		a, err := election.NewActiveStandby(session(ctx, c), "/ha/namenode", fence, election.WithValue([]byte(name)))
		if err != nil {
			log.Fatal(err)
		}
		return a.Run(ctx, func(activeCtx context.Context, term *election.Term) error {
			fmt.Println(name, "is active")
			active(activeCtx)
			return nil
		})
	}

	nn1 := newClient("/example-ha")
	dead := make(chan error, 1)
	go func() {
		dead <- run(nn1, "nn1:8020", func(activeCtx context.Context) {
			nn1.Close() // the process dies: no graceful exit
			<-activeCtx.Done()
		})
	}()
	<-dead // nn1's Run ended with its session

	nn2 := newClient("/example-ha")
	defer nn2.Close()
	if err := run(nn2, "nn2:8020", func(context.Context) {}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// nn1:8020 is active
	// fencing nn1:8020
	// nn2:8020 is active
}
