package barriercheck

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = int64(time.Millisecond)

// hist builds a history; each event is 1 ms after the last unless at says
// otherwise. Members a, b, c, d run in processes pa, pb, pc, pd; a
// member's process is "p" and its name's first letter.
type hist struct {
	t  int64
	ev []Event
}

func (h *hist) add(member string, f F, typ Type) *hist {
	h.t += ms
	h.ev = append(h.ev, Event{Time: h.t, Process: "p" + member[:1], Member: member, Type: typ, F: f})
	return h
}

// at moves the clock to t (ms from the start).
func (h *hist) at(t int64) *hist {
	h.t = t * ms
	return h
}

func (h *hist) enter(typ Type, members ...string) *hist {
	for _, m := range members {
		h.add(m, Enter, typ)
	}
	return h
}

func (h *hist) leave(typ Type, members ...string) *hist {
	for _, m := range members {
		h.add(m, Leave, typ)
	}
	return h
}

func (h *hist) kill(process string) *hist {
	h.t += ms
	h.ev = append(h.ev, Event{Time: h.t, Process: process, Type: Info, F: Kill})
	return h
}

func (h *hist) lost(member string) *hist { return h.add(member, Lost, Info) }

// round is a clean round of the members: all invoke Enter, all pass, all
// invoke Leave, all return.
func (h *hist) round(members ...string) *hist {
	return h.enter(Invoke, members...).enter(OK, members...).leave(Invoke, members...).leave(OK, members...)
}

var opts = Options{N: 4, Timeout: 4 * time.Second, Slack: 2 * time.Second}

// TestCheck checks Check on hand-made histories, each with the violations
// it must report (none: legal).
//
// Broken on purpose, one at a time: a killed member's presence never
// ending (no window) -> "killed member counted only in its window" passes
// with no violation; a hung Leave's release taken as never (no circle
// breaker) -> "leaves wait for the next round" reports no hang; the
// Leave's cohort taken from every stay that passed before its deadline
// (a fixpoint, as first written), or before its Leave ended -> "leave
// hangs while later rounds go on" reports no hang, the rounds pushing the
// deadline past the stop; presence
// counted from Enter's OK instead of its invocation -> "legal rounds",
// "more than n admitted" and "killed member counted in its window" report
// early passes; the enter bound switched off -> "enter hangs with n in"
// reports nothing.
func TestCheck(t *testing.T) {
	abcd := []string{"a", "b", "c", "d"}
	tests := []struct {
		name    string
		history func() ([]Event, Options)
		kinds   []string
		// present: the members the first violation names as present.
		present string
	}{
		{"legal rounds", func() ([]Event, Options) {
			h := (&hist{}).round(abcd...).round(abcd...)
			// A third round in which d comes late, and a and b fail an
			// Enter (their contexts ended) and try again.
			h.enter(Invoke, "a", "b", "c").enter(Fail, "a", "b").enter(Invoke, "a", "b")
			h.at(3000).enter(Invoke, "d").enter(OK, "d", "c", "a", "b").leave(Invoke, abcd...).leave(OK, abcd...)
			return h.ev, opts
		}, nil, ""},
		{"enter again after a failed leave", func() ([]Event, Options) {
			// d's Leave fails (not a loss) and it goes on with the next
			// round; its node may have stayed, so it stays present.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a", "b", "c").leave(Fail, "d")
			h.round(abcd...)
			return h.ev, opts
		}, nil, ""},
		{"more than n admitted", func() ([]Event, Options) {
			// e comes while the others are inside and passes at once.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).enter(Invoke, "e").enter(OK, "e")
			h.leave(Invoke, "a", "b", "c", "d", "e").leave(OK, "a", "b", "c", "d", "e")
			return h.ev, opts
		}, nil, ""},
		{"early pass", func() ([]Event, Options) {
			// a passes with a, b and c present: d had not come.
			h := (&hist{}).enter(Invoke, "a", "b", "c").enter(OK, "a").enter(Invoke, "d").enter(OK, "b", "c", "d")
			h.leave(Invoke, abcd...).leave(OK, abcd...)
			return h.ev, opts
		}, []string{KindEarlyPass}, "[a b c]"},
		{"early pass after the round left", func() ([]Event, Options) {
			// Every member of the round returned from Leave before e
			// passed: only e is present.
			h := (&hist{}).round(abcd...).enter(Invoke, "e").enter(OK, "e").leave(Invoke, "e").leave(OK, "e")
			return h.ev, opts
		}, []string{KindEarlyPass}, "[e]"},
		{"killed member counted in its window", func() ([]Event, Options) {
			// a is killed inside; its replacement e passes with b and c
			// (d absent) 5.8 s later, a's node still counting (until
			// 4 s + 2 s after the kill).
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, "b", "c", "d").kill("pa")
			h.at(5000).leave(OK, "b", "c", "d") // a's node expired
			h.enter(Invoke, "b", "c")
			h.at(1000).enter(Invoke, "e") // not in time order: Check sorts
			h.at(5800).enter(OK, "b", "c", "e").leave(Invoke, "b", "c", "e").leave(OK, "b", "c", "e")
			return h.ev, opts
		}, nil, ""},
		{"killed member counted only in its window", func() ([]Event, Options) {
			// As before, but e, b and c pass 7 s after the kill, with
			// d absent: a's node is gone (4 s + 2 s), so three are present.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, "b", "c", "d").kill("pa")
			h.at(5000).leave(OK, "b", "c", "d")
			h.enter(Invoke, "b", "c").at(1000).enter(Invoke, "e")
			h.at(7100).enter(OK, "b", "c", "e").leave(Invoke, "b", "c", "e").leave(OK, "b", "c", "e")
			return h.ev, opts
		}, []string{KindEarlyPass, KindEarlyPass, KindEarlyPass}, "[b c e]"},
		{"lost member counted in its window", func() ([]Event, Options) {
			// a's Leave fails with its session lost; e (its process's new
			// member) passes with b and c 1 s later: a's node may linger.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(Fail, "a").lost("a")
			h.leave(OK, "b", "c", "d").enter(Invoke, "b", "c", "e").at(1000).enter(OK, "b", "c", "e")
			h.leave(Invoke, "b", "c", "e").leave(OK, "b", "c", "e")
			return h.ev, opts
		}, nil, ""},
		{"leave waits for a killed member", func() ([]Event, Options) {
			// b, c and d wait in Leave for the killed a's node to expire:
			// 5 s after the kill is within 4 s + 2 s.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).kill("pa").leave(Invoke, "b", "c", "d")
			h.at(5000).leave(OK, "b", "c", "d")
			return h.ev, opts
		}, nil, ""},
		{"leave hangs after the others left", func() ([]Event, Options) {
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a", "b", "c")
			h.at(10000).leave(OK, "d")
			return h.ev, opts
		}, []string{KindLeaveHang}, "[d]"},
		{"leaves wait for the next round", func() ([]Event, Options) {
			// a left and entered again; b, c and d wait for its new node
			// for ever (the path reused), and stop when told to.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a").enter(Invoke, "a")
			o := opts
			o.Stop = 30000 * ms
			h.at(30001).enter(Fail, "a").leave(Fail, "b", "c", "d")
			return h.ev, o
		}, []string{KindLeaveHang, KindLeaveHang, KindLeaveHang}, "[a b c d]"},
		{"leave hangs while later rounds go on", func() ([]Event, Options) {
			// d never returns from Leave (its node may stand: it stays
			// present), while a, b, c and a newcomer e go on with rounds
			// every second until the stop: they do not excuse d.
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a", "b", "c")
			for i := range int64(29) {
				h.at(1000*(i+1)).round("a", "b", "c", "e")
			}
			o := opts
			o.Stop = 30000 * ms
			h.at(30001).leave(Fail, "d")
			return h.ev, o
		}, []string{KindLeaveHang}, "[d e]"},
		{"hang cut short by the stop", func() ([]Event, Options) {
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a").enter(Invoke, "a")
			o := opts
			o.Stop = h.t + 5000*ms
			h.at(5020).enter(Fail, "a").leave(Fail, "b", "c", "d")
			return h.ev, o
		}, nil, ""},
		{"enter hangs with n in", func() ([]Event, Options) {
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, "a", "b", "c")
			h.at(7000).enter(OK, "d").leave(Invoke, abcd...).leave(OK, abcd...)
			return h.ev, opts
		}, []string{KindEnterHang}, "[a b c d]"},
		{"enter waits for a lost member's successor", func() ([]Event, Options) {
			// Four in Enter, but d's session is lost: the others wait for
			// its successor e, which comes 9 s later.
			h := (&hist{}).enter(Invoke, abcd...).enter(Fail, "d").lost("d")
			h.at(9000).enter(Invoke, "e").enter(OK, "a", "b", "c", "e").leave(Invoke, "a", "b", "c", "e").leave(OK, "a", "b", "c", "e")
			return h.ev, opts
		}, nil, ""},
		{"unfinished", func() ([]Event, Options) {
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a", "b", "c")
			return h.ev, opts
		}, []string{KindUnfinished, KindLeaveHang}, "[a b c d]"},
		{"killed while unfinished", func() ([]Event, Options) {
			h := (&hist{}).enter(Invoke, abcd...).enter(OK, abcd...).leave(Invoke, abcd...).leave(OK, "a", "b", "c").kill("pd")
			return h.ev, opts
		}, nil, ""},
		{"malformed", func() ([]Event, Options) {
			h := (&hist{}).round(abcd...).leave(OK, "a")
			h.lost("b").enter(Invoke, "b")
			return h.ev, opts
		}, []string{KindMalformed, KindMalformed}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, o := tc.history()
			res := Check(ev, o)
			if len(tc.kinds) == 0 {
				if !res.Valid() {
					t.Fatalf("got %v, want valid", res)
				}
				return
			}
			var got []string
			for _, v := range res.Violations {
				got = append(got, v.Kind)
			}
			if strings.Join(got, " ") != strings.Join(tc.kinds, " ") {
				t.Fatalf("got %v, want violations %v", res, tc.kinds)
			}
			if p := res.Violations[0].Present; tc.present != "" && strings.Join(p, " ") != strings.Trim(tc.present, "[]") {
				t.Errorf("got present %v, want %s", p, tc.present)
			}
			if res.Err() == nil || !strings.Contains(res.Err().Error(), tc.kinds[0]) {
				t.Errorf("Err() = %v", res.Err())
			}
		})
	}
}

// TestCheckCounts checks the counts of a legal history.
func TestCheckCounts(t *testing.T) {
	h := (&hist{}).round("a", "b", "c", "d").enter(Invoke, "a", "b", "c", "d").enter(OK, "a", "b", "c", "d").kill("pa")
	h.ev = append(h.ev, Event{Time: h.t + ms, Process: "pb", Type: Info, F: Fault, Fault: "cut"})
	h.at(3000).leave(Invoke, "b", "c", "d").leave(OK, "b", "c", "d")
	res := Check(h.ev, opts)
	if !res.Valid() {
		t.Fatal(res)
	}
	if res.Members != 4 || res.Enters != 8 || res.Leaves != 7 || res.Kills != 1 || res.Faults != 1 || res.Losses != 0 ||
		res.LongestLeave != 4*time.Millisecond || res.LongestEnter != 4*time.Millisecond {
		t.Fatalf("counts: %+v", res)
	}
}
