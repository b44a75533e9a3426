package counter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Versioned is a Shared's value with the node version a TrySet compares
// against and the token that orders values.
type Versioned struct {
	N       int64
	Version int32 // the node's data version: what TrySet compares (it wraps at 2^31)
	Token   int64 // the node's ModifyToken: what orders values (never wraps)
}

// newer reports whether v is a later state of the node than cur. It
// compares tokens, never versions: a version wraps to a negative number
// after 2^31 writes, which froze Curator's SharedCount (CURATOR-688).
func newer(v, cur Versioned) bool { return v.Token > cur.Token }

// Shared is a versioned shared integer that follows its node and tells
// listeners of changes: Curator's SharedCount. A Shared is safe for
// concurrent use.
type Shared struct {
	s    backend.Session
	path string
	seed int64
	o    options

	mu       sync.Mutex
	cur      Versioned
	started  bool
	starting bool // Start is reading the node
	closed   bool
	lis      map[*Listener]struct{}
	cancel   context.CancelFunc // stops the follower

	wg       sync.WaitGroup
	done     chan struct{}
	doneOnce sync.Once
	err      error // set before done is closed
}

// NewShared returns a Shared over the node at path on session s, created
// with seed by Start if absent, stored with CuratorInt32 unless WithCodec
// says otherwise. WithMaxTries, WithPromotion and WithAmbiguousOutcome do
// not apply to a Shared and are ignored. A bad path is an error matching
// backend.ErrBadPath; a seed out of the codec's range one matching
// ErrOverflow.
func NewShared(s backend.Session, path string, seed int64, opts ...Option) (*Shared, error) {
	o, err := newOptions(CuratorInt32, opts)
	if err != nil {
		return nil, fmt.Errorf("counter: new shared %q: %w", path, err)
	}
	if s == nil {
		return nil, fmt.Errorf("counter: new shared %q: %w: nil session", path, ErrBadOption)
	}
	if err := backend.ValidatePath(path); err != nil || path == "/" {
		return nil, backend.Errorf("counter", path, backend.ErrBadPath, err)
	}
	if _, err := o.codec.Encode(seed); err != nil {
		return nil, fmt.Errorf("counter: new shared %q: seed: %w", path, err)
	}
	return &Shared{s: s, path: path, seed: seed, o: o, lis: map[*Listener]struct{}{}, done: make(chan struct{})}, nil
}

// Path returns the node.
func (c *Shared) Path() string { return c.path }

// Start creates the node with the seed if it is absent (with missing
// parents, as Container nodes), reads it and follows it: from its return
// Get holds the value, and every later change reaches Get and the
// listeners. Existing empty data counts as 0; data the codec cannot read
// is a *CorruptError. A node at version 0 is read like any other
// (CURATOR-329).
func (c *Shared) Start(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return fmt.Errorf("counter: start %s: %w", c.path, ErrClosed)
	case c.started || c.starting:
		c.mu.Unlock()
		return fmt.Errorf("counter: start %s: already started", c.path)
	}
	c.starting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.starting = false
		c.mu.Unlock()
	}()
	seed, _ := c.o.codec.Encode(c.seed)
	for {
		_, err := c.s.Create(ctx, c.path, seed, backend.Persistent, backend.WithParents(backend.Container))
		// A create whose reply was lost is settled by the read below.
		if err != nil && !errors.Is(err, backend.ErrNodeExists) && !errors.Is(err, backend.ErrOutcomeUnknown) {
			return fmt.Errorf("counter: start %s: %w", c.path, err)
		}
		data, st, ch, err := c.s.GetW(ctx, c.path)
		if errors.Is(err, backend.ErrNoNode) {
			continue // deleted between create and read
		}
		if err != nil {
			return fmt.Errorf("counter: start %s: %w", c.path, err)
		}
		n, err := c.decode(data)
		if err != nil {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return fmt.Errorf("counter: start %s: %w", c.path, ErrClosed)
		}
		c.cur = Versioned{N: n, Version: st.Version, Token: st.ModifyToken}
		c.started = true
		fctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		c.wg.Add(1)
		go c.follow(fctx, ch)
		return nil
	}
}

func (c *Shared) decode(data []byte) (int64, error) {
	n, err := c.o.codec.Decode(data)
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Path == "" {
		ce.Path = c.path
	}
	return n, err
}

// follow re-arms the watch after every event and connection change
// (a lost watch left Curator's value stale: CURATOR-311) until ctx ends
// or the session does.
func (c *Shared) follow(ctx context.Context, ch <-chan backend.Event) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.s.Done():
			c.finish(fmt.Errorf("counter: shared %s: %w", c.path, c.s.Err()))
			return
		case <-ch:
		}
		if ch = c.arm(ctx); ch == nil {
			if ctx.Err() == nil {
				c.finish(fmt.Errorf("counter: shared %s: %w", c.path, c.s.Err()))
			}
			return
		}
	}
}

// arm reads the node with a watch, or watches for its creation when it is
// absent, and returns the watch; nil when ctx or the session ended.
func (c *Shared) arm(ctx context.Context) <-chan backend.Event {
	backoff := backend.ExponentialBackoff{Initial: 20 * time.Millisecond, Max: time.Second, MaxElapsed: -1}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		data, st, ch, err := c.s.GetW(ctx, c.path)
		if err == nil {
			c.update(data, st)
			return ch
		}
		if errors.Is(err, backend.ErrNoNode) {
			var est *backend.Stat
			est, ch, err = c.s.ExistsW(ctx, c.path)
			if err == nil && est == nil {
				return ch // wait for it to be created again; Get keeps the last value
			}
			if err == nil {
				continue // created meanwhile: read it
			}
		}
		if ctx.Err() != nil || c.s.Err() != nil {
			return nil
		}
		c.o.logger.Debug("counter: shared watch, trying again", "path", c.path, "err", err)
		d, _ := backoff.Next(attempt, time.Since(start))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.s.Done():
			t.Stop()
			return nil
		}
	}
}

// update takes a value read from the node if it is newer than the one held.
func (c *Shared) update(data []byte, st backend.Stat) {
	n, err := c.decode(data)
	if err != nil {
		c.o.logger.Warn("counter: shared value unreadable, keeping the last one", "path", c.path, "err", err)
		return
	}
	c.offer(Versioned{N: n, Version: st.Version, Token: st.ModifyToken})
}

func (c *Shared) offer(v Versioned) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !newer(v, c.cur) {
		return
	}
	c.cur = v
	for l := range c.lis {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Get returns the latest value known: the one read at Start or since, or
// written by this Shared. It is the zero Versioned before Start.
func (c *Shared) Get() Versioned {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// TrySet writes n if the node's version is still prev.Version. It returns
// the new Versioned and true if it wrote; if prev is stale it writes
// nothing, reads the node, and returns the value read (also now in Get) and
// false. A reply lost in a way the backend's retry cannot settle, or ctx
// ending while the write was on its way, is an error matching
// backend.ErrOutcomeUnknown.
func (c *Shared) TrySet(ctx context.Context, prev Versioned, n int64) (Versioned, bool, error) {
	if err := c.usable("try-set"); err != nil {
		return Versioned{}, false, err
	}
	data, err := c.o.codec.Encode(n)
	if err != nil {
		return Versioned{}, false, fmt.Errorf("counter: try-set %s: %w", c.path, err)
	}
	st, err := c.s.Set(ctx, c.path, data, prev.Version)
	if err == nil {
		v := Versioned{N: n, Version: st.Version, Token: st.ModifyToken}
		c.offer(v)
		return v, true, nil
	}
	if interrupted(ctx, err) {
		// Sent perhaps, and landing: the follower will tell.
		return Versioned{}, false, fmt.Errorf("counter: try-set %s: %w: %w", c.path, backend.ErrOutcomeUnknown, err)
	}
	if errors.Is(err, backend.ErrOutcomeUnknown) || !(errors.Is(err, backend.ErrBadVersion) || errors.Is(err, backend.ErrNoNode)) {
		return Versioned{}, false, fmt.Errorf("counter: try-set %s: %w", c.path, err)
	}
	data, st, err = c.s.Get(ctx, c.path)
	if err == nil {
		c.update(data, st)
	} else if !errors.Is(err, backend.ErrNoNode) {
		return Versioned{}, false, fmt.Errorf("counter: try-set %s: refresh: %w", c.path, err)
	}
	return c.Get(), false, nil
}

// Set writes n whatever the value is, by TrySet until one lands or ctx
// ends, and returns the new Versioned. A node deleted since Start is
// created again with n.
func (c *Shared) Set(ctx context.Context, n int64) (Versioned, error) {
	backoff := backend.ExponentialBackoff{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond, MaxElapsed: -1, Jitter: 1}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		v, ok, err := c.TrySet(ctx, c.Get(), n)
		if err != nil || ok {
			return v, err
		}
		if v, ok, err := c.recreate(ctx, n); err != nil || ok {
			return v, err
		}
		d, _ := backoff.Next(attempt, time.Since(start))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Versioned{}, fmt.Errorf("counter: set %s: %w", c.path, ctx.Err())
		}
	}
}

// recreate creates the node with n if it is absent, and reports whether it
// did.
func (c *Shared) recreate(ctx context.Context, n int64) (Versioned, bool, error) {
	st, err := c.s.Exists(ctx, c.path)
	if err != nil || st != nil {
		return Versioned{}, false, err
	}
	data, _ := c.o.codec.Encode(n) // TrySet encoded it already
	var cst backend.Stat
	_, err = c.s.Create(ctx, c.path, data, backend.Persistent, backend.WithParents(backend.Container), backend.CreatedStat(&cst))
	if errors.Is(err, backend.ErrNodeExists) {
		return Versioned{}, false, nil // made by another: TrySet again
	}
	if err != nil {
		return Versioned{}, false, fmt.Errorf("counter: set %s: %w", c.path, err)
	}
	if cst.CreateToken == 0 { // ZooKeeper's create reply has no stat
		got, gst, err := c.s.Get(ctx, c.path)
		if err != nil {
			return Versioned{}, false, fmt.Errorf("counter: set %s: %w", c.path, err)
		}
		if gst.CreateToken != 0 && string(got) == string(data) {
			cst = gst
		}
	}
	v := Versioned{N: n, Version: cst.Version, Token: cst.ModifyToken}
	c.offer(v)
	return v, true, nil
}

func (c *Shared) usable(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return fmt.Errorf("counter: %s %s: %w", op, c.path, ErrClosed)
	case !c.started:
		return fmt.Errorf("counter: %s %s: %w", op, c.path, ErrNotStarted)
	}
	return nil
}

// Listen returns a Listener of the values after the current one.
func (c *Shared) Listen() *Listener {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &Listener{c: c, wake: make(chan struct{}, 1), closed: make(chan struct{}), seen: c.cur.Token}
	c.lis[l] = struct{}{}
	return l
}

// Done is closed when the Shared stops following its node: its session
// ended (after Start), or it was closed.
func (c *Shared) Done() <-chan struct{} { return c.done }

// Err is nil until Done is closed; then an error matching the session's
// (backend.ErrSessionExpired, backend.ErrClosed) or ErrClosed.
func (c *Shared) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Shared) finish(err error) {
	c.doneOnce.Do(func() {
		c.err = err
		close(c.done)
	})
}

// Close stops following the node and waits for the follower to end; Get
// keeps the last value. It does not close the session. Idempotent.
func (c *Shared) Close() error {
	c.mu.Lock()
	c.closed = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	c.finish(fmt.Errorf("counter: shared %s: %w", c.path, ErrClosed))
	return nil
}

// Listener hands out a Shared's values as they change, coalescing: Next
// returns the latest value not yet returned, skipping any that came
// between. Use it from one goroutine.
type Listener struct {
	c         *Shared
	wake      chan struct{} // a newer value may be there
	closed    chan struct{}
	closeOnce sync.Once
	seen      int64 // token of the last value returned
}

// Next waits for a value newer than the last one returned (or than the one
// current at Listen) and returns the latest. It returns ctx's error when ctx
// ends, ErrClosed once the Listener is closed, and the Shared's Err once it
// is done and nothing newer is left.
func (l *Listener) Next(ctx context.Context) (Versioned, error) {
	for {
		if v := l.c.Get(); v.Token > l.seen {
			l.seen = v.Token
			return v, nil
		}
		select {
		case <-l.wake:
		case <-l.closed:
			return Versioned{}, fmt.Errorf("counter: listener %s: %w", l.c.path, ErrClosed)
		case <-l.c.done:
			if v := l.c.Get(); v.Token > l.seen {
				continue
			}
			return Versioned{}, l.c.Err()
		case <-ctx.Done():
			return Versioned{}, ctx.Err()
		}
	}
}

// Close stops the Listener. Idempotent.
func (l *Listener) Close() {
	l.closeOnce.Do(func() {
		l.c.mu.Lock()
		delete(l.c.lis, l)
		l.c.mu.Unlock()
		close(l.closed)
	})
}
