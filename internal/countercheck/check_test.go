package countercheck

import (
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ok(client string, post int64) Add {
	return Add{Client: client, Outcome: OK, Pre: post - 1, Post: post}
}

// goodRun is three clients' interleaved increments from 10 to 16, with a
// failed Add that did not apply.
func goodRun() Run {
	return Run{
		Initial: 10,
		Final:   16,
		Adds: []Add{
			ok("a", 11), ok("b", 12), ok("a", 13),
			{Client: "c", Outcome: Fail, Err: "counter: contended"},
			ok("c", 14), ok("b", 15), ok("a", 16),
		},
	}
}

// TestCheck: a valid run passes; each broken rule is reported, and only
// the rules the change breaks.
//
// Broken on purpose, one at a time, in the checker: without the duplicate
// check, "one increment told to two clients" and "one client told twice"
// reported sum (and order) but no duplicate; with each client's Posts
// compared with its first Post instead of its last, "a client's posts go
// down" was valid; without the sum's upper bound, "an increment applied
// twice", "a failed add that applied" and "a post below the initial value"
// were valid; without the range check, "a post above the final value"
// reported sum alone.
func TestCheck(t *testing.T) {
	if r := Check(goodRun()); !r.Valid() || r.OK != 6 || r.Failed != 1 || r.Increments != 6 || len(r.Unclaimed) != 0 {
		t.Fatalf("good run: %v, unclaimed %v: %v", r, r.Unclaimed, r.Err())
	}
	for _, c := range []struct {
		name   string
		mutate func(*Run)
		kinds  []string // the violations reported, sorted
	}{
		{"a post that is not pre+1", func(r *Run) { r.Adds[1].Pre = 10 }, []string{KindStep}},
		{"one increment told to two clients", func(r *Run) {
			// b's second Add is told 14, c's increment, and the counter
			// ends one lower: one increment counted twice.
			r.Adds[5] = ok("b", 14)
			r.Adds[6] = ok("a", 15)
			r.Final = 15
		}, []string{KindDuplicate, KindSum}},
		{"one client told twice", func(r *Run) {
			r.Adds = slices.Insert(r.Adds, 3, ok("a", 13)) // a's Add reported again
		}, []string{KindDuplicate, KindOrder, KindSum}},
		{"a client's posts go down", func(r *Run) {
			r.Adds[2], r.Adds[6] = ok("a", 16), ok("a", 13)
		}, []string{KindOrder}},
		{"an increment applied twice", func(r *Run) { r.Final = 17 }, []string{KindSum}},
		{"a failed add that applied", func(r *Run) {
			r.Adds[4] = ok("c", 15)
			r.Adds[5] = ok("b", 16)
			r.Adds[6] = ok("a", 17)
			r.Final = 17
		}, []string{KindSum}},
		{"a post above the final value", func(r *Run) { r.Final = 15 }, []string{KindRange, KindSum}},
		{"a post below the initial value", func(r *Run) { r.Adds[0] = ok("a", 10); r.Initial = 9 }, []string{KindSum}},
		{"an outcome nobody knows", func(r *Run) { r.Adds[3].Outcome = "" }, []string{KindOutcome}},
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

// TestCheckUnknown: an Unknown Add may explain one increment nobody was
// told of, and no more; one that did not apply leaves nothing unclaimed.
//
// Broken on purpose by leaving Unknown out of the sum's upper bound: "one
// unknown that applied" was reported as a sum violation.
func TestCheckUnknown(t *testing.T) {
	unknown := Add{Client: "c", Outcome: Unknown, Err: "backend: outcome unknown"}
	for _, c := range []struct {
		name      string
		final     int64
		valid     bool
		unclaimed []int64
	}{
		{"one unknown that applied", 17, true, []int64{14}},
		{"one unknown that did not apply", 16, true, nil},
		{"two increments for one unknown", 18, false, []int64{14, 18}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := goodRun()
			run.Final = c.final
			// c's Add of 14 was told unknown; the others took 15..17.
			run.Adds[4] = unknown
			if c.final > 16 {
				run.Adds[5], run.Adds[6] = ok("b", 15), ok("a", 16)
				run.Adds = append(run.Adds, ok("a", 17))
			} else {
				run.Adds[5], run.Adds[6] = ok("b", 14), ok("a", 15)
				run.Adds = append(run.Adds, ok("a", 16))
			}
			r := Check(run)
			if r.Valid() != c.valid || r.Unknown != 1 || !slices.Equal(r.Unclaimed, c.unclaimed) {
				t.Fatalf("valid %v, unknown %d, unclaimed %v; want valid %v, 1, %v: %v",
					r.Valid(), r.Unknown, r.Unclaimed, c.valid, c.unclaimed, r.Err())
			}
			if !c.valid && !r.Has(KindSum) {
				t.Fatalf("no sum violation: %v", r.Err())
			}
		})
	}
}

func grant(client string, first int64, n int) Grant {
	return Grant{Client: client, Want: n, First: first, N: n}
}

// goodGrants are two clients' IDs: single ones and blocks, interleaved
// in value, and an error.
func goodGrants() []Grant {
	return []Grant{
		grant("a", 100, 1), grant("b", 101, 100), grant("a", 201, 1),
		{Client: "b", Want: 100, Err: "backend: session expired", Kind: "session-expired"},
		grant("a", 300, 100), grant("b", 1000, 1), grant("a", 1001, 1),
	}
}

// TestCheckIDs: a valid run passes; an ID handed out twice (within a
// client or across clients, as a single ID or inside a block), a client's
// IDs going down, and a block of the wrong size are reported.
//
// Broken on purpose in the checker: with each span compared only with the
// one just before it in ID order (not with the highest last ID so far),
// "two ids inside an earlier block" found one overlap of two; with blocks
// taken as their first ID alone (N ignored), the four cases of IDs inside
// blocks were valid; with the order check comparing a grant with the
// previous grant's first ID instead of its last, "a block then an id
// inside it" reported the overlap but no order violation.
func TestCheckIDs(t *testing.T) {
	r := CheckIDs(goodGrants())
	if !r.Valid() || r.Grants != 6 || r.IDs != 204 || r.Errors["session-expired"] != 1 {
		t.Fatalf("good run: %v: %v", r, r.Err())
	}
	for _, c := range []struct {
		name   string
		mutate func([]Grant) []Grant
		kinds  []string
		n      int // violations
	}{
		{"one id to two clients", func(g []Grant) []Grant { return append(g, grant("c", 100, 1)) }, []string{KindOverlap}, 1},
		{"an id inside an earlier block", func(g []Grant) []Grant {
			return append(g, grant("c", 150, 1), grant("c", 2000, 1))
		}, []string{KindOverlap}, 1},
		{"two ids inside an earlier block", func(g []Grant) []Grant {
			return append(g, grant("c", 310, 1), grant("c", 320, 1))
		}, []string{KindOverlap}, 2},
		{"blocks that overlap", func(g []Grant) []Grant { return append(g, grant("c", 150, 100)) }, []string{KindOverlap}, 2},
		{"a block then an id inside it", func(g []Grant) []Grant {
			return slices.Insert(g, 5, grant("a", 350, 1)) // a's block 300..399, then 350
		}, []string{KindOrder, KindOverlap}, 2},
		{"a client's ids go down", func(g []Grant) []Grant {
			g[0], g[2] = grant("a", 201, 1), grant("a", 100, 1)
			return g
		}, []string{KindOrder}, 1},
		{"a block of the wrong size", func(g []Grant) []Grant { g[4].N = 99; return g }, []string{KindSize}, 1},
		{"an empty block", func(g []Grant) []Grant { g[4].N = 0; return g }, []string{KindSize}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := CheckIDs(c.mutate(goodGrants()))
			var kinds []string
			for _, v := range r.Violations {
				if !slices.Contains(kinds, v.Kind) {
					kinds = append(kinds, v.Kind)
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, c.kinds) || len(r.Violations) != c.n {
				t.Fatalf("%d violations of kinds %v, want %d of %v: %v", len(r.Violations), kinds, c.n, c.kinds, r.Err())
			}
		})
	}
}

// TestCheckIDsErrorKinds: failed calls are counted by kind, and an error
// without a kind is "other".
func TestCheckIDsErrorKinds(t *testing.T) {
	g := append(goodGrants(), Grant{Client: "a", Want: 1, Err: "boom"})
	r := CheckIDs(g)
	if !r.Valid() || r.Errors["other"] != 1 || r.Errors["session-expired"] != 1 || len(r.Errors) != 2 {
		t.Fatalf("errors %v: %v", r.Errors, r.Err())
	}
}
