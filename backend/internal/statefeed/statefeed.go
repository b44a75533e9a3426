// Package statefeed tracks a session's connection state and hands every
// change to every subscriber, in order, without ever dropping one: each
// subscriber has its own unbounded queue, drained by a goroutine that ends
// when the subscriber's context ends or the final state has been delivered.
package statefeed

import (
	"context"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Feed is a session's state and its subscribers. The zero value is not
// usable; call New.
type Feed struct {
	mu    sync.Mutex
	state backend.State
	subs  map[*sub]struct{}
	done  chan struct{}
	err   error
	wg    sync.WaitGroup
}

type sub struct {
	queue  []backend.State
	wake   chan struct{} // capacity 1: something was queued
	closed bool          // final state queued; no more will come
}

// New returns a feed in the given initial state.
func New(initial backend.State) *Feed {
	return &Feed{state: initial, subs: map[*sub]struct{}{}, done: make(chan struct{})}
}

// State returns the current state.
func (f *Feed) State() backend.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// Done is closed when a final state (Lost or Closed) is set.
func (f *Feed) Done() <-chan struct{} { return f.done }

// Err is nil until a final state was set; then the error given with it.
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Set moves the feed to st and queues it for every subscriber. After a final
// state, further calls are ignored and return false. err is what Err reports
// after a final state (ErrSessionExpired or ErrClosed).
func (f *Feed) Set(st backend.State, err error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state.Final() || st == f.state {
		return false
	}
	f.state = st
	for s := range f.subs {
		s.queue = append(s.queue, st)
		if st.Final() {
			s.closed = true
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if st.Final() {
		f.err = err
		close(f.done)
	}
	return true
}

// Subscribe returns a channel of every state set from now on. It is closed
// after the final state is delivered or when ctx ends. If the feed is already
// final, the channel is closed at once.
func (f *Feed) Subscribe(ctx context.Context) <-chan backend.State {
	out := make(chan backend.State)
	f.mu.Lock()
	if f.state.Final() {
		f.mu.Unlock()
		close(out)
		return out
	}
	s := &sub{wake: make(chan struct{}, 1)}
	f.subs[s] = struct{}{}
	f.wg.Add(1)
	f.mu.Unlock()

	go func() {
		defer f.wg.Done()
		defer close(out)
		defer func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
		}()
		for {
			f.mu.Lock()
			if len(s.queue) == 0 {
				closed := s.closed
				f.mu.Unlock()
				if closed {
					return
				}
				select {
				case <-s.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			next := s.queue[0]
			s.queue = s.queue[1:]
			f.mu.Unlock()
			select {
			case out <- next:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Wait waits for the subscribers' goroutines to end. Each ends when its
// subscriber's context ends or its reader has received the final state, so
// Close must not call Wait: a reader that reads only after Close returns
// would never let it return. Tests call it to check for leaks.
func (f *Feed) Wait() { f.wg.Wait() }
