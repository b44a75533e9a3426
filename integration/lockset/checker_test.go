package lockset

import (
	"strings"
	"testing"
)

// good is a safe history: w0 and w1 increment, w2's increment is fenced
// (info, landed), w1's second try fails.
func good() ([]Op, []Attempt, int64, int64) {
	ops := []Op{
		{Worker: 0, Type: Invoke, Value: 1, Token: 10},
		{Worker: 0, Type: OK, Value: 1, Token: 10},
		{Worker: 1, Type: Invoke, Value: 2, Token: 11},
		{Worker: 1, Type: OK, Value: 2, Token: 11},
		{Worker: 2, Type: Invoke, Value: 3, Token: 12},
		{Worker: 2, Type: Info, Value: 3, Token: 12, Note: "fenced"},
		{Worker: 1, Type: Invoke, Value: 4, Token: 13},
		{Worker: 1, Type: Fail, Value: 4, Token: 13},
		{Worker: 0, Type: Invoke, Value: 4, Token: 14},
		{Worker: 0, Type: OK, Value: 4, Token: 14},
	}
	log := []Attempt{
		{Worker: 0, Token: 10, Value: 1, Accepted: true},
		{Worker: 1, Token: 11, Value: 2, Accepted: true},
		{Worker: 0, Token: 14, Value: 4, Accepted: true},
		{Worker: 2, Token: 12, Value: 3, Accepted: false},
	}
	return ops, log, 4, 14
}

func TestCheckAcceptsSafeHistory(t *testing.T) {
	ops, log, final, tok := good()
	r := Check(ops, log, final, tok)
	if !r.Valid() {
		t.Fatalf("safe history rejected: %v", r.Problems)
	}
	if r.OK != 3 || r.Fail != 1 || r.Info != 1 || r.Accepted != 3 || r.Rejected != 1 {
		t.Errorf("counts = %+v", r)
	}
}

func TestCheckFindsViolations(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ops *[]Op, log *[]Attempt, final, tok *int64)
		want   string
	}{
		{"stale write accepted", func(_ *[]Op, log *[]Attempt, _, _ *int64) { (*log)[3].Accepted = true }, "stale write accepted"},
		{"current write rejected", func(_ *[]Op, log *[]Attempt, _, _ *int64) { (*log)[2].Accepted = false }, "rejected though"},
		{"ok increment missing from the register", func(_ *[]Op, _ *[]Attempt, final, tok *int64) { *final, *tok = 3, 12 }, "is missing"},
		{"ok increment not in the resource", func(_ *[]Op, log *[]Attempt, _, _ *int64) { *log = (*log)[1:] }, "not in the resource"},
		{"value accepted twice", func(_ *[]Op, log *[]Attempt, _, _ *int64) {
			*log = append(*log, Attempt{Worker: 3, Token: 15, Value: 4, Accepted: true})
		}, "twice"},
		{"unexplained register value", func(ops *[]Op, _ *[]Attempt, _, _ *int64) { (*ops)[5].Value, (*ops)[4].Value = 9, 9 }, "no ok or info"},
		{"two ok increments of one value", func(ops *[]Op, log *[]Attempt, _, _ *int64) {
			*ops = append(*ops, Op{Worker: 3, Type: Invoke, Value: 2, Token: 16}, Op{Worker: 3, Type: OK, Value: 2, Token: 16})
			*log = append(*log, Attempt{Worker: 3, Token: 16, Value: 2, Accepted: true})
		}, "two ok increments"},
		{"tokens out of grant order", func(ops *[]Op, log *[]Attempt, _, _ *int64) {
			(*ops)[2].Token, (*ops)[3].Token, (*log)[1].Token = 9, 9, 9
		}, "grant order"},
		{"failed increment landed", func(ops *[]Op, _ *[]Attempt, _, _ *int64) { (*ops)[9].Type = Fail }, "final write"},
		{"completion without invoke", func(ops *[]Op, _ *[]Attempt, _, _ *int64) { *ops = (*ops)[1:] }, "no matching invoke"},
		{"final token unexplained", func(_ *[]Op, _ *[]Attempt, _, tok *int64) { *tok = 99 }, "final register"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, log, final, tok := good()
			tt.mutate(&ops, &log, &final, &tok)
			r := Check(ops, log, final, tok)
			if r.Valid() {
				t.Fatal("violation not found")
			}
			if !strings.Contains(strings.Join(r.Problems, "\n"), tt.want) {
				t.Errorf("problems %q do not mention %q", r.Problems, tt.want)
			}
		})
	}
}

func TestResourceFences(t *testing.T) {
	var r Resource
	for _, w := range []struct {
		token int64
		want  bool
	}{{5, true}, {5, true}, {4, false}, {7, true}, {6, false}} {
		if got := r.Write(0, w.token, 1); got != w.want {
			t.Errorf("Write(token %d) = %v, want %v", w.token, got, w.want)
		}
	}
	if n := len(r.Log()); n != 5 {
		t.Errorf("log has %d attempts, want 5", n)
	}
}
