package configcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Batch is one publish of several keys at once (PublishAll) that took
// effect: the value it wrote to each key.
type Batch struct {
	Values   map[string]string // key -> value; the values of a key are distinct across batches
	Invoked  time.Time
	Returned time.Time
}

// SetApply is the values of every followed key a set subscriber applied
// at once: its first values, or the New of a change. A key that did not
// exist is missing from Values.
type SetApply struct {
	Values map[string]string
	Time   time.Time
}

// SetSubscriber is one set subscriber's applies, in order.
type SetSubscriber struct {
	Name    string
	Applies []SetApply
}

// SetRun is a recorded run of batches over a set of keys.
type SetRun struct {
	// Keys are the keys every subscriber follows.
	Keys []string
	// Batches are in the order they took effect.
	Batches     []Batch
	Subscribers []SetSubscriber
	Healed      time.Time
	Bound       time.Duration
}

// KindPartial is a set subscriber's apply that is not the state of the keys
// after any prefix of the batches: part of a batch seen without the rest,
// or a value never published.
const KindPartial = "partial"

// SetResult is what CheckSet found.
type SetResult struct {
	Violations []Violation
	Batches    int
	Applies    int
	// Skipped is how many batches subscribers passed over, summed over
	// them (a metric: changes coalesce).
	Skipped int
	// Lag is as Result.Lag.
	Lag time.Duration
}

// Valid reports whether no rule was broken.
func (r *SetResult) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *SetResult) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// Err returns nil when the run is valid, else an error listing the
// violations (the first ten).
func (r *SetResult) Err() error { return (&Result{Violations: r.Violations}).Err() }

func (r *SetResult) String() string {
	return fmt.Sprintf("%d batches, %d set applies, %d batches skipped by subscribers, lag after healing %v; %d violations",
		r.Batches, r.Applies, r.Skipped, r.Lag, len(r.Violations))
}

// CheckSet checks a set run: every apply of every subscriber is the state
// of the keys after some prefix of the batches (all-or-nothing: never part
// of a batch; only published values), the prefixes of a subscriber's
// applies grow strictly (never an older state after a newer, never one
// twice), none is applied before its last batch was invoked, and every
// subscriber's last apply is the state after the last batch, applied by
// Bound after the later of Healed and the last batch's return.
//
// The state after batch j holds, for each key, the value of the last
// batch at or before j that wrote it (absent before the first). An apply
// names, through its values, the batch that wrote each key; it is the
// state after j exactly when every key's batch is at most j and no later
// batch up to j wrote that key.
func CheckSet(run SetRun) *SetResult {
	res := &SetResult{Batches: len(run.Batches)}
	add := func(kind, sub, format string, args ...any) {
		res.Violations = append(res.Violations, Violation{kind, sub, fmt.Sprintf(format, args...)})
	}
	// writes[k] are the batches that wrote key k, in order; wrote[k][v]
	// the batch that wrote v to k.
	writes := map[string][]int{}
	wrote := map[string]map[string]int{}
	for _, k := range run.Keys {
		wrote[k] = map[string]int{}
	}
	for j, b := range run.Batches {
		for k, v := range b.Values {
			if _, ok := wrote[k]; !ok {
				add(KindOutcome, "", "batch %d writes %s, not one of the keys %v", j, k, run.Keys)
				continue
			}
			if i, dup := wrote[k][v]; dup {
				add(KindOutcome, "", "batch %d writes %q to %s, as batch %d did; values must be distinct", j, v, k, i)
				continue
			}
			wrote[k][v] = j
			writes[k] = append(writes[k], j)
		}
	}
	// span returns the prefixes [lo, hi] whose state a holds, or ok false
	// with why not.
	span := func(a SetApply) (lo, hi int, why string) {
		lo, hi = -1, len(run.Batches)-1
		for _, k := range run.Keys {
			v, present := a.Values[k]
			w := -1 // the batch that wrote k's value; -1: absent
			if present {
				j, ok := wrote[k][v]
				if !ok {
					return 0, 0, fmt.Sprintf("%s = %q, which no batch wrote", k, v)
				}
				w = j
			}
			// The state has k at w up to the next batch writing k.
			next := len(run.Batches)
			if i, _ := slices.BinarySearch(writes[k], w+1); i < len(writes[k]) {
				next = writes[k][i]
			}
			lo, hi = max(lo, w), min(hi, next-1)
		}
		if lo > hi {
			return lo, hi, "no prefix of the batches leaves the keys so"
		}
		return lo, hi, ""
	}
	describe := func(a SetApply) string {
		var b strings.Builder
		for i, k := range slices.Sorted(maps.Keys(a.Values)) {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s=%q", k, a.Values[k])
		}
		return "{" + b.String() + "}"
	}

	last := len(run.Batches) - 1
	var deadline time.Time
	if last < 0 {
		add(KindIncomplete, "", "no batch")
	} else {
		from := run.Healed
		if t := run.Batches[last].Returned; t.After(from) {
			from = t
		}
		deadline = from.Add(run.Bound)
	}
	for _, s := range run.Subscribers {
		prev := -2 // the prefix of the last consistent apply
		for n, a := range s.Applies {
			res.Applies++
			lo, _, why := span(a)
			if why != "" {
				add(KindPartial, s.Name, "apply %d: %s: %s", n, describe(a), why)
				continue
			}
			if lo >= 0 && a.Time.Before(run.Batches[lo].Invoked) {
				add(KindEarly, s.Name, "apply %d: %s at %s, %v before batch %d was invoked",
					n, describe(a), a.Time.Format(time.StampMicro), run.Batches[lo].Invoked.Sub(a.Time), lo)
			}
			if lo <= prev {
				add(KindOrder, s.Name, "apply %d: %s, the state after batch %d, after the state after batch %d", n, describe(a), lo, prev)
			} else {
				if prev >= -1 {
					res.Skipped += lo - prev - 1
				} else {
					res.Skipped += max(lo, 0)
				}
				prev = lo
			}
		}
		if deadline.IsZero() {
			continue
		}
		n := len(s.Applies)
		if n == 0 {
			add(KindConverge, s.Name, "applied nothing")
			continue
		}
		a := s.Applies[n-1]
		if _, hi, why := span(a); why != "" || hi != last {
			add(KindConverge, s.Name, "its last apply is %s (at %s), not the state after the last batch", describe(a), a.Time.Format(time.StampMicro))
			continue
		}
		if a.Time.After(deadline) {
			add(KindConverge, s.Name, "applied the last state at %s, %v after the deadline", a.Time.Format(time.StampMicro), a.Time.Sub(deadline))
		}
		res.Lag = max(res.Lag, a.Time.Sub(deadline.Add(-run.Bound)))
	}
	return res
}
