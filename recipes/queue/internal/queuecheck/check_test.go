package queuecheck

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hist builds a history by hand; each event is one tick after the last.
type hist struct {
	now    int64
	events []Event
}

func (h *hist) add(e Event) {
	h.now += 10
	e.Time = h.now
	h.events = append(h.events, e)
}

func (h *hist) put(p, item string, result Type) {
	h.add(Event{Process: p, Type: Invoke, F: Put, Item: item})
	h.add(Event{Process: p, Type: result, F: Put, Item: item})
}

func (h *hist) take(p, item, entry string, token int64, attempt int) {
	h.add(Event{Process: p, Type: Invoke, F: Take})
	h.add(Event{Process: p, Type: OK, F: Take, Item: item, Entry: entry, Token: token, Attempt: attempt})
}

// do records an operation on a claim: Guard, Ack or Nack.
func (h *hist) do(p string, f F, item string, token int64, result Type) {
	h.add(Event{Process: p, Type: Invoke, F: f, Item: item, Token: token})
	h.add(Event{Process: p, Type: result, F: f, Item: item, Token: token})
}

func (h *hist) invoke(p string, f F, item string, token int64) {
	h.add(Event{Process: p, Type: Invoke, F: f, Item: item, Token: token})
}

func (h *hist) fault(p, kind string) {
	h.add(Event{Process: p, Type: Info, F: Fault, Fault: kind})
}

// one is the history of one item put, taken, written and acknowledged
// by c1 under token 10; its write landed at 11.
func one(h *hist) []Effect {
	h.put("p", "x", OK)
	h.take("c1", "x", "e-x", 10, 1)
	h.do("c1", Guard, "x", 10, OK)
	h.do("c1", Ack, "x", 10, OK)
	return []Effect{{Item: "x", Token: 10, Landed: 11, Process: "c1"}}
}

// TestCheck runs Check on hand-made histories, valid and broken, each
// broken one with the violations it must report (and no others).
func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *hist) []Effect
		want  []string // violation kinds, sorted; none for a valid history
	}{
		{"Empty", func(h *hist) []Effect { return nil }, nil},
		{"OneItem", one, nil},
		{"PutInfoNeverSeen", func(h *hist) []Effect {
			h.put("p", "x", Info)
			return nil
		}, nil},
		{"PutInfoDelivered", func(h *hist) []Effect {
			h.put("p", "x", Info)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Ack, "x", 10, OK)
			return nil
		}, nil},
		{"NeverTaken", func(h *hist) []Effect {
			h.put("p", "x", OK)
			return nil
		}, []string{KindLost}},
		{"NeverAcked", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Ack, "x", 10, Fail)
			return nil
		}, []string{KindLost}},
		{"AckUnknownCounts", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Ack, "x", 10, Info)
			return nil
		}, nil},
		{"NeverPut", func(h *hist) []Effect {
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Ack, "x", 10, OK)
			return nil
		}, []string{KindPhantom}},
		{"PutFailed", func(h *hist) []Effect {
			h.put("p", "x", Fail)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Ack, "x", 10, OK)
			return nil
		}, []string{KindPhantom}},
		{"RedeliveredAfterKill", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.invoke("c1", Guard, "x", 10) // never completes: killed
			h.fault("c1", "kill")
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Guard, "x", 20, OK)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 12}, {Item: "x", Token: 20, Landed: 21}}
		}, nil},
		{"RedeliveredAfterLostAck", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c1", Ack, "x", 10, Fail)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, nil},
		{"RedeliveredAfterLostEvent", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.add(Event{Process: "c1", Type: Info, F: Lost, Item: "x", Token: 10})
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, nil},
		{"RedeliveredAfterNack", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Nack, "x", 10, OK)
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, nil},
		{"RedeliveredUnexplained", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Guard, "x", 10, OK)
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 11}}
		}, []string{KindUnexplained}},
		{"FaultOfAnotherProcess", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.fault("c3", "kill")
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, []string{KindUnexplained}},
		{"FaultAfterTheNextClaim", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.take("c2", "x", "e-x", 20, 2)
			h.fault("c1", "kill")
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, []string{KindUnexplained}},
		{"DeliveredAfterAck", func(h *hist) []Effect {
			one(h)
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 11}}
		}, []string{KindAfterAck, KindUnexplained}},
		{"StaleAck", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.fault("c1", "stall")
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c1", Ack, "x", 10, OK)
			h.do("c2", Ack, "x", 20, Fail)
			return nil
		}, []string{KindStaleAck}},
		{"TwoEntries", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x-1", 10, 1)
			h.do("c1", Ack, "x", 10, OK)
			h.take("c2", "x", "e-x-2", 20, 1)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, []string{KindAfterAck, KindTwoEntries}},
		{"AttemptNotGrowing", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.fault("c1", "expire")
			h.take("c2", "x", "e-x", 20, 1)
			h.do("c2", Ack, "x", 20, OK)
			return nil
		}, []string{KindAttempt}},
		{"OldWriteBeforeNewClaim", func(h *hist) []Effect {
			// At least once: c1's write landed, then it lost its claim.
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Guard, "x", 10, OK)
			h.do("c1", Ack, "x", 10, Fail)
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Guard, "x", 20, OK)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 15}, {Item: "x", Token: 20, Landed: 25}}
		}, nil},
		{"StaleWrite", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.fault("c1", "stall")
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Guard, "x", 20, OK)
			h.do("c1", Guard, "x", 10, OK)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 30, Process: "c1"}, {Item: "x", Token: 20, Landed: 25, Process: "c2"}}
		}, []string{KindStaleWrite}},
		{"StaleWriteOfUnknownOutcome", func(h *hist) []Effect {
			// The writer never learnt the outcome; the store tells.
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.invoke("c1", Guard, "x", 10)
			h.fault("c1", "kill")
			h.take("c2", "x", "e-x", 20, 2)
			h.do("c2", Ack, "x", 20, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 21}}
		}, []string{KindStaleWrite}},
		{"StaleWriteAfterUnrecordedClaim", func(h *hist) []Effect {
			// Claim 20's Take never returned; its own write shows it.
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Guard, "x", 10, OK)
			h.do("c1", Ack, "x", 10, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 30}, {Item: "x", Token: 20, Landed: 25}}
		}, []string{KindStaleWrite}},
		{"GuardOKNotLanded", func(h *hist) []Effect {
			one(h)
			return nil
		}, []string{KindGuardResult}},
		{"GuardFailedLanded", func(h *hist) []Effect {
			h.put("p", "x", OK)
			h.take("c1", "x", "e-x", 10, 1)
			h.do("c1", Guard, "x", 10, Fail)
			h.do("c1", Ack, "x", 10, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 11}}
		}, []string{KindGuardResult}},
		{"CompletionWithoutInvoke", func(h *hist) []Effect {
			one(h)
			h.add(Event{Process: "c1", Type: OK, F: Ack, Item: "x", Token: 10})
			return []Effect{{Item: "x", Token: 10, Landed: 11}}
		}, []string{KindMalformed}},
		{"AckOfAnotherConsumersClaim", func(h *hist) []Effect {
			one(h)
			h.do("c2", Ack, "x", 10, OK)
			return []Effect{{Item: "x", Token: 10, Landed: 11}}
		}, []string{KindMalformed}},
		{"WriteBeforeItsClaim", func(h *hist) []Effect {
			one(h)
			return []Effect{{Item: "x", Token: 10, Landed: 9}}
		}, []string{KindMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hist
			effects := tt.build(&h)
			r := Check(h.events, effects)
			var got []string
			for _, v := range r.Violations {
				got = append(got, v.Kind)
			}
			slices.Sort(got)
			got = slices.Compact(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("violations %v, want %v\n%s", got, want, r)
			}
			if r.Valid() != (len(tt.want) == 0) || (r.Err() == nil) != r.Valid() {
				t.Fatalf("Valid %v, Err %v, with violations %v", r.Valid(), r.Err(), got)
			}
			for _, k := range tt.want {
				if !r.Has(k) {
					t.Fatalf("Has(%q) = false", k)
				}
			}
		})
	}
}

// TestCheckOrdersByTime: the events of several processes may arrive in
// any order; Check sorts them by time before pairing.
func TestCheckOrdersByTime(t *testing.T) {
	var h hist
	effects := one(&h)
	shuffled := slices.Clone(h.events)
	slices.Reverse(shuffled)
	r := Check(shuffled, effects)
	if !r.Valid() {
		t.Fatalf("reversed history: %s", r)
	}
	if h.events[0].F != Put || h.events[0].Type != Invoke {
		t.Fatal("Check reordered its input")
	}
}

// TestResultCounts: the counts the report prints.
func TestResultCounts(t *testing.T) {
	var h hist
	h.put("p", "x", OK)
	h.put("p", "y", Info)
	h.take("c1", "x", "e-x", 10, 1)
	h.fault("c1", "kill")
	h.take("c2", "x", "e-x", 20, 2)
	h.do("c2", Guard, "x", 20, OK)
	h.do("c2", Ack, "x", 20, OK)
	r := Check(h.events, []Effect{{Item: "x", Token: 20, Landed: 21}})
	want := Result{Puts: 2, PutsOK: 1, Items: 1, Claims: 2, Redeliveries: 1, Acks: 1, Faults: 1, Effects: 1}
	if !r.Valid() {
		t.Fatalf("violations: %s", r)
	}
	got := *r
	got.Violations = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts %+v, want %+v", *r, want)
	}
	if s := r.String(); !strings.Contains(s, "1 redeliveries") || !strings.Contains(s, "0 violations") {
		t.Fatalf("String: %s", s)
	}
}
