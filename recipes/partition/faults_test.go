package partition

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// heldClaims returns the member's claims, by item.
func (m *member) claims() map[string]*Claim {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*Claim, len(m.held))
	for it, c := range m.held {
		out[it] = c
	}
	return out
}

// TestOwnerExpires: when an owner's session expires, its claims' Done
// close with ErrLost, Revoked hears of them, its Run returns ErrLost, and
// the other member takes its items with larger tokens.
//
// Broken on purpose by having end and dropLost not tell Revoked (and end
// not close the claims; their monitors still did): failed, "Revoked not
// told of ["p-0" "p-1" "p-2"]".
func TestOwnerExpires(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		items := itemNames(6)
		sa := e.Session(t)
		a := start(t, sa, "/g", Member("a"), Items(items...), Settle(settle))
		b := start(t, e.Session(t), "/g", Member("b"), Items(items...), Settle(settle))
		waitSplit(t, items, a, b)
		lost := a.claims()
		if err := sa.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		for it, c := range lost {
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatalf("claim of %s not Done after the expiry", it)
			}
			if !errors.Is(c.Err(), ErrLost) {
				t.Errorf("claim of %s: %v, want ErrLost", it, c.Err())
			}
		}
		select {
		case <-a.done:
			if !errors.Is(a.err, ErrLost) || !errors.Is(a.err, backend.ErrSessionExpired) {
				t.Errorf("Run after expiry: %v, want ErrLost and ErrSessionExpired", a.err)
			}
		case <-time.After(wait):
			t.Fatal("Run did not return after the expiry")
		}
		if got := a.items(); len(got) != 0 {
			t.Errorf("Revoked not told of %q", got)
		}
		waitSplit(t, items, b)
		for it, c := range lost {
			if nc := b.claim(it); nc.Token() <= c.Token() {
				t.Errorf("%s: b's token %d is not above the expired owner's %d", it, nc.Token(), c.Token())
			}
		}
	})
}

// TestCutOwnerEndsFirst: an owner whose connection is blackholed for good
// has each claim Done before the server deletes its owner node, so before
// any other member can claim the item, under either loss policy; then the
// other member takes the items.
//
// Broken on purpose by hiding the session's states from the claims'
// monitors (a Session wrapper) and not closing the claims when Run sees
// the session end: failed, "owner node of p-0 deleted while its claim was
// not Done". Hiding the states alone passed: Run closes the claims when
// the session's own watchdog ends it, before the server's expiry.
func TestCutOwnerEndsFirst(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		for _, policy := range []LossPolicy{OnSuspend, OnLost} {
			t.Run(policy.String(), func(t *testing.T) {
				items := itemNames(4)
				path := "/cut-" + policy.String()
				s, proxy := e.Proxied(t, sessionTimeout)
				observer := e.Session(t)
				a := start(t, s, path, Member("a"), Items(items...), Settle(settle), WithLossPolicy(policy))
				b := start(t, e.Session(t), path, Member("b"), Items(items...), Settle(settle))
				waitSplit(t, items, a, b)
				held := a.claims()
				watches := map[string]<-chan backend.Event{}
				for it, c := range held {
					_, ch, err := observer.ExistsW(ctxT(t), c.Path())
					if err != nil {
						t.Fatal(err)
					}
					watches[it] = ch
				}
				cut := time.Now()
				proxy.Pause()
				for it, ch := range watches {
					select {
					case ev := <-ch:
						if ev.Type != backend.EventDeleted {
							t.Fatalf("observer saw %+v, want the owner node of %s deleted", ev, it)
						}
						if !isClosed(held[it].Done()) {
							t.Fatalf("owner node of %s deleted while its claim was not Done", it)
						}
					case <-time.After(wait):
						t.Fatalf("the owner node of %s was not deleted", it)
					}
				}
				t.Logf("%s %s: owner nodes gone %v after the cut", e.Backend.Name, policy, time.Since(cut).Round(time.Millisecond))
				waitSplit(t, items, b)
				for it, c := range held {
					if nc := b.claim(it); nc.Token() <= c.Token() {
						t.Errorf("%s: b's token %d is not above the cut-off owner's %d", it, nc.Token(), c.Token())
					}
				}
			})
		}
	})
}

// memberEnv tells a re-executed test binary to run a member.
const memberEnv = "ZKRECIPES_PARTITION_MEMBER"

// TestMemberProcess is the member side of TestKilledMember: run by the
// test binary re-executing itself, it joins the group, says "holding"
// once it holds an item, and waits to be killed. Run directly, it does
// nothing.
func TestMemberProcess(t *testing.T) {
	spec := os.Getenv(memberEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	for _, b := range backends {
		if b.Name != f[0] {
			continue
		}
		e := &env{Backend: b, Endpoints: b.Endpoints(t), Namespace: f[1], Timeout: sessionTimeout}
		m := start(t, e.Session(t), "/killed", Member("k"), Items(itemNames(6)...), Settle(settle))
		eventually(t, "holding", func() bool { return len(m.items()) > 0 })
		os.Stdout.WriteString("holding\n")
		select {} // until killed
	}
	t.Fatalf("no backend %q", f[0])
}

// TestKilledMember kills a member process (SIGKILL: its session is never
// closed): the other member takes its items, with larger tokens, once the
// server expires the session.
//
// Broken on purpose by ignoring member removals and the owners' window
// (nothing rebalances after a member dies): failed, "the items split
// among the members: not within 20s".
func TestKilledMember(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		items := itemNames(6)
		child := testenv.StartChild(t, "TestMemberProcess", []string{memberEnv + "=" + e.Backend.Name + " " + e.Namespace}, "holding", wait)
		obs := e.Session(t)
		b := start(t, e.Session(t), "/killed", Member("b"), Items(items...), Settle(settle))
		var before []OwnerInfo
		eventually(t, "k and b share the items", func() bool {
			got, err := Owners(ctxT(t), obs, "/killed")
			if err != nil {
				t.Fatal(err)
			}
			before = got
			return len(got) == 6 && len(b.items()) == 3
		})
		killed := time.Now()
		child.Kill(t)
		waitSplit(t, items, b)
		t.Logf("%s: b holds all %v after the kill (session timeout %v)", e.Backend.Name, time.Since(killed).Round(time.Millisecond), sessionTimeout)
		for _, o := range before {
			if o.Member == "k" && b.claim(o.Item).Token() <= o.Token {
				t.Errorf("%s: b's token %d is not above the killed member's %d", o.Item, b.claim(o.Item).Token(), o.Token)
			}
		}
	})
}
