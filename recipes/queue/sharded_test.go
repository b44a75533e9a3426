package queue

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestShardedListsABucket: in the sharded layout a take lists about one
// bucket, however long the queue; items still come out by priority and,
// per producer, in put order across buckets; and emptied buckets are
// removed. Broken on purpose by making bucketsEnough list every bucket
// (enough = -1): a take listed all 300 names.
func TestShardedListsABucket(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const size, batches, batch = 25, 12, 25
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for p := range 3 {
			q := newQueue(t, e.Session(t), "/q", Sharded(size))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches / 3 {
					data := make([][]byte, batch)
					for i := range data {
						data[i] = fmt.Appendf(nil, "p%d-%04d", p, b*batch+i)
					}
					prio := 100
					if b%2 == 1 {
						prio = 7
					}
					if _, err := q.PutAll(ctxT(t), data, Priority(prio)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		s := e.Session(t)
		q := newQueue(t, s, "/q", Sharded(size))
		if n, err := q.Len(ctxT(t)); err != nil || n != batches*batch {
			t.Fatalf("Len = %d, %v; want %d", n, err, batches*batch)
		}
		// Producers that put into one open bucket at once overfill it, so
		// there are fewer buckets than items/size; but there are several.
		if b := len(recipetest.Children(t, s, "/q/buckets")); b < 4 {
			t.Fatalf("%d buckets for %d items of size %d", b, batches*batch, size)
		}
		before := namesListed.Load()
		it := mustTake(t, q)
		// The first bucket may hold the size plus what producers put into
		// it at once (three batches): 100 names, and about 10 buckets' names.
		if listed := namesListed.Load() - before; listed > size+3*batch+2*size {
			t.Fatalf("one take listed %d names; buckets hold %d", listed, size)
		}
		last := map[string]int{}
		prio := it.Priority
		for i := 0; ; i++ {
			if it.Priority < prio {
				t.Fatalf("item %d: priority %d after %d", i, it.Priority, prio)
			}
			if it.Priority > prio {
				clear(last)
				prio = it.Priority
			}
			producer, nstr, _ := strings.Cut(string(it.Data), "-")
			n, _ := strconv.Atoi(nstr)
			if prev, ok := last[producer]; ok && n < prev {
				t.Fatalf("%s came after %s-%04d", it.Data, producer, prev)
			}
			last[producer] = n
			mustAck(t, it)
			if i == batches*batch-1 {
				break
			}
			it = mustTake(t, q)
		}
		buckets := recipetest.Children(t, s, "/q/buckets")
		slices.Sort(buckets)
		// Left: the open bucket of each priority, and at most one emptied
		// closed one before it that no take has looked at since.
		if len(buckets) > 4 {
			t.Fatalf("buckets left after draining: %v", buckets)
		}
	})
}

// TestLayoutAdopted: the layout is the queue's: a client without Sharded
// takes from a sharded queue, one with another bucket size adopts the
// queue's, and Sharded on a queue holding items in kazoo's layout is
// refused. Broken on purpose by resolve ignoring buckets/ (the layout from
// the options alone): the plain consumer found nothing.
func TestLayoutAdopted(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		p := newQueue(t, e.Session(t), "/s", Sharded(16))
		mustPut(t, p, "in a bucket")
		plain := newQueue(t, e.Session(t), "/s")
		if n, err := plain.Len(ctxT(t)); err != nil || n != 1 {
			t.Fatalf("Len by a client without Sharded = %d, %v", n, err)
		}
		it := mustTake(t, plain)
		if string(it.Data) != "in a bucket" {
			t.Fatalf("took %q", it.Data)
		}
		mustAck(t, it)
		other := newQueue(t, e.Session(t), "/s", Sharded(500))
		mustPut(t, other, "x")
		if other.bucketSize() != 16 {
			t.Fatalf("bucket size %d, want the queue's 16", other.bucketSize())
		}

		flat := newQueue(t, e.Session(t), "/f")
		mustPut(t, flat, "flat item")
		late := newQueue(t, e.Session(t), "/f", Sharded(16))
		if _, err := late.Put(ctxT(t), []byte("y")); !errors.Is(err, ErrBadOption) {
			t.Fatalf("Sharded on a flat queue with items: %v, want ErrBadOption", err)
		}
	})
}
