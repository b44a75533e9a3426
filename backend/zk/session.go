package zk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/internal/statefeed"
)

// Session is one ZooKeeper session over one go-zookeeper connection. It
// implements backend.Session and backend.Expirer. Sessions are made by
// Client.Session; all methods are safe for concurrent use.
//
// A Session never outlives its ZooKeeper session: when the server expires it,
// the Session is Lost for good and its connection is closed, so the driver
// cannot carry on under a new session id.
type Session struct {
	cfg  Config // with defaults
	ns   string // namespace, "/" for none
	log  *slog.Logger
	feed *statefeed.Feed

	conn   *zk.Conn       // set under mu by start, never changed
	ready  chan struct{}  // closed when the first session is established
	loopWG sync.WaitGroup // the goroutine waiting for the driver's loop to end

	id      atomic.Int64 // session id, set once at establishment
	timeout atomic.Int64 // negotiated timeout in ms

	// lastZxid is the largest zxid of a reply the session has read, kept
	// by its connections instead of by the driver (see sniffConn).
	lastZxid zxidMark

	// heard is a time (UnixNano) by which the server had certainly heard
	// from the session: the send time of a request it answered (see
	// sniffConn.replied). The server expires the session no earlier than
	// a timeout after that.
	heard atomic.Int64
	// suspended wakes the loss watchdog when the connection goes down.
	suspended chan struct{}

	mu       sync.Mutex
	lastID   int64  // session id of the last connect response
	passwd   []byte // session password of the last connect response
	server   string // address the session was last established through
	closing  bool   // Close has begun: no new goroutines, no new connections
	conns    map[*sniffConn]struct{}
	expiring chan struct{} // while Expire runs: dials wait until it is closed
	wg       sync.WaitGroup

	expireMu sync.Mutex // one Expire at a time

	closeOnce sync.Once
	closeCh   chan struct{} // closed when Close begins

	treeMu sync.Mutex
	trees  map[*treeWatch]struct{}
	ptrees map[*persistWatch]struct{} // made on first use, under treeMu

	persist persistState // persistent watches (persist.go)

	// oneShots counts the one-shot watches a caller still waits on, by
	// full path (forward): removing a persistent watch on a server before
	// 3.9 would remove them too (see releaseWatch).
	oneShotMu sync.Mutex
	oneShots  map[string]int
}

var (
	_ backend.Session   = (*Session)(nil)
	_ backend.Expirer   = (*Session)(nil)
	_ backend.ACLReader = (*Session)(nil)
)

// errClosing refuses dials of a session that is closing or lost.
var errClosing = errors.New("zk: session is over; not reconnecting")

func newSession(cfg Config) *Session {
	return &Session{
		cfg:     cfg,
		ns:      cfg.Namespace,
		log:     cfg.Logger,
		feed:    statefeed.New(backend.Connected),
		ready:   make(chan struct{}),
		conns:   map[*sniffConn]struct{}{},
		closeCh: make(chan struct{}),
		trees:   map[*treeWatch]struct{}{},

		suspended: make(chan struct{}, 1),
	}
}

// start opens the driver's connection. The session is established
// asynchronously; ready is closed when it is.
func (s *Session) start() error {
	bufSize := max(1536*1024, s.cfg.maxRequest()+64*1024)
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, events, err := zk.Connect(s.cfg.Servers, s.cfg.SessionTimeout,
		zk.WithDialer(s.dial),
		zk.WithEventCallback(s.onEvent),
		zk.WithLogger(driverLogger{s.log}),
		zk.WithMaxConnBufferSize(bufSize),
	)
	if err != nil {
		return err
	}
	s.conn = conn
	// The driver closes its event channel when its loop has ended: then no
	// goroutine of the driver is left. The callback gets every event, so
	// this channel is only drained.
	s.loopWG.Add(1)
	go func() {
		defer s.loopWG.Done()
		for range events {
		}
	}()
	return nil
}

// spawn runs f in a goroutine that Close waits for. It returns false, and
// does not run f, once Close has begun.
func (s *Session) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// dial is the driver's dialer: it refuses to connect once the session is
// over (so the driver never opens a new session under us), waits while
// Expire is talking to the server, and wraps each connection to sniff the
// connect response.
func (s *Session) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	gate := s.expiring
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-s.closeCh:
		}
	}
	if s.over() {
		return nil, errClosing
	}
	c, err := s.cfg.Dialer(network, address, timeout)
	if err != nil {
		return nil, err
	}
	sc := &sniffConn{Conn: c, s: s, addr: address, handshake: s.handshakeTimeout()}
	sc.in = frameCursor{replies: true, zxid: &s.lastZxid, reply: sc.replied}
	sc.out = frameCursor{zxid: &s.lastZxid, begin: sc.requestSent}
	s.mu.Lock()
	if s.closing || s.feed.State().Final() {
		s.mu.Unlock()
		c.Close()
		return nil, errClosing
	}
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	return sc, nil
}

// handshakeTimeout bounds the wait for a server's connect response: the
// session timeout divided by the number of servers, as the Java client
// does, and at least a second.
func (s *Session) handshakeTimeout() time.Duration {
	return max(s.Timeout()/time.Duration(len(s.cfg.Servers)), time.Second)
}

func (s *Session) forgetConn(c *sniffConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeConns closes every connection the driver has open, unblocking a
// handshake that waits on a silent server.
func (s *Session) closeConns() {
	s.mu.Lock()
	conns := make([]*sniffConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// over reports whether the session is closing, closed or lost.
func (s *Session) over() bool {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	return closing || s.feed.State().Final()
}

// onConnectResponse is told of every connect response the server sends,
// and when its connect request went out. A response naming another session
// than ours means ours is gone: the session is lost at once, before the
// driver can use the new one.
func (s *Session) onConnectResponse(addr string, r connectResponse, sent time.Time) error {
	established := s.id.Load()
	if r.sessionID == 0 {
		return nil // expired: the driver reports StateExpired
	}
	if established != 0 && r.sessionID != established {
		s.lose()
		return errSessionReplaced
	}
	s.heardBy(sent)
	s.mu.Lock()
	s.lastID = r.sessionID
	s.passwd = r.passwd
	s.server = addr
	s.mu.Unlock()
	s.timeout.Store(int64(r.timeoutMs))
	return nil
}

// onEvent is the driver's event callback, called synchronously from its
// goroutines for every event: it must not block or call into the driver.
func (s *Session) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		if ev.Type != zk.EventNotWatching {
			s.routeTreeEvent(ev)
		}
		return
	}
	s.mu.Lock()
	closing := s.closing
	lastID := s.lastID
	s.mu.Unlock()
	if closing {
		return
	}
	established := s.id.Load()
	switch ev.State {
	case zk.StateHasSession:
		if established == 0 {
			if lastID == 0 {
				// The sniffer could not parse the connect response (it
				// always sees it first): ask the driver. Expire will not
				// work without the password; the session will.
				s.mu.Lock()
				if s.conn != nil {
					lastID = s.conn.SessionID()
					s.lastID = lastID
				}
				s.mu.Unlock()
				if lastID == 0 {
					return
				}
			}
			s.id.Store(lastID)
			s.log.Debug("zk session established", "session", fmt.Sprintf("0x%x", lastID), "server", ev.Server)
			s.spawn(s.watchdog)
			close(s.ready)
			return
		}
		if lastID != established {
			s.lose()
			return
		}
		if s.feed.State() == backend.Suspended && s.feed.Set(backend.Reconnected, nil) {
			s.log.Info("zk session reconnected", "session", fmt.Sprintf("0x%x", established), "server", ev.Server)
			s.notifyTrees()
		}
	case zk.StateDisconnected:
		if established != 0 && s.feed.Set(backend.Suspended, nil) {
			s.log.Info("zk session suspended", "session", fmt.Sprintf("0x%x", established))
			select {
			case s.suspended <- struct{}{}:
			default:
			}
		}
	case zk.StateExpired:
		if established != 0 {
			s.lose()
		}
	}
}

// heardBy raises the time by which the server had certainly heard from the
// session to t.
func (s *Session) heardBy(t time.Time) {
	ns := t.UnixNano()
	for {
		old := s.heard.Load()
		if ns <= old || s.heard.CompareAndSwap(old, ns) {
			return
		}
	}
}

// lossMargin is how long before the server could expire the session the
// watchdog gives it up: room for a timer that fires late on a busy machine
// and for the clocks' drift, so that the session is Lost here before
// another session can take what it held.
func lossMargin(timeout time.Duration) time.Duration { return timeout / 20 }

// watchdog ends a session cut off from the servers once they may have
// expired it, whether or not a reconnection ever tells. The server expires
// a session a timeout after it last heard from it, and it heard from it no
// earlier than the last time the session heard back (heard); so once a
// timeout (less lossMargin) has passed since then while Suspended, the
// session is Lost: its ephemeral nodes may be gone and what it held may be
// held by another. This is Curator's simulated expiry (its standard
// connection-state policy), measured from the last answer rather than from
// the disconnection, which Curator's is and which comes two thirds of a
// timeout later.
func (s *Session) watchdog() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-s.closeCh:
			return
		case <-s.feed.Done():
			return
		case <-s.suspended:
		}
		for s.feed.State() == backend.Suspended {
			timeout := s.Timeout()
			left := time.Until(time.Unix(0, s.heard.Load()).Add(timeout - lossMargin(timeout)))
			if left <= 0 {
				s.loseLocally(timeout)
				return
			}
			if timer == nil {
				timer = time.NewTimer(left)
			} else {
				timer.Reset(left)
			}
			select {
			case <-s.closeCh:
				return
			case <-s.feed.Done():
				return
			case <-timer.C:
			}
		}
	}
}

// loseLocally is lose for a session the servers have not answered for its
// timeout.
func (s *Session) loseLocally(timeout time.Duration) {
	err := fmt.Errorf("%w: no answer from the servers for the session timeout (%v)", backend.ErrSessionExpired, timeout)
	if !s.feed.Set(backend.Lost, err) {
		return
	}
	s.log.Warn("zk session lost: the servers did not answer for the session timeout",
		"session", fmt.Sprintf("0x%x", s.id.Load()), "timeout", timeout)
	s.closeInBackground()
}

// lose marks the session lost (expired) and closes its connection in the
// background: the driver would otherwise open a new session.
func (s *Session) lose() {
	if !s.feed.Set(backend.Lost, backend.ErrSessionExpired) {
		return
	}
	s.log.Warn("zk session expired", "session", fmt.Sprintf("0x%x", s.id.Load()))
	s.closeInBackground()
}

// closeInBackground closes the driver's connection of a lost session.
func (s *Session) closeInBackground() {
	s.spawn(func() {
		s.mu.Lock()
		conn := s.conn
		s.mu.Unlock()
		conn.Close()
		s.closeConns()
	})
}

// ID returns the ZooKeeper session id. It does not change for the life of
// the Session.
func (s *Session) ID() int64 { return s.id.Load() }

// Timeout returns the session timeout the server negotiated (the configured
// one until the server said).
func (s *Session) Timeout() time.Duration {
	if ms := s.timeout.Load(); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return s.cfg.SessionTimeout
}

// Capabilities says what ZooKeeper can do. TTL nodes also need the server's
// extendedTypesEnabled; without it a TTL create is backend.ErrUnsupported.
func (s *Session) Capabilities() backend.Capabilities {
	return backend.Capabilities{
		Backend:     "zookeeper",
		MaxDataSize: s.cfg.MaxDataSize,
		TTL:         true,
		Container:   true,
		ACL:         true,
	}
}

// State returns the current connection state.
func (s *Session) State() backend.State { return s.feed.State() }

// StateChanges returns every state change from now on, in order. The channel
// is closed after the final state or when ctx ends; its goroutine ends then.
func (s *Session) StateChanges(ctx context.Context) <-chan backend.State {
	return s.feed.Subscribe(ctx)
}

// Done is closed when the session is lost or closed.
func (s *Session) Done() <-chan struct{} { return s.feed.Done() }

// Err is nil while the session lives, then backend.ErrSessionExpired or
// backend.ErrClosed.
func (s *Session) Err() error { return s.feed.Err() }

// Close ends the session: it sends closeSession and waits (at most about a
// second when the server cannot be reached) for the server's answer, so the
// session's ephemeral nodes are gone when Close returns. Then it waits for
// every goroutine of the session and of its driver connection. Calls and
// watches still running end with backend.ErrClosed (or ErrSessionExpired if
// the session was lost before). Close is idempotent and always returns nil.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		close(s.closeCh)
		conn := s.conn
		s.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		s.closeConns()
		s.loopWG.Wait()
		if s.feed.Set(backend.Closed, backend.ErrClosed) {
			s.log.Debug("zk session closed", "session", fmt.Sprintf("0x%x", s.id.Load()))
		}
		s.wg.Wait()
	})
	return nil
}

// endErr is the error a call or watch cut short by the end of the session
// reports: ErrSessionExpired or ErrClosed.
func (s *Session) endErr() error {
	if err := s.feed.Err(); err != nil {
		return err
	}
	return backend.ErrClosed
}

// driverLogger passes go-zookeeper's log lines to the session's logger at
// debug level. The driver never logs credentials.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Printf(format string, args ...any) {
	if d.l.Enabled(context.Background(), slog.LevelDebug) {
		d.l.Debug(fmt.Sprintf(format, args...), "component", "go-zookeeper")
	}
}
