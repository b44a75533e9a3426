package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// BenchmarkGroupMembers measures one Group.Members call on a service of n
// Curator instances (1,000 and 10,000), made as in TestLargeRegistry, and
// the Group's Start on it (start-ms, once per run): Members copies, parses
// and sorts the whole group on every call, so a caller polling a large
// group pays for that each time.
func BenchmarkGroupMembers(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		for _, n := range []int{1_000, 10_000} {
			b.Run(fmt.Sprintf("%s/instances=%d", srv.Name, n), func(b *testing.B) { benchMembers(b, srv, n) })
		}
	}
}

func benchMembers(b *testing.B, srv recipetest.BenchServer, n int) {
	e := &env{Backend: srv.Backend, Endpoints: srv.Endpoints(b), Namespace: testenv.Namespace(b), Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel) // after the clean-up below
	admin := e.Session(b)
	const dir = "/services/bench"
	if err := backend.CreateParents(ctx, admin, dir+"/x", backend.Persistent); err != nil {
		b.Fatal(err)
	}
	workers := 4
	if srv.Kind == "etcd" {
		workers = 1 // see TestLargeRegistry
	}
	batch := 500
	if srv.Kind == "etcd" {
		batch = 60
	}
	b.Cleanup(func() {
		kids, _, err := admin.Children(ctx, dir)
		if err == nil {
			err = inBatches(len(kids), batch, workers, func(from, to int) error {
				ops := make([]backend.Op, 0, to-from)
				for _, k := range kids[from:to] {
					ops = append(ops, backend.DeleteOp{Path: backend.Join(dir, k), Version: backend.AnyVersion})
				}
				_, err := admin.Multi(ctx, ops...)
				return err
			})
		}
		if err == nil {
			err = backend.DeleteAll(ctx, admin, "/services")
		}
		if err != nil {
			b.Errorf("clean-up: %v", err)
		}
	})
	err := inBatches(n, batch, workers, func(from, to int) error {
		ops := make([]backend.Op, 0, to-from)
		for i := from; i < to; i++ {
			ops = append(ops, backend.CreateOp{Path: backend.Join(dir, instanceID(i)), Data: instanceData(b, i), Mode: backend.Persistent})
		}
		_, err := admin.Multi(ctx, ops...)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewGroup(newClient(b, e), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	began := time.Now()
	if err := g.Start(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Since(began)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if got := len(g.Members()); got != n {
			b.Fatalf("Members: %d, want %d", got, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(start.Milliseconds()), "start-ms")
}
