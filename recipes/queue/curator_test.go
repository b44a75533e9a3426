package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestCuratorFormats: in each of Curator's layouts items are named and
// framed as Curator does, claimed where Curator's consumers lock them,
// taken in order, and given back and acknowledged as in kazoo's; what
// Curator's queues cannot hold (priorities, ids) is refused. Broken on
// purpose by framing with a wrong version word: the framing check failed;
// by claims under the aux directory instead of the lock path: the claim
// check failed.
func TestCuratorFormats(t *testing.T) {
	cases := []struct {
		name  string
		opt   Option
		names *regexp.Regexp
		claim string // where claims go
	}{
		{"DistributedQueue", CuratorQueue("/locks"), regexp.MustCompile(`^queue-\d{10}$`), "/locks"},
		{"DistributedDelayQueue", CuratorDelayQueue("/locks"), regexp.MustCompile(`^queue-\|[0-9A-F]{8,}\|\d{10}$`), "/locks"},
		{"SimpleDistributedQueue", CuratorSimpleQueue(), regexp.MustCompile(`^qn-\d{10}$`), "/q-zkrecipes/taken"},
	}
	forEach(t, func(t *testing.T, e *env) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := *e
				e.Namespace = testenv.Namespace(t) // a namespace per layout
				admin := e.Session(t)
				q := newQueue(t, e.Session(t), "/q", c.opt)
				for _, d := range []string{"a", "b", "c"} {
					mustPut(t, q, d)
				}
				if _, err := q.Put(ctxT(t), nil, Priority(5)); !errors.Is(err, ErrBadPriority) {
					t.Errorf("Priority(5): %v, want ErrBadPriority", err)
				}
				if _, err := q.Put(ctxT(t), nil, WithID("x")); !errors.Is(err, ErrBadID) {
					t.Errorf("WithID: %v, want ErrBadID", err)
				}
				kids := recipetest.Children(t, admin, "/q")
				slices.Sort(kids)
				if len(kids) != 3 {
					t.Fatalf("children of /q: %v", kids)
				}
				for _, k := range kids {
					if !c.names.MatchString(k) {
						t.Fatalf("item name %q, want %v", k, c.names)
					}
				}
				raw, _, err := admin.Get(ctxT(t), "/q/"+kids[0])
				if err != nil {
					t.Fatal(err)
				}
				if q.framed() {
					want := binary.BigEndian.AppendUint32(nil, 0x00010001)
					want = append(want, 1, 0, 0, 0, 1, 'a', 2)
					if !bytes.Equal(raw, want) {
						t.Fatalf("framed data % x, want % x", raw, want)
					}
				} else if string(raw) != "a" {
					t.Fatalf("data %q", raw)
				}
				it := mustTake(t, q)
				if string(it.Data) != "a" || len(it.Messages) != 1 {
					t.Fatalf("took %q (%d messages)", it.Data, len(it.Messages))
				}
				if claims := recipetest.Children(t, admin, c.claim); !slices.Equal(claims, []string{kids[0]}) {
					t.Fatalf("claims under %s: %v, want [%s]", c.claim, claims, kids[0])
				}
				if err := it.Nack(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				it = mustTake(t, q)
				if string(it.Data) != "a" || it.Attempt != 2 {
					t.Fatalf("after Nack: %q attempt %d", it.Data, it.Attempt)
				}
				mustAck(t, it)
				for _, want := range []string{"b", "c"} {
					it := mustTake(t, q)
					if string(it.Data) != want {
						t.Fatalf("took %q, want %q", it.Data, want)
					}
					mustAck(t, it)
				}
				if kids := recipetest.Children(t, admin, "/q"); len(kids) != 0 {
					t.Fatalf("left under /q: %v", kids)
				}

				// Delays: in the delay queue's names, elsewhere in delayed/.
				start := time.Now()
				mustPut(t, q, "later", Delay(800*time.Millisecond))
				if _, err := q.TryTake(ctxT(t)); !errors.Is(err, ErrEmpty) {
					t.Fatalf("before due: %v", err)
				}
				infos, err := q.List(ctxT(t))
				if err != nil || len(infos) != 1 || infos[0].State != Delayed {
					t.Fatalf("List before due: %+v, %v", infos, err)
				}
				it = mustTake(t, q)
				if string(it.Data) != "later" || time.Since(start) < 800*time.Millisecond {
					t.Fatalf("took %q after %v", it.Data, time.Since(start))
				}
				mustAck(t, it)
			})
		}
	})
}

// TestCuratorFraming: Curator's putMulti puts several messages in one
// node; a consumer gets them all in Messages. Data that is not framed is
// handed out as it is. Broken on purpose by stopping at the first message:
// Messages held one.
func TestCuratorFraming(t *testing.T) {
	q := &Queue{o: options{format: curatorFormat}}
	raw := binary.BigEndian.AppendUint32(nil, 0x00010001)
	raw = append(raw, 1, 0, 0, 0, 2, 'h', 'i', 1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 'y', 'o', 'u', 2)
	msgs, err := q.decode(raw)
	if err != nil || len(msgs) != 3 || string(msgs[0]) != "hi" || len(msgs[1]) != 0 || string(msgs[2]) != "you" {
		t.Fatalf("decode: %q, %v", msgs, err)
	}
	for _, bad := range [][]byte{nil, []byte("plain"), raw[:len(raw)-1], append(slices.Clone(raw[:4]), 1, 0, 0, 9, 9)} {
		if _, err := q.decode(bad); !errors.Is(err, errFraming) {
			t.Errorf("decode(% x): %v, want errFraming", bad, err)
		}
	}
	if got, err := q.decode(q.encode([]byte("round"))); err != nil || len(got) != 1 || string(got[0]) != "round" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
}
