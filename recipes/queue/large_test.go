package queue

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestHundredThousand: a sharded queue of 100,000 items works with the
// servers' and clients' default limits: Len counts them, takes come in
// order and list one bucket. The flat layout cannot: its one listing would
// exceed ZooKeeper's 1 MB packet limit. Skipped with -short.
// ZKRECIPES_QUEUE_ITEMS sets another count (1000000 for the etcd run in
// docs/benchmarks.md; ZKRECIPES_QUEUE_BACKEND=etcd runs one backend).
func TestHundredThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 100,000 puts")
	}
	total := 100_000
	if n, err := strconv.Atoi(os.Getenv("ZKRECIPES_QUEUE_ITEMS")); err == nil && n > 0 {
		total = n
	}
	forEach(t, func(t *testing.T, e *env) {
		if b := os.Getenv("ZKRECIPES_QUEUE_BACKEND"); b != "" && b != e.Backend.Name {
			t.Skipf("ZKRECIPES_QUEUE_BACKEND=%s", b)
		}
		const size = 1000
		batch := 1000
		if e.Backend.Name == "etcd" {
			batch = 60 // etcd: 128 writes per transaction, two per item
		}
		// A session of 20 s: a transaction of 1,000 creates on a loaded
		// box can outlast a 4 s session's read timeout, and a PutAll whose
		// reply is lost cannot be settled (it carries no ids).
		big := *e
		big.Timeout = 20 * time.Second
		bs := big.Session(t)
		q := newQueue(t, bs, "/q", Sharded(size))
		if e.Backend.Name == "zk" {
			// The test server's heap is bounded (512 MB): leave no 100,000
			// nodes behind for the next run on it.
			t.Cleanup(func() { deleteBuckets(t, bs, "/q/buckets") })
		}
		start := time.Now()
		for n := 0; n < total; n += batch {
			data := make([][]byte, min(batch, total-n))
			for i := range data {
				data[i] = fmt.Appendf(nil, "%06d", n+i)
			}
			if _, err := q.PutAll(ctxT(t), data); err != nil {
				t.Fatalf("PutAll at %d: %v", n, err)
			}
		}
		t.Logf("%s: %d items put in %v", e.Backend.Name, total, time.Since(start).Round(time.Millisecond))
		lenStart := time.Now()
		if n, err := q.Len(ctxT(t)); err != nil || n != total {
			t.Fatalf("Len = %d, %v; want %d", n, err, total)
		}
		t.Logf("%s: Len in %v", e.Backend.Name, time.Since(lenStart).Round(time.Millisecond))
		takeStart := time.Now()
		defer func() {
			t.Logf("%s: 20 takes and acks in %v", e.Backend.Name, time.Since(takeStart).Round(time.Millisecond))
		}()
		for i := range 20 {
			before := namesListed.Load()
			it := mustTake(t, q)
			if listed := namesListed.Load() - before; listed > 2*size+200 {
				t.Fatalf("take %d listed %d names", i, listed)
			}
			if want := fmt.Sprintf("%06d", i); string(it.Data) != want {
				t.Fatalf("take %d: %q, want %q", i, it.Data, want)
			}
			mustAck(t, it)
		}
	})
}

// deleteBuckets deletes the buckets under dir and their items, a
// transaction of up to 1,000 deletes at a time.
func deleteBuckets(t testing.TB, s backend.Session, dir string) {
	t.Helper()
	buckets, _, err := s.Children(ctxT(t), dir)
	if err != nil {
		t.Errorf("clean-up: %v", err)
		return
	}
	for _, b := range buckets {
		p := backend.Join(dir, b)
		kids, _, err := s.Children(ctxT(t), p)
		if err != nil {
			t.Errorf("clean-up: %v", err)
			return
		}
		for len(kids) > 0 {
			n := min(len(kids), 1000)
			ops := make([]backend.Op, n)
			for i, k := range kids[:n] {
				ops[i] = backend.DeleteOp{Path: backend.Join(p, k), Version: backend.AnyVersion}
			}
			if _, err := s.Multi(ctxT(t), ops...); err != nil {
				t.Errorf("clean-up: %v", err)
				return
			}
			kids = kids[n:]
		}
	}
}
