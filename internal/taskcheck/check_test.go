package taskcheck

import (
	"strings"
	"testing"
	"time"
)

// hist builds a history with increasing times.
type hist struct {
	t  int64
	ev []Event
}

func (h *hist) add(e Event) *hist {
	h.t += int64(time.Millisecond)
	if e.Time == 0 {
		e.Time = h.t
	} else {
		h.t = e.Time
	}
	h.ev = append(h.ev, e)
	return h
}

func (h *hist) op(process string, f F, typ Type, e Event) *hist {
	e.Process, e.F = process, f
	in := e
	in.Type = Invoke
	h.add(in)
	e.Type = typ
	return h.add(e)
}

func (h *hist) submit(id string) *hist { return h.op("p", Submit, OK, Event{Task: id}) }

func (h *hist) start(process, id string, attempt int, token int64) *hist {
	return h.add(Event{Process: process, Type: Info, F: Start, Task: id, Attempt: attempt, Token: token})
}

func (h *hist) write(process, id string, token int64, seq int, typ Type) *hist {
	return h.op(process, Write, typ, Event{Task: id, Token: token, Seq: seq})
}

func (h *hist) complete(process, id string, attempt int, token int64, typ Type) *hist {
	return h.op(process, Complete, typ, Event{Task: id, Attempt: attempt, Token: token, Result: process + "/" + id})
}

func (h *hist) fault(process, kind string) *hist {
	return h.add(Event{Process: process, Type: Info, F: Fault, Fault: kind})
}

func done(id, worker string, attempt int, written int64, lost ...Instance) Final {
	ins := append(lost, Instance{Attempt: attempt, Worker: worker, Outcome: "done"})
	return Final{Task: id, State: "done", Attempt: attempt, Worker: worker, Result: worker + "/" + id, Written: written, Instances: ins}
}

// TestCheck checks Check on hand-made histories: a clean run with a kill
// and a re-assignment, and one history per violation.
func TestCheck(t *testing.T) {
	ms := int64(time.Millisecond)
	// The clean story: t1 run by w1 (token 10); w1 killed while it held t2
	// (token 20); w2 takes t2 over (token 30), writes and completes; t3 is
	// dead after a failure.
	clean := func() (*hist, []Effect, []Final) {
		h := &hist{}
		h.submit("t1").submit("t2").submit("t3")
		h.start("w1", "t1", 1, 10).write("w1", "t1", 10, 1, OK).complete("w1", "t1", 1, 10, OK)
		h.start("w1", "t2", 1, 20).write("w1", "t2", 20, 2, OK)
		h.fault("w1", "kill")
		h.add(Event{Time: h.t + 3000*ms, Process: "w2", Type: Info, F: Start, Task: "t2", Attempt: 2, Token: 30})
		h.write("w2", "t2", 30, 1, OK).complete("w2", "t2", 2, 30, OK)
		h.start("w2", "t3", 1, 40).op("w2", FailTask, OK, Event{Task: "t3", Attempt: 1, Token: 40})
		writes := []Effect{
			{Task: "t1", Token: 10, Process: "w1", Seq: 1, Session: 1, Landed: 11},
			{Task: "t2", Token: 20, Process: "w1", Seq: 2, Session: 1, Landed: 21},
			{Task: "t2", Token: 30, Process: "w2", Seq: 1, Session: 2, Landed: 31},
		}
		finals := []Final{
			done("t1", "w1", 1, 12),
			done("t2", "w2", 2, 32, Instance{Attempt: 1, Worker: "w1", Outcome: "lost", Reason: "gone"}),
			{Task: "t3", State: "dead", Attempt: 1, Worker: "w2", Reason: "boom", Written: 41,
				Instances: []Instance{{Attempt: 1, Worker: "w2", Outcome: "failed", Reason: "boom"}}},
		}
		return h, writes, finals
	}
	opts := Options{ReassignBound: 5 * time.Second, Masters: []string{"m1"}}

	tests := []struct {
		name  string
		edit  func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options)
		kinds []string // none: valid
	}{
		{"clean", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) { return h.ev, w, f, opts }, nil},
		{"interleaved and stale", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			// The killed w1's zombie write lands after w2's.
			w = append(w, Effect{Task: "t2", Token: 20, Process: "w1", Seq: 3, Session: 1, Landed: 32})
			f[1].Written = 33
			return h.ev, w, f, opts
		}, []string{KindInterleaved, KindStaleWrite}},
		{"stale before the new holder wrote", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			// w1's write lands after w2's assignment (token 30) though
			// before w2's own write: only the assignment token shows it.
			w[1].Landed = 31
			w[2].Landed = 33
			f[1].Written = 34
			return h.ev, w, f, opts
		}, []string{KindStaleWrite}},
		{"after final", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			w[0].Landed = 13
			return h.ev, w, f, opts
		}, []string{KindAfterFinal}},
		{"two holders", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			w = append(w, Effect{Task: "t1", Token: 10, Process: "w9", Seq: 1, Session: 9, Landed: 11})
			w[0].Landed = 10
			return h.ev, w, f, opts
		}, []string{KindTwoHolders}},
		{"write ok not landed", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			return h.ev, w[1:], f, opts
		}, []string{KindWriteResult}},
		{"write failed and landed", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			h.start("w3", "t4", 1, 50).write("w3", "t4", 50, 1, Fail)
			w = append(w, Effect{Task: "t4", Token: 50, Process: "w3", Seq: 1, Session: 3, Landed: 51})
			return h.ev, w, f, opts
		}, []string{KindWriteResult}},
		{"lost task", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			return h.ev, w, f[1:], opts
		}, []string{KindLost}},
		{"unfinished", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			f[0] = Final{Task: "t1", State: "assigned", Attempt: 1, Worker: "w1"}
			return h.ev, w, f, opts
		}, []string{KindUnfinished}},
		{"done twice", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			f[1].Instances[0].Outcome = "done"
			return h.ev, w, f, opts
		}, []string{KindNotOnce}},
		{"wrong result", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			f[1].Result = "w1/t2"
			return h.ev, w, f, opts
		}, []string{KindWrongResult}},
		{"two completes ok", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			h.complete("w1", "t2", 1, 20, OK)
			return h.ev, w, f, opts
		}, []string{KindCompletedTwice, KindCompleteLost}},
		{"done by a superseded attempt", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			// w1's late Complete of attempt 1 made t2 done, though w2 had
			// started attempt 2.
			h.complete("w1", "t2", 1, 20, OK)
			f[1] = done("t2", "w1", 1, 40, Instance{Attempt: 2, Worker: "w2"})
			return h.ev, w, f, opts
		}, []string{KindStaleComplete, KindCompletedTwice, KindCompleteLost}},
		{"dead without reason", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			f[2].Reason = ""
			return h.ev, w, f, opts
		}, []string{KindDeadNoReason}},
		{"phantom", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			f = append(f, done("t9", "w1", 1, 99))
			return h.ev, w, f, opts
		}, []string{KindPhantom}},
		{"slow re-assignment", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			o := opts
			o.ReassignBound = 2 * time.Second
			return h.ev, w, f, o
		}, []string{KindSlowReassign}},
		{"slow re-assignment excused by a master fault", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			o := opts
			o.ReassignBound = 2 * time.Second
			for _, e := range h.ev {
				if e.Fault == "kill" {
					h.add(Event{Time: e.Time + 1000*ms, Process: "m1", Type: Info, F: Fault, Fault: "expire"})
					break
				}
			}
			return h.ev, w, f, o
		}, nil},
		{"never re-assigned", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			// t2 stays with the dead worker.
			var ev []Event
			for _, e := range h.ev {
				if e.Process != "w2" || e.Task != "t2" {
					ev = append(ev, e)
				}
			}
			f[1] = Final{Task: "t2", State: "assigned", Attempt: 1, Worker: "w1"}
			return ev, w[:2], f, opts
		}, []string{KindNotReassigned, KindUnfinished}},
		{"killed worker's complete landed unseen", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			var ev []Event
			for _, e := range h.ev {
				if e.Process != "w2" || e.Task != "t2" {
					ev = append(ev, e)
				}
			}
			// w1's Complete was in flight when it was killed.
			h2 := &hist{t: h.t, ev: ev}
			h2.add(Event{Time: ev[len(ev)-1].Time - ms, Process: "w1", Type: Invoke, F: Complete, Task: "t2", Attempt: 1, Token: 20, Result: "w1/t2"})
			f[1] = done("t2", "w1", 1, 22)
			return h2.ev, w[:2], f, opts
		}, nil},
		{"lost or taken over before the kill", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			o := opts
			o.ReassignBound = 2 * time.Second
			// w1 saw t2 lost before it was killed: its re-assignment
			// followed another fault, not the kill.
			for i, e := range h.ev {
				if e.Fault == "kill" {
					lost := Event{Time: e.Time - 1, Process: "w1", Type: Info, F: Lost, Task: "t2", Token: 20}
					h.ev = append(h.ev[:i], append([]Event{lost}, h.ev[i:]...)...)
					break
				}
			}
			return h.ev, w, f, o
		}, nil},
		{"malformed", func(h *hist, w []Effect, f []Final) ([]Event, []Effect, []Final, Options) {
			h.add(Event{Process: "w1", Type: OK, F: Write, Task: "t1", Seq: 7})
			return h.ev, w, f, opts
		}, []string{KindMalformed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, w, f := clean()
			ev, w, f, o := tc.edit(h, w, f)
			res := Check(ev, w, f, o)
			if len(tc.kinds) == 0 {
				if !res.Valid() {
					t.Fatalf("got %v, want valid", res)
				}
				return
			}
			for _, k := range tc.kinds {
				if !res.Has(k) {
					t.Errorf("got %v, want a %s violation", res, k)
				}
			}
			for _, v := range res.Violations {
				found := false
				for _, k := range tc.kinds {
					found = found || v.Kind == k
				}
				if !found {
					t.Errorf("unexpected violation %v", v)
				}
			}
			if res.Err() == nil || !strings.Contains(res.Err().Error(), tc.kinds[0]) {
				t.Errorf("Err() = %v", res.Err())
			}
		})
	}
}

// TestCheckCounts checks the counts of a clean history.
func TestCheckCounts(t *testing.T) {
	h := &hist{}
	h.submit("a").start("w1", "a", 1, 5).fault("w1", "kill")
	h.add(Event{Time: h.t + int64(time.Second), Process: "w2", Type: Info, F: Start, Task: "a", Attempt: 2, Token: 9})
	h.complete("w2", "a", 2, 9, OK)
	res := Check(h.ev, nil, []Final{done("a", "w2", 2, 10, Instance{Attempt: 1, Worker: "w1", Outcome: "lost"})}, Options{ReassignBound: 2 * time.Second})
	if !res.Valid() {
		t.Fatal(res)
	}
	if res.Submitted != 1 || res.Done != 1 || res.Starts != 2 || res.Retried != 1 || res.Kills != 1 || res.Faults != 1 ||
		len(res.Reassign) != 1 || res.MaxReassign() < time.Second {
		t.Fatalf("counts: %+v", res)
	}
}
