package queuecheck

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Type is the kind of an Event, in Jepsen's terms.
type Type string

// The kinds of events.
const (
	// Invoke: a process started an operation.
	Invoke Type = "invoke"
	// OK: the operation happened.
	OK Type = "ok"
	// Fail: the operation certainly did not happen.
	Fail Type = "fail"
	// Info: the outcome is unknown (a timeout, a lost reply), or the event
	// is not an operation (Lost, Fault).
	Info Type = "info"
)

// F names what an Event is about.
type F string

// The operations, and the single events.
const (
	// Put: a producer puts Item (Invoke, then OK, Fail or Info).
	Put F = "put"
	// Take: a consumer takes an item. Its OK names the Item, the Entry
	// node, the claim's Token and the Attempt.
	Take F = "take"
	// Guard: a consumer's guarded write for the claim (Item, Token).
	Guard F = "guard"
	// Ack: a consumer acknowledges the claim (Item, Token).
	Ack F = "ack"
	// Nack: a consumer gives the claim (Item, Token) back.
	Nack F = "nack"
	// Lost: a single event: the consumer saw the claim (Item, Token) end
	// (Item.Done closed with an error).
	Lost F = "lost"
	// Fault: a single event: the nemesis injected the fault named in Fault
	// into Process (a kill, a session expiry, a cut...).
	Fault F = "fault"
)

// Event is one line of a history.
type Event struct {
	Time    int64  `json:"time"`              // wall clock, unix nanoseconds
	Process string `json:"process"`           // the process (one operation at a time)
	Type    Type   `json:"type"`              // invoke, ok, fail, info
	F       F      `json:"f"`                 // what it is about
	Item    string `json:"item,omitempty"`    // the item's data
	Entry   string `json:"entry,omitempty"`   // Take: the item's entry node name
	Token   int64  `json:"token,omitempty"`   // the claim's fencing token
	Attempt int    `json:"attempt,omitempty"` // Take: the claim's attempt
	Fault   string `json:"fault,omitempty"`   // Fault: which fault
	Err     string `json:"err,omitempty"`     // the error of a Fail or Info
}

// Effect is a guarded write found in the effect store at the end of a run.
type Effect struct {
	Item    string // the item the write was for
	Token   int64  // the token of the claim it was written under
	Landed  int64  // where it landed in the cluster's order: its node's CreateToken
	Process string // who wrote it, for the report
}

// The kinds of violations.
const (
	KindLost        = "lost"                   // a put item was never acknowledged
	KindPhantom     = "phantom"                // an item taken that was never put
	KindTwoEntries  = "two-entries"            // one put became two items
	KindAfterAck    = "delivered-after-ack"    // a claim after an acknowledged claim
	KindStaleAck    = "stale-ack"              // an Ack of a superseded claim succeeded
	KindUnexplained = "unexplained-redelivery" // a redelivery no fault explains
	KindAttempt     = "attempt-order"          // attempts not growing with claims
	KindStaleWrite  = "stale-write"            // a guarded write of a superseded claim landed
	KindGuardResult = "guard-result"           // a Guard's result and the store disagree
	KindMalformed   = "malformed"              // the history itself is inconsistent
)

// Violation is one broken invariant.
type Violation struct {
	Kind   string // one of the Kind constants
	Item   string // the item, when there is one
	Detail string
}

func (v Violation) String() string {
	if v.Item == "" {
		return v.Kind + ": " + v.Detail
	}
	return fmt.Sprintf("%s: %s: %s", v.Kind, v.Item, v.Detail)
}

// Result is what Check found: the violations, and counts for the report.
type Result struct {
	Violations []Violation

	Puts         int // Put operations
	PutsOK       int // of which returned OK
	Items        int // distinct items taken
	Claims       int // Take operations that returned OK
	Redeliveries int // claims beyond the first of each item
	Acks         int // Acks that returned OK
	Faults       int // Fault events
	Effects      int // guarded writes in the store
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
	fmt.Fprintf(&b, "%d puts (%d ok), %d items taken, %d claims (%d redeliveries), %d acks, %d faults, %d guarded writes; %d violations",
		r.Puts, r.PutsOK, r.Items, r.Claims, r.Redeliveries, r.Acks, r.Faults, r.Effects, len(r.Violations))
	for _, v := range r.Violations {
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
	return errors.New("queuecheck: " + r.String())
}

// op is one operation: its invocation and its completion. An operation
// still open when the history ends completes as Info at the end of time.
type op struct {
	invoke, done Event
}

// claim is one Take that returned OK, and what its consumer did with it.
type claim struct {
	take      op
	guards    []op
	acks      []op
	nacks     []op
	sawLost   bool
	ackOK     *op // the first Ack that returned OK
	ackUnsure bool
}

func (c *claim) item() string    { return c.take.done.Item }
func (c *claim) token() int64    { return c.take.done.Token }
func (c *claim) process() string { return c.take.invoke.Process }

// ended reports whether the claim's consumer saw the claim end, or may
// have: a Guard, Ack or Nack that failed or whose outcome is unknown, a
// Nack that returned OK, or a Lost event.
func (c *claim) ended() bool {
	if c.sawLost || len(c.nacks) > 0 {
		return true
	}
	for _, o := range slices.Concat(c.guards, c.acks) {
		if o.done.Type == Fail || o.done.Type == Info {
			return true
		}
	}
	return false
}

type claimKey struct {
	item  string
	token int64
}

// Check checks a history and the effect store found at the end of the
// run; see the package documentation for what it asserts.
func Check(history []Event, effects []Effect) *Result {
	r := &Result{Effects: len(effects)}
	bad := func(kind, item, format string, args ...any) {
		r.Violations = append(r.Violations, Violation{Kind: kind, Item: item, Detail: fmt.Sprintf(format, args...)})
	}

	h := slices.Clone(history)
	slices.SortStableFunc(h, func(a, b Event) int { return cmp.Compare(a.Time, b.Time) })

	// Pair invocations with completions, process by process.
	var ops []op
	open := map[string]int{} // process -> index in ops of its open operation
	var lostEvents []Event
	faults := map[string][]int64{} // process -> fault times
	for _, e := range h {
		switch e.F {
		case Fault:
			faults[e.Process] = append(faults[e.Process], e.Time)
			r.Faults++
			continue
		case Lost:
			lostEvents = append(lostEvents, e)
			continue
		case Put, Take, Guard, Ack, Nack:
		default:
			bad(KindMalformed, e.Item, "unknown event %q of %s", e.F, e.Process)
			continue
		}
		i, isOpen := open[e.Process]
		if e.Type == Invoke {
			if isOpen {
				bad(KindMalformed, e.Item, "%s invoked %s while its %s was open", e.Process, e.F, ops[i].invoke.F)
				ops[i].done = Event{Time: e.Time, Process: e.Process, Type: Info, F: ops[i].invoke.F, Err: "superseded"}
			}
			ops = append(ops, op{invoke: e})
			open[e.Process] = len(ops) - 1
			continue
		}
		if !isOpen || ops[i].invoke.F != e.F {
			bad(KindMalformed, e.Item, "%s completed %s (%s) without invoking it", e.Process, e.F, e.Type)
			continue
		}
		ops[i].done = e
		delete(open, e.Process)
	}
	for _, i := range open {
		o := &ops[i]
		o.done = Event{Time: math.MaxInt64, Process: o.invoke.Process, Type: Info, F: o.invoke.F, Item: o.invoke.Item, Token: o.invoke.Token, Err: "never completed"}
	}

	// Puts.
	type putState struct{ ok, info, fail int }
	puts := map[string]*putState{}
	// Claims, then what their consumers did with them.
	claims := map[claimKey]*claim{}
	byItem := map[string][]*claim{}
	for _, o := range ops {
		switch o.invoke.F {
		case Put:
			r.Puts++
			ps := puts[o.invoke.Item]
			if ps == nil {
				ps = &putState{}
				puts[o.invoke.Item] = ps
			}
			switch o.done.Type {
			case OK:
				ps.ok++
				r.PutsOK++
			case Fail:
				ps.fail++
			default:
				ps.info++
			}
		case Take:
			if o.done.Type != OK {
				continue
			}
			k := claimKey{o.done.Item, o.done.Token}
			if claims[k] != nil {
				bad(KindMalformed, k.item, "two takes with token %d (%s and %s)", k.token, claims[k].process(), o.invoke.Process)
				continue
			}
			c := &claim{take: o}
			claims[k] = c
			byItem[k.item] = append(byItem[k.item], c)
			r.Claims++
		}
	}
	for _, o := range ops {
		if o.invoke.F != Guard && o.invoke.F != Ack && o.invoke.F != Nack {
			continue
		}
		c := claims[claimKey{o.invoke.Item, o.invoke.Token}]
		if c == nil || c.process() != o.invoke.Process {
			bad(KindMalformed, o.invoke.Item, "%s of %s on token %d, which it did not take", o.invoke.F, o.invoke.Process, o.invoke.Token)
			continue
		}
		switch o.invoke.F {
		case Guard:
			c.guards = append(c.guards, o)
		case Ack:
			c.acks = append(c.acks, o)
			switch o.done.Type {
			case OK:
				r.Acks++
				if c.ackOK == nil {
					c.ackOK = &o
				}
			case Info:
				c.ackUnsure = true
			}
		case Nack:
			c.nacks = append(c.nacks, o)
		}
	}
	for _, e := range lostEvents {
		if c := claims[claimKey{e.Item, e.Token}]; c != nil && c.process() == e.Process {
			c.sawLost = true
		}
	}

	// Items put OK must have been taken.
	for _, item := range sortedKeys(puts) {
		if puts[item].ok > 0 && len(byItem[item]) == 0 {
			bad(KindLost, item, "put returned ok, never taken")
		}
	}

	// Each item's claims, in the order they were made.
	for _, item := range sortedKeys(byItem) {
		cs := byItem[item]
		slices.SortFunc(cs, func(a, b *claim) int { return cmp.Compare(a.token(), b.token()) })
		r.Items++
		r.Redeliveries += len(cs) - 1

		if ps := puts[item]; ps == nil {
			bad(KindPhantom, item, "taken by %s, never put", cs[0].process())
		} else if ps.ok == 0 && ps.info == 0 {
			bad(KindPhantom, item, "taken by %s, its every put failed", cs[0].process())
		}
		var entries []string
		for _, c := range cs {
			if e := c.take.done.Entry; e != "" && !slices.Contains(entries, e) {
				entries = append(entries, e)
			}
		}
		if len(entries) > 1 {
			bad(KindTwoEntries, item, "taken from entries %v", entries)
		}

		acked := cs[len(cs)-1].ackUnsure
		for i, c := range cs {
			// Claims of two entries are reported as two-entries alone.
			sameEntry := i == 0 || c.take.done.Entry == cs[i-1].take.done.Entry
			if i > 0 && sameEntry && c.take.done.Attempt <= cs[i-1].take.done.Attempt {
				bad(KindAttempt, item, "claim %d (%s) has attempt %d after claim %d's attempt %d",
					c.token(), c.process(), c.take.done.Attempt, cs[i-1].token(), cs[i-1].take.done.Attempt)
			}
			if c.ackOK != nil {
				acked = true
				for _, later := range cs[i+1:] {
					if later.take.done.Time < c.ackOK.invoke.Time {
						bad(KindStaleAck, item, "%s's Ack of claim %d returned ok after %s's claim %d was made",
							c.process(), c.token(), later.process(), later.token())
					} else {
						bad(KindAfterAck, item, "%s claimed it (token %d) after %s's Ack of claim %d returned ok",
							later.process(), later.token(), c.process(), c.token())
					}
				}
			}
			if i+1 < len(cs) && c.take.done.Entry == cs[i+1].take.done.Entry && !explained(c, cs[i+1], faults[c.process()]) {
				bad(KindUnexplained, item, "claim %d of %s superseded by claim %d of %s, and %s neither saw it end nor met a fault",
					c.token(), c.process(), cs[i+1].token(), cs[i+1].process(), c.process())
			}
		}
		if !acked {
			last := cs[len(cs)-1]
			bad(KindLost, item, "never acknowledged: its last claim %d (%s) ended with %s", last.token(), last.process(), ackSummary(last))
		}
	}

	// Fencing, over the effect store.
	landed := map[claimKey]Effect{}
	effectsOf := map[string][]Effect{}
	for _, e := range effects {
		k := claimKey{e.Item, e.Token}
		if _, dup := landed[k]; dup {
			bad(KindMalformed, e.Item, "two guarded writes under token %d", e.Token)
		}
		landed[k] = e
		effectsOf[e.Item] = append(effectsOf[e.Item], e)
	}
	for _, item := range sortedKeys(effectsOf) {
		var tokens []int64
		for _, c := range byItem[item] {
			tokens = append(tokens, c.token())
		}
		for _, e := range effectsOf[item] {
			tokens = append(tokens, e.Token)
		}
		slices.Sort(tokens)
		tokens = slices.Compact(tokens)
		for _, e := range effectsOf[item] {
			if e.Landed <= e.Token {
				bad(KindMalformed, item, "guarded write of token %d landed at %d, before its claim", e.Token, e.Landed)
				continue
			}
			for _, t := range tokens {
				if t > e.Token && t < e.Landed {
					bad(KindStaleWrite, item, "%s's write under claim %d landed at %d, after claim %d was made",
						e.Process, e.Token, e.Landed, t)
				}
			}
		}
	}
	for _, k := range sortedClaimKeys(claims) {
		c := claims[k]
		_, in := landed[k]
		for _, g := range c.guards {
			switch {
			case g.done.Type == OK && !in:
				bad(KindGuardResult, k.item, "%s's Guard under claim %d returned ok, and no write landed", c.process(), k.token)
			case g.done.Type == Fail && in:
				bad(KindGuardResult, k.item, "%s's Guard under claim %d failed (%s), and its write landed", c.process(), k.token, g.done.Err)
			}
		}
	}
	return r
}

// explained reports whether the claim c, superseded by next, ended in a
// way its consumer saw or a fault made likely: see claim.ended, or a fault
// of c's process between c's Take and next's claim.
func explained(c, next *claim, faults []int64) bool {
	if c.ended() {
		return true
	}
	from, to := c.take.invoke.Time, next.take.done.Time
	return slices.ContainsFunc(faults, func(t int64) bool { return t >= from && t <= to })
}

func ackSummary(c *claim) string {
	if len(c.acks) == 0 {
		return "no Ack"
	}
	a := c.acks[len(c.acks)-1].done
	if a.Err != "" {
		return fmt.Sprintf("Ack %s (%s)", a.Type, a.Err)
	}
	return "Ack " + string(a.Type)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedClaimKeys(m map[claimKey]*claim) []claimKey {
	keys := make([]claimKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b claimKey) int {
		return cmp.Or(cmp.Compare(a.item, b.item), cmp.Compare(a.token, b.token))
	})
	return keys
}
