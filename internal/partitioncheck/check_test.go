package partitioncheck

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sec = int64(time.Second)

// good is a run with a hand-over of item x from a to b: a's writes, a's
// revoke, b's claim and writes, and y owned by b throughout.
func good() Run {
	return Run{
		Items: []string{"x", "y"},
		Events: []Event{
			{1 * sec, "a", Assigned, "x", 10},
			{1 * sec, "b", Assigned, "y", 11},
			{3 * sec, "a", Revoked, "x", 10},
			{4 * sec, "b", Assigned, "x", 20},
		},
		Writes: []Write{
			{"x", "a", 10, 12}, {"x", "a", 10, 15},
			{"y", "b", 11, 13},
			{"x", "b", 20, 21}, {"x", "b", 20, 22},
		},
		Settled: 3 * sec,
		Bound:   2 * time.Second,
	}
}

// TestCheck: a valid run passes; each broken rule is reported.
//
// Broken on purpose by ordering the writes by token instead of the
// position they landed at: failed on "stale write after a newer" and
// "stale write after two newer".
func TestCheck(t *testing.T) {
	if r := Check(good()); !r.Valid() || r.Overlaps != 0 {
		t.Fatalf("good run: %v %v", r, r.Err())
	}
	for _, c := range []struct {
		name   string
		mutate func(*Run)
		kind   string
	}{
		{"stale write after a newer", func(r *Run) { r.Writes = append(r.Writes, Write{"x", "a", 10, 30}) }, "stale-write"},
		{"stale write after two newer", func(r *Run) {
			r.Writes = append(r.Writes, Write{"x", "b", 20, 23}, Write{"x", "a", 10, 24}, Write{"x", "b", 20, 25})
		}, "stale-write"},
		{"write with no claim", func(r *Run) { r.Writes = append(r.Writes, Write{"y", "c", 99, 100}) }, "unclaimed-write"},
		{"item never handed on", func(r *Run) { r.Events = r.Events[:3] }, "unowned"},
		{"item handed on too late", func(r *Run) { r.Events[3].Time = 6 * sec }, "unowned"},
		{"lost and not retaken", func(r *Run) {
			r.Events = append(r.Events, Event{4 * sec, "b", Lost, "y", 11})
		}, "unowned"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.mutate(&r)
			res := Check(r)
			if !res.Has(c.kind) {
				t.Fatalf("got %v (%v), want a %s violation", res, res.Err(), c.kind)
			}
		})
	}
}

// TestOverlapsAreAMetric: two members believing they hold one item at the
// same time is counted, not reported, as long as the writes are fenced.
//
// Broken on purpose by counting only overlaps of closed intervals:
// failed, "want valid with 1 overlap".
func TestOverlapsAreAMetric(t *testing.T) {
	r := good()
	r.Events[2].Time = 5 * sec // a revokes after b claimed
	res := Check(r)
	if !res.Valid() || res.Overlaps != 1 {
		t.Fatalf("got %v %v, want valid with 1 overlap", res, res.Err())
	}
	r.Events = r.Events[:2:2]
	r.Events = append(r.Events, Event{2 * sec, "b", Assigned, "x", 20}) // a never let go
	r.Settled = 0
	r.Writes = r.Writes[:3]
	if res := Check(r); res.Overlaps != 1 {
		t.Fatalf("open intervals: got %v, want 1 overlap", res)
	}
}
