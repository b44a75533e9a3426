package lock

import (
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

func rwOn(t *testing.T, s backend.Session, path string, opts ...Option) *RWMutex {
	t.Helper()
	rw, err := NewRWMutex(s, path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

// TestRWWriterExpiry: the write holder's session expires; its lease's Done
// fires, the reader queued behind it gets the read lock with a larger
// token, and the old writer's guarded write is refused.
func TestRWWriterExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		sw, sr := e.Session(t), e.Session(t)
		w, err := rwOn(t, sw, "/rwx").Lock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan lockResult, 1)
		rw := rwOn(t, sr, "/rwx")
		go func() { l, err := rw.RLock(ctxT(t)); ch <- lockResult{l, err} }()
		eventually(t, "reader queued", func() bool {
			hs, err := rw.Holders(ctxT(t))
			return err == nil && len(hs) == 2
		})
		if err := sw.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, w.Done(), "writer's Done after expiry")
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("reader after the writer expired: %v", r.err)
		}
		if r.l.Token() <= w.Token() {
			t.Fatalf("reader token %d not above the dead writer's %d", r.l.Token(), w.Token())
		}
		if _, err := w.Guard(ctxT(t), backend.CreateOp{Path: "/rwx-stale"}); err == nil {
			t.Fatal("the expired writer's guarded write was accepted")
		}
		if err := r.l.Unlock(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRWReaderCut: a read lease whose connection is cut loses its Done at
// suspension (default policy), before the server expires the session.
func TestRWReaderCut(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s, proxy := e.Proxied(t, 8*time.Second)
		l, err := rwOn(t, s, "/rwcut").RLock(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		proxy.Cut()
		waitClosed(t, l.Done(), "read lease's Done after a cut")
		if s.Err() != nil {
			t.Fatalf("session already ended (%v) when Done fired", s.Err())
		}
		if !errors.Is(l.Err(), ErrLost) {
			t.Fatalf("Err: %v; want ErrLost", l.Err())
		}
		proxy.Heal()
		_ = l.Unlock(ctxT(t))
	})
}
