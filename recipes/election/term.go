package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Term is one leadership term: what Campaign, Latch.Await and Run's
// function get while their candidate leads. It ends when the leader resigns
// (Resign, Latch.Close, Run's function returning) or when leadership is lost;
// Done is then closed and Context cancelled. A Term is safe for concurrent
// use.
type Term struct {
	s       backend.Session
	path    string // the node whose existence is the leadership
	token   int64
	mon     *grant.Monitor
	ctx     context.Context
	release func(ctx context.Context) error // deletes what the term holds

	mu       sync.Mutex
	resigned bool
}

// newTerm starts the term of the node at path, created at token, on s;
// w, when not nil, is the contender whose read-back set a watch on the
// node for the term's monitor to start on.
func newTerm(s backend.Session, o options, path string, token int64, release func(context.Context) error, w *contender.Contender) *Term {
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &Term{s: s, path: path, token: token, ctx: ctx, release: release}
	o.logger.Debug("election: leading", "path", path, "token", token)
	cfg := grant.Config{
		Session: s,
		Path:    path,
		Policy:  o.policy.grant(),
		Lost: func(cause error) error {
			return fmt.Errorf("%w: %s: %w", ErrLost, path, cause)
		},
		OnDone: func(err error) { cancel(err) },
		Logger: o.logger,
		Name:   "election",
	}
	if w != nil {
		cfg.WatchData, cfg.Watch, cfg.StopWatch = w.TakeWatch()
	}
	t.mon = grant.Start(cfg)
	return t
}

// Token returns the term's fencing token: the CreateToken of the winning
// node (ZooKeeper czxid, etcd create revision). A later term of the same
// election has a strictly larger token. Pass it with every write to the
// resource the leader controls and have the resource refuse a token lower
// than the highest it has seen: leadership alone is not mutual exclusion.
func (t *Term) Token() int64 { return t.token }

// Path returns the full path of the node that holds the leadership.
func (t *Term) Path() string { return t.path }

// Done returns a channel closed once, when the term ends (Err says why).
func (t *Term) Done() <-chan struct{} { return t.mon.Done() }

// Err returns nil while the term lasts; after a loss an error matching
// ErrLost that wraps the cause, after Resign one matching ErrNotLeader.
func (t *Term) Err() error { return t.mon.Err() }

// Context returns a context cancelled when the term ends, with Err as its
// cause (context.Cause).
func (t *Term) Context() context.Context { return t.ctx }

// Resign ends the term and hands leadership to the next candidate at once:
// it deletes the leader's node (whose deletion wakes the next candidate)
// and closes Done. Resign on a term already resigned returns an error
// matching ErrNotLeader; on a term that was lost it still deletes the node
// if it is there, and returns the loss (matching ErrLost). When the node
// cannot be deleted (ctx ended during a connection loss) the term is not
// ended and Resign may be called again; the node goes when the session ends.
func (t *Term) Resign(ctx context.Context) error {
	lost, err := t.resign(ctx)
	if err != nil {
		return err
	}
	if lost != nil {
		return fmt.Errorf("election: resign: %w", lost)
	}
	return nil
}

// resign is Resign; it returns the loss that came before it apart from
// its own failure.
func (t *Term) resign(ctx context.Context) (lost, err error) {
	t.mu.Lock()
	if t.resigned {
		t.mu.Unlock()
		return nil, fmt.Errorf("election: resign %s: %w", t.path, ErrNotLeader)
	}
	t.mu.Unlock()
	lost = t.mon.BeginRelease()
	if err := t.release(ctx); err != nil {
		t.mon.EndRelease()
		return nil, fmt.Errorf("election: resign %s: %w", t.path, err)
	}
	t.mon.Stop()
	t.mu.Lock()
	already := t.resigned
	t.resigned = true
	t.mu.Unlock()
	if already {
		return nil, fmt.Errorf("election: resign %s: %w", t.path, ErrNotLeader)
	}
	t.mon.Finish(fmt.Errorf("%w: %s resigned", ErrNotLeader, t.path))
	return lost, nil
}

// Proclaim replaces the leader's value (its node's data) without a new
// election, only while the node stands: a term that has ended is refused
// with Err, and a node gone on the server is an error matching ErrLost.
func (t *Term) Proclaim(ctx context.Context, value []byte) error {
	if max := t.s.Capabilities().MaxDataSize; max > 0 && len(value) > max {
		return fmt.Errorf("election: proclaim %s: value of %d bytes: %w (max %d)", t.path, len(value), backend.ErrTooLarge, max)
	}
	_, err := t.Guard(ctx, backend.SetOp{Path: t.path, Data: value, Version: backend.AnyVersion})
	if err != nil {
		return fmt.Errorf("election: proclaim: %w", err)
	}
	return nil
}

// Guard runs ops in one backend.Multi together with a check that the
// leader's node still exists, so the writes apply only while this term
// holds on the server. It refuses at once (with Err) when the term has
// ended. When the check fails, the error matches ErrLost (ErrNotLeader after
// Resign) and keeps the backend's error in the chain. The results are those
// of ops, without the check.
func (t *Term) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if err := t.Err(); err != nil {
		return nil, fmt.Errorf("election: guard: %w", err)
	}
	res, err := t.mon.Guard(ctx, ops...)
	if err == nil {
		return res, nil
	}
	if grant.CheckFailed(err) {
		if terr := t.Err(); errors.Is(terr, ErrNotLeader) {
			return nil, fmt.Errorf("election: guard %s: %w: %w", t.path, ErrNotLeader, err)
		}
		return nil, fmt.Errorf("election: guard %s: %w: leader node gone: %w", t.path, ErrLost, err)
	}
	if errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return nil, fmt.Errorf("election: guard %s: %w: %w", t.path, ErrLost, err)
	}
	return nil, fmt.Errorf("election: guard %s: %w", t.path, err)
}

// end ends the term (resigned, or after a loss), deleting what it holds,
// bounded by ctx. A term already resigned is no error. When the deletion
// fails, the term is ended anyway (its node goes with the session) and the
// error returned, so the caller may try again.
func (t *Term) end(ctx context.Context) error {
	_, err := t.resign(ctx)
	if err == nil || errors.Is(err, ErrNotLeader) {
		return nil
	}
	t.mon.Finish(fmt.Errorf("%w: %s: %w", ErrLost, t.path, err))
	t.mon.Stop()
	return err
}

// endBeforeRejoin ends the term and, for a candidate about to join again,
// insists until what the term held is gone, its session ends or ctx ends:
// a node of its own left ahead of it would block it for good.
func endBeforeRejoin(ctx context.Context, s backend.Session, t *Term) {
	for {
		rctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
		err := t.end(rctx)
		cancel()
		if err == nil || ctx.Err() != nil || s.Err() != nil {
			return
		}
		_, _ = backend.WaitState(ctx, s, backend.Connected, backend.Reconnected)
		grant.Pause(ctx, 100*time.Millisecond)
	}
}
