package zk_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// The benchmarks measure round trips to the test server through the raw
// *Session (no retry wrapper).

func BenchmarkCreateDelete(b *testing.B) {
	s := newSession(b, testConfig(b))
	ctx := context.Background()
	data := []byte("benchmark")
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.Create(ctx, "/n", data, backend.Persistent)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Delete(ctx, p, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := newSession(b, testConfig(b))
	ctx := context.Background()
	mustCreate(b, s, "/n", make([]byte, 1024), backend.Persistent)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Get(ctx, "/n"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChildren(b *testing.B) {
	s := newSession(b, testConfig(b))
	ctx := context.Background()
	mustCreate(b, s, "/dir", nil, backend.Persistent)
	ops := make([]backend.Op, 100)
	for i := range ops {
		ops[i] = backend.CreateOp{Path: fmt.Sprintf("/dir/child-%03d", i)}
	}
	if _, err := s.Multi(ctx, ops...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		kids, _, err := s.Children(ctx, "/dir")
		if err != nil || len(kids) != len(ops) {
			b.Fatalf("Children = %d, %v", len(kids), err)
		}
	}
}
