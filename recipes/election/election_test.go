package election

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestBadInput: a bad path, option or session is a typed error.
func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"relative path", func() error { _, err := New(s, "rel"); return err }(), backend.ErrBadPath},
			{"trailing slash", func() error { _, err := NewLatch(s, "/a/"); return err }(), backend.ErrBadPath},
			{"active-standby path", func() error { _, err := NewActiveStandby(s, "x", nil, WithValue([]byte("a"))); return err }(), backend.ErrBadPath},
			{"active-standby without value", func() error { _, err := NewActiveStandby(s, "/ha", nil); return err }(), ErrNoValue},
			{"value too large", func() error { _, err := New(s, "/big", WithValue(make([]byte, 2<<20))); return err }(), backend.ErrTooLarge},
		}
		for _, c := range cases {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
			}
		}
		for name, opt := range map[string]Option{
			"loss policy": WithLossPolicy(LossPolicy(9)), "layout": WithLayout(Layout(9)),
			"logger": WithLogger(nil), "retry": WithRetryInterval(0), "nil": nil,
		} {
			if _, err := New(s, "/e", opt); err == nil {
				t.Errorf("option %s: New succeeded", name)
			}
		}
		if _, err := New(nil, "/e"); err == nil {
			t.Error("nil session: New succeeded")
		}
		if err := mustNew(t, s, "/e").Run(ctxT(t), nil); err == nil {
			t.Error("Run(nil): no error")
		}
		if _, err := mustNew(t, s, "/none").Leader(ctxT(t)); !errors.Is(err, ErrNoLeader) {
			t.Errorf("Leader of an empty election: %v, want ErrNoLeader", err)
		}
	})
}

// TestResignHandsOver: the leader resigns and the next candidate leads at
// once; Observe and Leader follow, Proclaim changes the value without an
// election, and the old term refuses Proclaim and Guard.
func TestResignHandsOver(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sa, sb := e.Session(t), e.Session(t)
		a := mustNew(t, sa, "/hand", WithValue([]byte("a")))
		b := mustNew(t, sb, "/hand", WithValue([]byte("b")))
		ta := mustCampaign(t, a)
		obs := b.Observe(ctxT(t))
		next := func(what string) Candidate {
			t.Helper()
			select {
			case c, ok := <-obs:
				if !ok {
					t.Fatalf("%s: Observe closed", what)
				}
				return c
			case <-time.After(wait):
				t.Fatalf("%s: nothing observed", what)
			}
			panic("unreachable")
		}
		if c := next("first leader"); string(c.Value) != "a" || c.Path != ta.Path() || c.Token != ta.Token() {
			t.Fatalf("observed %+v; want a's node %s", c, ta.Path())
		}
		ch := campaignAsync(t, ctxT(t), b)
		eventually(t, "b queued", func() bool { return participants(t, b) == 2 })
		ps, err := b.Participants(ctxT(t))
		if err != nil || !ps[0].Leader || ps[1].Leader || string(ps[1].Value) != "b" {
			t.Fatalf("participants: %+v, %v", ps, err)
		}
		select {
		case r := <-ch:
			t.Fatalf("b's Campaign returned (%v, %v) while a leads", r.term, r.err)
		default:
		}
		if err := ta.Resign(ctxT(t)); err != nil {
			t.Fatalf("Resign: %v", err)
		}
		if !errors.Is(ta.Err(), ErrNotLeader) || !isClosed(ta.Done()) || ta.Context().Err() == nil {
			t.Fatalf("after Resign: Err %v, Done closed %v, ctx %v", ta.Err(), isClosed(ta.Done()), ta.Context().Err())
		}
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("b's Campaign after a resigned: %v", r.err)
		}
		tb := r.term
		if tb.Token() <= ta.Token() {
			t.Fatalf("b's token %d <= a's %d", tb.Token(), ta.Token())
		}
		// Observe may coalesce a's leaving with b's arrival, but ends on b.
		for c := next("b leads"); c.Path != tb.Path(); c = next("b leads") {
		}
		if err := tb.Proclaim(ctxT(t), []byte("b2")); err != nil {
			t.Fatalf("Proclaim: %v", err)
		}
		if c := next("proclaimed"); c.Path != tb.Path() || string(c.Value) != "b2" {
			t.Fatalf("observed %+v after Proclaim; want b's node with b2", c)
		}
		if c, err := a.Leader(ctxT(t)); err != nil || c.Path != tb.Path() || string(c.Value) != "b2" || c.Token != tb.Token() {
			t.Fatalf("Leader: %+v, %v", c, err)
		}
		if tb.Err() != nil {
			t.Fatalf("b's term ended by its own Proclaim: %v", tb.Err())
		}
		if err := ta.Proclaim(ctxT(t), []byte("x")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Proclaim on a resigned term: %v, want ErrNotLeader", err)
		}
		if _, err := ta.Guard(ctxT(t), backend.CreateOp{Path: "/x", Mode: backend.Persistent}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Guard on a resigned term: %v, want ErrNotLeader", err)
		}
		if err := ta.Resign(ctxT(t)); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("second Resign: %v, want ErrNotLeader", err)
		}
		if err := tb.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if c := next("nobody"); c.Path != "" {
			t.Fatalf("observed %+v after the last resigned; want the zero Candidate", c)
		}
	})
}

// TestSessionExpires: the leader's session expires; its term ends with
// ErrLost, the other candidate leads with a larger token, and the old
// term's Guard is refused by the server.
func TestSessionExpires(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sa, sb := e.Session(t), e.Session(t)
		ta := mustCampaign(t, mustNew(t, sa, "/expire"))
		b := mustNew(t, sb, "/expire")
		ch := campaignAsync(t, ctxT(t), b)
		eventually(t, "b queued", func() bool { return participants(t, b) == 2 })
		ex, ok := sa.(backend.Expirer)
		if !ok {
			t.Skip("no Expirer")
		}
		if err := ex.Expire(ctxT(t)); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		waitClosed(t, ta.Done(), "the expired leader's term")
		if !errors.Is(ta.Err(), ErrLost) || !errors.Is(context.Cause(ta.Context()), ErrLost) {
			t.Fatalf("expired term: Err %v, cause %v; want ErrLost", ta.Err(), context.Cause(ta.Context()))
		}
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("b's Campaign: %v", r.err)
		}
		if r.term.Token() <= ta.Token() {
			t.Fatalf("new token %d <= old %d", r.term.Token(), ta.Token())
		}
		// The old term's guarded write, through a live session of the old
		// leader's process, is refused: its node is gone.
		if _, err := sb.Multi(ctxT(t), backend.CheckOp{Path: ta.Path(), Version: backend.AnyVersion},
			backend.CreateOp{Path: "/stale", Mode: backend.Persistent}); err == nil {
			t.Fatal("a guarded write for the expired term was applied")
		}
		if _, err := ta.Guard(ctxT(t), backend.CreateOp{Path: "/stale", Mode: backend.Persistent}); !errors.Is(err, ErrLost) {
			t.Fatalf("Guard on the expired term: %v, want ErrLost", err)
		}
		if _, err := r.term.Guard(ctxT(t), backend.CreateOp{Path: "/fresh", Mode: backend.Persistent}); err != nil {
			t.Fatalf("Guard on the new term: %v", err)
		}
		if err := r.term.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConnectionCut: the leader's connection is cut; under the default
// policy it steps down by itself (its leader context is cancelled) before
// another candidate is elected.
func TestConnectionCut(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		sa, proxy := e.Proxied(t, sessionTimeout)
		sb := e.Session(t)
		a, b := mustNew(t, sa, "/cut"), mustNew(t, sb, "/cut")
		stepped := make(chan time.Time, 1)
		leading := make(chan *Term, 1)
		done := make(chan error, 1)
		go func() {
			done <- a.Run(ctxT(t), func(lctx context.Context, term *Term) error {
				leading <- term
				<-lctx.Done()
				stepped <- time.Now()
				return nil
			})
		}()
		var ta *Term
		select {
		case ta = <-leading:
		case <-time.After(wait):
			t.Fatal("a did not lead")
		}
		ch := campaignAsync(t, ctxT(t), b)
		eventually(t, "b queued", func() bool { return participants(t, b) == 2 })
		proxy.Cut()
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("b's Campaign: %v", r.err)
		}
		var end time.Time
		select {
		case end = <-stepped:
		case <-time.After(wait):
			t.Fatal("a did not step down")
		}
		if !end.Before(r.at) {
			t.Fatalf("a stepped down at %v, not before b was elected at %v", end, r.at)
		}
		if r.term.Token() <= ta.Token() {
			t.Fatalf("new token %d <= old %d", r.term.Token(), ta.Token())
		}
		proxy.Heal() // a's cleanup learns its session's fate
		if err := <-done; !errors.Is(err, ErrLost) {
			t.Fatalf("a's Run: %v, want ErrLost", err)
		}
		if err := r.term.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestManyElectionsNoLeak: 1000 elections (join, lead, resign) on one
// backend leave no node and no goroutine behind (goleak checks the rest).
func TestManyElectionsNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 elections")
	}
	b := backends[0] // zk
	e := &env{Backend: b, Endpoints: b.Endpoints(t), Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	s := e.Session(t)
	el := mustNew(t, s, "/many")
	mustCampaign(t, el).Resign(ctxT(t))
	base := runtime.NumGoroutine()
	var last int64
	for i := range 1000 {
		term := mustCampaign(t, el)
		if term.Token() <= last {
			t.Fatalf("election %d: token %d <= %d", i, term.Token(), last)
		}
		last = term.Token()
		if err := term.Resign(ctxT(t)); err != nil {
			t.Fatalf("election %d: Resign: %v", i, err)
		}
	}
	if n := participants(t, el); n != 0 {
		t.Fatalf("%d candidates left", n)
	}
	const slack = 8
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+slack })
}

// TestRunRequeue: with WithRequeue, Run competes again after its function
// returns, each term with a larger token, until ctx ends.
func TestRunRequeue(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		el := mustNew(t, e.Session(t), "/requeue", WithRequeue())
		ctx, cancel := context.WithCancel(ctxT(t))
		var tokens []int64
		err := el.Run(ctx, func(lctx context.Context, term *Term) error {
			tokens = append(tokens, term.Token())
			if len(tokens) == 5 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
		for i := 1; i < len(tokens); i++ {
			if tokens[i] <= tokens[i-1] {
				t.Fatalf("tokens %v do not increase", tokens)
			}
		}
		boom := errors.New("boom")
		if err := el.Run(ctxT(t), func(context.Context, *Term) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Run: %v, want the function's error", err)
		}
		if n := participants(t, el); n != 0 {
			t.Fatalf("%d candidates left", n)
		}
	})
}

// TestLatch: Await, IsLeader, Close hands over, and Await after Close.
func TestLatch(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		la := mustLatch(t, e.Session(t), "/latch", WithValue([]byte("a")))
		ta, err := la.Await(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		lb := mustLatch(t, e.Session(t), "/latch", WithValue([]byte("b")))
		eventually(t, "b joined", func() bool { return participants(t, lb.Election()) == 2 })
		if !la.IsLeader() || lb.IsLeader() || la.Term() != ta || lb.Term() != nil {
			t.Fatalf("IsLeader: a %v, b %v", la.IsLeader(), lb.IsLeader())
		}
		short, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
		defer cancel()
		if _, err := lb.Await(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("b's Await while a leads: %v", err)
		}
		if err := la.Close(); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(ta.Err(), ErrNotLeader) {
			t.Fatalf("a's term after Close: %v", ta.Err())
		}
		tb, err := lb.Await(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if tb.Token() <= ta.Token() || !bytes.Equal(mustLeader(t, lb.Election()).Value, []byte("b")) {
			t.Fatalf("b's term %d after a's %d", tb.Token(), ta.Token())
		}
		if _, err := la.Await(ctxT(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Await after Close: %v, want ErrClosed", err)
		}
		if err := la.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func mustLeader(t testing.TB, e *Election) Candidate {
	t.Helper()
	c, err := e.Leader(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLatchRejoinsAfterSuspend: a leading latch whose connection is cut
// loses its term (OnSuspend), and once the connection is back with the
// same session it joins again and leads with a new node and a larger token.
// Under OnLost the same cut does not end the term.
func TestLatchRejoinsAfterSuspend(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		for _, p := range []LossPolicy{OnSuspend, OnLost} {
			t.Run(p.String(), func(t *testing.T) {
				s, proxy := e.Proxied(t, 8*time.Second)
				l := mustLatch(t, s, "/rejoin-"+p.String(), WithLossPolicy(p), WithRetryInterval(50*time.Millisecond))
				t1, err := l.Await(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				proxy.Cut()
				if _, err := backend.WaitState(ctxT(t), s, backend.Suspended); err != nil {
					t.Fatalf("waiting for Suspended: %v", err)
				}
				if p == OnSuspend {
					waitClosed(t, t1.Done(), "the suspended term")
					if !errors.Is(t1.Err(), ErrLost) {
						t.Fatalf("suspended term: %v, want ErrLost", t1.Err())
					}
				}
				proxy.Heal()
				if _, err := backend.WaitState(ctxT(t), s, backend.Reconnected); err != nil {
					t.Fatalf("waiting for Reconnected: %v", err)
				}
				t2, err := l.Await(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				if p == OnLost {
					if t2 != t1 || t1.Err() != nil {
						t.Fatalf("OnLost: term %p (err %v) after a blip; want the same term %p", t2, t1.Err(), t1)
					}
					return
				}
				if t2.Token() <= t1.Token() || t2.Path() == t1.Path() {
					t.Fatalf("term after rejoining: %s token %d; before: %s token %d", t2.Path(), t2.Token(), t1.Path(), t1.Token())
				}
				if n := participants(t, l.Election()); n != 1 {
					t.Fatalf("%d candidates after rejoining; want 1 (the old node deleted)", n)
				}
			})
		}
	})
}

// TestCampaignEnds: a waiting Campaign whose ctx ends deletes its node; one
// whose session expires returns ErrLost instead of waiting on (etcd-io/etcd#19597).
func TestCampaignEnds(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		a := mustNew(t, e.Session(t), "/ends")
		ta := mustCampaign(t, a)
		b := mustNew(t, e.Session(t), "/ends")
		ctx, cancel := context.WithCancel(ctxT(t))
		ch := campaignAsync(t, ctx, b)
		eventually(t, "b queued", func() bool { return participants(t, a) == 2 })
		cancel()
		if r := result(t, ch); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled Campaign: %v, %v; want context.Canceled", r.term, r.err)
		}
		if n := participants(t, a); n != 1 {
			t.Fatalf("%d candidates after the cancelled Campaign; want 1", n)
		}
		sc := e.Session(t)
		ch = campaignAsync(t, ctxT(t), mustNew(t, sc, "/ends"))
		eventually(t, "c queued", func() bool { return participants(t, a) == 2 })
		ex, ok := sc.(backend.Expirer)
		if !ok {
			t.Skip("no Expirer")
		}
		if err := ex.Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if r := result(t, ch); !errors.Is(r.err, ErrLost) {
			t.Fatalf("Campaign on an expired session: %v, %v; want ErrLost", r.term, r.err)
		}
		if err := ta.Resign(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}
