package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Client owns one etcd connection (a clientv3.Client) in one namespace and
// hands out its current Session. It implements backend.Client.
type Client struct {
	cfg  Config
	cli  *clientv3.Client
	log  *slog.Logger
	ns   string // namespace, a full path
	caps backend.Capabilities

	sessLock chan struct{} // held while a session is being opened (ctx-aware mutex)

	mu       sync.Mutex
	cur      *Session
	sessions map[*Session]struct{}
	closed   bool

	seqMu    sync.Mutex
	seqByPa  map[string]*seqParent
	seqHints map[string]seqView // parent -> its counter, as last seen

	stop      chan struct{}
	ctx       context.Context // ended by Close: bounds the reaper's calls
	reapScans atomic.Int64    // reaping passes this client made, for tests
	seqTries  atomic.Int64    // sequential create transactions sent, for tests
	cancelCtx context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ backend.Client = (*Client)(nil)

// New validates cfg and returns a Client. It does not wait for a
// connection unless cfg has a username, in which case it authenticates
// within DialTimeout. Sessions are opened by Session.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := []grpc.DialOption{
		// Reconnect fast: a session is judged by keep-alives every TTL/3,
		// and gRPC's default backoff grows to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: cfg.DialTimeout,
		}),
	}
	if cfg.DialContext != nil {
		opts = append(opts, grpc.WithContextDialer(cfg.DialContext))
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		// gRPC pings an idle connection after 10 s (its minimum; the server
		// refuses more frequent pings) and drops it after DialTimeout
		// without an answer.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: cfg.DialTimeout,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		// One attempt per call: clientv3 would otherwise retry reads up to
		// 100 times on Unavailable, invisibly. Writes it never retries once
		// sent. See the package documentation.
		MaxUnaryRetries: 1,
		DialOptions:     opts,
		Logger:          zap.NewNop(),
	})
	if err != nil {
		// clientv3's errors carry no password.
		kind := classify(err)
		if errors.Is(err, context.DeadlineExceeded) {
			kind = backend.ErrConnectionLoss
		}
		return nil, backend.Errorf("connect", cfg.Namespace, kind, err)
	}
	c := &Client{
		cfg:      cfg,
		cli:      cli,
		log:      cfg.Logger,
		ns:       cfg.Namespace,
		sessLock: make(chan struct{}, 1),
		sessions: map[*Session]struct{}{},
		seqByPa:  map[string]*seqParent{},
		seqHints: map[string]seqView{},
		stop:     make(chan struct{}),
		caps: backend.Capabilities{
			Backend:     "etcd",
			MaxDataSize: cfg.MaxDataSize,
			TTL:         true,
			Container:   true,
			ACL:         false,
			ExactMode:   true,
			CreatedStat: true,
		},
	}
	c.ctx, c.cancelCtx = context.WithCancel(context.Background())
	if cfg.ReapInterval > 0 {
		c.wg.Add(1)
		go c.reapLoop(cfg.ReapInterval)
	}
	return c, nil
}

// Session returns the current live session, or opens a new one (one lease)
// when there is none or the last one ended. It waits for the lease grant
// until ctx ends. After Close it returns ErrClosed. The session is wrapped
// with Config.RetryPolicy (backend.Retrying); backend.Unwrap returns the
// *Session, and the wrapper implements backend.Expirer.
func (c *Client) Session(ctx context.Context) (backend.Session, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.view, nil
}

func (c *Client) session(ctx context.Context) (*Session, error) {
	select {
	case c.sessLock <- struct{}{}:
	case <-ctx.Done():
		return nil, backend.Errorf("session", c.ns, ctx.Err(), nil)
	}
	defer func() { <-c.sessLock }()

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, backend.Errorf("session", c.ns, backend.ErrClosed, nil)
	}
	if s := c.cur; s != nil && !s.feed.State().Final() && !s.closing.Load() {
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()

	s, err := c.openSession(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = s.Close()
		return nil, backend.Errorf("session", c.ns, backend.ErrClosed, nil)
	}
	c.cur = s
	c.sessions[s] = struct{}{}
	c.mu.Unlock()
	return s, nil
}

// openSession grants a lease, starts its keep-alive loop and makes sure the
// namespace node exists.
func (c *Client) openSession(ctx context.Context) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, backend.Errorf("session", c.ns, err, nil)
	}
	granted := time.Now()
	resp, err := c.cli.Grant(ctx, leaseTTL(c.cfg.SessionTimeout))
	if err != nil {
		if ctx.Err() != nil {
			return nil, backend.Errorf("session", c.ns, ctx.Err(), err)
		}
		return nil, backend.Errorf("session", c.ns, c.kind(err), err)
	}
	s := newSession(c, resp.ID, time.Duration(resp.TTL)*time.Second, granted)
	if err := c.ensureNamespace(ctx, s); err != nil {
		_ = s.Close()
		return nil, err
	}
	c.log.Debug("etcd: session opened", "lease", int64(resp.ID), "ttl", resp.TTL)
	return s, nil
}

// ensureNamespace creates the namespace node and its ancestors if missing.
func (c *Client) ensureNamespace(ctx context.Context, s *Session) error {
	if c.ns == "/" {
		return nil
	}
	octx, done := s.opCtx(ctx)
	defer done()
	st, err := c.readNode(octx, c.ns, readOpts{})
	if err == nil && st.exists() {
		return nil
	}
	if err != nil {
		return s.fail(ctx, "session", c.ns, err)
	}
	cur := ""
	for _, part := range splitPath(c.ns) {
		cur += "/" + part
		if _, _, err := s.createFull(octx, cur, nil, backend.Persistent, 0, time.Now().UnixMilli()); err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return s.fail(ctx, "session", c.ns, err)
		}
	}
	return nil
}

// Close closes every session of the client (removing their ephemeral
// nodes), stops the reaper and closes the connection. It is idempotent and
// waits for the client's goroutines.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		sessions := make([]*Session, 0, len(c.sessions))
		for s := range c.sessions {
			sessions = append(sessions, s)
		}
		c.mu.Unlock()
		for _, s := range sessions {
			_ = s.Close()
		}
		close(c.stop)
		c.cancelCtx()
		c.wg.Wait()
		if err := c.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			c.log.Debug("etcd: closing the connection", "err", err)
		}
	})
	return nil
}

// forget drops a closed session from the client's list.
func (c *Client) forget(s *Session) {
	c.mu.Lock()
	delete(c.sessions, s)
	if c.cur == s {
		c.cur = nil
	}
	c.mu.Unlock()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// kind classifies err, reporting ErrClosed once the client is closed.
func (c *Client) kind(err error) error {
	if c.isClosed() && isTransient(err) {
		return backend.ErrClosed
	}
	return classify(err)
}

// abs returns the full path of a path inside the namespace.
func (c *Client) abs(p string) string {
	switch {
	case c.ns == "/":
		return p
	case p == "/":
		return c.ns
	default:
		return c.ns + p
	}
}

// rel returns the path inside the namespace of a full path under it.
func (c *Client) rel(full string) string {
	switch {
	case c.ns == "/":
		return full
	case full == c.ns:
		return "/"
	default:
		return full[len(c.ns):]
	}
}

// checkPath validates a caller's path and returns its full path.
func (c *Client) checkPath(op, p string) (string, error) {
	if err := backend.ValidatePath(p); err != nil {
		return "", backend.Errorf(op, p, backend.ErrBadPath, err)
	}
	full := c.abs(p)
	if d := backend.Depth(full); d > MaxDepth {
		return "", backend.Errorf(op, p, backend.ErrBadPath, fmt.Errorf("etcd: %d components (namespace included) is deeper than %d", d, MaxDepth))
	}
	return full, nil
}

// requestLimit is the largest request this client sends.
func (c *Client) requestLimit() int { return c.cfg.MaxDataSize + requestOverhead }

func splitPath(p string) []string {
	if p == "/" {
		return nil
	}
	var parts []string
	start := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			parts = append(parts, p[start:i])
			start = i + 1
		}
	}
	return parts
}

// seqParent serialises this client's sequential creates under one parent,
// so they do not race each other for the parent's counter, and remembers
// the counter after each create so the next one skips the read.
type seqParent struct {
	lock   chan struct{}
	refs   int
	known  bool
	view   seqView
	spread int // guesses the next create sends (see createSequential)
}

// seqView is a parent's children counter as a client saw it: what a
// sequential create needs to name its node without reading first.
type seqView struct {
	ver  int64 // etcd version of C(parent): 0 while absent
	cv   int64 // the parent's CVersion: ver plus E(parent)'s correction
	emod int64 // mod revision of E(parent): 0 while absent
	cmod int64 // mod revision of C(parent): orders views of one parent
}

// counterView reads a seqView from the range [C(p), counterEnd(p)).
func counterView(p string, kvs []*mvccpb.KeyValue) seqView {
	n := nodeState{path: p}
	n.setCounters(kvs)
	return n.counterView()
}

// counterView returns the node's seqView.
func (n *nodeState) counterView() seqView {
	var v seqView
	if n.c != nil {
		v.ver, v.cmod = n.c.Version, n.c.ModRevision
	}
	if n.e != nil {
		v.emod = n.e.ModRevision
	}
	v.cv = v.ver + int64(parseExtras(n.e).cextra)
	return v
}

func (c *Client) lockSeq(ctx context.Context, parent string) (*seqParent, error) {
	c.seqMu.Lock()
	sp := c.seqByPa[parent]
	if sp == nil {
		sp = &seqParent{lock: make(chan struct{}, 1)}
		c.seqByPa[parent] = sp
	}
	sp.refs++
	c.seqMu.Unlock()
	select {
	case sp.lock <- struct{}{}:
		return sp, nil
	case <-ctx.Done():
		c.releaseSeq(parent, sp)
		return nil, ctx.Err()
	}
}

func (c *Client) unlockSeq(parent string, sp *seqParent) {
	<-sp.lock
	c.releaseSeq(parent, sp)
}

func (c *Client) releaseSeq(parent string, sp *seqParent) {
	c.seqMu.Lock()
	sp.refs--
	if sp.refs == 0 {
		delete(c.seqByPa, parent)
	}
	c.seqMu.Unlock()
}

// maxSeqHints bounds the parents whose counter the client remembers.
const maxSeqHints = 4096

// seqHint returns the parent's counter as this client last saw it; a
// parent never seen is assumed never to have had a child (the zero view).
func (c *Client) seqHint(parent string) seqView {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	return c.seqHints[parent]
}

func (c *Client) setSeqHint(parent string, v seqView) {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	old, ok := c.seqHints[parent]
	if ok && v.cmod != 0 && v.cmod < old.cmod {
		return // an older view, answered late: keep the newer one
	}
	if !ok && len(c.seqHints) >= maxSeqHints {
		clear(c.seqHints)
	}
	c.seqHints[parent] = v
}

func (c *Client) forgetSeqHint(parent string) {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	delete(c.seqHints, parent)
}

// noteCounter remembers a listed node's counter as the hint for sequential
// creates under it (lock and queue recipes list the parent they create in).
func (c *Client) noteCounter(n *nodeState) {
	if !n.exists() {
		return
	}
	c.setSeqHint(n.path, n.counterView())
}
