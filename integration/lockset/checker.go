package lockset

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// OpType is the kind of a history entry, as in Jepsen.
type OpType int

// History entry kinds.
const (
	// Invoke: a worker starts an increment (it holds the lock and read the register).
	Invoke OpType = iota + 1
	// OK: the increment landed in the register and the resource accepted it.
	OK
	// Fail: the increment certainly did not land in the register.
	Fail
	// Info: unknown: the increment may have landed (or landed but the
	// resource fenced it out).
	Info
)

func (t OpType) String() string {
	switch t {
	case Invoke:
		return "invoke"
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("op-type(%d)", int(t))
}

// Op is one history entry: worker Worker, holding the lock with fencing
// token Token, writes Value (the register it read, plus one).
type Op struct {
	Worker int
	Type   OpType
	Value  int64
	Token  int64
	Note   string // why, for fail and info
}

func (o Op) String() string {
	s := fmt.Sprintf("w%d %s value=%d token=%d", o.Worker, o.Type, o.Value, o.Token)
	if o.Note != "" {
		s += " (" + o.Note + ")"
	}
	return s
}

// History is a concurrent-safe, append-only list of operations.
type History struct {
	mu  sync.Mutex
	ops []Op
}

// Add appends op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the history.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Attempt is one write offered to the Resource, in arrival order.
type Attempt struct {
	Worker   int
	Token    int64
	Value    int64
	Accepted bool
}

// Resource is the fenced store the lock protects, kept in the checker's
// process: it accepts a write only if its token is at least the highest
// token it has accepted, and logs every attempt.
type Resource struct {
	mu      sync.Mutex
	max     int64
	log     []Attempt
	changed chan struct{} // closed and replaced at every accepted write
}

// WaitAbove waits until the resource has accepted a token above token, and
// reports whether it has; it gives up when ctx ends.
func (r *Resource) WaitAbove(ctx context.Context, token int64) bool {
	for {
		r.mu.Lock()
		if r.max > token {
			r.mu.Unlock()
			return true
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// Write offers value under token and reports whether it was accepted.
func (r *Resource) Write(worker int, token, value int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := token >= r.max
	if ok {
		r.max = token
		if r.changed != nil {
			close(r.changed)
			r.changed = nil
		}
	}
	r.log = append(r.log, Attempt{Worker: worker, Token: token, Value: value, Accepted: ok})
	return ok
}

// Log returns a copy of every attempt, in arrival order.
func (r *Resource) Log() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// Result is what Check found.
type Result struct {
	OK, Fail, Info     int // completions by kind
	Accepted, Rejected int // resource attempts
	Problems           []string
}

// Valid reports whether the history is safe.
func (r Result) Valid() bool { return len(r.Problems) == 0 }

type key struct{ value, token int64 }

// Check decides whether a lock-set run was safe, from its history, the
// resource's log and the register's final value and writer token. It is
// deterministic and checks:
//
//   - fencing: no attempt was accepted with a token lower than one accepted
//     before it, and none was rejected without one higher accepted before;
//   - no value was accepted twice by the resource, and every accepted
//     write belongs to an ok operation with the same value and token;
//   - the history is well formed: each completion follows an invoke of its
//     worker, with the same value and token;
//   - every ok increment is in the register: its value is at most the final
//     value and the resource accepted it; no two ok increments wrote the
//     same value;
//   - the register is explained: each value 1..final was written by exactly
//     one ok increment or else by an info one (one that landed), and the
//     final writer token is that increment's token;
//   - grants are ordered: ok increments sorted by value carry strictly
//     increasing tokens (a later grant's token is larger, one increment per grant);
//   - no failed increment is the register's final write or in the resource.
func Check(ops []Op, log []Attempt, final, finalToken int64) Result {
	var r Result
	bad := func(format string, args ...any) {
		if len(r.Problems) < 50 {
			r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		}
	}

	// Fencing, replayed over the resource's log.
	var max int64
	accepted := map[key]bool{}
	acceptedValues := map[int64]int{}
	for i, a := range log {
		if a.Accepted {
			r.Accepted++
			if a.Token < max {
				bad("resource attempt %d: stale write accepted: token %d after %d (value %d, w%d)", i, a.Token, max, a.Value, a.Worker)
			}
			max = a.Token
			accepted[key{a.Value, a.Token}] = true
			acceptedValues[a.Value]++
			if acceptedValues[a.Value] == 2 {
				bad("resource accepted value %d twice", a.Value)
			}
		} else {
			r.Rejected++
			if a.Token >= max {
				bad("resource attempt %d: token %d rejected though the highest accepted was %d", i, a.Token, max)
			}
		}
	}

	// Well-formedness and completions.
	pending := map[int]Op{}
	okByValue := map[int64]Op{}
	infoByValue := map[int64][]Op{}
	var oks, fails []Op
	for i, o := range ops {
		if o.Type == Invoke {
			if p, ok := pending[o.Worker]; ok {
				bad("op %d: w%d invokes while %v is pending", i, o.Worker, p)
			}
			pending[o.Worker] = o
			continue
		}
		p, ok := pending[o.Worker]
		if !ok || p.Value != o.Value || p.Token != o.Token {
			bad("op %d: %v completes no matching invoke", i, o)
		}
		delete(pending, o.Worker)
		switch o.Type {
		case OK:
			r.OK++
			oks = append(oks, o)
			if prev, dup := okByValue[o.Value]; dup {
				bad("value %d written by two ok increments: %v and %v", o.Value, prev, o)
			}
			okByValue[o.Value] = o
			if o.Value > final {
				bad("ok increment %v is missing: the final register is %d", o, final)
			}
			if !accepted[key{o.Value, o.Token}] {
				bad("ok increment %v is not in the resource's accepted set", o)
			}
		case Fail:
			r.Fail++
			fails = append(fails, o)
		case Info:
			r.Info++
			infoByValue[o.Value] = append(infoByValue[o.Value], o)
		default:
			bad("op %d: unknown type %v", i, o.Type)
		}
	}
	for _, p := range pending { // still open at the end: unknown
		r.Info++
		infoByValue[p.Value] = append(infoByValue[p.Value], p)
	}

	// Every accepted write is an ok increment.
	for k := range accepted {
		if o, ok := okByValue[k.value]; !ok || o.Token != k.token {
			bad("resource accepted value %d with token %d, which no ok increment wrote", k.value, k.token)
		}
	}

	// The register's chain 1..final is explained.
	for v := int64(1); v <= final; v++ {
		if _, ok := okByValue[v]; ok {
			continue
		}
		if len(infoByValue[v]) == 0 {
			bad("register value %d landed but no ok or info increment wrote it", v)
		}
	}
	if final > 0 {
		if o, ok := okByValue[final]; ok {
			if o.Token != finalToken {
				bad("final register (%d, token %d) was written by ok %v", final, finalToken, o)
			}
		} else if !slices.ContainsFunc(infoByValue[final], func(o Op) bool { return o.Token == finalToken }) {
			bad("final register (%d, token %d) matches no increment", final, finalToken)
		}
	} else if finalToken != 0 {
		bad("final register 0 has writer token %d", finalToken)
	}

	// Grant order along the chain.
	slices.SortFunc(oks, func(a, b Op) int { return int(a.Value - b.Value) })
	for i := 1; i < len(oks); i++ {
		if oks[i].Token <= oks[i-1].Token {
			bad("tokens out of grant order: %v after %v", oks[i], oks[i-1])
		}
	}

	for _, o := range fails {
		if final > 0 && o.Value == final && o.Token == finalToken {
			bad("failed increment %v is the register's final write", o)
		}
		if accepted[key{o.Value, o.Token}] {
			bad("failed increment %v is in the resource", o)
		}
	}
	return r
}
