package configcheck

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// pub is publish n of a good run: value v-n, version n+1, invoked at
// 10n ms and returned 5 ms later.
func pub(n int) Publish {
	return Publish{Value: value(n), Outcome: OK, Version: int64(n + 1), Invoked: at(10 * n), Returned: at(10*n + 5)}
}

func value(n int) string { return "v-" + string(rune('0'+n)) }

// apply is a subscriber applying publish n at ms, with the ticket and a
// token that grow with n.
func apply(n, ms int) Apply {
	return Apply{Value: value(n), Ticket: int64(n + 1), Token: int64(100 + n), Time: at(ms)}
}

// goodRun is six publishes (one of unknown outcome, which landed and was
// applied) and three subscribers: one saw every value, one coalesced and
// started with the key absent, one was cut off and caught up after the
// faults stopped at 70 ms, within the 100 ms bound.
func goodRun() Run {
	pubs := []Publish{pub(0), pub(1), pub(2), pub(3), pub(4), pub(5)}
	pubs[3].Outcome, pubs[3].Version = Unknown, -1
	return Run{
		Publishes: pubs,
		Subscribers: []Subscriber{
			{"a", []Apply{apply(0, 6), apply(1, 16), apply(2, 26), apply(3, 36), apply(4, 46), apply(5, 56)}},
			{"b", []Apply{{Absent: true, Time: at(0)}, apply(1, 17), apply(3, 40), apply(5, 58)}},
			{"c", []Apply{apply(0, 7), apply(1, 18), apply(5, 150)}},
		},
		Healed: at(70),
		Bound:  100 * time.Millisecond,
	}
}

// TestCheck: a valid run passes; each broken history is reported with the
// kinds of violation it breaks, and no other.
//
// Broken on purpose, one at a time, in the checker: with the order check
// comparing publish indexes with < instead of <= ("the same value applied
// twice, with a higher token" was valid); without the token comparison
// ("a token going backwards" was valid); with the convergence
// check looking for the last value anywhere in a subscriber's applies
// rather than as its last ("an older value after the last one" reported
// order alone).
func TestCheck(t *testing.T) {
	r := Check(goodRun())
	if !r.Valid() || r.Publishes != 6 || r.Unknown != 1 || r.Applies != 13 || r.Lag != 80*time.Millisecond {
		t.Fatalf("good run: %v: %v", r, r.Err())
	}
	// b skipped 0, 2, 4; c skipped 2, 3, 4.
	if r.Skipped != 6 {
		t.Fatalf("skipped %d, want 6", r.Skipped)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Run)
		kinds  []string // the violations reported, sorted
	}{
		{"a value never published", func(r *Run) {
			r.Subscribers[0].Applies[2].Value = "v-x"
		}, []string{KindUnpublished}},
		{"a last value never published", func(r *Run) {
			r.Subscribers[2].Applies[2].Value = "v-x"
		}, []string{KindConverge, KindUnpublished}},
		{"the key absent after a value", func(r *Run) {
			r.Subscribers[1].Applies[2] = Apply{Absent: true, Time: at(40)}
		}, []string{KindUnpublished}},
		{"a value with another version's ticket", func(r *Run) {
			r.Subscribers[0].Applies[4].Ticket = 4
		}, []string{KindVersion}},
		{"a value applied before it was published", func(r *Run) {
			r.Subscribers[0].Applies[1].Time = at(9)
		}, []string{KindEarly}},
		{"an older value after a newer", func(r *Run) {
			a := r.Subscribers[0].Applies
			a[1], a[2] = apply(2, 26), apply(1, 27)
		}, []string{KindOrder}},
		{"an older value after the last one", func(r *Run) {
			r.Subscribers[2].Applies = append(r.Subscribers[2].Applies, apply(4, 160))
		}, []string{KindConverge, KindOrder}},
		{"the same value applied twice", func(r *Run) {
			r.Subscribers[1].Applies = slices.Insert(r.Subscribers[1].Applies, 3, apply(3, 45))
		}, []string{KindOrder}},
		{"the same value applied twice, with a higher token", func(r *Run) {
			again := apply(3, 45)
			again.Token = 104
			r.Subscribers[1].Applies = slices.Insert(r.Subscribers[1].Applies, 3, again)
			r.Subscribers[1].Applies[4].Token = 105
		}, []string{KindOrder}},
		{"a token going backwards", func(r *Run) {
			r.Subscribers[0].Applies[3].Token = 101
		}, []string{KindOrder}},
		{"a subscriber that stopped short of the last value", func(r *Run) {
			r.Subscribers[1].Applies = r.Subscribers[1].Applies[:3]
		}, []string{KindConverge}},
		{"a subscriber that applied nothing", func(r *Run) {
			r.Subscribers[2].Applies = nil
		}, []string{KindConverge}},
		{"the last value applied after the bound", func(r *Run) {
			r.Subscribers[2].Applies[2].Time = at(171)
		}, []string{KindConverge}},
		{"the last value applied late, after a publish after the healing", func(r *Run) {
			publishAfterHealing(r)
			r.Subscribers[2].Applies[3].Time = at(190)
		}, []string{KindConverge}},
		{"a run whose last publish is unknown", func(r *Run) {
			r.Publishes[5].Outcome = Unknown
		}, []string{KindIncomplete}},
		{"a run without publishes", func(r *Run) {
			r.Publishes = nil
			r.Subscribers = r.Subscribers[1:2]
			r.Subscribers[0].Applies = r.Subscribers[0].Applies[:1]
		}, []string{KindIncomplete}},
		{"a value published twice", func(r *Run) {
			r.Publishes[2].Value = "v-1"
			r.Subscribers[0].Applies = slices.Delete(r.Subscribers[0].Applies, 2, 3)
		}, []string{KindOutcome}},
		{"a publish with no outcome", func(r *Run) { r.Publishes[1].Outcome = "" }, []string{KindOutcome}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := goodRun()
			c.mutate(&run)
			r := Check(run)
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
			if r.Err() == nil {
				t.Fatal("Err: nil")
			}
		})
	}
}

// publishAfterHealing adds v-6, published at 80..85 ms, after the faults
// stopped at 70, so that the deadline is 185 ms; every subscriber applies
// it at 90 ms.
func publishAfterHealing(r *Run) {
	r.Publishes = append(r.Publishes, Publish{Value: "v-6", Outcome: OK, Version: 7, Invoked: at(80), Returned: at(85)})
	for i := range r.Subscribers {
		r.Subscribers[i].Applies = append(r.Subscribers[i].Applies, Apply{Value: "v-6", Ticket: 7, Token: 106, Time: at(90)})
	}
}

// TestCheckValid: histories that look odd and are valid pass.
//
// Broken on purpose: with the deadline taken from Healed alone, "the last
// value applied within the bound of its publish after the healing" was
// reported as converge.
func TestCheckValid(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Run)
	}{
		{"a publish of unknown outcome applied with any ticket, or not seen", func(r *Run) {
			// Its version is not known.
			r.Subscribers[0].Applies[3].Ticket = 42
			r.Subscribers[1].Applies = slices.Delete(r.Subscribers[1].Applies, 2, 3)
		}},
		{"the last value applied within the bound of its publish after the healing", func(r *Run) {
			publishAfterHealing(r)
			r.Subscribers[2].Applies[3].Time = at(180)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := goodRun()
			c.mutate(&run)
			if r := Check(run); !r.Valid() {
				t.Fatalf("%v: %v", r, r.Err())
			}
		})
	}
}
