package lockset

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpType is the kind of a history entry, as in Jepsen.
type OpType int

// History entry kinds.
const (
	// Invoke: a worker holding a grant has read the register and sends its
	// guarded write.
	Invoke OpType = iota + 1
	// OK: the write was applied.
	OK
	// Fail: the write was certainly not applied (refused before it was
	// sent, or refused by the server).
	Fail
	// Info: unknown: the write may have been applied.
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

// State is a value of the register: N, the number of writes that led to it;
// Writer, the ID of the write that wrote it (0 for the initial value); and
// that write's fencing token. Write IDs are unique in a run, so a state
// names the one write that produced it, and the write names the state it
// read: the register is, in effect, the list of every write that landed and
// was not overwritten.
type State struct {
	N, Writer, Token int64
}

func (s State) String() string {
	if s == (State{}) {
		return "the initial value"
	}
	return fmt.Sprintf("W%d's value (n=%d, token %d)", s.Writer, s.N, s.Token)
}

// Bytes is the register node's data for s: "N Writer Token".
func (s State) Bytes() []byte {
	return fmt.Appendf(nil, "%d %d %d", s.N, s.Writer, s.Token)
}

// ParseState parses the register node's data.
func ParseState(data []byte) (State, error) {
	f := strings.Fields(string(data))
	if len(f) != 3 {
		return State{}, fmt.Errorf("register data %q: want \"<n> <writer> <token>\"", data)
	}
	var v [3]int64
	for i := range f {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return State{}, fmt.Errorf("register data %q: %w", data, err)
		}
		v[i] = n
	}
	return State{N: v[0], Writer: v[1], Token: v[2]}, nil
}

// Op is one history entry of a guarded register write. Worker, holding the
// grant with fencing token Token, read Read (the read returned at ReadAt)
// and writes Wrote() unconditionally, through the lease's Guard.
type Op struct {
	Type   OpType
	Worker int
	ID     int64         // the write's ID, unique in a run, never 0
	Token  int64         // the grant's fencing token
	Read   State         // the register as the worker read it under the grant
	ReadAt time.Duration // when the read returned, since the run began
	At     time.Duration // Invoke: when the write was sent; else when it completed
	Zombie bool          // the writer stalled and ignored its lease before writing
	Note   string        // why, for fail and info
}

// Wrote is the value o writes: what it read, plus itself.
func (o Op) Wrote() State { return State{N: o.Read.N + 1, Writer: o.ID, Token: o.Token} }

func (o Op) String() string {
	s := fmt.Sprintf("%v w%d W%d token=%d read=%d/W%d at=%v", o.Type, o.Worker, o.ID, o.Token, o.Read.N, o.Read.Writer, o.At.Round(time.Millisecond))
	if o.Type == Invoke {
		s += fmt.Sprintf(" read-at=%v", o.ReadAt.Round(time.Millisecond))
	}
	if o.Zombie {
		s += " zombie"
	}
	if o.Note != "" {
		s += " (" + o.Note + ")"
	}
	return s
}

// Grant is one lock grant, as its worker saw it: Lock returned at Acquired
// with Token, and the worker stopped counting on it at Ended, when it called
// Unlock or saw the loss (Lost), whichever came first.
type Grant struct {
	Worker   int
	Token    int64
	Acquired time.Duration
	Ended    time.Duration // 0 while (or if never seen) ended
	Lost     bool
}

// History is what the workers of one run record, safe for concurrent use.
// Times are durations since NewHistory, on the monotonic clock of the one
// process every worker runs in.
type History struct {
	start time.Time

	mu      sync.Mutex
	ops     []Op
	grants  []Grant
	maxOK   int64         // the highest token of an ok write
	changed chan struct{} // closed and replaced when maxOK grows
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock.
func (h *History) Now() time.Duration { return time.Since(h.start) }

// Add appends op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if op.Type == OK && op.Token > h.maxOK {
		h.maxOK = op.Token
		if h.changed != nil {
			close(h.changed)
			h.changed = nil
		}
	}
}

// Granted records that worker's Lock returned a grant with token, now, and
// returns the grant's index for Ended.
func (h *History) Granted(worker int, token int64) int {
	at := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.grants = append(h.grants, Grant{Worker: worker, Token: token, Acquired: at})
	return len(h.grants) - 1
}

// Ended records that the worker stopped counting on grant i, now; only the
// first call for a grant counts.
func (h *History) Ended(i int, lost bool) {
	at := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := &h.grants[i]; g.Ended == 0 {
		g.Ended, g.Lost = at, lost
	}
}

// WaitOKAbove waits until a write with a token above token was applied
// (recorded ok), and reports whether one was; it gives up when ctx ends.
func (h *History) WaitOKAbove(ctx context.Context, token int64) bool {
	for {
		h.mu.Lock()
		if h.maxOK > token {
			h.mu.Unlock()
			return true
		}
		if h.changed == nil {
			h.changed = make(chan struct{})
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// Ops returns a copy of the writes' entries, in the order they were added.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Grants returns a copy of the grants, in the order they were granted.
func (h *History) Grants() []Grant {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.grants)
}

// Kind is the kind of a problem Check finds.
type Kind int

// Problem kinds. The first three are violations of mutual exclusion; the
// last says the history cannot be trusted.
const (
	// LostUpdate: a write that landed (acknowledged, or seen by a later
	// read) is not in the final register: a write that had not read it
	// overwrote it.
	LostUpdate Kind = iota + 1
	// Overlap: two grants' guarded writes both landed, and each grant was
	// acquired before the other's write was sent: two holders at once.
	Overlap
	// StaleWrite: a write landed after a higher token was granted or had
	// written: the fence let an old holder in.
	StaleWrite
	// BadHistory: the history contradicts itself or the register (a write
	// nobody invoked, a token granted twice, a failed write that landed).
	BadHistory
	numKinds
)

var kindNames = [...]string{"", "lost update", "overlap", "stale write", "bad history"}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Problem is one thing Check found wrong.
type Problem struct {
	Kind Kind
	Msg  string
}

func (p Problem) String() string { return p.Kind.String() + ": " + p.Msg }

// maxProblems is how many problems of each kind a Result keeps the text
// of; it counts all.
const maxProblems = 10

// Result is what Check found.
type Result struct {
	Grants         int // lock grants
	Writes         int // invoked writes
	OK, Fail, Info int // their outcomes (a write never completed is info)
	Landed         int // writes known to have landed: ok, in the register, or read
	Chain          int // writes in the final register's history
	HeldOverlaps   int // pairs of grants believed held at once: a metric, not a verdict
	Problems       []Problem
	counts         [numKinds]int
}

// Count returns how many problems of kind k were found.
func (r Result) Count(k Kind) int {
	if k <= 0 || k >= numKinds {
		return 0
	}
	return r.counts[k]
}

// Valid reports whether the history is safe.
func (r Result) Valid() bool {
	for _, n := range r.counts {
		if n > 0 {
			return false
		}
	}
	return true
}

// Summary counts the problems by kind, e.g. "lost update 3, overlap 2".
func (r Result) Summary() string {
	var parts []string
	for k := Kind(1); k < numKinds; k++ {
		if n := r.counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%v %d", k, n))
		}
	}
	if len(parts) == 0 {
		return "no problems"
	}
	return strings.Join(parts, ", ")
}

func (r *Result) report(k Kind, format string, args ...any) {
	r.counts[k]++
	if r.counts[k] <= maxProblems {
		r.Problems = append(r.Problems, Problem{k, fmt.Sprintf(format, args...)})
	}
}

// write is one invoked write and what became of it.
type write struct {
	inv     Op
	typ     OpType        // OK, Fail or Info
	done    time.Duration // when it completed (ok and fail)
	onChain bool          // in the final register's history
	landed  bool
}

func (w *write) String() string {
	s := fmt.Sprintf("W%d (w%d, token %d, %v, read %v at %v, sent at %v", w.inv.ID, w.inv.Worker, w.inv.Token, w.typ,
		w.inv.Read, w.inv.ReadAt.Round(time.Millisecond), w.inv.At.Round(time.Millisecond))
	if w.typ == OK {
		s += fmt.Sprintf(", acknowledged at %v", w.done.Round(time.Millisecond))
	}
	if w.inv.Zombie {
		s += ", zombie"
	}
	return s + ")"
}

// Check judges, deterministically, whether a lock-set run kept mutual
// exclusion, from its history (ops and grants) and the register's final
// value. It assumes only what a correct lock and guard promise: a grant
// with a higher token begins on the server only after the nodes of lower
// tokens are gone, so a holder holds from before its Lock returned until its
// node goes; and a guarded write applies only while its grant's node
// exists, so its holder held from before Lock returned until the write
// applied (after it was sent). All times are one process's monotonic clock.
// It finds:
//
//   - lost updates: every write that landed must be in the history of the
//     final register (walked back from final, each write naming the value it
//     read). A write landed if it was acknowledged, is in that history, or
//     another write read its value.
//   - overlaps: two landed writes of different grants whose windows
//     [grant acquired, write sent] intersect: both holders held at once.
//   - stale writes: along the register's history tokens never decrease, and
//     no landed write was sent after a higher token had been granted.
//   - a bad history: completions without an invoke, writes outside a grant
//     of their worker's, a token granted twice, a register value no invoked
//     write wrote, a failed write that landed.
//
// It also counts, as a metric only, pairs of grants their workers believed
// held at the same time (a holder cut off or paused believes for a while).
func Check(ops []Op, grants []Grant, final State) Result {
	var r Result

	grantOf := make(map[int64]Grant, len(grants))
	for _, g := range grants {
		r.Grants++
		if prev, dup := grantOf[g.Token]; dup {
			r.report(BadHistory, "token %d granted twice: to w%d at %v and to w%d at %v", g.Token, prev.Worker, prev.Acquired, g.Worker, g.Acquired)
		}
		grantOf[g.Token] = g
	}

	// Pair every invoke with its completion.
	writes := map[int64]*write{}
	var all []*write // in invoke order
	pending := map[int]*write{}
	for i, o := range ops {
		if o.Type == Invoke {
			if p := pending[o.Worker]; p != nil {
				r.report(BadHistory, "op %d: w%d invokes W%d while W%d is pending", i, o.Worker, o.ID, p.inv.ID)
			}
			if o.ID == 0 || writes[o.ID] != nil {
				r.report(BadHistory, "op %d: write ID %d used twice or zero", i, o.ID)
				continue
			}
			if g, ok := grantOf[o.Token]; !ok || g.Worker != o.Worker || o.ReadAt < g.Acquired || o.At < o.ReadAt {
				r.report(BadHistory, "op %d: %v is not inside a grant of token %d to w%d", i, o, o.Token, o.Worker)
			}
			w := &write{inv: o, typ: Info}
			writes[o.ID], pending[o.Worker] = w, w
			all = append(all, w)
			continue
		}
		w := pending[o.Worker]
		if w == nil || w.inv.ID != o.ID || w.inv.Token != o.Token {
			r.report(BadHistory, "op %d: %v completes no pending invoke", i, o)
			continue
		}
		delete(pending, o.Worker)
		switch o.Type {
		case OK, Fail, Info:
			w.typ, w.done = o.Type, o.At
		default:
			r.report(BadHistory, "op %d: unknown type %v", i, o.Type)
		}
	}
	for _, w := range all {
		r.Writes++
		switch w.typ {
		case OK:
			r.OK++
		case Fail:
			r.Fail++
		default:
			r.Info++
		}
	}

	// The final register's history, walked back to the initial value.
	var chain []*write
	for cur := final; cur != (State{}); {
		w := writes[cur.Writer]
		switch {
		case w == nil:
			r.report(BadHistory, "the register went through %v, which no invoked write wrote", cur)
		case w.onChain:
			r.report(BadHistory, "the register's history loops at %v", w)
		case w.inv.Wrote() != cur:
			r.report(BadHistory, "the register went through %v, but W%d wrote %v", cur, w.inv.ID, w.inv.Wrote())
		default:
			w.onChain = true
			chain = append(chain, w)
			cur = w.inv.Read
			continue
		}
		break
	}
	slices.Reverse(chain)
	r.Chain = len(chain)

	// What landed.
	for _, w := range all {
		if w.onChain || w.typ == OK {
			w.landed = true
		}
		if rd := w.inv.Read; rd != (State{}) {
			p := writes[rd.Writer]
			if p == nil || p.inv.Wrote() != rd {
				r.report(BadHistory, "%v read a value no invoked write wrote", w)
				continue
			}
			p.landed = true
		}
	}
	var landed []*write
	for _, w := range all {
		if !w.landed {
			continue
		}
		landed = append(landed, w)
		if w.typ == Fail {
			r.report(BadHistory, "failed write %v landed", w)
		}
	}
	r.Landed = len(landed)

	// Lost updates: a landed write not in the final register's history.
	next := map[int64]*write{} // the value read (its writer) -> the write in the history that read it
	for _, w := range chain {
		next[w.inv.Read.Writer] = w
	}
	for _, w := range landed {
		if w.onChain {
			continue
		}
		how := "the value it read is not in the register's history either"
		if rd := w.inv.Read; rd == (State{}) || writes[rd.Writer] != nil && writes[rd.Writer].onChain {
			if n := next[rd.Writer]; n != nil {
				how = fmt.Sprintf("%v read the same value and stayed", n)
			} else {
				how = "the register ended at the value it read"
			}
		}
		r.report(LostUpdate, "%v landed but is not in the final register (%v): %s", w, final, how)
	}

	// Stale writes: along the register's history, tokens never decrease...
	stale := map[*write]bool{}
	var top *write
	for _, w := range chain {
		if top != nil && w.inv.Token < top.inv.Token {
			stale[w] = true
			r.report(StaleWrite, "%v applied after %v, a higher token", w, top)
		}
		if top == nil || w.inv.Token > top.inv.Token {
			top = w
		}
	}
	// ...and no landed write was sent after a higher token was granted.
	byGrant := slices.Clone(grants)
	slices.SortFunc(byGrant, func(a, b Grant) int { return cmp.Compare(a.Acquired, b.Acquired) })
	sent := slices.Clone(landed)
	slices.SortFunc(sent, func(a, b *write) int { return cmp.Compare(a.inv.At, b.inv.At) })
	var topGrant *Grant
	j := 0
	for _, w := range sent {
		for ; j < len(byGrant) && byGrant[j].Acquired < w.inv.At; j++ {
			if topGrant == nil || byGrant[j].Token > topGrant.Token {
				topGrant = &byGrant[j]
			}
		}
		if topGrant != nil && topGrant.Token > w.inv.Token && !stale[w] {
			stale[w] = true
			r.report(StaleWrite, "%v landed, though it was sent after w%d was granted token %d at %v",
				w, topGrant.Worker, topGrant.Token, topGrant.Acquired.Round(time.Millisecond))
		}
	}

	// Overlaps: a landed write's holder held the lock on the server from
	// before its Lock returned until the write applied, after it was sent;
	// two such windows [granted, sent] of different grants that intersect
	// mean two holders at once. Swept in order of grants.
	type window struct {
		w        *write
		from, to time.Duration
	}
	var wins []window
	for _, w := range landed {
		if g, ok := grantOf[w.inv.Token]; ok {
			wins = append(wins, window{w, g.Acquired, w.inv.At})
		}
	}
	slices.SortFunc(wins, func(a, b window) int { return cmp.Compare(a.from, b.from) })
	var open []window
	for _, x := range wins {
		open = slices.DeleteFunc(open, func(o window) bool { return o.to <= x.from })
		for _, o := range open {
			if o.w.inv.Token != x.w.inv.Token {
				r.report(Overlap, "%v and %v both landed, and each was granted (at %v and %v) before the other's write was sent",
					o.w, x.w, o.from.Round(time.Millisecond), x.from.Round(time.Millisecond))
			}
		}
		open = append(open, x)
	}

	// Believed-held overlaps among grants: a metric.
	gs := slices.Clone(grants)
	slices.SortFunc(gs, func(a, b Grant) int { return cmp.Compare(a.Acquired, b.Acquired) })
	end := func(g Grant) time.Duration {
		if g.Ended == 0 {
			return math.MaxInt64
		}
		return g.Ended
	}
	var held []Grant
	for _, g := range gs {
		held = slices.DeleteFunc(held, func(h Grant) bool { return end(h) <= g.Acquired })
		for _, h := range held {
			if h.Token != g.Token {
				r.HeldOverlaps++
			}
		}
		held = append(held, g)
	}
	return r
}
