package barrier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// enterAll starts Enter on every member and returns their result channels.
func enterAll(t *testing.T, ds ...*DoubleBarrier) []<-chan error {
	chs := make([]<-chan error, len(ds))
	for i, d := range ds {
		chs[i] = async(func() error { return d.Enter(ctxT(t)) })
	}
	return chs
}

func leaveAll(t *testing.T, ds ...*DoubleBarrier) []<-chan error {
	chs := make([]<-chan error, len(ds))
	for i, d := range ds {
		chs[i] = async(func() error { return d.Leave(ctxT(t)) })
	}
	return chs
}

func allNil(t *testing.T, what string, chs []<-chan error) {
	t.Helper()
	for i, ch := range chs {
		if err := result(t, ch, fmt.Sprintf("%s %d", what, i)); err != nil {
			t.Fatalf("%s %d: %v", what, i, err)
		}
	}
}

// TestDouble: n members enter; none passes before the n-th has created its
// node; all leave; nothing is left under the barrier.
// Broken on purpose: counting "count >= d.n-1" in enterOnce -> fails with
// "Enter 0 returned (<nil>) while it should block". Broken on purpose:
// leave not deleting ready at the end -> fails with "left [ready] under the
// barrier; want nothing".
func TestDouble(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n = 3
		observer := e.Session(t)
		var ds []*DoubleBarrier
		var spies []*spy
		for range n {
			sp := newSpy(e.Session(t), "/group")
			spies = append(spies, sp)
			ds = append(ds, mustDouble(t, sp, "/group", n))
		}
		early := enterAll(t, ds[:n-1]...)
		// Both early members have counted (after their own nodes were
		// there) and are waiting.
		for _, sp := range spies[:n-1] {
			sp.saw(t, "children")
		}
		eventually(t, "early members' nodes", func() bool { return len(membersOf(t, observer, "/group")) == n-1 })
		if err := observer.Sync(ctxT(t), "/group"); err != nil {
			t.Fatal(err)
		}
		for i, ch := range early {
			blocked(t, ch, fmt.Sprintf("Enter %d", i))
		}
		if exists(t, observer, "/group/ready") {
			t.Fatal("ready exists with fewer than n members")
		}
		last := enterAll(t, ds[n-1])
		allNil(t, "Enter", append(early, last...))
		got, err := ds[0].Members(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{ds[0].Name(), ds[1].Name(), ds[2].Name()}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Members = %v; want %v", got, want)
		}
		if !exists(t, observer, "/group/ready") {
			t.Fatal("ready missing after every member entered")
		}
		if err := ds[0].Enter(ctxT(t)); !errors.Is(err, ErrEntered) {
			t.Fatalf("second Enter: %v; want ErrEntered", err)
		}

		allNil(t, "Leave", leaveAll(t, ds...))
		if left := childrenOf(t, observer, "/group"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
		if err := ds[0].Leave(ctxT(t)); !errors.Is(err, ErrNotEntered) {
			t.Fatalf("Leave after Leave: %v; want ErrNotEntered", err)
		}
	})
}

// TestLateWaker: a member whose ready watch fires after ready was already
// deleted again (kazoo deletes ready at the start of its leave, and the
// other members have left) still passes: the creation it saw is enough.
// The late member's session is a spy that holds its ready watch's event
// until the other member has come and gone: a member slow to wake up. The
// server and the event are real.
// Broken on purpose: enterOnce returning "passed = false" on EventCreated,
// so that it counts again (as Curator does since GH-1290) -> it counts 1 of
// 2, waits for ever, and fails on both backends with "Enter of the late
// member: barrier: enter /late: 1 of 2 members present: context deadline
// exceeded". (Without the hold, ZooKeeper's member usually re-counted before
// the other member's node was gone and passed even when broken.)
func TestLateWaker(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sp := newSpy(e.Session(t), "/late")
		sp.holdPath, sp.hold = "/late/ready", make(chan struct{})
		late := mustDouble(t, sp, "/late", 2)
		ctx, cancel := context.WithTimeout(ctxT(t), 5*sessionTimeout/2)
		defer cancel()
		ch := async(func() error { return late.Enter(ctx) })
		sp.saw(t, "children") // its ready watch is armed and it counted 1 of 2

		// The other member, as kazoo would run it: enter (counts 2,
		// creates ready), pass, and leave at once, deleting ready first.
		other := e.Session(t)
		for _, op := range []func() error{
			func() error { _, err := other.Create(ctxT(t), "/late/kazoo", nil, backend.Ephemeral); return err },
			func() error { _, err := other.Create(ctxT(t), "/late/ready", nil, backend.Persistent); return err },
			func() error { return other.Delete(ctxT(t), "/late/ready", backend.AnyVersion) },
			func() error { return other.Delete(ctxT(t), "/late/kazoo", backend.AnyVersion) },
		} {
			if err := op(); err != nil {
				t.Fatal(err)
			}
		}
		close(sp.hold) // the late member wakes up now: ready has come and gone
		if err := result(t, ch, "Enter of the late member"); err != nil {
			t.Fatalf("Enter of the late member: %v", err)
		}
		if err := late.Leave(ctxT(t)); err != nil {
			t.Fatalf("Leave: %v", err)
		}
	})
}

// TestEnterCancelled: an Enter whose ctx ends deletes its own node and says
// how many members it saw of how many it needed.
// Broken on purpose: fail() not calling d.cleanup -> fails with "members
// after a cancelled Enter: [m other]; want [other]".
func TestEnterCancelled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		if _, err := observer.Create(ctxT(t), "/cancel", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		if _, err := observer.Create(ctxT(t), "/cancel/other", nil, backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		sp := newSpy(e.Session(t), "/cancel")
		d := mustDouble(t, sp, "/cancel", 3, WithMemberName("m"))
		ctx, cancel := context.WithCancel(ctxT(t))
		ch := async(func() error { return d.Enter(ctx) })
		sp.saw(t, "children")
		cancel()
		err := result(t, ch, "Enter")
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Enter: %v; want a *WaitError matching context.Canceled", err)
		}
		if we.Op != "enter" || we.Path != "/cancel" || we.Present != 2 || we.Need != 3 {
			t.Fatalf("WaitError %+v; want enter /cancel, 2 of 3", we)
		}
		if got, want := err.Error(), "barrier: enter /cancel: 2 of 3 members present: context canceled"; got != want {
			t.Fatalf("Error() = %q; want %q", got, want)
		}
		if got := membersOf(t, observer, "/cancel"); !slices.Equal(got, []string{"other"}) {
			t.Fatalf("members after a cancelled Enter: %v; want [other]", got)
		}
		// It may enter again.
		ctx2, cancel2 := context.WithCancel(ctxT(t))
		cancel2()
		if err := d.Enter(ctx2); !errors.Is(err, context.Canceled) {
			t.Fatalf("Enter again with an ended ctx: %v; want context.Canceled", err)
		}
	})
}

// TestNameTaken: a member name held by another session is refused, and
// the holder's node is left alone.
// Broken on purpose: createMember taking any existing node as ours -> fails
// with "Enter under a taken name: <nil>; want ErrNameTaken".
func TestNameTaken(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		holder := e.Session(t)
		if _, err := holder.Create(ctxT(t), "/taken/m", nil, backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
			t.Fatal(err)
		}
		d := mustDouble(t, e.Session(t), "/taken", 1, WithMemberName("m"))
		if err := d.Enter(ctxT(t)); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("Enter under a taken name: %v; want ErrNameTaken", err)
		}
		if st, err := holder.Exists(ctxT(t), "/taken/m"); err != nil || st == nil || st.EphemeralOwner != holder.ID() {
			t.Fatalf("holder's node after the refused Enter: %+v, %v", st, err)
		}
	})
}

// TestMemberExpiresInside: a member whose session expires while the others
// leave releases them (the server removes its node); its own Leave then
// reports ErrMemberLost and the session's error.
// Broken on purpose: the lowest member watching its own node instead of
// the highest -> fails with "Leave a: barrier: leave /x: 3 of 3 members
// present: context deadline exceeded". Broken on purpose: leave's fail()
// not adding ErrMemberLost -> fails with "Leave of the expired member:
// barrier: leave /x: 0 of 3 members present: backend: session expired;
// want ErrMemberLost and backend.ErrSessionExpired".
func TestMemberExpiresInside(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		var ds []*DoubleBarrier
		for _, name := range []string{"a", "b", "c"} {
			ds = append(ds, mustDouble(t, e.Session(t), "/x", 3, WithMemberName(name)))
		}
		allNil(t, "Enter", enterAll(t, ds...))
		leaving := leaveAll(t, ds[0], ds[1])
		// b deleted its node; a (the lowest) waits for c, the highest.
		eventually(t, "b gone", func() bool { return slices.Equal(membersOf(t, observer, "/x"), []string{"a", "c"}) })
		blocked(t, leaving[0], "Leave a")
		if err := ds[2].s.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		for i, ch := range leaving {
			if err := result(t, ch, fmt.Sprintf("Leave %s", ds[i].Name())); err != nil {
				t.Fatalf("Leave %s: %v", ds[i].Name(), err)
			}
		}
		err := ds[2].Leave(ctxT(t))
		if !errors.Is(err, ErrMemberLost) || !errors.Is(err, backend.ErrSessionExpired) {
			t.Fatalf("Leave of the expired member: %v; want ErrMemberLost and backend.ErrSessionExpired", err)
		}
		if left := childrenOf(t, observer, "/x"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
	})
}

// TestMemberKilledDuringLeave: while the lowest member waits in Leave, a
// member that has not left yet dies: the lowest's Leave returns once the
// server has removed the dead member's node.
// Broken on purpose: leaveOnce waiting on a nil channel instead of the
// watch it armed, so that only a new listing could see a member go ->
// fails with "Leave 0: barrier: leave /k: 3 of 3 members present: context
// deadline exceeded" (a also waits for c's own going; no code here is for
// dead members only: the server's removal fires the same watch).
func TestMemberKilledDuringLeave(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		var ds []*DoubleBarrier
		for _, name := range []string{"a", "b", "c"} {
			ds = append(ds, mustDouble(t, e.Session(t), "/k", 3, WithMemberName(name)))
		}
		allNil(t, "Enter", enterAll(t, ds...))
		leaving := leaveAll(t, ds[0], ds[2])
		// c deleted itself and waits for a; a waits for b, now the highest.
		eventually(t, "c gone", func() bool { return slices.Equal(membersOf(t, observer, "/k"), []string{"a", "b"}) })
		blocked(t, leaving[0], "Leave a")
		if err := ds[1].s.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		allNil(t, "Leave", leaving)
		if left := childrenOf(t, observer, "/k"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
	})
}

// TestOverN: a member that comes after n have entered passes at once (the
// documented outcome: more than n are admitted), and all of them leave.
// Broken on purpose: enterOnce ignoring an existing ready and passing only
// when the count equals n -> fails with "Enter of the extra member: no
// result within 20s". (Ignoring ready alone is not enough to fail it: the
// count of 3 is >= 2.)
func TestOverN(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		var ds []*DoubleBarrier
		for range 3 {
			ds = append(ds, mustDouble(t, e.Session(t), "/over", 2))
		}
		allNil(t, "Enter", enterAll(t, ds[:2]...))
		if err := result(t, enterAll(t, ds[2])[0], "Enter of the extra member"); err != nil {
			t.Fatalf("Enter of the extra member: %v", err)
		}
		allNil(t, "Leave", leaveAll(t, ds...))
		if left := childrenOf(t, e.Session(t), "/over"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
	})
}

// TestEnterReplyLost: the reply to the member's create is lost; Enter
// tries again, recognises its node by its owner, and passes: one node, no
// error.
// Broken on purpose: createMember treating every ErrNodeExists as
// ErrNameTaken -> fails with "Enter after a lost reply: barrier: member
// name taken: /lost/m is owned by session 0x..." (its own session).
func TestEnterReplyLost(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		observer := e.Session(t)
		if _, err := observer.Create(ctxT(t), "/lost", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		d := mustDouble(t, s, "/lost", 2, WithMemberName("m"))
		proxy.DropReplies()
		ch := async(func() error { return d.Enter(ctxT(t)) })
		eventually(t, "member node landed", func() bool { return slices.Equal(membersOf(t, observer, "/lost"), []string{"m"}) })
		proxy.Reset()
		proxy.Heal()
		other := mustDouble(t, e.Session(t), "/lost", 2, WithMemberName("n"))
		if err := other.Enter(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := result(t, ch, "Enter after a lost reply"); err != nil {
			t.Fatalf("Enter after a lost reply: %v", err)
		}
		if got := membersOf(t, observer, "/lost"); !slices.Equal(got, []string{"m", "n"}) {
			t.Fatalf("members %v; want [m n]", got)
		}
		allNil(t, "Leave", leaveAll(t, d, other))
	})
}

// TestGather: n callers pass together, none before the n-th arrives; their
// member nodes are gone afterwards and ready stays, so a late caller
// passes at once.
// Broken on purpose: Gather not deleting its member node -> fails with
// "members after Gather: [<3 UUIDs>]; want none".
func TestGather(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n = 3
		observer := e.Session(t)
		var chs []<-chan error
		for range n - 1 {
			s := e.Session(t)
			chs = append(chs, async(func() error { return Gather(ctxT(t), s, "/start", n) }))
		}
		eventually(t, "early callers' nodes", func() bool { return len(membersOf(t, observer, "/start")) == n-1 })
		for i, ch := range chs {
			blocked(t, ch, fmt.Sprintf("Gather %d", i))
		}
		s := e.Session(t)
		chs = append(chs, async(func() error { return Gather(ctxT(t), s, "/start", n) }))
		allNil(t, "Gather", chs)
		if got := membersOf(t, observer, "/start"); len(got) != 0 {
			t.Fatalf("members after Gather: %v; want none", got)
		}
		if err := Gather(ctxT(t), e.Session(t), "/start", n); err != nil {
			t.Fatalf("late Gather: %v", err)
		}
	})
}

func childrenOf(t testing.TB, s backend.Session, path string) []string {
	t.Helper()
	kids, _, err := s.Children(ctxT(t), path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return kids
}

// TestRounds: members that enter again as soon as they have left, on the
// same path, all get through every round. A smoke test: in one process the
// race TestLeaveMeetsNextRound forces is rare (with thisRound broken it
// still passed).
func TestRounds(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		const n, rounds = 3, 15
		var chs []<-chan error
		for i := range n {
			d := mustDouble(t, e.Session(t), "/rounds", n, WithMemberName(fmt.Sprintf("m%d", i)))
			chs = append(chs, async(func() error {
				for r := range rounds {
					if err := d.Enter(ctxT(t)); err != nil {
						return fmt.Errorf("round %d: %w", r, err)
					}
					if err := d.Leave(ctxT(t)); err != nil {
						return fmt.Errorf("round %d: %w", r, err)
					}
				}
				return nil
			}))
		}
		allNil(t, "round member", chs)
	})
}

// TestLeaveMeetsNextRound: a member still leaving round 1 (slow to wake up:
// its watch on the lowest member is held) finds the lowest already back in
// round 2 under the same name, waiting for it. It must not wait for that
// node: its Leave returns, and round 2 goes through.
// Broken on purpose: thisRound returning ms unfiltered -> b waits for a's
// new node, which waits for b: fails on both backends with "Leave of the
// slow member: barrier: leave /next: 1 of 2 members present: context
// deadline exceeded".
func TestLeaveMeetsNextRound(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		a := mustDouble(t, e.Session(t), "/next", 2, WithMemberName("a"))
		sp := newSpy(e.Session(t), "/next")
		sp.holdPath, sp.hold = "/next/a", make(chan struct{})
		b := mustDouble(t, sp, "/next", 2, WithMemberName("b"))
		allNil(t, "Enter", enterAll(t, a, b))
		bLeft := async(func() error { return b.Leave(ctxT(t)) })
		if err := a.Leave(ctxT(t)); err != nil { // b deleted itself; a was alone
			t.Fatalf("Leave a: %v", err)
		}
		aBack := async(func() error { return a.Enter(ctxT(t)) })
		eventually(t, "a back in round 2, ready gone", func() bool {
			return slices.Equal(childrenOf(t, observer, "/next"), []string{"a"})
		})
		close(sp.hold) // b wakes up: a is gone, and back
		if err := result(t, bLeft, "Leave of the slow member"); err != nil {
			t.Fatalf("Leave of the slow member: %v", err)
		}
		blocked(t, aBack, "Enter of round 2 without b")
		allNil(t, "Enter round 2", append(enterAll(t, b), aBack))
		allNil(t, "Leave round 2", leaveAll(t, a, b))
		if left := childrenOf(t, observer, "/next"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
	})
}

// TestLeaveWatchMeetsNextRound: a slow leaver lists the members while its
// round's ready stands, then, before it arms its watch on the lowest, the
// lowest leaves, deletes ready and enters the next round under the same
// name. The watch finds that new node, which waits in Enter for the slow
// leaver: Leave must see it is not of its round (found by the checked run
// on etcd 3.4, seed 1796444985810334325).
//
// Broken on purpose: without the roundStands check after ExistsW in
// leaveOnce, "Leave of the slow member: barrier: leave /aba: 2 of 2 members
// present: context deadline exceeded" on both backends.
func TestLeaveWatchMeetsNextRound(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		observer := e.Session(t)
		a := mustDouble(t, e.Session(t), "/aba", 2, WithMemberName("a"))
		sp := newSpy(e.Session(t), "/aba")
		sp.beforePath, sp.before = "/aba/a", make(chan struct{})
		b := mustDouble(t, sp, "/aba", 2, WithMemberName("b"))
		allNil(t, "Enter", enterAll(t, a, b))
		ctx, cancel := context.WithTimeout(ctxT(t), 4*sessionTimeout)
		defer cancel()
		bLeft := async(func() error { return b.Leave(ctx) })
		sp.saw(t, "existsw-held") // b listed [a b], deleted itself, is about to watch a
		if err := a.Leave(ctxT(t)); err != nil {
			t.Fatalf("Leave a: %v", err)
		}
		aBack := async(func() error { return a.Enter(ctxT(t)) })
		eventually(t, "a back in round 2, ready gone", func() bool {
			return slices.Equal(childrenOf(t, observer, "/aba"), []string{"a"})
		})
		close(sp.before) // b watches a: the new a
		if err := result(t, bLeft, "Leave of the slow member"); err != nil {
			t.Fatalf("Leave of the slow member: %v", err)
		}
		blocked(t, aBack, "Enter of round 2 without b")
		allNil(t, "Enter round 2", append(enterAll(t, b), aBack))
		allNil(t, "Leave round 2", leaveAll(t, a, b))
		if left := childrenOf(t, observer, "/aba"); len(left) != 0 {
			t.Fatalf("left %v under the barrier; want nothing", left)
		}
	})
}
