package queue

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
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
		q := newQueue(t, e.Session(t), "/q", Sharded(size))
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
