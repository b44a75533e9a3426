package configcheck

import (
	"slices"
	"testing"
	"time"
)

// setState is the state after batch j of goodSetRun's batches.
func setState(j, ms int) SetApply {
	states := []map[string]string{
		{"a": "a0", "b": "b0", "c": "c0"},
		{"a": "a1", "b": "b1", "c": "c0"},
		{"a": "a1", "b": "b2", "c": "c2"},
		{"a": "a3", "b": "b3", "c": "c3"},
	}
	return SetApply{Values: states[j], Time: at(ms)}
}

// goodSetRun is four batches over keys a, b, c, two of them writing only
// some keys (batch j invoked at 10j ms, returned 5 ms later), and three
// subscribers: x saw every state, y skipped one, z started before the
// first batch (nothing there) and caught up after the faults stopped at
// 40 ms, within the 100 ms bound.
func goodSetRun() SetRun {
	b := func(j int, values map[string]string) Batch {
		return Batch{Values: values, Invoked: at(10 * j), Returned: at(10*j + 5)}
	}
	return SetRun{
		Keys: []string{"a", "b", "c"},
		Batches: []Batch{
			b(0, map[string]string{"a": "a0", "b": "b0", "c": "c0"}),
			b(1, map[string]string{"a": "a1", "b": "b1"}),
			b(2, map[string]string{"b": "b2", "c": "c2"}),
			b(3, map[string]string{"a": "a3", "b": "b3", "c": "c3"}),
		},
		Subscribers: []SetSubscriber{
			{"x", []SetApply{setState(0, 6), setState(1, 16), setState(2, 26), setState(3, 36)}},
			{"y", []SetApply{setState(0, 7), setState(2, 27), setState(3, 37)}},
			{"z", []SetApply{{Values: map[string]string{}, Time: at(0)}, setState(1, 17), setState(3, 140)}},
		},
		Healed: at(40),
		Bound:  100 * time.Millisecond,
	}
}

// TestCheckSet: a valid set run passes; each broken history is reported
// with the kinds it breaks, and no other.
//
// Broken on purpose, in the checker: with a key's span ending at the end
// of the batches rather than before the next batch writing it, "part of a
// batch", "a key of the state before, the others of the state after" and
// "a key missing after the first batch" were valid (a state is then judged
// by its newest key alone), and so was "a subscriber short of the last
// state"; with the
// order check comparing with < instead of <=, "the same state twice" was
// valid.
func TestCheckSet(t *testing.T) {
	r := CheckSet(goodSetRun())
	if !r.Valid() || r.Batches != 4 || r.Applies != 10 || r.Lag != 100*time.Millisecond || r.Skipped != 3 {
		t.Fatalf("good run: %v: %v", r, r.Err())
	}
	for _, c := range []struct {
		name   string
		mutate func(*SetRun)
		kinds  []string
	}{
		{"part of a batch", func(r *SetRun) {
			// a of batch 1, b still of batch 0.
			r.Subscribers[0].Applies[1].Values = map[string]string{"a": "a1", "b": "b0", "c": "c0"}
		}, []string{KindPartial}},
		{"a key of the state before, the others of the state after", func(r *SetRun) {
			r.Subscribers[1].Applies[1].Values = map[string]string{"a": "a0", "b": "b2", "c": "c2"}
		}, []string{KindPartial}},
		{"a key missing after the first batch", func(r *SetRun) {
			r.Subscribers[1].Applies[1].Values = map[string]string{"a": "a1", "b": "b2"}
		}, []string{KindPartial}},
		{"a value no batch wrote", func(r *SetRun) {
			r.Subscribers[0].Applies[2].Values = map[string]string{"a": "a1", "b": "b-forged", "c": "c2"}
		}, []string{KindPartial}},
		{"an older state after a newer", func(r *SetRun) {
			a := r.Subscribers[0].Applies
			a[1], a[2] = setState(2, 26), setState(1, 27)
		}, []string{KindOrder}},
		{"the same state twice", func(r *SetRun) {
			r.Subscribers[1].Applies = slices.Insert(r.Subscribers[1].Applies, 2, setState(2, 30))
		}, []string{KindOrder}},
		{"a state applied before its batch", func(r *SetRun) {
			r.Subscribers[0].Applies[1].Time = at(9)
		}, []string{KindEarly}},
		{"a subscriber short of the last state", func(r *SetRun) {
			r.Subscribers[1].Applies = r.Subscribers[1].Applies[:2]
		}, []string{KindConverge}},
		{"the last state late", func(r *SetRun) {
			r.Subscribers[2].Applies[2].Time = at(146)
		}, []string{KindConverge}},
		{"a subscriber that applied nothing", func(r *SetRun) {
			r.Subscribers[2].Applies = nil
		}, []string{KindConverge}},
		{"no batch", func(r *SetRun) {
			r.Batches = nil
			r.Subscribers = r.Subscribers[2:]
			r.Subscribers[0].Applies = r.Subscribers[0].Applies[:1]
		}, []string{KindIncomplete}},
		{"a value written twice", func(r *SetRun) {
			r.Batches[2].Values["b"] = "b1"
			r.Subscribers = r.Subscribers[2:]
			r.Subscribers[0].Applies = r.Subscribers[0].Applies[:1]
		}, []string{KindConverge, KindOutcome}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := goodSetRun()
			c.mutate(&run)
			r := CheckSet(run)
			var kinds []string
			for _, v := range r.Violations {
				if !slices.Contains(kinds, v.Kind) {
					kinds = append(kinds, v.Kind)
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, c.kinds) {
				t.Fatalf("violations %v, want kinds %v: %v", kinds, c.kinds, r.Err())
			}
		})
	}
}
