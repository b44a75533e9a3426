package lockset

import (
	"strings"
	"testing"
	"time"
)

// hist builds histories for Check by hand. Times are in milliseconds.
type hist struct {
	ops    []Op
	grants []Grant
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// grant records a grant of token to worker, held over [from, to] (to 0: never ended).
func (h *hist) grant(worker int, token int64, from, to int) {
	h.grants = append(h.grants, Grant{Worker: worker, Token: token, Acquired: ms(from), Ended: ms(to)})
}

// write records write id of worker under token: it read read at readAt,
// was sent at sent and completed as typ at done (typ 0: never completed).
// It returns the value it wrote.
func (h *hist) write(worker int, id, token int64, read State, readAt, sent int, typ OpType, done int) State {
	inv := Op{Type: Invoke, Worker: worker, ID: id, Token: token, Read: read, ReadAt: ms(readAt), At: ms(sent)}
	h.ops = append(h.ops, inv)
	if typ != 0 {
		c := inv
		c.Type, c.At, c.ReadAt = typ, ms(done), 0
		h.ops = append(h.ops, c)
	}
	return inv.Wrote()
}

// safe is a history a correct lock and guard can produce, with every kind
// of outcome: four grants in turn, one write each; W3's reply was lost but
// it landed (W5 read it); W4 was refused (its grant was lost); W6 is
// unknown and did not land; the register ends at W5's value.
func safe() (*hist, State) {
	h := &hist{}
	h.grant(0, 10, 0, 30)
	s1 := h.write(0, 1, 10, State{}, 1, 2, OK, 5)
	h.grant(1, 11, 31, 60)
	s2 := h.write(1, 2, 11, s1, 32, 33, OK, 40)
	h.grant(2, 12, 61, 90)
	s3 := h.write(2, 3, 12, s2, 62, 63, Info, 80)
	h.grant(3, 13, 70, 75) // granted only on its own say-so, then lost
	h.write(3, 4, 13, s3, 71, 72, Fail, 73)
	h.grant(0, 14, 91, 120)
	s5 := h.write(0, 5, 14, s3, 92, 93, OK, 95)
	h.grant(4, 15, 121, 0)
	h.write(4, 6, 15, s5, 122, 123, 0, 0) // still pending at the end
	return h, s5
}

func TestCheckAcceptsSafeHistory(t *testing.T) {
	h, final := safe()
	r := Check(h.ops, h.grants, final)
	if !r.Valid() {
		t.Fatalf("safe history rejected: %v", r.Problems)
	}
	got := [...]int{r.Grants, r.Writes, r.OK, r.Fail, r.Info, r.Landed, r.Chain}
	want := [...]int{6, 6, 3, 1, 2, 4, 4}
	if got != want {
		t.Errorf("grants, writes, ok, fail, info, landed, chain = %v, want %v", got, want)
	}
	if r.HeldOverlaps != 1 { // token 13 believed held inside token 12's grant
		t.Errorf("held overlaps = %d, want 1", r.HeldOverlaps)
	}
}

// TestCheckFindsViolations feeds Check histories that break mutual
// exclusion or are malformed, and wants each problem found with its kind.
// To see it fail, each check in Check was disabled in turn (the lost-update
// loop, the overlap sweep, each of the two stale-write passes, the walk of
// the register's history): the cases that need it failed with "no ...
// found" or a message that did not match.
func TestCheckFindsViolations(t *testing.T) {
	tests := []struct {
		name  string
		build func() (*hist, State)
		kind  Kind
		want  string
	}{
		{"acknowledged write overwritten", func() (*hist, State) {
			// Two holders read the initial value; W2 overwrote W1.
			h := &hist{}
			h.grant(0, 10, 0, 10)
			h.write(0, 1, 10, State{}, 1, 2, OK, 3)
			h.grant(1, 11, 20, 30)
			s2 := h.write(1, 2, 11, State{}, 21, 22, OK, 23)
			return h, s2
		}, LostUpdate, "W2 (w1, token 11, ok, read the initial value at 21ms, sent at 22ms, acknowledged at 23ms) read the same value and stayed"},
		{"unknown write seen, then overwritten", func() (*hist, State) {
			// W1's reply was lost, W2 read its value, then W3 wrote over it from the initial value.
			h := &hist{}
			h.grant(0, 10, 0, 10)
			s1 := h.write(0, 1, 10, State{}, 1, 2, Info, 9)
			h.grant(1, 11, 20, 30)
			h.write(1, 2, 11, s1, 21, 22, Fail, 23)
			h.grant(2, 12, 40, 50)
			s3 := h.write(2, 3, 12, State{}, 41, 42, OK, 43)
			return h, s3
		}, LostUpdate, "W1 (w0, token 10, info"},
		{"acknowledged write missing from the final value", func() (*hist, State) {
			h := &hist{}
			h.grant(0, 10, 0, 10)
			s1 := h.write(0, 1, 10, State{}, 1, 2, OK, 3)
			h.grant(1, 11, 20, 30)
			h.write(1, 2, 11, s1, 21, 22, OK, 23)
			return h, s1
		}, LostUpdate, "the register ended at the value it read"},
		{"two holders' windows intersect", func() (*hist, State) {
			// Token 11 was granted before W1 was sent, and W2 read W1's
			// value: no lost update, but two holders at once.
			h := &hist{}
			h.grant(0, 10, 0, 10)
			h.grant(1, 11, 4, 20)
			s1 := h.write(0, 1, 10, State{}, 1, 5, OK, 6)
			s2 := h.write(1, 2, 11, s1, 7, 8, OK, 9)
			return h, s2
		}, Overlap, "each was granted (at 0s and 4ms) before the other's write was sent"},
		{"tokens decrease along the register", func() (*hist, State) {
			// W2, under the older token 9, landed on top of W1's token 10.
			h := &hist{}
			h.grant(1, 9, 0, 100)
			h.grant(0, 10, 0, 10)
			s1 := h.write(0, 1, 10, State{}, 1, 2, OK, 3)
			s2 := h.write(1, 2, 9, s1, 20, 21, Info, 50)
			return h, s2
		}, StaleWrite, "W2 (w1, token 9, info, read W1's value (n=1, token 10) at 20ms, sent at 21ms) applied after W1"},
		{"landed write sent after a higher token's grant", func() (*hist, State) {
			// W1 (token 9) was sent after token 10 was granted, and landed.
			h := &hist{}
			h.grant(1, 9, 0, 100)
			h.grant(0, 10, 10, 20)
			s1 := h.write(1, 1, 9, State{}, 1, 15, Info, 50)
			return h, s1
		}, StaleWrite, "sent after w0 was granted token 10 at 10ms"},
		{"register holds an unknown write", func() (*hist, State) {
			h, _ := safe()
			return h, State{N: 9, Writer: 99, Token: 20}
		}, BadHistory, "which no invoked write wrote"},
		{"register holds a changed value", func() (*hist, State) {
			h, final := safe()
			final.Token++
			return h, final
		}, BadHistory, "but W5 wrote"},
		{"failed write landed", func() (*hist, State) {
			h, _ := safe()
			h.ops[5].Type = Fail // W3's completion
			return h, State{N: 4, Writer: 5, Token: 14}
		}, BadHistory, "failed write W3"},
		{"completion without invoke", func() (*hist, State) {
			h, final := safe()
			h.ops = h.ops[1:]
			return h, final
		}, BadHistory, "completes no pending invoke"},
		{"write under a token not granted to its worker", func() (*hist, State) {
			h, final := safe()
			h.grants[1].Worker = 3
			return h, final
		}, BadHistory, "is not inside a grant"},
		{"write read before its grant", func() (*hist, State) {
			h, final := safe()
			h.grants[0].Acquired = ms(2)
			return h, final
		}, BadHistory, "is not inside a grant"},
		{"token granted twice", func() (*hist, State) {
			h, final := safe()
			h.grant(2, 10, 200, 0)
			return h, final
		}, BadHistory, "token 10 granted twice"},
		{"read of a value nobody wrote", func() (*hist, State) {
			h, final := safe()
			h.ops[len(h.ops)-1].Read = State{N: 1, Writer: 77, Token: 3}
			return h, final
		}, BadHistory, "read a value no invoked write wrote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, final := tt.build()
			r := Check(h.ops, h.grants, final)
			if r.Count(tt.kind) == 0 {
				t.Fatalf("no %v found (%s); problems: %v", tt.kind, r.Summary(), r.Problems)
			}
			var msgs []string
			for _, p := range r.Problems {
				if p.Kind == tt.kind {
					msgs = append(msgs, p.Msg)
				}
			}
			if !strings.Contains(strings.Join(msgs, "\n"), tt.want) {
				t.Errorf("%v problems %q do not mention %q", tt.kind, msgs, tt.want)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, s := range []State{{}, {N: 1, Writer: 7, Token: 1234567890123}} {
		got, err := ParseState(s.Bytes())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v; want %v", s.Bytes(), got, err, s)
		}
	}
	for _, bad := range []string{"", "1 2", "1 2 x", "1 2 3 4"} {
		if _, err := ParseState([]byte(bad)); err == nil {
			t.Errorf("ParseState(%q) succeeded", bad)
		}
	}
}
