package zk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Client hands out the current ZooKeeper session of one configuration and
// opens a new one, on a new connection, after a session is lost. It
// implements backend.Client; its methods are safe for concurrent use.
type Client struct {
	cfg Config // with defaults

	open    chan struct{} // capacity 1: held while a session is being opened
	closing chan struct{} // closed by Close

	mu     sync.Mutex
	cur    *Session
	view   backend.Session // cur, wrapped with the retry policy
	closed bool
}

var _ backend.Client = (*Client)(nil)

// New checks cfg and returns a Client. It does not connect: the first call
// to Session does.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg.withDefaults(), open: make(chan struct{}, 1), closing: make(chan struct{})}, nil
}

// Session returns the current session if it is alive (connected or
// suspended), wrapped with Config.RetryPolicy (backend.Unwrap returns the
// *Session), or opens a new one and waits until the server established it,
// the credentials were added and the namespace node exists. It waits at
// most until ctx ends or Config.ConnectTimeout passes; then the half-open
// connection is closed. A lost session is closed (its goroutines are
// waited for) before its replacement is opened. After Close, Session
// returns an error matching backend.ErrClosed.
func (c *Client) Session(ctx context.Context) (backend.Session, error) {
	const op = "session"
	if s, err := c.current(); s != nil || err != nil {
		return s, err
	}
	select {
	case c.open <- struct{}{}:
	case <-ctx.Done():
		return nil, backend.Errorf(op, "/", ctx.Err(), nil)
	case <-c.closing:
		return nil, backend.Errorf(op, "/", backend.ErrClosed, nil)
	}
	defer func() { <-c.open }()
	if s, err := c.current(); s != nil || err != nil {
		return s, err // another caller opened one meanwhile
	}
	c.mu.Lock()
	old := c.cur
	c.cur, c.view = nil, nil
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.Close()
		return nil, backend.Errorf(op, "/", backend.ErrClosed, nil)
	}
	c.cur, c.view = s, backend.Retrying(s, c.cfg.RetryPolicy)
	view := c.view
	c.mu.Unlock()
	return view, nil
}

// current returns the live current session (wrapped), or an error if the
// client is closed, or neither.
func (c *Client) current() (backend.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, backend.Errorf("session", "/", backend.ErrClosed, nil)
	}
	if c.cur != nil && !c.cur.State().Final() {
		return c.view, nil
	}
	return nil, nil
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// errConnectTimeout is the cause of a set-up cut short by Config.ConnectTimeout.
var errConnectTimeout = errors.New("zk: no session within the connect timeout")

// connect opens a new session and prepares it.
func (c *Client) connect(ctx context.Context) (*Session, error) {
	const op = "session"
	s := newSession(c.cfg)
	if err := s.start(); err != nil {
		return nil, backend.Errorf(op, "/", backend.ErrConnectionLoss, err)
	}
	sctx, cancel := context.WithTimeoutCause(ctx, c.cfg.ConnectTimeout, errConnectTimeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() { // Client.Close gives up too
		select {
		case <-c.closing:
			cancel()
		case <-done:
		}
	}()
	fail := func(err error, what string) (*Session, error) {
		// The kind is read before the session is closed: a closed session
		// would make every connection error of its calls ErrClosed, and a
		// connection reset while creating the namespace would end a cache
		// or a member for good instead of being tried again.
		var kind error
		switch {
		case c.isClosed():
			kind = backend.ErrClosed
		case ctx.Err() != nil:
			kind = ctx.Err()
		case context.Cause(sctx) == errConnectTimeout:
			kind = backend.ErrConnectionLoss
			err = fmt.Errorf("%w (%v, servers %s)", errConnectTimeout, c.cfg.ConnectTimeout, strings.Join(c.cfg.Servers, ","))
		default:
			kind = s.kindOf(err)
		}
		s.Close()
		if what != "" && err != nil {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return nil, backend.Errorf(op, "/", kind, err)
	}
	select {
	case <-s.ready:
	case <-sctx.Done():
		return fail(nil, "")
	}
	for _, a := range c.cfg.Auth {
		_, err := call(sctx, s, func(conn *zk.Conn) (struct{}, error) {
			return struct{}{}, conn.AddAuth(a.Scheme, a.Credential)
		})
		if err != nil {
			// The driver's error names the scheme at most, never the credential.
			return fail(err, "adding "+a.Scheme+" credentials")
		}
	}
	if err := c.ensureNamespace(sctx, s); err != nil {
		return fail(err, "creating the namespace "+c.cfg.Namespace)
	}
	return s, nil
}

// ensureNamespace creates the namespace node and its ancestors if missing.
func (c *Client) ensureNamespace(ctx context.Context, s *Session) error {
	ns := c.cfg.Namespace
	if ns == "/" {
		return nil
	}
	ok, err := call(ctx, s, func(conn *zk.Conn) (bool, error) {
		ok, _, err := conn.Exists(ns)
		return ok, err
	})
	if err != nil || ok {
		return err
	}
	acl := toZKACL(c.cfg.DefaultACL)
	cur := ""
	for _, part := range strings.Split(ns[1:], "/") {
		cur += "/" + part
		p := cur
		_, err := call(ctx, s, func(conn *zk.Conn) (string, error) {
			return conn.Create(p, nil, zk.FlagPersistent, acl)
		})
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// Close closes the current session (its ephemeral nodes are removed at
// once) and makes every later Session call fail with backend.ErrClosed.
// A Session call opening a session meanwhile gives up. Close is idempotent
// and always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	s := c.cur
	c.cur, c.view = nil, nil
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
	// Wait for a Session call that is opening one to give up.
	c.open <- struct{}{}
	<-c.open
	return nil
}
