package zk

import (
	"context"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// forward turns go-zookeeper's watch channel into the one-shot channel a
// caller gets: exactly one Event, then the channel is closed. A goroutine
// waits for whichever comes first: the watch firing, ctx ending, or the
// session ending; it is gone as soon as one of them happened.
//
// go-zookeeper cannot remove a watch: after ctx ended, the server-side watch
// stays until it fires or the session ends, and the driver drops its event
// into a buffered channel nobody reads.
func (s *Session) forward(ctx context.Context, path string, zch <-chan zk.Event) <-chan backend.Event {
	out := make(chan backend.Event, 1)
	full := s.full(path)
	s.oneShotMu.Lock()
	if s.oneShots == nil {
		s.oneShots = map[string]int{}
	}
	s.oneShots[full]++
	s.oneShotMu.Unlock()
	done := func() {
		s.oneShotMu.Lock()
		if s.oneShots[full]--; s.oneShots[full] <= 0 {
			delete(s.oneShots, full)
		}
		s.oneShotMu.Unlock()
	}
	ok := s.spawn(func() {
		defer close(out)
		defer done()
		var ev backend.Event
		select {
		case zev, ok := <-zch:
			if !ok {
				ev = backend.Event{Type: backend.EventNotWatching, Path: path, Err: s.endErr()}
				break
			}
			ev = s.translate(path, zev)
		case <-ctx.Done():
			ev = backend.Event{Type: backend.EventNotWatching, Path: path, Err: ctx.Err()}
		case <-s.feed.Done():
			ev = backend.Event{Type: backend.EventNotWatching, Path: path, Err: s.feed.Err()}
		}
		out <- ev
	})
	if !ok {
		done()
		out <- backend.Event{Type: backend.EventNotWatching, Path: path, Err: s.endErr()}
		close(out)
	}
	return out
}

// translate converts a go-zookeeper watch event for the caller's path.
func (s *Session) translate(path string, zev zk.Event) backend.Event {
	ev := backend.Event{Path: path}
	switch zev.Type {
	case zk.EventNodeCreated:
		ev.Type = backend.EventCreated
	case zk.EventNodeDeleted:
		ev.Type = backend.EventDeleted
	case zk.EventNodeDataChanged:
		ev.Type = backend.EventDataChanged
	case zk.EventNodeChildrenChanged:
		ev.Type = backend.EventChildrenChanged
	default:
		// EventNotWatching: the driver gave up the watch because the
		// session expired or the connection was closed.
		ev.Type = backend.EventNotWatching
		switch {
		case s.feed.Err() != nil:
			ev.Err = s.feed.Err()
		case zev.Err == zk.ErrSessionExpired:
			ev.Err = backend.ErrSessionExpired
		default:
			ev.Err = backend.ErrClosed
		}
	}
	return ev
}
