package lock

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// sawLog records the lock node data a lease read.
type sawLog struct {
	mu   sync.Mutex
	seen map[string][][]byte
}

func (s *sawLog) option() Option {
	return withSawData(func(p string, data []byte) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.seen == nil {
			s.seen = map[string][][]byte{}
		}
		s.seen[p] = append(s.seen[p], bytes.Clone(data))
	})
}

func (s *sawLog) saw(p string, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.seen[p] {
		if bytes.Equal(d, data) {
			return true
		}
	}
	return false
}

func TestRevoke(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		other := e.Session(t)
		tests := []struct {
			name      string
			revocable bool
			rw        bool
		}{
			{"revocable mutex", true, false},
			{"non-revocable mutex", false, false},
			{"revocable read lease", true, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var saw sawLog
				opts := []Option{saw.option(), WithData([]byte("holder"))}
				if tt.revocable {
					opts = append(opts, WithRevocable())
				}
				var (
					l      *Lease
					err    error
					revoke func(name string) error
				)
				if tt.rw {
					rw := mustRW(t, e, "/revoke-rw", opts...)
					l, err = rw.RLock(ctxT(t))
					revoke = func(n string) error { return rw.Revoke(ctxT(t), n) }
				} else {
					m := mustNew(t, e.Session(t), "/revoke", opts...)
					l, err = m.Lock(ctxT(t))
					revoke = func(n string) error { return m.Revoke(ctxT(t), n) }
				}
				if err != nil {
					t.Fatal(err)
				}
				eventually(t, "the lease read its node", func() bool { return saw.saw(l.Path(), []byte("holder")) })
				if isClosed(l.Revoked()) {
					t.Fatal("Revoked closed before any request")
				}
				if err := RequestRevoke(ctxT(t), other, l.Path()); err != nil {
					t.Fatalf("RequestRevoke: %v", err)
				}
				if tt.revocable {
					waitClosed(t, l.Revoked(), "Revoked after a request")
				} else {
					// The lease has read the marker: a revocable one would
					// have closed Revoked before that.
					eventually(t, "the lease read the revoke marker", func() bool { return saw.saw(l.Path(), RevokeMessage) })
					if isClosed(l.Revoked()) {
						t.Fatal("a non-revocable lease closed Revoked")
					}
				}
				// A request is not a loss: still held, on the server too.
				if isClosed(l.Done()) || l.Err() != nil {
					t.Fatalf("Done after a revoke request alone: %v", l.Err())
				}
				if _, err := l.Guard(ctxT(t)); err != nil {
					t.Fatalf("Guard after a revoke request: %v", err)
				}
				// Asking again by name works as well.
				if err := revoke(backend.Base(l.Path())); err != nil {
					t.Fatalf("Revoke by name: %v", err)
				}
				if err := l.Unlock(ctxT(t)); err != nil {
					t.Fatalf("Unlock after revoke: %v", err)
				}
				if err := RequestRevoke(ctxT(t), other, l.Path()); !errors.Is(err, backend.ErrNoNode) {
					t.Fatalf("RequestRevoke on an unlocked node: %v; want ErrNoNode", err)
				}
			})
		}
	})
}
