package configcheck

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Outcome is how a publish ended, in Jepsen's terms.
type Outcome string

// The outcomes of a publish.
const (
	OK      Outcome = "ok"      // it took effect, making Version
	Unknown Outcome = "unknown" // it may have taken effect (Jepsen's info)
)

// Publish is one publish of the run's publisher.
type Publish struct {
	Value    string
	Outcome  Outcome
	Version  int64     // the version it made (OK only; <0 when not known)
	Invoked  time.Time // when the publisher called Publish
	Returned time.Time // when Publish returned
}

// Apply is one value a subscriber applied: its initial value, or the new
// value of a change it was told of.
type Apply struct {
	// Absent: the key did not exist (Value, Ticket and Token are not
	// read).
	Absent bool
	Value  string
	Ticket int64 // the version of the node applied (Snapshot.Ticket)
	Token  int64 // the node's modify token (Snapshot.Token)
	Time   time.Time
}

// Subscriber is one subscriber's applies, in the order it applied them.
type Subscriber struct {
	Name    string
	Applies []Apply
}

// Run is a recorded run.
type Run struct {
	// Publishes are in the order they took effect.
	Publishes   []Publish
	Subscribers []Subscriber
	// Healed is when the faults stopped.
	Healed time.Time
	// Bound is how long after the later of Healed and the last publish's
	// return every subscriber must hold the last value.
	Bound time.Duration
}

// The kinds of violation.
const (
	KindUnpublished = "unpublished" // a value nobody published, or absent after a value
	KindVersion     = "version"     // a value applied with another ticket than its publish made
	KindEarly       = "early"       // a value applied before its publish was invoked
	KindOrder       = "order"       // an older value (or token) after a newer, or one applied twice
	KindConverge    = "converge"    // the last value not held, or held too late
	KindIncomplete  = "incomplete"  // no publish, or the last one's outcome unknown
	KindOutcome     = "outcome"     // a publish with no known Outcome, or a value published twice
)

// Violation is one broken rule.
type Violation struct {
	Kind       string
	Subscriber string // the subscriber concerned, if one
	Detail     string
}

func (v Violation) String() string {
	if v.Subscriber == "" {
		return v.Kind + ": " + v.Detail
	}
	return v.Kind + " " + v.Subscriber + ": " + v.Detail
}

// Result is what Check found.
type Result struct {
	Violations []Violation
	Publishes  int // publishes in the run
	Unknown    int // of them, with an unknown outcome
	Applies    int // values applied, by all subscribers
	// Lag is the longest a subscriber took, after the later of Healed and
	// the last publish's return, to apply the last value (0 when it had it
	// before); subscribers that never did are not counted.
	Lag time.Duration
	// Skipped is how many publishes subscribers passed over, summed over
	// them: a watcher may coalesce changes, so this is a metric, not a
	// violation.
	Skipped int
}

// Valid reports whether no rule was broken.
func (r *Result) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *Result) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// Err returns nil when the run is valid, else an error listing the
// violations (the first ten).
func (r *Result) Err() error {
	if len(r.Violations) == 0 {
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
	return fmt.Errorf("configcheck: %d violations:%s", len(r.Violations), b.String())
}

func (r *Result) String() string {
	return fmt.Sprintf("%d publishes (%d unknown), %d applies, %d publishes skipped by subscribers, lag after healing %v; %d violations",
		r.Publishes, r.Unknown, r.Applies, r.Skipped, r.Lag, len(r.Violations))
}

// Check checks a run (see the package documentation).
func Check(run Run) *Result {
	res := &Result{Publishes: len(run.Publishes)}
	add := func(kind, sub, format string, args ...any) {
		res.Violations = append(res.Violations, Violation{kind, sub, fmt.Sprintf(format, args...)})
	}
	index := make(map[string]int, len(run.Publishes)) // value -> its publish
	for i, p := range run.Publishes {
		switch p.Outcome {
		case OK:
		case Unknown:
			res.Unknown++
		default:
			add(KindOutcome, "", "publish %d (%q): outcome %q", i, p.Value, p.Outcome)
		}
		if j, dup := index[p.Value]; dup {
			add(KindOutcome, "", "publish %d: value %q was published by publish %d too; values must be distinct", i, p.Value, j)
			continue
		}
		index[p.Value] = i
	}

	last := len(run.Publishes) - 1
	var deadline time.Time
	switch {
	case last < 0:
		add(KindIncomplete, "", "no publish")
	case run.Publishes[last].Outcome != OK:
		add(KindIncomplete, "", "the last publish (%q) has outcome %q: the run must end with a publish it knows took effect",
			run.Publishes[last].Value, run.Publishes[last].Outcome)
	default:
		from := run.Healed
		if t := run.Publishes[last].Returned; t.After(from) {
			from = t
		}
		deadline = from.Add(run.Bound)
	}

	for _, s := range run.Subscribers {
		prev, prevToken := -1, int64(0) // the last applied publish and token
		seenValue := false
		for k, a := range s.Applies {
			res.Applies++
			if a.Absent {
				if seenValue {
					add(KindUnpublished, s.Name, "apply %d: the key absent, after value %q", k, run.Publishes[prev].Value)
				}
				continue
			}
			i, ok := index[a.Value]
			if !ok {
				add(KindUnpublished, s.Name, "apply %d: %q, which was never published", k, a.Value)
				continue
			}
			p := run.Publishes[i]
			if p.Outcome == OK && p.Version >= 0 && a.Ticket != p.Version {
				add(KindVersion, s.Name, "apply %d: %q with ticket %d, but its publish made version %d", k, a.Value, a.Ticket, p.Version)
			}
			if a.Time.Before(p.Invoked) {
				add(KindEarly, s.Name, "apply %d: %q at %s, %v before its publish was invoked",
					k, a.Value, a.Time.Format(time.StampMicro), p.Invoked.Sub(a.Time))
			}
			if seenValue {
				switch {
				case i <= prev:
					add(KindOrder, s.Name, "apply %d: %q (publish %d, token %d) after %q (publish %d, token %d)",
						k, a.Value, i, a.Token, run.Publishes[prev].Value, prev, prevToken)
				case a.Token <= prevToken:
					add(KindOrder, s.Name, "apply %d: %q with token %d, not above the previous apply's %d", k, a.Value, a.Token, prevToken)
				}
				if i > prev {
					res.Skipped += i - prev - 1
				}
			} else {
				res.Skipped += i
			}
			if i > prev {
				prev = i
			}
			prevToken = max(prevToken, a.Token)
			seenValue = true
		}
		if deadline.IsZero() {
			continue
		}
		want := run.Publishes[last].Value
		switch n := len(s.Applies); {
		case n == 0:
			add(KindConverge, s.Name, "applied nothing; want %q", want)
		case s.Applies[n-1].Absent || s.Applies[n-1].Value != want:
			a := s.Applies[n-1]
			got := fmt.Sprintf("%q", a.Value)
			if a.Absent {
				got = "the key absent"
			}
			add(KindConverge, s.Name, "its last apply is %s (at %s); want %q, the last published", got, a.Time.Format(time.StampMicro), want)
		default:
			a := s.Applies[n-1]
			if a.Time.After(deadline) {
				add(KindConverge, s.Name, "applied %q at %s, %v after the deadline (%v after the faults stopped and the last publish)",
					want, a.Time.Format(time.StampMicro), a.Time.Sub(deadline), run.Bound)
			}
			res.Lag = max(res.Lag, a.Time.Sub(deadline.Add(-run.Bound)))
		}
	}
	return res
}
