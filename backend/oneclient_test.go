package backend

import (
	"context"
	"errors"
	"testing"
)

// endable is the part of a Session OneSession looks at.
type endable struct {
	Session
	err error
}

func (e *endable) Err() error { return e.err }

// TestOneSessionEndsWithItsSession: the client hands out its session while
// it lives and its error after; it never opens another. Broken on purpose
// by returning o.s unconditionally: the second check failed.
func TestOneSessionEndsWithItsSession(t *testing.T) {
	s := &endable{}
	c := OneSession(s)
	got, err := c.Session(context.Background())
	if err != nil || got != Session(s) {
		t.Fatalf("live session: %v, %v; want the session", got, err)
	}
	s.err = ErrSessionExpired
	if got, err := c.Session(context.Background()); got != nil || !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("ended session: %v, %v; want ErrSessionExpired", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
