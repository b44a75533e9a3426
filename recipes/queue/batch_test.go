package queue

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestTakeNAckAll: TakeN takes up to n items in order, one claim each
// (attempt 1, claim nodes of this session), and AckAll removes them in one
// transaction; when one item's claim was taken over, AckAll acknowledges
// none and names it. Broken on purpose by AckAll deleting the items
// without the fence (no checks, any version): the stale batch removed the
// item another consumer held.
func TestTakeNAckAll(t *testing.T) {
	forEachLayout(t, func(t *testing.T, e *env, lay layout) {
		s := e.Session(t)
		q := lay.queue(t, s, "/q")
		for i := range 10 {
			mustPut(t, q, fmt.Sprint(i))
		}
		items, err := q.TakeN(ctxT(t), 4)
		if err != nil || len(items) != 4 {
			t.Fatalf("TakeN(4): %d items, %v", len(items), err)
		}
		for i, it := range items {
			if string(it.Data) != fmt.Sprint(i) || it.Attempt != 1 {
				t.Fatalf("item %d: %q attempt %d", i, it.Data, it.Attempt)
			}
			st, err := s.Exists(ctxT(t), it.claim())
			if err != nil || st == nil || st.EphemeralOwner != s.ID() || st.CreateToken != it.Token() {
				t.Fatalf("claim of %q: %+v, %v (token %d)", it.Data, st, err, it.Token())
			}
		}
		if err := AckAll(ctxT(t), items...); err != nil {
			t.Fatalf("AckAll: %v", err)
		}
		if n, _ := q.Len(ctxT(t)); n != 6 {
			t.Fatalf("Len after acknowledging 4 of 10: %d", n)
		}

		// A batch one of whose claims was taken over acknowledges nothing.
		items, err = q.TakeN(ctxT(t), 3)
		if err != nil || len(items) != 3 {
			t.Fatalf("TakeN(3): %d items, %v", len(items), err)
		}
		admin := e.Session(t)
		// Our monitor must not see the takeover first (its loss would
		// refuse the batch before sending): the fence is what is tested.
		items[1].mon.Stop()
		if err := admin.Delete(ctxT(t), items[1].claim(), backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
		other := lay.queue(t, e.Session(t), "/q")
		it, err := other.claim(ctxT(t), items[1].e) // as its Take would, had it picked this one
		if err != nil || it == nil {
			t.Fatalf("the other consumer's claim: %v, %v", it, err)
		}
		if err := AckAll(ctxT(t), items...); !errors.Is(err, ErrLost) {
			t.Fatalf("AckAll with a stale item: %v, want ErrLost", err)
		}
		if n, _ := q.Len(ctxT(t)); n != 6 {
			t.Fatalf("Len after a refused AckAll: %d, want 6", n)
		}
		mustAck(t, it)
		for _, x := range []*Item{items[0], items[2]} {
			mustAck(t, x)
		}
		if _, err := q.TakeN(ctxT(t), MaxBatch+1); !errors.Is(err, ErrBadOption) {
			t.Fatalf("TakeN(%d): %v", MaxBatch+1, err)
		}
	})
}
