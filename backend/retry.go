package backend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrOutcomeUnknown: a write may or may not have been applied. The
// connection failed after the request was sent, or a retried conditional
// write met the state its own first attempt may have left. The error also
// matches ErrConnectionLoss. Read the node to find out, or use a protected
// create, which finds its node itself.
var ErrOutcomeUnknown = errors.New("backend: outcome unknown")

// RetryPolicy decides whether an operation that failed with
// ErrConnectionLoss is tried again, and after how long.
type RetryPolicy interface {
	// Next returns the wait before retry number attempt (1 for the first
	// retry), given the time since the first try, or false to give up.
	Next(attempt int, elapsed time.Duration) (time.Duration, bool)
}

// ExponentialBackoff waits Initial before the first retry, doubling up to
// Max, each wait drawn at random from [wait*(1-Jitter), wait], and gives up
// once MaxElapsed has passed since the first try. The caller's context and
// the session's end always stop it sooner.
type ExponentialBackoff struct {
	Initial    time.Duration // first wait; default 50ms
	Max        time.Duration // longest wait; default 2s
	MaxElapsed time.Duration // give up after this long; default 30s; negative: only ctx and the session stop it
	Jitter     float64       // fraction of each wait drawn at random, 0 to 1; default 0.5
}

// DefaultRetryPolicy is what clients use when their config names none.
var DefaultRetryPolicy RetryPolicy = ExponentialBackoff{}

// Next implements RetryPolicy.
func (b ExponentialBackoff) Next(attempt int, elapsed time.Duration) (time.Duration, bool) {
	initial, max, maxElapsed, jitter := b.Initial, b.Max, b.MaxElapsed, b.Jitter
	if initial <= 0 {
		initial = 50 * time.Millisecond
	}
	if max <= 0 {
		max = 2 * time.Second
	}
	if maxElapsed == 0 {
		maxElapsed = 30 * time.Second
	}
	if jitter <= 0 || jitter > 1 {
		jitter = 0.5
	}
	if maxElapsed > 0 && elapsed >= maxElapsed {
		return 0, false
	}
	d := initial
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	d -= time.Duration(rand.Float64() * jitter * float64(d))
	if maxElapsed > 0 && elapsed+d > maxElapsed {
		d = maxElapsed - elapsed
	}
	return d, true
}

type noRetry struct{}

func (noRetry) Next(int, time.Duration) (time.Duration, bool) { return 0, false }

// NoRetry is the policy that never retries: every connection loss reaches the caller.
var NoRetry RetryPolicy = noRetry{}

// Retrying wraps s so that every operation follows p on ErrConnectionLoss,
// by class:
//
//   - reads (Get, Exists, Children, their watching forms, Sync, WatchTree)
//     are retried;
//   - Set and Delete with an expected version are retried; if a retry then
//     fails with ErrBadVersion or ErrNoNode, the first try may have landed,
//     so the error is ErrOutcomeUnknown, not a plain conflict;
//   - Create, Set and Delete with AnyVersion, and Multi, are never repeated:
//     a connection loss is ErrOutcomeUnknown (and ErrConnectionLoss).
//     CreateProtected finds its own node in that case;
//   - ErrSessionExpired, ErrClosed and context errors are never retried.
//
// Retries change no state: the session's State follows its connection, and
// a call may wait to retry while it still shows Connected (see the package
// documentation for what a recipe can rely on).
//
// The returned session implements Expirer when s does.
func Retrying(s Session, p RetryPolicy) Session {
	if p == nil {
		p = DefaultRetryPolicy
	}
	return &retrying{Session: s, policy: p}
}

// Unwrap returns the session under a Retrying wrapper, or s itself.
func Unwrap(s Session) Session {
	if r, ok := s.(*retrying); ok {
		return r.Session
	}
	return s
}

type retrying struct {
	Session
	policy RetryPolicy
}

// do runs op until it succeeds, fails with anything but a connection loss,
// or the policy, ctx or the session says stop. first is the first try's
// error (a connection loss) when a retry was made, else nil.
func (r *retrying) do(ctx context.Context, op func() error) (first, err error) {
	start := time.Now()
	var firstTry error
	for attempt := 1; ; attempt++ {
		if attempt == 2 {
			first = firstTry
		}
		err = op()
		if attempt == 1 {
			firstTry = err
		}
		if err == nil || !errors.Is(err, ErrConnectionLoss) || ctx.Err() != nil || r.Err() != nil {
			if err != nil && r.Err() != nil && errors.Is(err, ErrConnectionLoss) {
				// The session ended while we were failing: say so.
				err = &OpError{Op: opOf(err), Path: pathOf(err), Kind: r.Err(), Cause: err}
			}
			return first, err
		}
		wait, ok := r.policy.Next(attempt, time.Since(start))
		if !ok {
			return first, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return first, &OpError{Op: opOf(err), Path: pathOf(err), Kind: ctx.Err(), Cause: err}
		case <-r.Done():
			t.Stop()
			return first, &OpError{Op: opOf(err), Path: pathOf(err), Kind: r.Err(), Cause: err}
		}
	}
}

func opOf(err error) string {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Op
	}
	return "op"
}

func pathOf(err error) string {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Path
	}
	return ""
}

// unknown marks a connection loss on a write as an unknown outcome.
func unknown(err error) error {
	if err == nil || !errors.Is(err, ErrConnectionLoss) || errors.Is(err, ErrOutcomeUnknown) {
		return err
	}
	return &OpError{Op: opOf(err), Path: pathOf(err), Kind: ErrOutcomeUnknown, Cause: err}
}

// Expire implements Expirer when the wrapped session does.
func (r *retrying) Expire(ctx context.Context) error {
	if e, ok := r.Session.(Expirer); ok {
		return e.Expire(ctx)
	}
	return fmt.Errorf("%w: %T cannot be expired on purpose", ErrUnsupported, r.Session)
}

func (r *retrying) Create(ctx context.Context, path string, data []byte, mode Mode, opts ...CreateOption) (string, error) {
	p, err := r.Session.Create(ctx, path, data, mode, opts...)
	return p, unknown(err)
}

func (r *retrying) Get(ctx context.Context, path string) (data []byte, st Stat, err error) {
	_, err = r.do(ctx, func() error { data, st, err = r.Session.Get(ctx, path); return err })
	return data, st, err
}

func (r *retrying) GetW(ctx context.Context, path string) (data []byte, st Stat, ch <-chan Event, err error) {
	_, err = r.do(ctx, func() error { data, st, ch, err = r.Session.GetW(ctx, path); return err })
	return data, st, ch, err
}

func (r *retrying) Exists(ctx context.Context, path string) (st *Stat, err error) {
	_, err = r.do(ctx, func() error { st, err = r.Session.Exists(ctx, path); return err })
	return st, err
}

func (r *retrying) ExistsW(ctx context.Context, path string) (st *Stat, ch <-chan Event, err error) {
	_, err = r.do(ctx, func() error { st, ch, err = r.Session.ExistsW(ctx, path); return err })
	return st, ch, err
}

func (r *retrying) Children(ctx context.Context, path string) (kids []string, st Stat, err error) {
	_, err = r.do(ctx, func() error { kids, st, err = r.Session.Children(ctx, path); return err })
	return kids, st, err
}

func (r *retrying) ChildrenW(ctx context.Context, path string) (kids []string, st Stat, ch <-chan Event, err error) {
	_, err = r.do(ctx, func() error { kids, st, ch, err = r.Session.ChildrenW(ctx, path); return err })
	return kids, st, ch, err
}

func (r *retrying) Sync(ctx context.Context, path string) error {
	_, err := r.do(ctx, func() error { return r.Session.Sync(ctx, path) })
	return err
}

func (r *retrying) WatchTree(ctx context.Context, path string, opts ...TreeOption) (ch <-chan TreeEvent, err error) {
	_, err = r.do(ctx, func() error { ch, err = r.Session.WatchTree(ctx, path, opts...); return err })
	return ch, err
}

func (r *retrying) Set(ctx context.Context, path string, data []byte, version int32) (st Stat, err error) {
	if version == AnyVersion {
		st, err = r.Session.Set(ctx, path, data, version)
		return st, unknown(err)
	}
	first, err := r.do(ctx, func() error { st, err = r.Session.Set(ctx, path, data, version); return err })
	return st, conflictAfterRetry(first, err)
}

func (r *retrying) Delete(ctx context.Context, path string, version int32) error {
	if version == AnyVersion {
		return unknown(r.Session.Delete(ctx, path, version))
	}
	first, err := r.do(ctx, func() error { return r.Session.Delete(ctx, path, version) })
	return conflictAfterRetry(first, err)
}

func (r *retrying) Multi(ctx context.Context, ops ...Op) ([]OpResult, error) {
	res, err := r.Session.Multi(ctx, ops...)
	return res, unknown(err)
}

// conflictAfterRetry turns a conflict seen on a retry into an unknown
// outcome: the first try may have made the change the retry conflicts with.
// first is the first try's connection loss, nil when no retry was made. The
// conflict stays in the message but not in the chain, so the error does not
// match ErrBadVersion or ErrNoNode; the first try's connection loss, and the
// driver's error under it, stay in the chain.
func conflictAfterRetry(first, err error) error {
	if err == nil {
		return nil
	}
	if first == nil {
		return unknown(err)
	}
	if errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNoNode) {
		return &OpError{Op: opOf(err), Path: pathOf(err), Kind: ErrOutcomeUnknown,
			Cause: fmt.Errorf("first try: %w; a retry then failed with: %s", first, err.Error())}
	}
	return unknown(err)
}

// GetACL retries the read on backends with ACLs and is ErrUnsupported on the
// others, as backend.GetACL is.
func (r *retrying) GetACL(ctx context.Context, path string) (acl []ACL, st Stat, err error) {
	if _, ok := r.Session.(ACLReader); !ok {
		return GetACL(ctx, r.Session, path)
	}
	_, err = r.do(ctx, func() error { acl, st, err = GetACL(ctx, r.Session, path); return err })
	return acl, st, err
}
