package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Election is one election: a directory node whose children are the
// candidates. Create one with New; compete with Campaign, Run or a Latch;
// watch it with Leader, Observe and Participants. An Election is safe for
// concurrent use; every Campaign (and every Run) is a candidate of its own.
type Election struct {
	s    backend.Session
	path string
	opts options
}

// New returns the election at directory path on session s. The directory
// is created (as a Container node, with missing ancestors, with the ACL of
// WithACL or the session's default) when the first candidate joins. A bad path is an error matching backend.ErrBadPath; a bad
// option is an error too.
func New(s backend.Session, path string, opts ...Option) (*Election, error) {
	if s == nil {
		return nil, errors.New("election: nil session")
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("election: new %q: %w", path, err)
	}
	o, err := apply(opts)
	if err != nil {
		return nil, err
	}
	if max := s.Capabilities().MaxDataSize; max > 0 && len(o.data) > max {
		return nil, fmt.Errorf("election: new %q: value of %d bytes: %w (max %d)", path, len(o.data), backend.ErrTooLarge, max)
	}
	if err := o.checkACL(s); err != nil {
		return nil, fmt.Errorf("election: new %q: %w", path, err)
	}
	return &Election{s: s, path: path, opts: o}, nil
}

// Path returns the election's directory.
func (e *Election) Path() string { return e.path }

func (e *Election) config() contender.Config {
	return contender.Config{
		Dir:       e.path,
		Layout:    e.opts.layout.contender(),
		BlockedBy: contender.Predecessor,
		Data:      e.opts.data,
		ACL:       e.opts.acl,
		Logger:    e.opts.logger,
		Hooks:     e.opts.hooks,
	}
}

// Campaign joins the election as a new candidate and blocks until it
// leads, ctx ends, or the session ends. The candidate watches only the
// candidate just before it. On failure its node is removed and the error
// returned: ctx's error, or one matching ErrLost when the session ended or
// the node vanished. Campaign never reports leadership on a session that is
// gone: the node is read back on the live session first.
func (e *Election) Campaign(ctx context.Context) (*Term, error) {
	c, err := contender.Join(ctx, e.s, e.config())
	if err != nil {
		return nil, e.joinErr("campaign", err)
	}
	st, err := c.Wait(ctx)
	if err != nil {
		return nil, e.joinErr("campaign", err)
	}
	return newTerm(e.s, e.opts, c.Path(), st.CreateToken, c.Delete, c), nil
}

// joinErr wraps a failure to win: a vanished node or ended session is
// ErrLost, anything else is returned as is, with the operation.
func (e *Election) joinErr(op string, err error) error {
	if errors.Is(err, contender.ErrGone) || errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return fmt.Errorf("election: %s %s: %w: %w", op, e.path, ErrLost, err)
	}
	return fmt.Errorf("election: %s %s: %w", op, e.path, err)
}

// Candidate describes one candidate node of an election.
type Candidate struct {
	Name    string    // the node's name
	Path    string    // the node's full path
	Value   []byte    // the node's data: WithValue, Proclaim, or a peer's id
	Token   int64     // the node's CreateToken: its term's fencing token
	Owner   int64     // the owning session's ID
	Created time.Time // when the node was created (server clock)
	Leader  bool      // the first candidate: the leader
}

// Participants lists the candidates in order: the leader first, then the
// others in the order they will lead. Nodes whose names the layout does not
// recognise are left out; a node that goes while it is read is skipped. A
// missing election directory has no participants.
func (e *Election) Participants(ctx context.Context) ([]Candidate, error) {
	children, _, err := e.s.Children(ctx, e.path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("election: participants %s: %w", e.path, err)
	}
	var cs []Candidate
	for _, q := range contender.Queue(children, e.opts.layout.contender()) {
		c, err := e.candidate(ctx, q.Name)
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("election: participants %s: %w", e.path, err)
		}
		c.Leader = len(cs) == 0
		cs = append(cs, c)
	}
	return cs, nil
}

func (e *Election) candidate(ctx context.Context, name string) (Candidate, error) {
	p := backend.Join(e.path, name)
	data, st, err := e.s.Get(ctx, p)
	if err != nil {
		return Candidate{}, err
	}
	return Candidate{Name: name, Path: p, Value: data, Token: st.CreateToken, Owner: st.EphemeralOwner, Created: st.Created}, nil
}

// Leader returns the current leader: the first candidate. With no
// candidate it returns an error matching ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (Candidate, error) {
	for {
		children, _, err := e.s.Children(ctx, e.path)
		if errors.Is(err, backend.ErrNoNode) {
			return Candidate{}, fmt.Errorf("election: leader %s: %w", e.path, ErrNoLeader)
		}
		if err != nil {
			return Candidate{}, fmt.Errorf("election: leader %s: %w", e.path, err)
		}
		q := contender.Queue(children, e.opts.layout.contender())
		if len(q) == 0 {
			return Candidate{}, fmt.Errorf("election: leader %s: %w", e.path, ErrNoLeader)
		}
		c, err := e.candidate(ctx, q[0].Name)
		if errors.Is(err, backend.ErrNoNode) {
			continue // the leader just left: look again
		}
		if err != nil {
			return Candidate{}, fmt.Errorf("election: leader %s: %w", e.path, err)
		}
		c.Leader = true
		return c, nil
	}
}

// Observe streams the election's leader: the current one at once, then
// every change (a new leader, or the leader's value changed by Proclaim).
// A zero Candidate (empty Path) means no candidate is left. The channel
// holds one value: a reader that falls behind gets the latest leader, never
// a stale one, but quick changes in between may be coalesced into it. The
// channel is closed when ctx ends or the session ends.
func (e *Election) Observe(ctx context.Context) <-chan Candidate {
	ch := make(chan Candidate, 1)
	go func() {
		defer close(ch)
		e.observe(ctx, ch)
	}()
	return ch
}

func (e *Election) observe(ctx context.Context, ch chan Candidate) {
	var last Candidate
	first := true
	publish := func(c Candidate) {
		if !first && c.Path == last.Path && bytes.Equal(c.Value, last.Value) {
			return
		}
		first, last = false, c
		select { // replace a value not yet read: the latest wins
		case <-ch:
		default:
		}
		ch <- c
	}
	for ctx.Err() == nil && e.s.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		c, ev1, ev2, err := e.watchLeader(wctx)
		if err != nil {
			cancel()
			if ctx.Err() != nil || e.s.Err() != nil {
				return
			}
			if !errors.Is(err, errAgain) {
				_, _ = backend.WaitState(ctx, e.s, backend.Connected, backend.Reconnected)
				grant.Pause(ctx, 100*time.Millisecond)
			}
			continue
		}
		publish(c)
		select {
		case <-ev1:
		case <-ev2:
		case <-ctx.Done():
		case <-e.s.Done():
		}
		cancel()
	}
}

var errAgain = errors.New("look again")

// watchLeader reads the leader and sets watches that fire when it may have
// changed: on the directory's children (or its creation) and on the
// leader's node. ev2 is nil when there is no leader.
func (e *Election) watchLeader(ctx context.Context) (c Candidate, ev1, ev2 <-chan backend.Event, err error) {
	children, _, ev1, err := e.s.ChildrenW(ctx, e.path)
	if errors.Is(err, backend.ErrNoNode) {
		st, ev, err := e.s.ExistsW(ctx, e.path)
		if err != nil {
			return Candidate{}, nil, nil, err
		}
		if st != nil {
			return Candidate{}, nil, nil, errAgain
		}
		return Candidate{}, ev, nil, nil
	}
	if err != nil {
		return Candidate{}, nil, nil, err
	}
	q := contender.Queue(children, e.opts.layout.contender())
	if len(q) == 0 {
		return Candidate{}, ev1, nil, nil
	}
	p := backend.Join(e.path, q[0].Name)
	data, st, ev2, err := e.s.GetW(ctx, p)
	if errors.Is(err, backend.ErrNoNode) {
		return Candidate{}, nil, nil, errAgain
	}
	if err != nil {
		return Candidate{}, nil, nil, err
	}
	return Candidate{Name: q[0].Name, Path: p, Value: data, Token: st.CreateToken, Owner: st.EphemeralOwner, Created: st.Created, Leader: true}, ev1, ev2, nil
}

// Run competes for leadership and calls fn while this candidate leads, as
// Curator's LeaderSelector and client-go's OnStartedLeading do. leaderCtx
// is cancelled the moment leadership is lost (the session suspended under
// OnSuspend, lost or closed, the node deleted) or ctx ends; fn must then
// stop what it does as leader and return. When fn returns, the candidate
// resigns (its node is deleted, and the next candidate leads).
//
// Without WithRequeue, Run returns after one term: fn's error, or (when fn
// returned nil after leadership was lost) the loss, matching ErrLost. With
// WithRequeue, Run competes again after fn returns nil or leadership is
// lost, until ctx ends (Run then returns ctx's error), the session ends
// (an error matching ErrLost) or fn returns an error (returned as is).
// Failing to join with the session alive (a connection loss) is retried
// after the retry interval with WithRequeue, and returned without.
func (e *Election) Run(ctx context.Context, fn func(leaderCtx context.Context, term *Term) error) error {
	if fn == nil {
		return errors.New("election: run: nil function")
	}
	for {
		term, err := e.Campaign(ctx)
		if err != nil {
			if e.s.Err() != nil && !errors.Is(err, ErrLost) {
				return fmt.Errorf("%w: %w", ErrLost, err)
			}
			if ctx.Err() != nil || e.s.Err() != nil || !e.opts.requeue {
				return err
			}
			e.opts.logger.Warn("election: run: campaign failed, retrying", "path", e.path, "err", err)
			grant.Pause(ctx, e.opts.retry)
			continue
		}
		if stop, err := finishTerm(ctx, e.s, e.opts, "run "+e.path, term, lead(ctx, term, fn)); stop {
			return err
		}
	}
}

// finishTerm ends a term whose function returned ferr: with WithRequeue
// and no error, so that the candidate can join again; otherwise for good.
// It tells Run whether to return, and with what, or to compete again.
func finishTerm(ctx context.Context, s backend.Session, o options, what string, term *Term, ferr error) (stop bool, err error) {
	lost := term.Err()
	if o.requeue && ferr == nil {
		endBeforeRejoin(ctx, s, term)
	} else {
		rctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
		_ = term.end(rctx) // the node goes with the session otherwise
		cancel()
	}
	switch {
	case ferr != nil:
		return true, ferr
	case !o.requeue:
		return true, lost
	case ctx.Err() != nil:
		return true, fmt.Errorf("election: %s: %w", what, ctx.Err())
	case s.Err() != nil:
		return true, fmt.Errorf("election: %s: %w: %w", what, ErrLost, s.Err())
	}
	return false, nil
}

// lead calls fn with a context cancelled when ctx ends or the term ends.
func lead(ctx context.Context, term *Term, fn func(context.Context, *Term) error) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(term.Context(), func() { cancel(context.Cause(term.Context())) })
	defer stop()
	return fn(lctx, term)
}
