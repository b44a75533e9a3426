package barriercheck

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Type is the kind of an Event, in Jepsen's terms.
type Type string

// The kinds of events.
const (
	// Invoke: a member started an Enter or a Leave.
	Invoke Type = "invoke"
	// OK: the Enter passed, or the Leave saw every member go.
	OK Type = "ok"
	// Fail: the operation gave up (its context ended, its session was
	// lost: a Lost event follows then).
	Fail Type = "fail"
	// Info: a single event (Lost, Kill, Fault).
	Info Type = "info"
)

// F names what an Event is about.
type F string

// The operations, and the single events.
const (
	// Enter: Member enters the barrier (Invoke, then OK or Fail).
	Enter F = "enter"
	// Leave: Member leaves the barrier (Invoke, then OK or Fail).
	Leave F = "leave"
	// Lost: a single event: Member's session was lost; its node lingers
	// until the server has expired the session.
	Lost F = "lost"
	// Kill: a single event: the test killed Process with SIGKILL; the node
	// of the member it ran lingers until the server expires its session.
	Kill F = "kill"
	// Fault: a single event: the nemesis injected the fault named in Fault
	// into Process (for the record; kills are Kill events).
	Fault F = "fault"
)

// Event is one line of a history.
type Event struct {
	Time    int64  `json:"time"`             // wall clock, unix nanoseconds
	Process string `json:"process"`          // the process
	Member  string `json:"member,omitempty"` // the member's node name
	Type    Type   `json:"type"`             // invoke, ok, fail, info
	F       F      `json:"f"`                // what it is about
	Fault   string `json:"fault,omitempty"`  // Fault: which fault
	Err     string `json:"err,omitempty"`    // the error of a Fail
}

// DefaultSlack is the Slack of Options that leave it 0: what the servers
// take beyond the session timeout to remove an expired session's nodes,
// plus the round trips of the protocol, on a loaded machine.
const DefaultSlack = 2 * time.Second

// Options tune Check.
type Options struct {
	// N is the barrier's member count.
	N int
	// Timeout is the members' session timeout.
	Timeout time.Duration
	// Slack is added to Timeout wherever the checker waits for a node to
	// go or a member to notice; 0 is DefaultSlack.
	Slack time.Duration
	// Stop is when the test told its processes to stop (unix
	// nanoseconds), cancelling what they were doing; 0 if it did not.
	Stop int64
}

// The kinds of violations.
const (
	KindEarlyPass  = "early-pass" // an Enter returned OK with fewer than N members present
	KindLeaveHang  = "leave-hang" // a Leave did not complete within its bound
	KindEnterHang  = "enter-hang" // N members were in Enter and one did not pass within its bound
	KindUnfinished = "unfinished" // an operation of a living process never completed
	KindMalformed  = "malformed"  // the history itself is inconsistent
)

// Violation is one broken rule.
type Violation struct {
	Kind    string    // one of the Kind constants
	Member  string    // the member
	Process string    // the member's process
	Time    time.Time // when: the Enter's return, or the bound that passed
	// Present are the members present at Time, in name order.
	Present []string
	Detail  string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s (%s) at %s: %s; present: %v", v.Kind, v.Member, v.Process, v.Time.Format("15:04:05.000"), v.Detail, v.Present)
}

// Result is what Check found: the violations, and counts for the report.
type Result struct {
	Violations []Violation

	Members int // members seen
	Enters  int // Enters that returned OK
	Leaves  int // Leaves that returned OK
	Losses  int // Lost events
	Kills   int // Kill events
	Faults  int // Fault events
	// LongestLeave is the longest a Leave took to return OK, and
	// LongestEnter an Enter.
	LongestLeave, LongestEnter time.Duration
}

// Valid reports whether no violation was found.
func (r *Result) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *Result) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// String summarises the counts and lists the violations.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d members, %d enters and %d leaves ok, %d losses, %d kills, %d other faults; longest enter %v, leave %v; %d violations",
		r.Members, r.Enters, r.Leaves, r.Losses, r.Kills, r.Faults,
		r.LongestEnter.Round(time.Millisecond), r.LongestLeave.Round(time.Millisecond), len(r.Violations))
	const most = 20
	for i, v := range r.Violations {
		if i == most {
			fmt.Fprintf(&b, "\n  ... and %d more", len(r.Violations)-most)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Err returns nil for a valid result, else an error listing the violations.
func (r *Result) Err() error {
	if r.Valid() {
		return nil
	}
	return errors.New("barriercheck: " + r.String())
}

// never is the time of what did not happen before the history ended.
const never = math.MaxInt64

// stay is one stay of a member at the barrier: from an Enter's invocation
// to its Leave's OK, its death, or its next Enter.
type stay struct {
	member, process string
	enterAt         int64 // the Enter's invocation
	enterEnd        int64 // its OK or Fail; never if open
	passed          bool  // the Enter returned OK
	leaveAt         int64 // the first Leave's invocation; 0 if none
	leaveEnd        int64 // the last Leave's completion; never if open
	left            bool  // a Leave returned OK
	died            int64 // a loss or a kill during the stay; 0 if none
	until           int64 // the end of presence; never while open
	closed          bool  // nothing more can happen to it
	enterOpen       bool
	leaveOpen       bool
}

// release is when the stay stopped holding others: its Leave's OK, its
// death, else a Leave's invocation, else never.
func (s *stay) release() int64 {
	switch {
	case s.left:
		return s.leaveEnd
	case s.died != 0:
		return s.died
	case s.leaveAt != 0:
		return s.leaveAt
	}
	return never
}

// Check checks a history; see the package documentation for what it
// asserts.
func Check(history []Event, o Options) *Result {
	if o.Slack == 0 {
		o.Slack = DefaultSlack
	}
	linger := int64(o.Timeout + o.Slack)
	r := &Result{}
	h := slices.Clone(history)
	slices.SortStableFunc(h, func(a, b Event) int { return cmp.Compare(a.Time, b.Time) })

	var stays []*stay
	cur := map[string]*stay{}    // a member's current stay
	members := map[string]bool{} // every member seen
	dead := map[string]bool{}    // members lost or killed
	bad := func(e Event, format string, args ...any) {
		r.Violations = append(r.Violations, Violation{Kind: KindMalformed, Member: e.Member, Process: e.Process, Time: time.Unix(0, e.Time), Detail: fmt.Sprintf(format, args...)})
	}
	die := func(s *stay, at int64) {
		s.died = at
		s.until = at + linger
		if s.enterOpen {
			s.enterEnd, s.enterOpen = at, false
		}
		if s.leaveOpen {
			s.leaveEnd, s.leaveOpen = at, false
		}
		s.closed = true
	}
	for _, e := range h {
		switch e.F {
		case Fault:
			r.Faults++
			continue
		case Kill:
			r.Kills++
			for m, s := range cur {
				if s.process == e.Process && !s.closed {
					die(s, e.Time)
					dead[m] = true
				}
			}
			continue
		case Enter, Leave, Lost:
		default:
			bad(e, "unknown event %q of %s", e.F, e.Process)
			continue
		}
		if e.Member == "" {
			bad(e, "%s %s of %s names no member", e.F, e.Type, e.Process)
			continue
		}
		members[e.Member] = true
		if dead[e.Member] {
			bad(e, "%s %s of %s after its loss or kill", e.F, e.Type, e.Member)
			continue
		}
		s := cur[e.Member]
		switch {
		case e.F == Lost:
			r.Losses++
			dead[e.Member] = true
			if s != nil && !s.closed {
				die(s, e.Time)
			}
		case e.F == Enter && e.Type == Invoke:
			if s != nil && !s.closed {
				if s.enterOpen || s.leaveOpen || (s.passed && s.leaveAt == 0) {
					bad(e, "%s entered again while its last Enter or Leave was open, or before it tried to leave", e.Member)
				}
				s.until, s.closed = e.Time, true // present since; the new stay goes on
			}
			s = &stay{member: e.Member, process: e.Process, enterAt: e.Time, enterEnd: never, leaveEnd: never, until: never, enterOpen: true}
			stays = append(stays, s)
			cur[e.Member] = s
		case e.F == Enter:
			if s == nil || !s.enterOpen {
				bad(e, "%s completed an Enter it had not invoked", e.Member)
				continue
			}
			s.enterEnd, s.enterOpen = e.Time, false
			if e.Type == OK {
				s.passed = true
				r.Enters++
				r.LongestEnter = max(r.LongestEnter, time.Duration(e.Time-s.enterAt))
			} else if e.Type != Fail {
				bad(e, "%s's Enter ended %s", e.Member, e.Type)
			}
		case e.Type == Invoke: // Leave
			if s == nil || s.closed || !s.passed || s.leaveOpen {
				bad(e, "%s invoked Leave while not inside", e.Member)
				continue
			}
			if s.leaveAt == 0 {
				s.leaveAt = e.Time
			}
			s.leaveOpen, s.leaveEnd = true, never
		default: // Leave's completion
			if s == nil || !s.leaveOpen {
				bad(e, "%s completed a Leave it had not invoked", e.Member)
				continue
			}
			s.leaveEnd, s.leaveOpen = e.Time, false
			if e.Type == OK {
				s.left, s.until, s.closed = true, e.Time, true
				r.Leaves++
				r.LongestLeave = max(r.LongestLeave, time.Duration(e.Time-s.leaveAt))
			} else if e.Type != Fail {
				bad(e, "%s's Leave ended %s", e.Member, e.Type)
			}
		}
	}
	r.Members = len(members)

	ix := index(stays)
	presentAt := func(t int64) []string {
		var out []string
		ix.each(ix.byEnter, func(s *stay) int64 { return s.enterAt }, t, ix.enterSpan, func(s *stay) {
			if t <= s.until && !slices.Contains(out, s.member) {
				out = append(out, s.member)
			}
		})
		slices.Sort(out)
		return out
	}
	report := func(kind string, s *stay, at int64, format string, args ...any) {
		r.Violations = append(r.Violations, Violation{Kind: kind, Member: s.member, Process: s.process, Time: time.Unix(0, at),
			Present: presentAt(at), Detail: fmt.Sprintf(format, args...)})
	}
	late := func(end, deadline int64) bool {
		return end > deadline && (o.Stop == 0 || deadline < o.Stop)
	}
	bound := int64(o.Timeout + o.Slack)

	for _, s := range stays {
		// Safety: N present when it passed.
		if s.passed {
			if p := presentAt(s.enterEnd); len(p) < o.N {
				report(KindEarlyPass, s, s.enterEnd, "passed with %d of %d members present", len(p), o.N)
			}
		}
		// Unfinished: open at the end of the history, its process alive.
		if s.enterOpen || s.leaveOpen {
			op := "Enter"
			if s.leaveOpen {
				op = "Leave"
			}
			report(KindUnfinished, s, s.enterAt, "its %s never completed, and its process %s was not killed", op, s.process)
		}
		// Leave liveness.
		if s.leaveAt != 0 {
			end := s.leaveEnd
			if s.died != 0 {
				end = min(end, s.died)
			}
			deadline := ix.leaveDeadline(s, bound)
			if late(end, deadline) {
				report(KindLeaveHang, s, deadline, "Leave invoked at %s not done %v after the last of the others left or died",
					time.Unix(0, s.leaveAt).Format("15:04:05.000"), time.Duration(bound))
			}
		}
	}
	enterLiveness(stays, o, bound, late, report)
	return r
}

// stayIndex finds the stays around a time without looking at them all.
type stayIndex struct {
	byEnter []*stay // by enterAt
	open    []*stay // present until the end of the history
	// enterSpan is the longest presence of a stay that ended.
	enterSpan int64
}

func index(stays []*stay) *stayIndex {
	ix := &stayIndex{byEnter: slices.SortedStableFunc(slices.Values(stays), func(a, b *stay) int { return cmp.Compare(a.enterAt, b.enterAt) })}
	for _, s := range ix.byEnter {
		if s.until == never {
			ix.open = append(ix.open, s)
			continue
		}
		ix.enterSpan = max(ix.enterSpan, s.until-s.enterAt)
	}
	return ix
}

// each calls f for every stay of list (sorted by key) whose key is at
// most t and not more than span before it, and for every open stay whose
// key is at most t (f may see an open stay twice).
func (ix *stayIndex) each(list []*stay, key func(*stay) int64, t, span int64, f func(*stay)) {
	i, _ := slices.BinarySearchFunc(list, t, func(s *stay, t int64) int {
		if key(s) <= t {
			return -1
		}
		return 1
	})
	for i--; i >= 0 && key(list[i]) >= t-span; i-- {
		f(list[i])
	}
	for _, s := range ix.open {
		if key(s) <= t {
			f(s)
		}
	}
}

// leaveDeadline is the bound of s's Leave: the latest release of the
// stays that passed, were still present when s passed, and began to enter
// before s's Leave ended or within bound of its start (a member coming
// later is of a later round); plus bound.
func (ix *stayIndex) leaveDeadline(s *stay, bound int64) int64 {
	d := s.leaveAt
	hi := min(s.leaveEnd, s.leaveAt+bound)
	ix.each(ix.byEnter, func(k *stay) int64 { return k.enterAt }, hi, hi-s.enterEnd+ix.enterSpan, func(k *stay) {
		if k == s || k.member == s.member || !k.passed || k.until < s.enterEnd || d == never {
			return
		}
		d = max(d, k.release())
	})
	if d == never {
		return never
	}
	return d + bound
}

// enterLiveness reports the Enters that did not pass within bound of a
// moment when N members were in Enter at once, none of which failed or
// died before the stop.
func enterLiveness(stays []*stay, o Options, bound int64, late func(end, deadline int64) bool, report func(string, *stay, int64, string, ...any)) {
	// Witnesses: Enters that passed, or were cut short only by the stop.
	type step struct {
		at    int64
		delta int
	}
	var w []*stay
	var steps []step
	for _, s := range stays {
		if s.died != 0 && s.died <= s.enterEnd {
			continue
		}
		if s.passed || (o.Stop != 0 && s.enterEnd >= o.Stop) {
			w = append(w, s)
			steps = append(steps, step{s.enterAt, 1}, step{s.enterEnd, -1})
		}
	}
	// How many witnesses are in Enter from each step on; at equal times
	// the ends come first.
	slices.SortFunc(steps, func(a, b step) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.delta, b.delta))
	})
	in := make([]int, len(steps))
	n := 0
	for i, st := range steps {
		n += st.delta
		in[i] = n
	}
	for _, s := range w {
		// The first moment in s's Enter at which N witnesses are in Enter.
		i, _ := slices.BinarySearchFunc(steps, s.enterAt, func(st step, t int64) int { return cmp.Compare(st.at, t) })
		first := int64(never)
		for ; i < len(steps) && steps[i].at < s.enterEnd; i++ {
			// The count after every step at this time.
			for i+1 < len(steps) && steps[i+1].at == steps[i].at {
				i++
			}
			if in[i] >= o.N {
				first = steps[i].at
				break
			}
		}
		if first == never {
			continue
		}
		if deadline := first + bound; late(s.enterEnd, deadline) {
			report(KindEnterHang, s, deadline, "%d members were in Enter at %s, and it had not passed %v later",
				o.N, time.Unix(0, first).Format("15:04:05.000"), time.Duration(bound))
		}
	}
}
