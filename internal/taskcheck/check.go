package taskcheck

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
	// Invoke: a process started an operation.
	Invoke Type = "invoke"
	// OK: the operation happened.
	OK Type = "ok"
	// Fail: the operation certainly did not happen.
	Fail Type = "fail"
	// Info: the outcome is unknown, or the event is not an operation
	// (Start, Lost, Fault).
	Info Type = "info"
)

// F names what an Event is about.
type F string

// The operations, and the single events.
const (
	// Submit: a producer submits Task (Invoke, then OK, Fail or Info).
	Submit F = "submit"
	// Cancel: an operator cancels Task.
	Cancel F = "cancel"
	// Write: a worker writes to Task's resource under Token; Seq numbers
	// the process's writes, so a Write and the node it made match.
	Write F = "write"
	// Complete: a worker completes Task's attempt Attempt (Token) with
	// Result.
	Complete F = "complete"
	// FailTask: a worker fails Task's attempt Attempt (Token).
	FailTask F = "fail"
	// Start: a single event: Process was handed attempt Attempt of Task
	// with Token.
	Start F = "start"
	// Lost: a single event: the worker saw its assignment (Task, Token) end.
	Lost F = "lost"
	// Fault: a single event: the nemesis injected the fault named in Fault
	// into Process.
	Fault F = "fault"
)

// Event is one line of a history.
type Event struct {
	Time    int64  `json:"time"`              // wall clock, unix nanoseconds
	Process string `json:"process"`           // the process
	Type    Type   `json:"type"`              // invoke, ok, fail, info
	F       F      `json:"f"`                 // what it is about
	Task    string `json:"task,omitempty"`    // the task's id
	Attempt int    `json:"attempt,omitempty"` // Start, Complete, FailTask
	Token   int64  `json:"token,omitempty"`   // the assignment's fencing token
	Seq     int    `json:"seq,omitempty"`     // Write: the process's write number
	Result  string `json:"result,omitempty"`  // Complete: the result
	Fault   string `json:"fault,omitempty"`   // Fault: which fault
	Err     string `json:"err,omitempty"`     // the error of a Fail or Info
}

// An Effect is a resource write found on the servers at the end of a run.
type Effect struct {
	Task    string
	Token   int64  // the token it was written under
	Process string // the writer
	Seq     int    // the writer's write number
	Session int64  // the writer's session
	Landed  int64  // where it landed in the cluster's order: its node's CreateToken
}

// Instance is one attempt of a task, as its instance node says.
type Instance struct {
	Attempt int
	Worker  string
	Outcome string // "", "done", "failed", "released", "lost", "cancelled"
	Reason  string
}

// Final is a task as the servers hold it at the end of a run.
type Final struct {
	Task    string
	State   string // "pending", "assigned", "done", "cancelled", "dead"
	Attempt int
	Worker  string
	Reason  string
	Result  string
	// Written is the position of the record's last write (ModifyToken):
	// for a final state, when the task became final.
	Written   int64
	Instances []Instance
}

// Options tune Check.
type Options struct {
	// ReassignBound is the longest a task held by a killed worker may wait
	// for another worker to start it; 0 skips the liveness check.
	ReassignBound time.Duration
	// Masters are the processes whose faults excuse a slow re-assignment:
	// a master fail-over in the window adds its own delay.
	Masters []string
}

// The kinds of violations.
const (
	KindInterleaved    = "interleaved"     // an older token's write landed after a newer token's
	KindStaleWrite     = "stale-write"     // a write landed after a later assignment was made
	KindAfterFinal     = "write-after-end" // a write landed after the task was final
	KindTwoHolders     = "two-holders"     // one token's writes came from two sessions
	KindWriteResult    = "write-result"    // a Write's result and the store disagree
	KindLost           = "lost"            // a submitted task is not on the servers
	KindUnfinished     = "unfinished"      // a submitted task ended neither done nor dead
	KindNotOnce        = "not-once"        // a done task without exactly one "done" instance
	KindWrongResult    = "wrong-result"    // a done task's result or worker is not its completer's
	KindCompletedTwice = "completed-twice" // two Completes of a task returned OK
	KindCompleteLost   = "complete-lost"   // a Complete returned OK and did not make the task done
	KindStaleComplete  = "stale-complete"  // a task done by an attempt a later one superseded
	KindDeadNoReason   = "dead-no-reason"  // a dead or cancelled task without a reason
	KindPhantom        = "phantom"         // a task on the servers that was never submitted
	KindNotReassigned  = "not-reassigned"  // a killed worker's task never started again
	KindSlowReassign   = "slow-reassign"   // ... or later than ReassignBound
	KindMalformed      = "malformed"       // the history itself is inconsistent
)

// Violation is one broken invariant.
type Violation struct {
	Kind   string // one of the Kind constants
	Task   string // the task, when there is one
	Detail string
}

func (v Violation) String() string {
	if v.Task == "" {
		return v.Kind + ": " + v.Detail
	}
	return fmt.Sprintf("%s: %s: %s", v.Kind, v.Task, v.Detail)
}

// Result is what Check found: the violations, and counts for the report.
type Result struct {
	Violations []Violation

	Submitted int // Submits that returned OK
	Done      int // tasks ended done
	Dead      int // tasks ended dead
	Starts    int // attempts started
	Retried   int // attempts beyond the first of a task
	Writes    int // resource writes on the servers
	Faults    int // Fault events
	Kills     int // kills that left a worker's task to re-assign
	Excused   int // ... of which a master fault overlapped
	// Reassign are the delays from a kill to the re-start of each task the
	// killed worker held, in order.
	Reassign []time.Duration
}

// Valid reports whether no violation was found.
func (r *Result) Valid() bool { return len(r.Violations) == 0 }

// Has reports whether a violation of the kind was found.
func (r *Result) Has(kind string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Kind == kind })
}

// MaxReassign is the longest re-assignment delay after a kill.
func (r *Result) MaxReassign() time.Duration {
	if len(r.Reassign) == 0 {
		return 0
	}
	return r.Reassign[len(r.Reassign)-1]
}

// String summarises the counts and lists the violations.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tasks submitted, %d done, %d dead; %d attempts (%d retries), %d writes, %d faults, %d kills with tasks in hand (%d excused), longest re-assignment %v; %d violations",
		r.Submitted, r.Done, r.Dead, r.Starts, r.Retried, r.Writes, r.Faults, r.Kills, r.Excused, r.MaxReassign().Round(time.Millisecond), len(r.Violations))
	const most = 30
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
	return errors.New("taskcheck: " + r.String())
}

// op is one operation: its invocation and its completion. An operation
// still open when the history ends completes as Info at the end of time.
type op struct {
	invoke, done Event
}

// opKey is what a process runs one operation of at a time.
type opKey struct {
	process string
	task    string
}

// Check checks a history, the resource writes and the final states found
// at the end of a run; see the package documentation for what it asserts.
func Check(history []Event, writes []Effect, finals []Final, o Options) *Result {
	r := &Result{Writes: len(writes)}
	bad := func(kind, task, format string, args ...any) {
		r.Violations = append(r.Violations, Violation{Kind: kind, Task: task, Detail: fmt.Sprintf(format, args...)})
	}

	h := slices.Clone(history)
	slices.SortStableFunc(h, func(a, b Event) int { return cmp.Compare(a.Time, b.Time) })

	// Pair invocations with completions.
	var ops []op
	open := map[opKey]int{}
	var starts, faults, lost []Event
	for _, e := range h {
		switch e.F {
		case Fault:
			faults = append(faults, e)
			r.Faults++
			continue
		case Start:
			starts = append(starts, e)
			continue
		case Lost:
			lost = append(lost, e)
			continue
		case Submit, Cancel, Write, Complete, FailTask:
		default:
			bad(KindMalformed, e.Task, "unknown event %q of %s", e.F, e.Process)
			continue
		}
		k := opKey{e.Process, e.Task}
		i, isOpen := open[k]
		if e.Type == Invoke {
			if isOpen {
				bad(KindMalformed, e.Task, "%s invoked %s while its %s was open", e.Process, e.F, ops[i].invoke.F)
				ops[i].done = Event{Time: e.Time, Process: e.Process, Type: Info, F: ops[i].invoke.F, Err: "superseded"}
			}
			ops = append(ops, op{invoke: e})
			open[k] = len(ops) - 1
			continue
		}
		if !isOpen || ops[i].invoke.F != e.F {
			bad(KindMalformed, e.Task, "%s completed %s (%s) without invoking it", e.Process, e.F, e.Type)
			continue
		}
		ops[i].done = e
		delete(open, k)
	}
	for _, i := range open {
		o := &ops[i]
		o.done = Event{Time: math.MaxInt64, Process: o.invoke.Process, Type: Info, F: o.invoke.F, Task: o.invoke.Task, Err: "never completed"}
	}

	// What the history says of each task.
	type taskOps struct {
		submitOK, submitMaybe, cancelled bool
		completes                        []op
		tokens                           []int64 // assignment tokens seen in Starts
	}
	tasks := map[string]*taskOps{}
	get := func(id string) *taskOps {
		t := tasks[id]
		if t == nil {
			t = &taskOps{}
			tasks[id] = t
		}
		return t
	}
	type writeKey struct {
		process string
		seq     int
	}
	writeOps := map[writeKey]op{}
	for _, o := range ops {
		t := get(o.invoke.Task)
		switch o.invoke.F {
		case Submit:
			switch o.done.Type {
			case OK:
				t.submitOK = true
				r.Submitted++
			case Info:
				t.submitMaybe = true
			}
		case Cancel:
			if o.done.Type != Fail {
				t.cancelled = true
			}
		case Complete:
			t.completes = append(t.completes, o)
		case Write:
			writeOps[writeKey{o.invoke.Process, o.invoke.Seq}] = o
		}
	}
	startsOf := map[string][]Event{}
	for _, s := range starts {
		t := get(s.Task)
		t.tokens = append(t.tokens, s.Token)
		startsOf[s.Task] = append(startsOf[s.Task], s)
		r.Starts++
	}
	for _, ss := range startsOf {
		attempts := map[int]bool{}
		for _, s := range ss {
			attempts[s.Attempt] = true
		}
		r.Retried += len(attempts) - 1
	}

	// Final states: exactly once, or dead with a reason.
	final := map[string]Final{}
	for _, f := range finals {
		final[f.Task] = f
	}
	ids := make([]string, 0, len(tasks))
	for id, t := range tasks {
		if t.submitOK || t.submitMaybe {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		t := tasks[id]
		f, ok := final[id]
		if !ok {
			if t.submitOK {
				bad(KindLost, id, "submitted, not on the servers")
			}
			continue
		}
		last := 0
		for _, s := range startsOf[id] {
			last = max(last, s.Attempt)
		}
		checkFinal(r, bad, f, t.cancelled, t.completes, last)
	}
	for _, f := range finals {
		if t := tasks[f.Task]; t == nil || !(t.submitOK || t.submitMaybe) {
			bad(KindPhantom, f.Task, "on the servers (%s), never submitted", f.State)
		}
	}

	// Fencing, over the writes that landed.
	byTask := map[string][]Effect{}
	for _, w := range writes {
		byTask[w.Task] = append(byTask[w.Task], w)
	}
	landed := map[writeKey]bool{}
	for _, id := range mapsKeys(byTask) {
		ws := byTask[id]
		slices.SortFunc(ws, func(a, b Effect) int { return cmp.Compare(a.Landed, b.Landed) })
		tokens := map[int64]bool{}
		if t := tasks[id]; t != nil {
			for _, k := range t.tokens {
				tokens[k] = true
			}
		}
		session := map[int64]Effect{}
		var newest Effect
		for i, w := range ws {
			landed[writeKey{w.Process, w.Seq}] = true
			tokens[w.Token] = true
			if i > 0 && w.Token < newest.Token {
				bad(KindInterleaved, id, "%s's write %d (token %d) landed at %d, after %s's write %d (token %d) at %d",
					w.Process, w.Seq, w.Token, w.Landed, newest.Process, newest.Seq, newest.Token, newest.Landed)
			}
			if w.Token > newest.Token {
				newest = w
			}
			if first, ok := session[w.Token]; !ok {
				session[w.Token] = w
			} else if first.Session != w.Session {
				bad(KindTwoHolders, id, "token %d: writes of session %x (%s) and %x (%s) both landed",
					w.Token, first.Session, first.Process, w.Session, w.Process)
			}
			if f, ok := final[id]; ok && isFinal(f.State) && f.Written > 0 && w.Landed > f.Written {
				bad(KindAfterFinal, id, "%s's write %d (token %d) landed at %d, after the task became %s at %d",
					w.Process, w.Seq, w.Token, w.Landed, f.State, f.Written)
			}
		}
		for _, w := range ws {
			for k := range tokens {
				if k > w.Token && k < w.Landed {
					bad(KindStaleWrite, id, "%s's write %d (token %d) landed at %d, after the assignment with token %d",
						w.Process, w.Seq, w.Token, w.Landed, k)
					break
				}
			}
		}
	}
	for k, o := range writeOps {
		switch {
		case o.done.Type == OK && !landed[k]:
			bad(KindWriteResult, o.invoke.Task, "%s's write %d returned ok and is not on the servers", k.process, k.seq)
		case o.done.Type == Fail && landed[k]:
			bad(KindWriteResult, o.invoke.Task, "%s's write %d failed (%s) and landed", k.process, k.seq, o.done.Err)
		}
	}

	if o.ReassignBound > 0 {
		checkLiveness(r, bad, o, ops, starts, faults, lost, final)
	}
	slices.Sort(r.Reassign)
	return r
}

// mapsKeys returns m's keys, sorted.
func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func isFinal(state string) bool { return state == "done" || state == "dead" || state == "cancelled" }

// checkFinal checks one submitted task's final state against its Completes.
func checkFinal(r *Result, bad func(kind, task, format string, args ...any), f Final, cancelled bool, completes []op, lastStarted int) {
	id := f.Task
	var oks []op
	for _, c := range completes {
		if c.done.Type == OK {
			oks = append(oks, c)
		}
	}
	if len(oks) > 1 {
		bad(KindCompletedTwice, id, "Completes of attempts %d (%s) and %d (%s) both returned ok",
			oks[0].invoke.Attempt, oks[0].invoke.Process, oks[1].invoke.Attempt, oks[1].invoke.Process)
	}
	var done []Instance
	for _, in := range f.Instances {
		if in.Outcome == "done" {
			done = append(done, in)
		}
	}
	switch f.State {
	case "done":
		r.Done++
		if len(done) != 1 {
			bad(KindNotOnce, id, "done with %d instances done: %+v", len(done), f.Instances)
			break
		}
		in := done[0]
		if in.Attempt != f.Attempt || in.Worker != f.Worker {
			bad(KindNotOnce, id, "done by attempt %d of %s, the instance done is attempt %d of %s", f.Attempt, f.Worker, in.Attempt, in.Worker)
		}
		// The result must be what the completing attempt's worker passed.
		var match bool
		for _, c := range completes {
			if c.invoke.Attempt == f.Attempt && c.invoke.Result == f.Result && c.done.Type != Fail {
				match = true
			}
		}
		if !match {
			bad(KindWrongResult, id, "result %q of attempt %d (%s): no Complete of that attempt passed it", f.Result, f.Attempt, f.Worker)
		}
		if last := lastStarted; last > f.Attempt {
			bad(KindStaleComplete, id, "done by attempt %d (%s), after attempt %d started", f.Attempt, f.Worker, last)
		}
		for _, c := range oks {
			if c.invoke.Attempt != f.Attempt {
				bad(KindCompleteLost, id, "the Complete of attempt %d (%s) returned ok; the task was done by attempt %d", c.invoke.Attempt, c.invoke.Process, f.Attempt)
			}
		}
	case "dead", "cancelled":
		if f.State == "dead" {
			r.Dead++
		} else if !cancelled {
			bad(KindUnfinished, id, "cancelled, and nobody cancelled it")
		}
		if f.Reason == "" {
			bad(KindDeadNoReason, id, "%s without a reason", f.State)
		}
		if len(done) > 0 {
			bad(KindNotOnce, id, "%s with an instance done: %+v", f.State, done)
		}
		for _, c := range oks {
			bad(KindCompleteLost, id, "the Complete of attempt %d (%s) returned ok; the task is %s", c.invoke.Attempt, c.invoke.Process, f.State)
		}
	default:
		bad(KindUnfinished, id, "%s at the end (attempt %d, worker %s)", f.State, f.Attempt, f.Worker)
	}
}

// checkLiveness checks that the tasks a killed worker held were started
// again soon enough.
func checkLiveness(r *Result, bad func(kind, task, format string, args ...any), o Options, ops []op, starts, faults, lost []Event, final map[string]Final) {
	masters := map[string]bool{}
	for _, m := range o.Masters {
		masters[m] = true
	}
	bound := int64(o.ReassignBound)
	for _, k := range faults {
		if k.Fault != "kill" || masters[k.Process] {
			continue
		}
		// The attempts the process held at the kill: started, and not
		// finished by an outcome that returned before it, nor seen lost,
		// nor started by another process since.
		held := map[string]Event{}
		for _, s := range starts {
			if s.Process == k.Process && s.Time <= k.Time {
				held[s.Task] = s
			}
		}
		for id, s := range held {
			for _, n := range starts {
				if n.Task == id && n.Process != k.Process && n.Time > s.Time && n.Time <= k.Time {
					delete(held, id)
				}
			}
			for _, l := range lost {
				if l.Process == k.Process && l.Task == id && l.Time > s.Time && l.Time <= k.Time {
					delete(held, id)
				}
			}
		}
		for _, op := range ops {
			f := op.invoke.F
			if op.invoke.Process == k.Process && (f == Complete || f == FailTask) && op.done.Time <= k.Time && op.done.Type != Info {
				if s, ok := held[op.invoke.Task]; ok && s.Attempt == op.invoke.Attempt {
					delete(held, op.invoke.Task)
				}
			}
		}
		if len(held) == 0 {
			continue
		}
		r.Kills++
		excused := false
		for _, f := range faults {
			if masters[f.Process] && f.Time >= k.Time-bound && f.Time <= k.Time+bound {
				excused = true
			}
		}
		if excused {
			r.Excused++
		}
		for _, id := range mapsKeys(held) {
			s := held[id]
			var next *Event
			for i := range starts {
				n := &starts[i]
				if n.Task == id && n.Time > k.Time && n.Process != k.Process {
					next = n
					break
				}
			}
			fin := final[id]
			if next == nil {
				if (fin.State == "done" && fin.Attempt == s.Attempt) || fin.State == "dead" || fin.State == "cancelled" {
					continue // its Complete landed unseen, or the reclaim ended it
				}
				bad(KindNotReassigned, id, "held by %s (attempt %d) when it was killed, never started again", k.Process, s.Attempt)
				continue
			}
			d := time.Duration(next.Time - k.Time)
			if !excused {
				r.Reassign = append(r.Reassign, d)
			}
			if d > o.ReassignBound && !excused {
				bad(KindSlowReassign, id, "held by %s (attempt %d) when it was killed, started again by %s after %v (bound %v)",
					k.Process, s.Attempt, next.Process, d.Round(time.Millisecond), o.ReassignBound)
			}
		}
	}
}
