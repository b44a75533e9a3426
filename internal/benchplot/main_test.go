package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

const sample = `goos: linux
pkg: github.com/zkrecipes/zkrecipes/recipes/lock
BenchmarkMutexContended/zk/n=8/round=1/ours-2    	     300	   1230900 ns/op	       800.0 cycles/s	         1.0 handoff-p50-ms	         3.0 handoff-p99-ms	    14015 B/op	     253 allocs/op
BenchmarkMutexContended/zk/n=8/round=1/kazoo-Lock-2    	     300	   4046231 ns/op	       250.0 cycles/s	         3.0 handoff-p50-ms	        15.0 handoff-p99-ms	       3 B/op	       0 allocs/op
BenchmarkMutexContended/zk/n=8/round=2/ours-2    	     300	   1230900 ns/op	       900.0 cycles/s	         1.2 handoff-p50-ms	         3.3 handoff-p99-ms	    14015 B/op	     253 allocs/op
BenchmarkMutexContended/zk/n=8/round=2/kazoo-Lock-2    	     300	   4046231 ns/op	       200.0 cycles/s	         3.0 handoff-p50-ms	        15.0 handoff-p99-ms	       3 B/op	       0 allocs/op
BenchmarkMutexContended/zk/n=8/round=3/ours-2    	     300	   1230900 ns/op	       600.0 cycles/s	         1.1 handoff-p50-ms	         3.1 handoff-p99-ms	    14015 B/op	     253 allocs/op
--- SKIP: BenchmarkMutexContended/zk-nosync
BenchmarkHandover/etcd/n=1/round=1/ours-2    	     100	   7781055 ns/op	         6.826 handover-p50-ms	        28.12 handover-p99-ms	  106811 B/op	    1254 allocs/op
PASS
`

func TestParseAndGroup(t *testing.T) {
	rs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rs), 6; got != want {
		t.Fatalf("parsed %d results, want %d", got, want)
	}
	gs := group(rs)
	if got, want := len(gs), 3; got != want {
		t.Fatalf("%d groups, want %d", got, want)
	}
	tests := []struct {
		g      int
		impl   string
		rounds int
		unit   string
		median float64
	}{
		{0, "ours", 3, "cycles/s", 800},
		{0, "ours", 3, "handoff-p99-ms", 3.1},
		{1, "kazoo-Lock", 2, "cycles/s", 225}, // even count: the mean of the middle two
		{2, "ours", 1, "handover-p50-ms", 6.826},
	}
	for _, tc := range tests {
		g := gs[tc.g]
		if g.impl != tc.impl || g.rounds != tc.rounds {
			t.Errorf("group %d: %s over %d rounds, want %s over %d", tc.g, g.impl, g.rounds, tc.impl, tc.rounds)
		}
		if got, ok := g.median(tc.unit); !ok || got != tc.median {
			t.Errorf("group %d %s: median %s = %v (%v), want %v", tc.g, g.impl, tc.unit, got, ok, tc.median)
		}
	}
	var out strings.Builder
	writeTables(&out, gs)
	for _, want := range []string{
		"| 8 | ours | 800 (600–900) |  |",
		"| 8 | kazoo-Lock | 225 (200–250) | 3.56× | 3.00 / 15.0 | 0.21× | – | – |",
		"Handover, etcd, fsync on (medians of 1 rounds)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		want result
	}{
		{"BenchmarkMutexContended/etcd-nosync/n=64/round=2/etcd-concurrency-Mutex", true,
			result{bench: "MutexContended", server: "etcd-nosync", impl: "etcd-concurrency-Mutex", n: 64, round: 2}},
		{"BenchmarkHandover/zk/n=1/ours", true, result{bench: "Handover", server: "zk", impl: "ours", n: 1}},
		{"BenchmarkMutexUncontended/zk", false, result{}},
		{"BenchmarkFailover/zk", false, result{}},
	}
	for _, tc := range tests {
		got, ok := parseName(tc.name)
		if ok != tc.ok || (ok && (got.bench != tc.want.bench || got.server != tc.want.server || got.impl != tc.want.impl || got.n != tc.want.n || got.round != tc.want.round)) {
			t.Errorf("parseName(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
