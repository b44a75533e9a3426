package barrier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestBarrier: Wait blocks while the node exists and returns once it is
// removed; the node is persistent with empty data.
// Broken on purpose: once returning errGone whether or not ExistsW found
// the node -> fails with "Wait returned (<nil>) while it should block".
func TestBarrier(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, observer := e.Session(t), e.Session(t)
		b, err := New(s, "/app/start")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Wait(ctxT(t)); err != nil {
			t.Fatalf("Wait on a barrier not set: %v; want nil at once", err)
		}
		for range 2 { // the second Set finds it set
			if err := b.Set(ctxT(t)); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
		data, st, err := observer.Get(ctxT(t), "/app/start")
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 0 || st.EphemeralOwner != 0 {
			t.Fatalf("barrier node data %q owner %#x; want empty and persistent", data, st.EphemeralOwner)
		}
		if set, err := b.IsSet(ctxT(t)); err != nil || !set {
			t.Fatalf("IsSet = %v, %v; want true", set, err)
		}

		sp := newSpy(observer, "/app/start")
		waiter, err := New(sp, "/app/start")
		if err != nil {
			t.Fatal(err)
		}
		ch := async(func() error { return waiter.Wait(ctxT(t)) })
		// The waiter has found the node; one more round trip on its
		// session, and it must still be waiting.
		sp.saw(t, "existsw")
		if err := observer.Sync(ctxT(t), "/app/start"); err != nil {
			t.Fatal(err)
		}
		blocked(t, ch, "Wait")
		if err := b.Remove(ctxT(t)); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if err := result(t, ch, "Wait"); err != nil {
			t.Fatalf("Wait after Remove: %v", err)
		}
		if err := b.Remove(ctxT(t)); err != nil {
			t.Fatalf("Remove of a barrier not set: %v; want nil", err)
		}
		if set, err := b.IsSet(ctxT(t)); err != nil || set {
			t.Fatalf("IsSet after Remove = %v, %v; want false", set, err)
		}
	})
}

// TestBarrierWaitEnds: a Wait whose ctx ends is a *WaitError matching the
// context's error, and one whose session ends matches the session's.
// Broken on purpose: Wait returning the bare cause instead of a *WaitError
// -> fails with "Wait past its deadline: context deadline exceeded; want a
// *WaitError matching context.DeadlineExceeded".
func TestBarrierWaitEnds(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		b, err := New(s, "/held")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
		defer cancel()
		err = b.Wait(ctx)
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait past its deadline: %v; want a *WaitError matching context.DeadlineExceeded", err)
		}
		if we.Op != "wait" || we.Path != "/held" || we.Present != 0 || we.Need != 0 {
			t.Fatalf("WaitError %+v; want op wait, path /held, 0 of 0", we)
		}
		if got, want := err.Error(), "barrier: wait /held: context deadline exceeded"; got != want {
			t.Fatalf("Error() = %q; want %q", got, want)
		}

		ch := async(func() error { return b.Wait(ctxT(t)) })
		if err := s.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		err = result(t, ch, "Wait on an expiring session")
		if !errors.As(err, &we) || !errors.Is(err, backend.ErrSessionExpired) {
			t.Fatalf("Wait on an expired session: %v; want a *WaitError matching backend.ErrSessionExpired", err)
		}
	})
}

// TestBadInput: bad paths, counts and names are refused before any round
// trip; a closed session's calls fail with backend.ErrClosed.
// Broken on purpose: checkPath accepting "/" -> fails with `New("/") =
// <nil>; want backend.ErrBadPath` (and the same for NewDouble, NewLatch;
// Gather waits out its ctx).
func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		for _, p := range []string{"", "/", "rel", "/a/", "/a//b", "/a/./b"} {
			if _, err := New(s, p); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("New(%q) = %v; want backend.ErrBadPath", p, err)
			}
			if _, err := NewDouble(s, p, 2); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("NewDouble(%q) = %v; want backend.ErrBadPath", p, err)
			}
			if _, err := NewLatch(s, p, 2); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("NewLatch(%q) = %v; want backend.ErrBadPath", p, err)
			}
			if err := Gather(ctxT(t), s, p, 2); !errors.Is(err, backend.ErrBadPath) {
				t.Errorf("Gather(%q) = %v; want backend.ErrBadPath", p, err)
			}
		}
		for _, n := range []int{0, -1} {
			if _, err := NewDouble(s, "/d", n); !errors.Is(err, ErrBadOption) {
				t.Errorf("NewDouble(n=%d) = %v; want ErrBadOption", n, err)
			}
			if _, err := NewLatch(s, "/l", n); !errors.Is(err, ErrBadOption) {
				t.Errorf("NewLatch(n=%d) = %v; want ErrBadOption", n, err)
			}
		}
		for _, name := range []string{"ready", "a/b", "."} {
			if _, err := NewDouble(s, "/d", 2, WithMemberName(name)); !errors.Is(err, ErrBadOption) {
				t.Errorf("WithMemberName(%q) = %v; want ErrBadOption", name, err)
			}
		}

		closed := e.Session(t)
		b, _ := New(closed, "/c")
		d := mustDouble(t, closed, "/c2", 2)
		l, _ := NewLatch(closed, "/c3", 2)
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"Set":       b.Set(ctxT(t)),
			"Wait":      b.Wait(ctxT(t)),
			"Enter":     d.Enter(ctxT(t)),
			"CountDown": l.CountDown(ctxT(t)),
			"Await":     l.Await(ctxT(t)),
		} {
			if !errors.Is(err, backend.ErrClosed) {
				t.Errorf("%s on a closed session = %v; want backend.ErrClosed", what, err)
			}
		}
	})
}
