package demo

import (
	"errors"
	"fmt"
	"sync"
)

// ErrStaleToken is what a FencedStore says to a write with an old token.
var ErrStaleToken = errors.New("stale fencing token")

// FencedStore stands for any resource outside the coordination service (a
// database row, a file store): it takes a write only with a fencing token at
// least as large as the highest it has seen, as recipes/lock's doc says.
type FencedStore struct {
	mu      sync.Mutex
	highest int64
	value   string
}

// Write stores value if token is not older than the highest seen.
func (s *FencedStore) Write(token int64, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("%w: token %d, but token %d has written", ErrStaleToken, token, s.highest)
	}
	s.highest, s.value = token, value
	return nil
}
