package barrier

import (
	"context"
	"errors"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// cleanupTimeout bounds the detached cleanup after a wait ended early.
const cleanupTimeout = 5 * time.Second

// stopped returns why a wait must stop: ctx's error or the session's, or nil.
func stopped(ctx context.Context, s backend.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Err()
}

// retrier paces the retries of operations that failed with a connection
// loss while ctx and the session still live.
type retrier struct{ backoff time.Duration }

// again reports whether err is a connection loss worth another try, after
// waiting a little (bounded by ctx and the session).
func (r *retrier) again(ctx context.Context, s backend.Session, err error) bool {
	if !errors.Is(err, backend.ErrConnectionLoss) || stopped(ctx, s) != nil {
		return false
	}
	r.backoff = min(max(2*r.backoff, 20*time.Millisecond), time.Second)
	t := time.NewTimer(r.backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.Done():
	}
	return stopped(ctx, s) == nil
}

// awaitEvent waits for the one-shot watch ev, ctx's end or the session's
// end. It returns the event, or why the wait stopped. An EventNotWatching
// whose cause is neither ctx nor the session comes back as an event: the
// caller looks again.
func awaitEvent(ctx context.Context, s backend.Session, ev <-chan backend.Event) (backend.Event, error) {
	select {
	case e, ok := <-ev:
		if !ok || e.Type == backend.EventNotWatching {
			if err := stopped(ctx, s); err != nil {
				return e, err
			}
		}
		return e, nil
	case <-ctx.Done():
		return backend.Event{}, ctx.Err()
	case <-s.Done():
		return backend.Event{}, s.Err()
	}
}

// create creates path (persistent parents, if parents) and treats
// ErrNodeExists as success; a lost reply is tried again, which the
// ErrNodeExists rule makes safe.
func create(ctx context.Context, s backend.Session, path string, data []byte, mode backend.Mode, parents bool) error {
	var opts []backend.CreateOption
	if parents {
		opts = append(opts, backend.WithParents(backend.Persistent))
	}
	var r retrier
	for {
		_, err := s.Create(ctx, path, data, mode, opts...)
		if err == nil || errors.Is(err, backend.ErrNodeExists) {
			return nil
		}
		if !r.again(ctx, s, err) {
			return err
		}
	}
}

// remove deletes path, any version; ErrNoNode is success, a lost reply is
// tried again.
func remove(ctx context.Context, s backend.Session, path string) error {
	var r retrier
	for {
		err := s.Delete(ctx, path, backend.AnyVersion)
		if err == nil || errors.Is(err, backend.ErrNoNode) {
			return nil
		}
		if !r.again(ctx, s, err) {
			return err
		}
	}
}
