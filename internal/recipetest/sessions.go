package recipetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Sessions opens the sessions of a helper process (see internal/testproc),
// one at a time, on its client, and expires the current one on the test
// process's command.
type Sessions struct {
	// Client opens the sessions.
	Client backend.Client
	// Process names the process in messages on stderr.
	Process string
	// Line begins the line printed on stdout with each new session's ID.
	Line string
	// OpTimeout bounds one session's opening and one expiry.
	OpTimeout time.Duration

	current  atomic.Pointer[backend.Session]
	expiring sync.WaitGroup
}

// Next opens a session, trying again every 100 ms until it opens or stop
// ends (then it returns false), and prints Line and its ID on stdout.
func (s *Sessions) Next(stop context.Context) (backend.Session, bool) {
	for stop.Err() == nil {
		ctx, cancel := context.WithTimeout(stop, s.OpTimeout)
		sess, err := s.Client.Session(ctx)
		cancel()
		if err == nil {
			s.current.Store(&sess)
			fmt.Printf("%s%d\n", s.Line, sess.ID())
			return sess, true
		}
		grant.Pause(stop, 100*time.Millisecond)
	}
	return nil, false
}

// Expire expires the current session (backend.Expirer) in the background,
// if one was opened; a failure is reported on stderr.
func (s *Sessions) Expire() {
	cur := s.current.Load()
	if cur == nil {
		return
	}
	s.expiring.Add(1)
	go func() {
		defer s.expiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.OpTimeout)
		defer cancel()
		if err := (*cur).(backend.Expirer).Expire(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "%s: expire: %v\n", s.Process, err)
		}
	}()
}

// Wait waits for the expiries under way.
func (s *Sessions) Wait() { s.expiring.Wait() }
