package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
)

// exampleSession connects to an etcd started inside the test binary
// (internal/devetcd), so the examples run with nothing installed. In your
// code, list your cluster's members; zk.New works the same way.
func exampleSession(ctx context.Context, namespace string) (backend.Client, backend.Session) {
	eps, err := devetcd.SharedEndpoints()
	if err != nil {
		log.Fatal(err)
	}
	c, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: namespace})
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return c, s
}

// Stat.Mode says how a node lives: exactly where the backend keeps it
// (Capabilities.ExactMode, etcd), else only ephemeral or persistent.
func ExampleStat_mode() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, s := exampleSession(ctx, "/example-mode")
	defer c.Close()
	if _, err := s.Create(ctx, "/jobs", nil, backend.PersistentTTL, backend.WithTTL(time.Hour)); err != nil {
		log.Fatal(err)
	}
	_, st, err := s.Get(ctx, "/jobs")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exact:", s.Capabilities().ExactMode)
	fmt.Println("TTL node:", st.Mode.IsTTL(), "for", st.TTL)
	// Output:
	// exact: true
	// TTL node: true for 1h0m0s
}

// GetACL reads a node's access list where the backend has per-node ACLs
// (ZooKeeper); elsewhere it says so with ErrUnsupported.
func ExampleGetACL() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, s := exampleSession(ctx, "/example-acl")
	defer c.Close()
	acl, _, err := backend.GetACL(ctx, s, "/")
	switch {
	case errors.Is(err, backend.ErrUnsupported):
		fmt.Println(s.Capabilities().Backend, "has no per-node ACLs")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(acl)
	}
	// Output:
	// etcd has no per-node ACLs
}
