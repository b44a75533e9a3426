package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ErrDeregistered is the Err of a Member made WithEndWhenDeleted whose node
// someone else deleted: the member ended instead of making the node again.
var ErrDeregistered = errors.New("registry: deregistered")

// Member is a self-healing node: Curator's PersistentNode (and the node of
// its GroupMember), kazoo's Party member. Once started, a goroutine of its
// own keeps the node at its path, as this member's, with the latest data:
// it watches the node and creates it again when it is deleted, when the
// session is lost (on the client's next session) and when another
// session's node is in its way. See the package documentation for the
// rules it follows. Made WithEndWhenDeleted, it ends instead when someone
// else deletes its node (a drain), but still makes it again after a
// session loss.
//
// All methods are safe for concurrent use.
type Member struct {
	client backend.Client
	o      memberOptions
	base   string // the path as given: the prefix of a sequential node's name

	kick chan struct{} // capacity 1: an Update is waiting to be written
	done chan struct{} // closed when the goroutine has ended (or Close before Start)

	mu         sync.Mutex
	path       string // the node's path; "" until a sequential node's first create
	data       []byte // the latest data
	gen        uint64 // counts Updates
	written    uint64 // the gen whose data the node is known to hold
	registered bool
	progress   chan struct{} // closed and replaced when registered or written change
	started    bool
	closed     bool
	cancel     context.CancelFunc
	err        error
	unknown    int64 // the session whose sequential create's outcome is unknown; 0: none

	// Owned by the goroutine: where the node was last known to be the
	// member's (WithEndWhenDeleted tells a deletion from a session loss by it).
	held   bool  // the node was the member's at least once
	heldOn int64 // the session it was last the member's on
}

// NewMember returns a Member for the node at path with the given data.
// Nothing is created before Start. With a sequential mode, path is the
// prefix of the name the server completes.
func NewMember(c backend.Client, path string, data []byte, opts ...Option) (*Member, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	if err := backend.ValidatePath(path); err != nil || path == "/" {
		return nil, backend.Errorf("registry", path, backend.ErrBadPath, err)
	}
	o, err := newMemberOptions(opts)
	if err != nil {
		return nil, err
	}
	m := &Member{
		client:   c,
		o:        o,
		base:     path,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		data:     bytes.Clone(data),
		progress: make(chan struct{}),
	}
	if !o.mode.IsSequential() {
		m.path = path
	}
	return m, nil
}

// Start starts the member's goroutine and waits until the node exists as
// this member's, with the latest data. If ctx ends first, or the member
// stops for good (Err), the member is closed (its node, if made, deleted)
// and Start returns why: a member that could not register does not
// register later behind its caller's back.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.started:
		m.mu.Unlock()
		return ErrStarted
	}
	m.started = true
	rctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.mu.Unlock()
	go m.run(rctx)

	for {
		m.mu.Lock()
		reg, ch := m.registered, m.progress
		m.mu.Unlock()
		if reg {
			return nil
		}
		select {
		case <-ch:
		case <-m.done:
			return m.Err()
		case <-ctx.Done():
			_ = m.Close()
			return fmt.Errorf("registry: start member %s: %w", m.Path(), ctx.Err())
		}
	}
}

// Path returns the node's path: for a sequential mode, the prefix given to
// NewMember until the first create, then the full name, kept for good.
func (m *Member) Path() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.path == "" {
		return m.base
	}
	return m.path
}

// Data returns the latest data given to NewMember or Update.
func (m *Member) Data() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.data)
}

// Registered reports whether, as far as the member knows, its node exists
// as its own right now (with the data of an Update that has returned). It
// is false while the connection is down, after the node was seen deleted
// or taken, and after a session loss until the node is created again.
func (m *Member) Registered() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.registered
}

// Changes returns a channel closed at the next change of Registered (or of
// the data known on the node), for a caller that waits for one: read
// Registered after it is closed, then take a new channel.
func (m *Member) Changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.progress
}

// Update sets the member's data. The member's goroutine writes it to the
// node; while the member is registered, Update waits until the node holds
// it (or ctx ends; the data is still written). While it is not registered,
// Update returns at once and the next creation of the node uses the data.
// An Update is never lost to a re-registration running at the same time:
// the goroutine compares the node's data with the latest after every
// write (CURATOR-181).
// Once the member has ended (Done), Update returns Err.
func (m *Member) Update(ctx context.Context, data []byte) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if err := m.err; err != nil { // ended for good: nothing will write it
		m.mu.Unlock()
		return err
	}
	m.data = bytes.Clone(data)
	m.gen++
	g, started := m.gen, m.started
	m.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case m.kick <- struct{}{}:
	default: // one is pending already; it reads the latest data
	}
	for {
		m.mu.Lock()
		ok, reg, ch := m.written >= g, m.registered, m.progress
		m.mu.Unlock()
		if ok || !reg {
			return nil
		}
		select {
		case <-ch:
		case <-m.done:
			return m.Err()
		case <-ctx.Done():
			return fmt.Errorf("registry: update member %s: %w", m.Path(), ctx.Err())
		}
	}
}

// Done is closed when the member is no longer registered and cannot be
// again: after Close, an error no new session can cure, or (with
// WithEndWhenDeleted) its node deleted by someone else (Err).
func (m *Member) Done() <-chan struct{} { return m.done }

// Err is nil while the member runs; then ErrClosed after Close,
// ErrDeregistered after a deletion by someone else (WithEndWhenDeleted),
// or a *MemberError carrying the backend's error.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close stops the member and deletes its node if the node is its own (an
// ephemeral node owned by its session; a persistent node unless
// WithKeepOnClose), then waits for the goroutine. Once Close has begun, the
// node is never created again (CURATOR-164). Idempotent.
func (m *Member) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.done
		return nil
	}
	m.closed = true
	if !m.started {
		m.err = ErrClosed
		close(m.done)
		m.mu.Unlock()
		return nil
	}
	cancel := m.cancel
	m.mu.Unlock()
	cancel()
	<-m.done
	return nil
}

// notifyLocked wakes whoever waits on progress.
func (m *Member) notifyLocked() {
	close(m.progress)
	m.progress = make(chan struct{})
}

func (m *Member) setRegistered(r bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.registered != r {
		m.registered = r
		m.notifyLocked()
	}
}

func (m *Member) setWritten(g uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g > m.written {
		m.written = g
		m.notifyLocked()
	}
}

// snapshot returns the known path ("" for a sequential node not yet
// created), the latest data and its generation.
func (m *Member) snapshot() (string, []byte, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.path, m.data, m.gen
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// cleanupLimit is how long Close tries to delete a persistent node. An
// ephemeral node's delete is tried until it succeeds or its session ends
// (a variable so a test can shorten it).
var cleanupLimit = 10 * time.Second

// run is the member's goroutine.
func (m *Member) run(ctx context.Context) {
	s, err := m.loop(ctx)
	m.setRegistered(false)
	deregistered := errors.Is(err, ErrDeregistered)
	if !deregistered {
		m.cleanup(s) // a deregistered member's path is no longer its own: a node there now is someone else's
	}
	m.mu.Lock()
	if err == nil || (ctx.Err() != nil && !deregistered) {
		err = ErrClosed
	}
	m.err = err
	m.mu.Unlock()
	close(m.done)
}

// loop holds the node on the client's current session, and on the next
// one after a loss, until ctx ends or an error no session can cure. It
// returns the last session it used.
func (m *Member) loop(ctx context.Context) (backend.Session, error) {
	var backoff time.Duration
	var last backend.Session
	for {
		s, err := m.client.Session(ctx)
		if err == nil {
			last = s
			err = m.hold(ctx, s)
		}
		m.setRegistered(false)
		switch {
		case ctx.Err() != nil:
			return last, ErrClosed
		case errors.Is(err, ErrDeregistered):
			m.o.log.Info("registry: member node deleted by someone else; the member ends", "path", m.Path())
			return last, ErrDeregistered
		case permanent(err):
			m.o.log.Info("registry: member stopped", "path", m.Path(), "err", err)
			return last, &MemberError{Path: m.Path(), Err: err}
		case s != nil && s.Err() != nil:
			backoff = 0 // the next session cures it; Session waits for it
			m.o.log.Info("registry: session lost; registering again on the next", "path", m.Path(), "err", s.Err())
			continue
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		m.o.log.Debug("registry: trying again", "path", m.Path(), "err", err, "after", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return last, ErrClosed
		}
	}
}

// permanent reports whether err is one no new session or retry cures.
func permanent(err error) bool {
	for _, e := range []error{backend.ErrClosed, backend.ErrNoAuth, backend.ErrUnsupported, backend.ErrBadPath,
		backend.ErrTooLarge, backend.ErrNoChildrenForEphemerals} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sessionErr is why s ended, or ErrSessionExpired while it says nothing yet.
func sessionErr(s backend.Session) error {
	if err := s.Err(); err != nil {
		return err
	}
	return backend.ErrSessionExpired
}

// hold keeps the node on s: it makes it right, watches it, and makes it
// right again after every event, every reconnection and every Update,
// until s ends, ctx ends or an operation fails.
func (m *Member) hold(ctx context.Context, s backend.Session) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states := s.StateChanges(ctx)
	for {
		if s.State() == backend.Suspended {
			m.setRegistered(false)
			if _, err := backend.WaitState(ctx, s, backend.Connected, backend.Reconnected); err != nil {
				return err
			}
		}
		if err := m.ensure(ctx, s); err != nil {
			return err
		}
		if err := m.watch(ctx, s, states); err != nil {
			return err
		}
	}
}

// watch arms an exists watch on the node and waits for a reason to look
// again: the watch fired, an Update, a reconnection. It returns nil to
// have the node checked, or why s or ctx ended.
func (m *Member) watch(ctx context.Context, s backend.Session, states <-chan backend.State) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the watch of this round ends with it
	path := m.Path()
	st, ev, err := s.ExistsW(ctx, path)
	if err != nil {
		return err
	}
	if st == nil || !m.ours(s, st) {
		m.setRegistered(false)
		return nil
	}
	m.setRegistered(true)
	for {
		select {
		case e := <-ev:
			m.o.log.Debug("registry: member node event", "path", path, "event", e.Type)
			if e.Type == backend.EventDeleted {
				m.setRegistered(false)
			}
			return nil
		case <-m.kick:
			return nil
		case state, ok := <-states:
			switch {
			case !ok || state.Final():
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return sessionErr(s)
			case state == backend.Suspended:
				m.setRegistered(false) // nothing can be checked; wait for the connection
			case state == backend.Reconnected:
				return nil // check the node and arm the watch again
			}
		case <-s.Done():
			return sessionErr(s)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ours reports whether the node of stat st is this member's on s: an
// ephemeral node owned by s, or any persistent node (a persistent node has
// no owner to tell).
func (m *Member) ours(s backend.Session, st *backend.Stat) bool {
	if m.o.mode.IsEphemeral() {
		return st.EphemeralOwner == s.ID()
	}
	return st.EphemeralOwner == 0
}

// createOptions are the options of every create of the node.
func (m *Member) createOptions() []backend.CreateOption {
	opts := []backend.CreateOption{backend.WithParents(m.o.parents)}
	if m.o.acl != nil {
		opts = append(opts, backend.WithACL(m.o.acl...))
	}
	if m.o.ttl > 0 {
		opts = append(opts, backend.WithTTL(m.o.ttl))
	}
	return opts
}

// fixedMode is the mode of a re-creation: a sequential node keeps its name.
func (m *Member) fixedMode() backend.Mode {
	switch m.o.mode {
	case backend.EphemeralSequential:
		return backend.Ephemeral
	case backend.PersistentSequential:
		return backend.Persistent
	case backend.PersistentSequentialTTL:
		return backend.PersistentTTL
	}
	return m.o.mode
}

// ensure makes the node exist on s as this member's, with the latest data.
// A node in the way (the lost session's ephemeral not yet removed, or
// another session's) is deleted by the version read, then the node is
// created (Dubbo's fix of #5125). A create whose reply was lost is settled
// by reading the node again: its name and owner say whose it is.
func (m *Member) ensure(ctx context.Context, s backend.Session) error {
	for {
		path, data, gen := m.snapshot()
		if path == "" {
			return m.createFirst(ctx, s, data, gen) // on success the node holds data and has its name
		}
		cur, st, err := s.Get(ctx, path)
		switch {
		case errors.Is(err, backend.ErrNoNode):
			m.setRegistered(false)
			if m.o.endWhenDeleted && m.heldBy(s) {
				return m.deleted(ctx, s)
			}
			_, err = s.Create(ctx, path, data, m.fixedMode(), m.createOptions()...)
			switch {
			case err == nil:
				m.o.log.Debug("registry: member node created", "path", path)
				m.markHeld(s)
				m.setWritten(gen)
				return nil
			case errors.Is(err, backend.ErrNodeExists):
				continue // someone was quicker: look at it
			}
			return err
		case err != nil:
			return err
		case !m.ours(s, &st):
			m.setRegistered(false)
			if m.o.endWhenDeleted && m.heldBy(s) {
				return m.deleted(ctx, s) // and someone else's node made in its place: not ours to remove
			}
			m.o.log.Info("registry: a node not ours is in the way; deleting it", "path", path, "owner", st.EphemeralOwner, "session", s.ID())
			err := s.Delete(ctx, path, st.Version)
			if err != nil && !errors.Is(err, backend.ErrNoNode) && !errors.Is(err, backend.ErrBadVersion) {
				return err
			}
			continue
		case bytes.Equal(cur, data):
			m.markHeld(s)
			m.setWritten(gen)
			return nil
		}
		_, err = s.Set(ctx, path, data, st.Version)
		switch {
		case err == nil:
			m.markHeld(s)
			m.setWritten(gen)
			return nil
		case errors.Is(err, backend.ErrBadVersion), errors.Is(err, backend.ErrNoNode):
			continue
		}
		return err
	}
}

// createFirst makes a sequential node, whose name the server completes.
// When the reply of an earlier try on s was lost, it first looks for the
// node that try may have made: a child named like it, owned by s (for an
// ephemeral node) and holding the data.
func (m *Member) createFirst(ctx context.Context, s backend.Session, data []byte, gen uint64) error {
	m.mu.Lock()
	unknown := m.unknown == s.ID()
	m.mu.Unlock()
	if unknown {
		p, err := m.findSequential(ctx, s, data)
		if err != nil {
			return err
		}
		if p != "" {
			m.markHeld(s)
			m.named(p, gen)
			return nil
		}
	}
	p, err := s.Create(ctx, m.base, data, m.o.mode, m.createOptions()...)
	if err != nil {
		if errors.Is(err, backend.ErrOutcomeUnknown) || errors.Is(err, backend.ErrConnectionLoss) || ctx.Err() != nil {
			m.mu.Lock()
			m.unknown = s.ID()
			m.mu.Unlock()
		}
		return err
	}
	m.markHeld(s)
	m.named(p, gen)
	return nil
}

// markHeld records that the node is the member's on s.
func (m *Member) markHeld(s backend.Session) { m.held, m.heldOn = true, s.ID() }

// heldBy reports whether the node was last the member's on s, so that its
// absence (or someone else's node in its place) is a deletion by someone
// else and not a session loss: an ephemeral node on this same session
// (one left on a lost session is made again on the next), a persistent
// node at all (no session loss removes it).
func (m *Member) heldBy(s backend.Session) bool {
	if !m.o.mode.IsEphemeral() {
		return m.held
	}
	return m.held && m.heldOn == s.ID()
}

// deleted decides, for a member made WithEndWhenDeleted, what the
// deletion of its node held on s was. A persistent node: a deletion by
// someone else, ErrDeregistered. An ephemeral node: the session may have
// been ended from outside (an expiry forced on a connected session,
// a revoked lease) an instant before the server deleted the node, and the
// session learns of it only later: on ZooKeeper at once (the server closes
// the connection), on etcd at its next keep-alive, within a third of the
// timeout. So the deletion counts only if s is still alive and connected
// after half its timeout; if s ends meanwhile it was a session loss and
// its error is returned, and the node is made again on the next session.
func (m *Member) deleted(ctx context.Context, s backend.Session) error {
	if m.o.mode.IsEphemeral() {
		t := time.NewTimer(s.Timeout() / 2)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.Done():
			return sessionErr(s)
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, err := backend.WaitState(ctx, s, backend.Connected, backend.Reconnected); err != nil {
			return err
		}
		if err := s.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s deleted by someone else", ErrDeregistered, m.Path())
}

// named records the full name of the sequential node.
func (m *Member) named(p string, gen uint64) {
	m.mu.Lock()
	m.path, m.unknown = p, 0
	m.mu.Unlock()
	m.o.log.Debug("registry: member node created", "path", p)
	m.setWritten(gen)
}

// findSequential looks for a sequential node of s's made from the member's
// prefix with data.
func (m *Member) findSequential(ctx context.Context, s backend.Session, data []byte) (string, error) {
	parent, prefix := backend.Parent(m.base), backend.Base(m.base)
	kids, _, err := s.Children(ctx, parent)
	if errors.Is(err, backend.ErrNoNode) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, k := range kids {
		if !strings.HasPrefix(k, prefix) || len(k) != len(prefix)+10 {
			continue
		}
		if _, ok := backend.Sequence(k); !ok {
			continue
		}
		p := backend.Join(parent, k)
		got, st, err := s.Get(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return "", err
		}
		if m.o.mode.IsEphemeral() && st.EphemeralOwner == s.ID() && bytes.Equal(got, data) {
			return p, nil
		}
	}
	return "", nil
}

// cleanup deletes the node at the end, if it is this member's and the
// options say so.
func (m *Member) cleanup(s backend.Session) {
	path, _, _ := m.snapshot()
	if path == "" || m.o.keepOnClose {
		return
	}
	ephemeral := m.o.mode.IsEphemeral()
	if s == nil || s.Err() != nil {
		if ephemeral {
			return // the lost session's ephemeral goes with it
		}
		ctx, cancel := context.WithTimeout(context.Background(), cleanupLimit)
		defer cancel()
		var err error
		if s, err = m.client.Session(ctx); err != nil {
			return
		}
	}
	// An ephemeral node is deleted or goes with its session: try until
	// one of the two, however long a connection outage lasts (an outage
	// shorter than the session would otherwise leave a member that left
	// registered for the rest of the session's life). A persistent node
	// has no such end: cleanupLimit bounds the tries.
	var ctx context.Context
	var cancel context.CancelFunc
	if ephemeral {
		ctx, cancel = context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
	} else {
		ctx, cancel = context.WithTimeout(context.Background(), cleanupLimit)
	}
	defer cancel()
	backoff := time.Duration(0)
	for {
		st, err := s.Exists(ctx, path)
		if err == nil {
			if st == nil || !m.ours(s, st) {
				return
			}
			if err = s.Delete(ctx, path, st.Version); err == nil || errors.Is(err, backend.ErrNoNode) {
				return
			}
			// A lost reply (ErrOutcomeUnknown) or a version moved by a
			// late write: the next Exists settles it.
		}
		if ctx.Err() != nil || s.Err() != nil || permanent(err) || errors.Is(err, backend.ErrNotEmpty) {
			m.o.log.Info("registry: could not delete the member node at close", "path", path, "err", err)
			return
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
