package counter

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

func newBytes(t testing.TB, s backend.Session, path string, opts ...Option) *AtomicBytes {
	t.Helper()
	a, err := NewAtomicBytes(s, path, opts...)
	if err != nil {
		t.Fatalf("NewAtomicBytes(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestAtomicBytes: Set and CompareAndSet return the data before and after;
// a mismatch writes nothing and carries the current data. Broken on
// purpose: CompareAndSet comparing the data to write, not the current
// data, with expect -> fails with "CompareAndSet(nil, a) on absent = ...,
// counter: value mismatch at /ab".
func TestAtomicBytes(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		a := newBytes(t, s, "/ab")
		if data, v, err := a.Get(ctxT(t)); err != nil || data != nil || v.Exists {
			t.Fatalf("Get on absent = %q, %+v, %v", data, v, err)
		}
		c, err := a.CompareAndSet(ctxT(t), nil, []byte("a"))
		if err != nil || c.Pre != nil || string(c.Post) != "a" {
			t.Fatalf("CompareAndSet(nil, a) on absent = %+v, %v", c, err)
		}
		c, err = a.Set(ctxT(t), []byte("b"))
		if err != nil || string(c.Pre) != "a" || string(c.Post) != "b" || c.Token == 0 {
			t.Fatalf("Set(b) = %+v, %v; want a -> b", c, err)
		}
		_, err = a.CompareAndSet(ctxT(t), []byte("a"), []byte("c"))
		var me *BytesMismatchError
		if !errors.Is(err, ErrMismatch) || !errors.As(err, &me) || string(me.Current) != "b" {
			t.Fatalf("CompareAndSet(a, c) on b = %v; want ErrMismatch with current b", err)
		}
		data, v, err := a.Get(ctxT(t))
		if err != nil || string(data) != "b" || v.Token != c.Token || v.Version != 1 {
			t.Fatalf("Get = %q, %+v, %v; want b at the Set's token, version 1", data, v, err)
		}
		if _, err := NewAtomicBytes(s, "/ab", WithCodec(CuratorInt32)); !errors.Is(err, ErrBadOption) {
			t.Fatalf("NewAtomicBytes with a codec: %v; want ErrBadOption", err)
		}
	})
}

// TestAtomicBytesCAS: 8 writers append their mark by CompareAndSet loops;
// every mark is there once, so no write was lost or made twice. Broken on
// purpose: the counter's SetOp with AnyVersion -> fails with "data has 27
// marks; want 80".
func TestAtomicBytesCAS(t *testing.T) {
	const writers, n = 8, 10
	forEach(t, func(t *testing.T, e *env) {
		s1, s2 := e.Session(t), e.Session(t)
		var wg sync.WaitGroup
		for w := range writers {
			a := newBytes(t, []backend.Session{s1, s2}[w%2], "/abcas")
			wg.Go(func() {
				for range n {
					for {
						cur, _, err := a.Get(ctxT(t))
						if err != nil {
							t.Errorf("Get: %v", err)
							return
						}
						_, err = a.CompareAndSet(ctxT(t), cur, append(bytes.Clone(cur), byte('a'+w)))
						if err == nil {
							break
						}
						if !errors.Is(err, ErrMismatch) {
							t.Errorf("CompareAndSet: %v", err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		data, _, err := newBytes(t, s1, "/abcas").Get(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != writers*n {
			t.Fatalf("data has %d marks; want %d", len(data), writers*n)
		}
		for w := range writers {
			if got := bytes.Count(data, []byte{byte('a' + w)}); got != n {
				t.Fatalf("writer %d's mark %d times; want %d", w, got, n)
			}
		}
	})
}
