package election_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

// session opens a ZooKeeper session for the examples.
func session(ctx context.Context) backend.Session {
	c, err := zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// Run calls the function while this process leads; leaderCtx is cancelled
// the moment leadership is lost. With WithRequeue it competes again after.
func ExampleElection_Run() {
	ctx := context.Background()
	el, err := election.New(session(ctx), "/election/scheduler",
		election.WithValue([]byte("host-a:8080")), election.WithRequeue())
	if err != nil {
		log.Fatal(err)
	}
	err = el.Run(ctx, func(leaderCtx context.Context, term *election.Term) error {
		fmt.Println("leading with fencing token", term.Token())
		<-leaderCtx.Done() // do the leader's work until leadership ends
		return nil
	})
	log.Print(err)
}

// A latch stays in the election until closed; Await waits for leadership.
func ExampleLatch() {
	ctx := context.Background()
	l, err := election.NewLatch(session(ctx), "/election/indexer", election.WithValue([]byte("indexer-1")))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	term, err := l.Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Writes to ZooKeeper or etcd applied only while this term holds.
	if _, err := term.Guard(ctx, backend.SetOp{Path: "/indexer/state", Data: []byte("running"), Version: backend.AnyVersion}); err != nil {
		log.Print(err)
	}
	select {
	case <-term.Done():
		log.Print("no longer leader: ", term.Err())
	case <-time.After(time.Minute):
		_ = term.Resign(ctx) // hand over to the next candidate
	}
}

// Observe streams the leader; Leader reads it once.
func ExampleElection_Observe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	el, err := election.New(session(ctx), "/election/scheduler")
	if err != nil {
		log.Fatal(err)
	}
	for c := range el.Observe(ctx) {
		if c.Path == "" {
			fmt.Println("no leader")
			continue
		}
		fmt.Printf("leader %s (token %d)\n", c.Value, c.Token)
	}
}

// An active/standby pair in Hadoop HA's layout, fencing a previous active
// that died without cleaning up.
func ExampleActiveStandby() {
	ctx := context.Background()
	fence := func(ctx context.Context, previous []byte) error {
		fmt.Printf("fencing %s\n", previous) // e.g. tell it to stop, or cut its access
		return nil
	}
	a, err := election.NewActiveStandby(session(ctx), "/ha/namenode", fence,
		election.WithValue([]byte("nn1:8020")))
	if err != nil {
		log.Fatal(err)
	}
	err = a.Run(ctx, func(activeCtx context.Context, term *election.Term) error {
		fmt.Println("active, token", term.Token())
		<-activeCtx.Done()
		return nil
	})
	log.Print(err)
}
