package barrier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ReadyName is the name of the node under a double barrier whose existence
// lets the members through: Curator's and kazoo's "ready".
const ReadyName = "ready"

// DoubleBarrier is one member of a double barrier for n members, in the
// layout Curator's DistributedDoubleBarrier and kazoo's DoubleBarrier
// share: <path>/<member> ephemeral, <path>/ready persistent. Enter blocks
// until n members are inside; Leave blocks until all of them have left.
// A DoubleBarrier can enter again after it left. It is safe for
// concurrent use; a second Enter while inside is ErrEntered.
type DoubleBarrier struct {
	s     backend.Session
	path  string
	ready string
	name  string
	node  string
	n     int
	data  []byte
	log   *slog.Logger

	mu    sync.Mutex
	state int // idle, busy (entering or leaving), inside
	// round is the CreateToken of the ready node this member passed
	// (0: not known): nodes created after it, once it is gone, are the
	// next round's. Set by Enter, read by Leave; the state guards it.
	round int64
	// floor is this member's own node's CreateToken, read by Leave when
	// round is not known: the next round's nodes are all younger.
	floor int64
}

const (
	idle = iota
	busy
	inside
)

// NewDouble returns this session's member of the double barrier at path
// for n members. It does not talk to the server. A bad path is
// backend.ErrBadPath; n < 1 or a bad member name is ErrBadOption.
func NewDouble(s backend.Session, path string, n int, opts ...Option) (*DoubleBarrier, error) {
	if err := checkPath("double-barrier", path); err != nil {
		return nil, err
	}
	if err := checkCount(n); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	name := o.name
	if name == "" {
		name = backend.NewGUID()
	}
	if err := backend.ValidateName(name); err != nil || name == ReadyName {
		return nil, fmt.Errorf("%w: member name %q is not a node name other than %q", ErrBadOption, name, ReadyName)
	}
	return &DoubleBarrier{s: s, path: path, ready: backend.Join(path, ReadyName), name: name,
		node: backend.Join(path, name), n: n, data: o.data, log: o.logger}, nil
}

// Path returns the barrier node's path.
func (d *DoubleBarrier) Path() string { return d.path }

// Name returns this member's node name.
func (d *DoubleBarrier) Name() string { return d.name }

// Members returns the names of the members now under the barrier (without
// "ready"), sorted in byte order. A barrier node that does not exist has
// none.
func (d *DoubleBarrier) Members(ctx context.Context) ([]string, error) {
	kids, _, err := d.s.Children(ctx, d.path)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return members(kids), nil
}

// members returns kids without ReadyName, sorted in byte order (the order
// Curator and kazoo sort in).
func members(kids []string) []string {
	out := make([]string, 0, len(kids))
	for _, k := range kids {
		if k != ReadyName {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (d *DoubleBarrier) begin(from int, err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != from {
		return err
	}
	d.state = busy
	return nil
}

func (d *DoubleBarrier) end(state int) {
	d.mu.Lock()
	d.state = state
	d.mu.Unlock()
}

// Enter joins the barrier and blocks until n members have joined: it
// creates this member's ephemeral node, then passes when <path>/ready
// exists, or creates ready itself when it counts n or more members.
// More than n members are admitted: a member that comes when ready exists
// passes at once. Enter never passes on a connection-state change or a
// spurious wake-up; it does pass when it sees ready created, without
// counting again (the members may have started to leave by then).
//
// When ctx or the session ends first, Enter deletes this member's node (so
// it does not count for the others) and returns a *WaitError. A member
// name held by another session is ErrNameTaken.
func (d *DoubleBarrier) Enter(ctx context.Context) error {
	if err := d.begin(idle, ErrEntered); err != nil {
		return err
	}
	err := d.enter(ctx, "enter")
	if err != nil {
		d.end(idle)
		return err
	}
	d.end(inside)
	return nil
}

func (d *DoubleBarrier) enter(ctx context.Context, op string) error {
	present := 0
	fail := func(err error) error {
		cause := stopped(ctx, d.s)
		if cause == nil && !errors.Is(err, backend.ErrConnectionLoss) {
			return err // the caller's mistake or the server's refusal, not a wait that ended
		}
		if cause == nil {
			cause = err
		}
		d.cleanup(ctx)
		return &WaitError{Op: op, Path: d.path, Present: present, Need: d.n, Err: cause}
	}
	// createMember makes the barrier node too when it is missing: one
	// round trip less when it exists, and the member's create is the
	// first write.
	if err := d.createMember(ctx); err != nil {
		return fail(err)
	}
	var r retrier
	for {
		n, passed, err := d.enterOnce(ctx)
		if n >= 0 {
			present = n
		}
		if passed {
			return nil
		}
		if err != nil && !r.again(ctx, d.s, err) {
			return fail(err)
		}
	}
}

// enterOnce is one turn of Enter's loop: it returns the members counted
// (-1 if it did not count) and whether this member passes.
func (d *DoubleBarrier) enterOnce(ctx context.Context) (int, bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, ev, err := d.s.ExistsW(wctx, d.ready)
	if err != nil {
		return -1, false, err
	}
	if st != nil {
		d.round = st.CreateToken
		return -1, true, nil
	}
	kids, _, err := d.s.Children(ctx, d.path)
	if err != nil {
		return -1, false, err
	}
	count := len(members(kids))
	if count >= d.n {
		if err := create(ctx, d.s, d.ready, nil, backend.Persistent, false); err != nil {
			return count, false, err
		}
		d.noteRound(ctx)
		return count, true, nil
	}
	e, err := awaitEvent(ctx, d.s, ev)
	if err != nil {
		return count, false, err
	}
	// Created: ready appeared, so n members were in. Pass without counting
	// again: some may have left already. Anything else: look again.
	if e.Type != backend.EventCreated {
		return count, false, nil
	}
	d.noteRound(ctx)
	return count, true, nil
}

// noteRound records the CreateToken of the ready node this member passed,
// if it is still there to read (a member that left at once may have
// deleted it: then Leave falls back on this member's own node).
func (d *DoubleBarrier) noteRound(ctx context.Context) {
	d.round = 0
	if st, err := d.s.Exists(ctx, d.ready); err == nil && st != nil {
		d.round = st.CreateToken
	}
}

// createMember creates this member's ephemeral node. The name is known, so
// a create whose reply was lost is recognised by the node's owner.
func (d *DoubleBarrier) createMember(ctx context.Context) error {
	var r retrier
	for {
		_, err := d.s.Create(ctx, d.node, d.data, backend.Ephemeral)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, backend.ErrNodeExists):
			st, serr := d.s.Exists(ctx, d.node)
			switch {
			case serr != nil:
				err = serr
			case st == nil:
				continue // gone meanwhile: create again
			case st.EphemeralOwner == d.s.ID():
				return nil // ours, from a try whose reply was lost
			default:
				return fmt.Errorf("%w: %s is owned by session %#x", ErrNameTaken, d.node, st.EphemeralOwner)
			}
		case errors.Is(err, backend.ErrNoNode):
			// The barrier node was deleted meanwhile: make it again.
			if cerr := create(ctx, d.s, d.path, nil, backend.Persistent, true); cerr != nil {
				err = cerr
			} else {
				continue
			}
		}
		if !r.again(ctx, d.s, err) {
			return err
		}
	}
}

// cleanup deletes this member's node after a failed Enter, with a context
// of its own: the caller's has usually ended (CURATOR-80).
func (d *DoubleBarrier) cleanup(ctx context.Context) {
	if d.s.Err() != nil {
		return // the server removes the node with the session
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := remove(cctx, d.s, d.node); err != nil {
		d.log.Warn("barrier: member node left behind after a failed enter", "path", d.node, "err", err)
	}
}

// Leave blocks until every member has left the barrier. The member with
// the lowest name waits for the highest to go; every other member deletes
// its node and waits for the lowest to go; when a member is alone it
// deletes its node. The last to finish deletes ready (Curator's timing).
// A member whose session dies has its node removed by the server after
// the session timeout, which is how long it can hold the others.
//
// When ctx or the session ends first, Leave returns a *WaitError with the
// members still present; Leave may then be called again. When this
// member's node vanished (its session ended or someone deleted it) and
// the session has ended, the error matches ErrMemberLost and the
// session's error.
func (d *DoubleBarrier) Leave(ctx context.Context) error {
	if err := d.begin(inside, ErrNotEntered); err != nil {
		return err
	}
	err := d.leave(ctx)
	var we *WaitError
	if err != nil && errors.As(err, &we) && !errors.Is(err, ErrMemberLost) && errors.Is(we.Err, ctx.Err()) && d.s.Err() == nil {
		d.end(inside) // may try again
		return err
	}
	d.end(idle)
	return err
}

func (d *DoubleBarrier) leave(ctx context.Context) error {
	deleted := false
	present := 0
	d.floor = 0
	if d.round == 0 {
		// The ready this member passed was gone before it could read it.
		// The next round's nodes are made after that ready's deletion,
		// so after this member's own node: its token tells them apart
		// (it may also drop a member of this round that came after us,
		// but only once ready is gone, when such a member has left or is
		// a kazoo member that deleted ready first).
		if st, err := d.s.Exists(ctx, d.node); err == nil && st != nil {
			d.floor = st.CreateToken
		}
	}
	fail := func(err error) error {
		if cause := stopped(ctx, d.s); cause != nil {
			if !deleted && d.s.Err() != nil {
				cause = fmt.Errorf("%w: %s: %w", ErrMemberLost, d.node, cause)
			}
			return &WaitError{Op: "leave", Path: d.path, Present: present, Need: d.n, Err: cause}
		}
		return err
	}
	var r retrier
	for {
		done, n, err := d.leaveOnce(ctx, &deleted)
		if n >= 0 {
			present = n
		}
		if err != nil {
			if r.again(ctx, d.s, err) {
				continue
			}
			return fail(err)
		}
		if done {
			break
		}
	}
	if err := d.removeReady(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// removeReady deletes ready if it is this member's round's: a ready made
// by the next round (its members may be entering already) is left alone.
func (d *DoubleBarrier) removeReady(ctx context.Context) error {
	var r retrier
	for {
		st, err := d.s.Exists(ctx, d.ready)
		if err == nil && (st == nil || (d.round != 0 && st.CreateToken != d.round)) {
			return nil
		}
		if err == nil {
			err = d.s.Delete(ctx, d.ready, st.Version)
			if err == nil || errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrBadVersion) {
				return nil
			}
		}
		if !r.again(ctx, d.s, err) {
			return err
		}
	}
}

// leaveOnce is one turn of Leave's loop. It returns whether every member is
// gone and how many members it saw.
func (d *DoubleBarrier) leaveOnce(ctx context.Context, deleted *bool) (bool, int, error) {
	kids, _, err := d.s.Children(ctx, d.path)
	if errors.Is(err, backend.ErrNoNode) {
		return true, 0, nil
	}
	if err != nil {
		return false, -1, err
	}
	ms, err := d.thisRound(ctx, kids)
	if err != nil {
		return false, -1, err
	}
	if len(ms) == 0 {
		return true, 0, nil
	}
	ours := !*deleted && slices.Contains(ms, d.name)
	if !ours && !*deleted {
		if err := d.s.Err(); err != nil {
			return false, len(ms), err
		}
		// Deleted by someone while our session lives: we watch the others
		// leave, as a member that deleted itself does.
		*deleted = true
	}
	lowest, highest := ms[0], ms[len(ms)-1]
	var watch string
	switch {
	case ours && len(ms) == 1:
		if err := remove(ctx, d.s, d.node); err != nil {
			return false, len(ms), err
		}
		*deleted = true
		return true, 0, nil
	case ours && lowest == d.name:
		watch = highest
	default:
		if ours {
			if err := remove(ctx, d.s, d.node); err != nil {
				return false, len(ms), err
			}
			*deleted = true
		}
		watch = lowest
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, ev, err := d.s.ExistsW(wctx, backend.Join(d.path, watch))
	if err != nil || st == nil {
		return false, len(ms), err
	}
	if limit := d.limit(); limit != 0 && st.CreateToken > limit {
		// The node is younger than this round's ready (or our own node):
		// a member admitted late, or the same name made again by a member
		// that left meanwhile and entered the next round, which waits for
		// us. It is this round's only while this round's ready stands;
		// else look again, and thisRound drops it.
		stands, err := d.roundStands(ctx)
		if err != nil || !stands {
			return false, len(ms), err
		}
	}
	_, err = awaitEvent(ctx, d.s, ev)
	return false, len(ms), err
}

// limit is the CreateToken after which a member node may be the next
// round's: the ready this member passed, or, not knowing it, its own node
// (0: neither known, no filtering).
func (d *DoubleBarrier) limit() int64 {
	if d.round != 0 {
		return d.round
	}
	return d.floor
}

// roundStands reports whether the ready of this member's round still
// stands (not knowing that ready, whether a ready stands): while it does,
// nobody can have begun a new round.
func (d *DoubleBarrier) roundStands(ctx context.Context) (bool, error) {
	st, err := d.s.Exists(ctx, d.ready)
	if err != nil {
		return false, err
	}
	return st != nil && (d.round == 0 || st.CreateToken == d.round), nil
}

// thisRound returns the members among kids (a listing of the barrier
// node) without those of the next round: when the ready this member passed
// is gone (its round has ended for someone, or a kazoo member deleted it
// early), a member node created after it belongs to a member that has
// entered again, which waits for us: waiting for it would be a deadlock.
// While that ready stands nobody can have begun a new round.
func (d *DoubleBarrier) thisRound(ctx context.Context, kids []string) ([]string, error) {
	ms := members(kids)
	limit := d.limit()
	if limit == 0 {
		return ms, nil
	}
	// A listing without ready says it is gone: no read needed to know it.
	if slices.Contains(kids, ReadyName) {
		stands, err := d.roundStands(ctx)
		if err != nil {
			return nil, err
		}
		if stands {
			return ms, nil
		}
	}
	out := ms[:0:0]
	for _, m := range ms {
		if m == d.name {
			out = append(out, m)
			continue
		}
		mst, err := d.s.Exists(ctx, backend.Join(d.path, m))
		if err != nil {
			return nil, err
		}
		if mst != nil && mst.CreateToken <= limit {
			out = append(out, m)
		}
	}
	return out, nil
}

// Gather blocks until n members have arrived at path: a one-shot start
// line. It enters a double barrier at path as a fresh member, then deletes
// its member node; ready stays, so a member that comes late passes at
// once. To use the path again, delete it first (backend.DeleteAll). When
// ctx or the session ends first it returns a *WaitError (Op "gather") and
// leaves no member node behind.
func Gather(ctx context.Context, s backend.Session, path string, n int, opts ...Option) error {
	d, err := NewDouble(s, path, n, opts...)
	if err != nil {
		return err
	}
	if err := d.enter(ctx, "gather"); err != nil {
		return err
	}
	if err := remove(ctx, s, d.node); err != nil {
		return fmt.Errorf("barrier: gather %s: %w", path, err)
	}
	return nil
}
