package partitioncheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is what a member was told.
type Type string

// The event types.
const (
	Assigned Type = "assigned" // the member claimed the item (Handler.Assigned)
	Revoked  Type = "revoked"  // the member gave it up (Handler.Revoked, claim still valid)
	Lost     Type = "lost"     // the claim was lost (Done closed with ErrLost)
)

// Event is one thing a member was told about one claim.
type Event struct {
	Time   int64 // wall clock, Unix nanoseconds
	Member string
	Type   Type
	Item   string
	Token  int64 // the claim's fencing token
}

// Write is one guarded write that landed on the server.
type Write struct {
	Item   string
	Member string
	Token  int64 // the token of the claim it was written under
	Pos    int64 // where it landed in the server's order
}

// Run is a recorded run.
type Run struct {
	Items  []string // the item set at the end
	Events []Event
	Writes []Write
	// Settled is when membership last changed (Unix nanoseconds); with
	// Bound it sets the liveness deadline. Zero skips the liveness check.
	Settled int64
	Bound   time.Duration
}

// Violation is one broken rule.
type Violation struct {
	Kind   string // "stale-write", "unowned", "unclaimed-write"
	Item   string
	Detail string
}

func (v Violation) String() string { return fmt.Sprintf("%s %s: %s", v.Kind, v.Item, v.Detail) }

// Result is what Check found.
type Result struct {
	Violations []Violation
	Writes     int // writes checked
	Claims     int // Assigned events
	Overlaps   int // believed-held overlaps (a metric)
}

// Valid reports whether no rule was broken.
func (r *Result) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *Result) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// Err returns nil when the run is valid, else an error listing the
// violations.
func (r *Result) Err() error {
	if r.Valid() {
		return nil
	}
	var b strings.Builder
	for i, v := range r.Violations {
		if i == 10 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(r.Violations)-10)
			break
		}
		b.WriteString("\n\t" + v.String())
	}
	return errors.New("partitioncheck: " + fmt.Sprint(len(r.Violations)) + " violations:" + b.String())
}

func (r *Result) String() string {
	return fmt.Sprintf("%d writes, %d claims, %d believed-held overlaps, %d violations", r.Writes, r.Claims, r.Overlaps, len(r.Violations))
}

type interval struct {
	member     string
	token      int64
	start, end int64 // end 0: still held
}

// Check checks a run.
func Check(run Run) *Result {
	res := &Result{Writes: len(run.Writes)}
	// Fencing, from what landed.
	byItem := map[string][]Write{}
	for _, w := range run.Writes {
		byItem[w.Item] = append(byItem[w.Item], w)
	}
	for _, item := range sortedKeys(byItem) {
		ws := byItem[item]
		slices.SortStableFunc(ws, func(a, b Write) int { return cmp64(a.Pos, b.Pos) })
		top := ws[0]
		for _, w := range ws[1:] {
			if w.Token < top.Token {
				res.Violations = append(res.Violations, Violation{"stale-write", item, fmt.Sprintf(
					"%s's write of token %d landed at %d, after %s's write of token %d at %d", w.Member, w.Token, w.Pos, top.Member, top.Token, top.Pos)})
				continue
			}
			top = w
		}
	}
	// Claims, from what the members were told.
	events := slices.Clone(run.Events)
	slices.SortStableFunc(events, func(a, b Event) int { return cmp64(a.Time, b.Time) })
	claims := map[string][]*interval{} // item -> its claims
	open := map[[2]string]map[int64]*interval{}
	for _, e := range events {
		k := [2]string{e.Member, e.Item}
		switch e.Type {
		case Assigned:
			res.Claims++
			iv := &interval{member: e.Member, token: e.Token, start: e.Time}
			claims[e.Item] = append(claims[e.Item], iv)
			if open[k] == nil {
				open[k] = map[int64]*interval{}
			}
			open[k][e.Token] = iv
		case Revoked, Lost:
			if iv := open[k][e.Token]; iv != nil {
				iv.end = e.Time
				delete(open[k], e.Token)
			}
		}
	}
	for _, item := range sortedKeys(claims) {
		ivs := claims[item]
		for i, a := range ivs {
			for _, b := range ivs[i+1:] {
				if a.member != b.member && (a.end == 0 || b.start < a.end) && (b.end == 0 || a.start < b.end) {
					res.Overlaps++
				}
			}
		}
	}
	if len(run.Events) > 0 {
		for _, item := range sortedKeys(byItem) {
			for _, w := range byItem[item] {
				if !slices.ContainsFunc(claims[item], func(iv *interval) bool { return iv.token == w.Token && iv.member == w.Member }) {
					res.Violations = append(res.Violations, Violation{"unclaimed-write", item, fmt.Sprintf(
						"%s wrote with token %d, which it was never assigned", w.Member, w.Token)})
				}
			}
		}
	}
	// Liveness.
	if run.Settled != 0 {
		deadline := run.Settled + int64(run.Bound)
		for _, item := range run.Items {
			owned := slices.ContainsFunc(claims[item], func(iv *interval) bool {
				return iv.start <= deadline && (iv.end == 0 || iv.end > deadline)
			})
			if !owned {
				res.Violations = append(res.Violations, Violation{"unowned", item, fmt.Sprintf(
					"no owner %v after membership settled", run.Bound)})
			}
		}
	}
	return res
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
