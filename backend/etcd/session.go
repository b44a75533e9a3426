package etcd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/internal/statefeed"
)

// Session is one etcd lease and the operations made with it. It implements
// backend.Session and backend.Expirer. Obtain one from Client.Session.
type Session struct {
	c     *Client
	lease clientv3.LeaseID
	ttl   time.Duration
	feed  *statefeed.Feed

	// ctx ends when the session reaches a final state (or starts closing):
	// every call and watch of the session is bounded by it.
	ctx    context.Context
	cancel context.CancelFunc

	kick      chan struct{} // asks the keep-alive loop for an immediate keep-alive
	stop      chan struct{} // closed by Close: the keep-alive loop ends
	closing   atomic.Bool
	closeOnce sync.Once

	goMu  sync.Mutex
	ended bool // no more goroutines may start
	wg    sync.WaitGroup

	view backend.Session // the session wrapped with the client's retry policy

	// The fence (fence.go): F(lease), the revision writes compare it with,
	// how many writes failed without an answer, and how many of those a
	// put of F has settled.
	fenceKey string
	fence    atomic.Int64
	losses   atomic.Uint64
	settled  atomic.Uint64
	fenceMu  sync.Mutex // one settle at a time
}

var (
	_ backend.Session = (*Session)(nil)
	_ backend.Expirer = (*Session)(nil)
)

func newSession(c *Client, lease clientv3.LeaseID, ttl time.Duration, granted time.Time) *Session {
	s := &Session{
		c:     c,
		lease: lease,
		ttl:   ttl,
		feed:  statefeed.New(backend.Connected),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	s.fenceKey = fenceKey(lease)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.view = backend.Retrying(s, c.cfg.RetryPolicy)
	s.wg.Add(1)
	go s.keepAlive(granted)
	return s
}

// ID returns the session's lease ID, which is the EphemeralOwner of its nodes.
func (s *Session) ID() int64 { return int64(s.lease) }

// Timeout returns the lease TTL the server granted.
func (s *Session) Timeout() time.Duration { return s.ttl }

// Capabilities says what the etcd backend can do.
func (s *Session) Capabilities() backend.Capabilities { return s.c.caps }

// State returns the current connection state.
func (s *Session) State() backend.State { return s.feed.State() }

// StateChanges returns every state change from now on; see backend.Session.
func (s *Session) StateChanges(ctx context.Context) <-chan backend.State {
	return s.feed.Subscribe(ctx)
}

// Done is closed when the session is lost or closed.
func (s *Session) Done() <-chan struct{} { return s.feed.Done() }

// Err is nil while the session lives, then ErrSessionExpired or ErrClosed.
func (s *Session) Err() error { return s.feed.Err() }

// endErr returns why the session can no longer be used, or nil.
func (s *Session) endErr() error {
	if err := s.feed.Err(); err != nil {
		return err
	}
	if s.closing.Load() || s.c.isClosed() {
		return backend.ErrClosed
	}
	return nil
}

// lose ends the session as expired.
func (s *Session) lose(why string) {
	if s.feed.Set(backend.Lost, backend.ErrSessionExpired) {
		s.c.log.Info("etcd: session lost", "lease", int64(s.lease), "why", why)
	}
	s.cancel()
}

// keepAliveNow asks the keep-alive loop to check the lease at once.
func (s *Session) keepAliveNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

type keepAliveResult struct {
	sent time.Time
	resp *clientv3.LeaseKeepAliveResponse
	err  error
}

// keepAlive renews the lease every TTL/3 with one LeaseKeepAliveOnce at a
// time, each bounded by TTL/3, and drives the state: Suspended when a
// renewal fails for the connection or none succeeded for 2/3 TTL,
// Reconnected on the next success, Lost when the server no longer knows the
// lease or when TTL (less a twentieth) passed since the last renewal was sent (the server may
// still hold the lease then, but nothing the session holds can be trusted).
func (s *Session) keepAlive(granted time.Time) {
	defer s.wg.Done()
	interval := s.ttl / 3
	lastOK := granted
	suspended := false
	results := make(chan keepAliveResult, 1)
	var inflight context.CancelFunc
	pending := false // a keep-alive is wanted as soon as none is in flight

	next := time.NewTimer(interval)
	defer next.Stop()
	guard := time.NewTimer(time.Until(lastOK.Add(interval * 2)))
	defer guard.Stop()
	// The server expires the lease no earlier than a TTL after it received
	// the last renewal, which was sent at lastOK; the session gives itself
	// up a twentieth of a TTL before that, so that a late timer on a busy
	// machine still ends it before another session can take what it held.
	lossAfter := s.ttl - s.ttl/20
	resetGuard := func() {
		if suspended {
			guard.Reset(time.Until(lastOK.Add(lossAfter)))
		} else {
			guard.Reset(time.Until(lastOK.Add(interval * 2)))
		}
	}
	send := func() {
		if inflight != nil {
			pending = true
			return
		}
		pending = false
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		inflight = cancel
		sent := time.Now()
		go func() {
			resp, err := s.c.cli.KeepAliveOnce(ctx, s.lease)
			cancel()
			results <- keepAliveResult{sent, resp, err}
		}()
	}
	finish := func() {
		if inflight != nil {
			inflight()
			<-results
			inflight = nil
		}
	}
	suspend := func(why string, err error) {
		if !suspended {
			suspended = true
			s.feed.Set(backend.Suspended, nil)
			s.c.log.Info("etcd: session suspended", "lease", int64(s.lease), "why", why, "err", err)
			resetGuard()
		}
	}

	for {
		select {
		case <-s.stop:
			finish()
			return
		case <-s.kick:
			send()
		case <-next.C:
			send()
		case <-guard.C:
			if time.Since(lastOK) >= lossAfter {
				finish()
				s.lose("no keep-alive succeeded within the lease TTL")
				// The server may still hold the lease: revoke it if it can
				// be reached at once, so the ephemeral nodes go now.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, _ = s.c.cli.Revoke(ctx, s.lease)
				cancel()
				return
			}
			if !suspended && time.Since(lastOK) >= interval*2 {
				suspend("no keep-alive succeeded for 2/3 of the TTL", nil)
			}
			resetGuard()
		case r := <-results:
			inflight = nil
			switch {
			case r.err == nil && r.resp.TTL > 0:
				lastOK = r.sent
				if suspended {
					suspended = false
					s.feed.Set(backend.Reconnected, nil)
					s.c.log.Info("etcd: session reconnected", "lease", int64(s.lease))
				}
				resetGuard()
				next.Reset(time.Until(r.sent.Add(interval)))
			case r.err == nil, errors.Is(r.err, rpctypes.ErrLeaseNotFound):
				s.lose("the server no longer knows the lease")
				return
			default:
				select {
				case <-s.stop:
					return
				default:
				}
				suspend("keep-alive failed", r.err)
				// Try again soon; the call itself waits for a connection.
				next.Reset(min(interval, 200*time.Millisecond))
			}
			if pending {
				send()
			}
		}
	}
}

// Expire revokes the session's lease, as the server does when a lease
// expires: its ephemeral nodes are deleted (without bumping their parents'
// CVersion; see the package documentation). The session notices at its next
// keep-alive, which Expire asks for at once.
func (s *Session) Expire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return backend.Errorf("expire", "/", err, nil)
	}
	if err := s.endErr(); err != nil {
		return backend.Errorf("expire", "/", err, nil)
	}
	octx, done := s.opCtx(ctx)
	defer done()
	_, err := s.c.cli.Revoke(octx, s.lease)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.fail(ctx, "expire", "/", err)
	}
	s.keepAliveNow()
	return nil
}

// Close ends the session: it deletes the session's ephemeral nodes as
// ordinary deletes (their parents' CVersion counts them), revokes the lease,
// and moves to Closed. It is idempotent, waits for the session's goroutines,
// and is bounded by the session timeout when the server cannot be reached
// (the lease then expires on its own).
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.cancel() // calls and watches of the session end now
		if !s.feed.State().Final() {
			ctx, cancel := context.WithTimeout(context.Background(), max(s.ttl, time.Second))
			s.deleteEphemerals(ctx)
			if _, err := s.c.cli.Revoke(ctx, s.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				s.c.log.Info("etcd: revoking the lease on close", "lease", int64(s.lease), "err", err)
			}
			cancel()
		}
		close(s.stop)
		s.feed.Set(backend.Closed, backend.ErrClosed)
		s.cancel()
		s.goMu.Lock()
		s.ended = true
		s.goMu.Unlock()
		s.wg.Wait()
		s.c.forget(s)
	})
	return nil
}

// deleteEphemerals deletes the session's ephemeral nodes one by one,
// through the ordinary delete (guarded by the lease, so a node someone else
// re-created is left alone).
func (s *Session) deleteEphemerals(ctx context.Context) {
	resp, err := s.c.cli.TimeToLive(ctx, s.lease, clientv3.WithAttachedKeys())
	if err != nil {
		s.c.log.Info("etcd: listing ephemeral nodes on close", "lease", int64(s.lease), "err", err)
		return
	}
	for _, k := range resp.Keys {
		p, kind := parseKey(string(k))
		if kind != kindData {
			continue
		}
		if err := s.deleteFull(ctx, p, backend.AnyVersion, int64(s.lease)); err != nil && !errors.Is(err, backend.ErrNoNode) {
			s.c.log.Info("etcd: deleting an ephemeral node on close", "path", p, "err", err)
		}
	}
}

// spawn runs f in a goroutine the session's Close waits for. It reports
// false, without running f, once the session ended.
func (s *Session) spawn(f func()) bool {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if s.ended {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// opCtx returns a context for one call: the caller's, also ended when the
// session ends.
func (s *Session) opCtx(ctx context.Context) (context.Context, func()) {
	octx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return octx, func() {
		stop()
		cancel()
	}
}

// begin runs the checks every call makes after validating its path: the
// caller's context, then the session.
func (s *Session) begin(ctx context.Context, op, path string) error {
	if err := ctx.Err(); err != nil {
		return backend.Errorf(op, path, err, nil)
	}
	if err := s.endErr(); err != nil {
		return backend.Errorf(op, path, err, nil)
	}
	if err := s.settle(ctx); err != nil {
		return s.fail(ctx, op, path, err)
	}
	return nil
}

// fail turns an error of a call into the *backend.OpError the caller gets.
func (s *Session) fail(ctx context.Context, op, path string, err error) error {
	if err == nil {
		return nil
	}
	var me *backend.MultiError
	if errors.As(err, &me) {
		return me
	}
	var oe *backend.OpError
	if errors.As(err, &oe) {
		if oe.Op == "" {
			oe.Op, oe.Path = op, path
		}
		return oe
	}
	if cerr := ctx.Err(); cerr != nil {
		return backend.Errorf(op, path, cerr, err)
	}
	if eerr := s.endErr(); eerr != nil {
		return backend.Errorf(op, path, eerr, err)
	}
	kind := s.c.kind(err)
	if kind == backend.ErrSessionExpired {
		s.keepAliveNow()
	}
	return backend.Errorf(op, path, kind, err)
}

// condErr is a failed condition found by a call (no node, bad version, ...).
// fail fills in the operation and path.
func condErr(kind error) error { return &backend.OpError{Kind: kind} }
