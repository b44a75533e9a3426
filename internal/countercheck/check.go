package countercheck

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Outcome is how an operation ended, in Jepsen's terms.
type Outcome string

// The outcomes.
const (
	OK      Outcome = "ok"      // it happened, with the results recorded
	Fail    Outcome = "fail"    // it certainly did not happen
	Unknown Outcome = "unknown" // it may or may not have happened (Jepsen's info)
)

// Add is one Add(1) of a client, as the client saw it.
type Add struct {
	Client  string
	Outcome Outcome
	Pre     int64  // the value before the increment (OK only)
	Post    int64  // the value after it (OK only)
	Err     string // the error, for Fail and Unknown
}

// Run is a recorded counter run.
type Run struct {
	Initial int64 // the counter's value before the run
	Final   int64 // its value after the run, read back at the end
	Adds    []Add // each client's Adds in the order it made them
}

// The kinds of violation.
const (
	KindStep      = "step"      // an OK Add whose Post is not Pre+1
	KindDuplicate = "duplicate" // two OK Adds with the same Post
	KindRange     = "range"     // an OK Post outside Initial+1..Final
	KindSum       = "sum"       // Final-Initial outside OK..OK+Unknown
	KindOrder     = "order"     // a client's Posts, or grants, not increasing
	KindOverlap   = "overlap"   // an ID handed out twice
	KindSize      = "size"      // a block of another size than asked
	KindOutcome   = "outcome"   // an Add with no known Outcome
)

// Violation is one broken rule.
type Violation struct {
	Kind   string
	Client string // the client concerned, if one
	Detail string
}

func (v Violation) String() string {
	if v.Client == "" {
		return v.Kind + ": " + v.Detail
	}
	return v.Kind + " " + v.Client + ": " + v.Detail
}

// maxUnclaimed bounds Result.Unclaimed.
const maxUnclaimed = 20

// Result is what Check found.
type Result struct {
	Violations []Violation
	OK         int   // OK Adds
	Failed     int   // Fail Adds
	Unknown    int   // Unknown Adds
	Increments int64 // Final - Initial
	// Unclaimed are values in Initial+1..Final that no OK Add has as its
	// Post (the first 20): increments an Unknown Add may have made, or
	// that were applied twice.
	Unclaimed []int64
}

// Valid reports whether no rule was broken.
func (r *Result) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *Result) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// Err returns nil when the run is valid, else an error listing the
// violations.
func (r *Result) Err() error { return violationsErr(r.Violations) }

func (r *Result) String() string {
	return fmt.Sprintf("%d increments; adds: %d ok, %d failed, %d unknown; %d violations",
		r.Increments, r.OK, r.Failed, r.Unknown, len(r.Violations))
}

func violationsErr(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	var b strings.Builder
	for i, v := range vs {
		if i == 10 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(vs)-10)
			break
		}
		b.WriteString("\n\t" + v.String())
	}
	return fmt.Errorf("countercheck: %d violations:%s", len(vs), b.String())
}

// Check checks a counter run (see the package documentation).
func Check(run Run) *Result {
	res := &Result{Increments: run.Final - run.Initial}
	owner := map[int64]string{} // Post -> the client whose OK Add has it
	last := map[string]int64{}  // client -> its last OK Post
	for i, a := range run.Adds {
		switch a.Outcome {
		case Fail:
			res.Failed++
			continue
		case Unknown:
			res.Unknown++
			continue
		case OK:
			res.OK++
		default:
			res.Violations = append(res.Violations, Violation{KindOutcome, a.Client, fmt.Sprintf("add %d: outcome %q", i, a.Outcome)})
			continue
		}
		if a.Post != a.Pre+1 {
			res.Violations = append(res.Violations, Violation{KindStep, a.Client, fmt.Sprintf(
				"add %d: pre %d, post %d", i, a.Pre, a.Post)})
		}
		if a.Post <= run.Initial || a.Post > run.Final {
			res.Violations = append(res.Violations, Violation{KindRange, a.Client, fmt.Sprintf(
				"add %d: post %d, but the counter went from %d to %d", i, a.Post, run.Initial, run.Final)})
		}
		if other, ok := owner[a.Post]; ok {
			res.Violations = append(res.Violations, Violation{KindDuplicate, a.Client, fmt.Sprintf(
				"add %d: post %d, which %s was told too", i, a.Post, other)})
		} else {
			owner[a.Post] = a.Client
		}
		if prev, ok := last[a.Client]; ok && a.Post <= prev {
			res.Violations = append(res.Violations, Violation{KindOrder, a.Client, fmt.Sprintf(
				"add %d: post %d after an earlier add's %d", i, a.Post, prev)})
		}
		last[a.Client] = a.Post
	}
	for v := run.Initial + 1; v <= run.Final && len(res.Unclaimed) < maxUnclaimed; v++ {
		if _, ok := owner[v]; !ok {
			res.Unclaimed = append(res.Unclaimed, v)
		}
	}
	ok, unknown := int64(res.OK), int64(res.Unknown)
	switch {
	case res.Increments < ok:
		res.Violations = append(res.Violations, Violation{KindSum, "", fmt.Sprintf(
			"the counter moved by %d, but %d adds succeeded: increments lost or counted twice", res.Increments, ok)})
	case res.Increments > ok+unknown:
		res.Violations = append(res.Violations, Violation{KindSum, "", fmt.Sprintf(
			"the counter moved by %d, but %d adds succeeded and %d may have: %d increments nobody was told of (applied twice?), first unclaimed values %v",
			res.Increments, ok, unknown, res.Increments-ok-unknown, res.Unclaimed)})
	}
	return res
}

// Grant is one Next or Block call of a client's IDs, as the client saw it:
// the IDs First .. First+N-1, or an error.
type Grant struct {
	Client string
	Want   int   // the block size asked for (1 for Next)
	First  int64 // the first ID (no error only)
	N      int   // the block's size (no error only)
	Err    string
	// Kind classifies a failed call (e.g. the sentinel it matched), for
	// IDsResult.Errors; "" with Err set counts as "other".
	Kind string
}

// IDsResult is what CheckIDs found.
type IDsResult struct {
	Violations []Violation
	Grants     int            // calls that returned IDs
	IDs        int64          // IDs handed out
	Errors     map[string]int // failed calls by Kind
}

// Valid reports whether no rule was broken.
func (r *IDsResult) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *IDsResult) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// Err returns nil when the run is valid, else an error listing the
// violations.
func (r *IDsResult) Err() error { return violationsErr(r.Violations) }

func (r *IDsResult) String() string {
	return fmt.Sprintf("%d ids in %d grants; errors %v; %d violations", r.IDs, r.Grants, r.Errors, len(r.Violations))
}

// CheckIDs checks the grants of an IDs run (see the package documentation).
func CheckIDs(grants []Grant) *IDsResult {
	res := &IDsResult{Errors: map[string]int{}}
	type span struct {
		first, last int64 // inclusive
		client      string
		call        int // index in grants
	}
	var spans []span
	last := map[string]span{} // client -> its last grant
	for i, g := range grants {
		if g.Err != "" {
			kind := g.Kind
			if kind == "" {
				kind = "other"
			}
			res.Errors[kind]++
			continue
		}
		if g.N < 1 || g.N != g.Want {
			res.Violations = append(res.Violations, Violation{KindSize, g.Client, fmt.Sprintf(
				"call %d: a block of %d ids, asked for %d", i, g.N, g.Want)})
			if g.N < 1 {
				continue
			}
		}
		res.Grants++
		res.IDs += int64(g.N)
		s := span{g.First, g.First + int64(g.N) - 1, g.Client, i}
		if prev, ok := last[g.Client]; ok && s.first <= prev.last {
			res.Violations = append(res.Violations, Violation{KindOrder, g.Client, fmt.Sprintf(
				"call %d: ids from %d, not above the previous call's last %d", i, s.first, prev.last)})
		}
		last[g.Client] = s
		spans = append(spans, s)
	}
	// Sorted by first ID, a span overlaps an earlier one exactly when it
	// starts at or below the highest last ID seen so far.
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	var top span
	for i, s := range spans {
		if i > 0 && s.first <= top.last {
			res.Violations = append(res.Violations, Violation{KindOverlap, s.client, fmt.Sprintf(
				"call %d: ids %d..%d overlap %s's call %d: %d..%d", s.call, s.first, s.last, top.client, top.call, top.first, top.last)})
		}
		if i == 0 || s.last > top.last {
			top = s
		}
	}
	return res
}
