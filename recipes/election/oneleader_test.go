package election

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// interval is one recorded leadership term, as its leader saw it.
type interval struct {
	who        int
	token      int64
	start, end time.Time
}

// ledger records who leads: a leader calls begin when it learns it leads
// and end before it stops acting as leader (or once it learns it stopped).
// Two open terms at once are a violation. It also acts as a fenced
// register: it accepts a token only if it is the highest seen.
type ledger struct {
	mu         sync.Mutex
	open       map[int]*interval
	all        []*interval
	violations []string
	highest    int64
	rejected   []int64
	started    chan int // who began, for the test to follow
}

func newLedger() *ledger {
	return &ledger{open: map[int]*interval{}, started: make(chan int, 1000)}
}

func (l *ledger) begin(who int, token int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.open) > 0 {
		for o := range l.open {
			l.violations = append(l.violations, "candidate "+strconv.Itoa(who)+" leads while "+strconv.Itoa(o)+" does")
		}
	}
	iv := &interval{who: who, token: token, start: time.Now()}
	l.open[who] = iv
	l.all = append(l.all, iv)
}

// announce tells the test who leads, once the leader did its writes.
func (l *ledger) announce(who int) { l.started <- who }

func (l *ledger) end(who int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if iv := l.open[who]; iv != nil {
		iv.end = time.Now()
		delete(l.open, who)
	}
}

// write is the fenced register: a write with a token lower than the
// highest seen is rejected.
func (l *ledger) write(token int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if token < l.highest {
		l.rejected = append(l.rejected, token)
		return false
	}
	l.highest = token
	return true
}

// check fails t on overlapping terms, tokens that do not increase, or a
// rejected write.
func (l *ledger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
	for i := 1; i < len(l.all); i++ {
		prev, cur := l.all[i-1], l.all[i]
		if cur.token <= prev.token {
			t.Errorf("term %d: token %d after %d", i, cur.token, prev.token)
		}
		if !prev.end.IsZero() && cur.start.Before(prev.end) {
			t.Errorf("term %d of %d started at %v before term %d of %d ended at %v", i, cur.who, cur.start, i-1, prev.who, prev.end)
		}
	}
	if len(l.rejected) > 0 {
		t.Errorf("the register rejected writes of tokens %v", l.rejected)
	}
}

func (l *ledger) next(t *testing.T) int {
	t.Helper()
	select {
	case who := <-l.started:
		return who
	case <-time.After(wait):
		t.Fatal("no leader")
	}
	panic("unreachable")
}

// TestOneLeader: five latches, fifty forced changes (the leader resigns or
// closes its latch): one leader at a time, tokens strictly increase, every
// new term's guarded write to a register node is accepted, and the old
// term's guarded write is refused.
func TestOneLeader(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n, changes = 5, 50
		led := newLedger()
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait)
		var mu sync.Mutex
		latches := make([]*Latch, n)
		terms := make([]*Term, n)
		watch := func(who int, l *Latch) {
			defer wg.Done()
			for {
				term, err := l.Await(context.Background())
				if err != nil {
					return // closed
				}
				mu.Lock()
				terms[who] = term
				mu.Unlock()
				led.begin(who, term.Token())
				// The register, on the server and in memory: the guarded
				// write applies only while the term holds.
				if _, err := term.Guard(context.Background(), backend.SetOp{Path: "/register", Data: []byte(strconv.FormatInt(term.Token(), 10)), Version: backend.AnyVersion}); err != nil {
					led.mu.Lock()
					led.violations = append(led.violations, "register write of a live term failed: "+err.Error())
					led.mu.Unlock()
				}
				led.write(term.Token())
				led.announce(who)
				<-term.Done()
				led.end(who) // already ended by the test for forced changes
			}
		}
		s := e.Session(t)
		if _, err := s.Create(ctxT(t), "/register", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		sessions := make([]backend.Session, n)
		for i := range n {
			sessions[i] = e.Session(t)
			latches[i] = mustLatch(t, sessions[i], "/one", WithValue([]byte{byte('0' + i)}))
			wg.Add(1)
			go watch(i, latches[i])
		}
		for c := range changes {
			who := led.next(t)
			mu.Lock()
			term := terms[who]
			mu.Unlock()
			led.end(who) // it stops acting as leader before it steps out
			if c%2 == 0 {
				if err := term.Resign(ctxT(t)); err != nil {
					t.Fatalf("change %d: Resign: %v", c, err)
				}
			} else {
				if err := latches[who].Close(); err != nil {
					t.Fatalf("change %d: Close: %v", c, err)
				}
				latches[who] = mustLatch(t, sessions[who], "/one", WithValue([]byte{byte('0' + who)}))
				wg.Add(1)
				go watch(who, latches[who])
			}
			if _, err := term.Guard(ctxT(t), backend.SetOp{Path: "/register", Data: []byte("stale"), Version: backend.AnyVersion}); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("change %d: the old term's Guard: %v, want ErrNotLeader", c, err)
			}
			// Straight to the server, past the local check: refused too.
			if _, err := term.mon.Guard(ctxT(t), backend.SetOp{Path: "/register", Data: []byte("stale"), Version: backend.AnyVersion}); err == nil {
				t.Fatalf("change %d: the server applied a write guarded by the old term", c)
			}
		}
		last := led.next(t) // the 51st term
		// Close the waiting latches first: closing the leader's while
		// others wait would start a 52nd term.
		for i, l := range latches {
			if i != last {
				_ = l.Close()
			}
		}
		_ = latches[last].Close()
		wg.Wait()
		led.check(t)
		led.mu.Lock()
		got := len(led.all)
		led.mu.Unlock()
		if got != changes+1 {
			t.Errorf("%d terms; want %d", got, changes+1)
		}
		data, _, err := s.Get(ctxT(t), "/register")
		if err != nil || string(data) == "stale" {
			t.Fatalf("register: %q, %v", data, err)
		}
	})
}

// TestReconnectStorm: three candidates behind fault proxies run Run with
// requeue while the current leader's connection is cut again and again:
// never two leaders at once, and tokens increase.
func TestReconnectStorm(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		const n = 3
		cuts := 6
		if e.Backend.Name == "etcd" {
			cuts = 3 // each round waits for a keep-alive to fail: seconds
		}
		led := newLedger()
		proxies := make([]*faultnet.Proxy, n)
		sessions := make([]backend.Session, n)
		_ = faultnet.Proxy{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		t.Cleanup(func() { cancel(); wg.Wait() })
		for i := range n {
			// Long enough for a cut session to reconnect before it expires.
			s, p := e.Proxied(t, 8*time.Second)
			proxies[i], sessions[i] = p, s
			el := mustNew(t, s, "/storm", WithRequeue(), WithRetryInterval(50*time.Millisecond))
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := el.Run(ctx, func(lctx context.Context, term *Term) error {
					led.begin(i, term.Token())
					led.write(term.Token())
					led.announce(i)
					<-lctx.Done()
					led.end(i)
					return nil
				})
				if ctx.Err() == nil {
					t.Errorf("candidate %d: Run returned early: %v", i, err)
				}
			}()
		}
		// Each round resets every connection once (the proxies accept the
		// reconnection at once) and keeps the leader's cut until it has
		// stepped down (on etcd a reset alone may go unnoticed), then heals
		// and waits until all are back and someone leads.
		led.next(t)
		for round := range cuts {
			led.mu.Lock()
			who := -1
			for w := range led.open {
				who = w
			}
			led.mu.Unlock()
			for i, p := range proxies {
				if i == who {
					p.Cut()
				} else {
					p.Reset()
				}
			}
			if who >= 0 {
				eventually(t, "the cut leader stepped down", func() bool {
					led.mu.Lock()
					defer led.mu.Unlock()
					return led.open[who] == nil
				})
				proxies[who].Heal()
			}
			var conns []int
			var open int
			deadline := time.Now().Add(wait)
			for {
				conns = conns[:0]
				all := true
				for _, p := range proxies {
					conns = append(conns, p.Conns())
					all = all && p.Conns() > 0
				}
				led.mu.Lock()
				open = len(led.open)
				led.mu.Unlock()
				if all && open == 1 {
					break
				}
				if time.Now().After(deadline) {
					var states []string
					for _, cs := range sessions {
						states = append(states, fmt.Sprintf("%#x:%v/%v", cs.ID(), cs.State(), cs.Err()))
					}
					ps, err := mustNew(t, e.Session(t), "/storm").Participants(ctxT(t))
					for _, c := range ps {
						t.Logf("participant %s owner %#x", c.Name, c.Owner)
					}
					t.Fatalf("round %d: connections %v, %d leaders: not healed; sessions %v; participants err %v", round, conns, open, states, err)
				}
				time.Sleep(5 * time.Millisecond) // polling what nothing signals
			}
		}
		eventually(t, "a leader after the storm", func() bool {
			led.mu.Lock()
			defer led.mu.Unlock()
			return len(led.open) == 1
		})
		led.mu.Lock()
		t.Logf("%d terms in %d rounds", len(led.all), cuts)
		led.mu.Unlock()
		cancel()
		wg.Wait()
		led.check(t)
	})
}
