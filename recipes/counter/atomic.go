package counter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// Value is a counter's value as read, with the node's stat.
type Value struct {
	N       int64 // the value; 0 when the node does not exist or is empty
	Version int32 // the node's data version (ZooKeeper parity; it wraps)
	Token   int64 // the node's ModifyToken: the position of its last write
	Exists  bool  // whether the node exists
}

// Change is the outcome of a successful write: the value before and after,
// read and written in one compare-and-set, so no other write came between.
type Change struct {
	Pre, Post int64
	Token     int64 // the ModifyToken of the write (ZooKeeper mzxid, etcd revision)
	Tries     int   // writes sent, the successful one included
	Promoted  bool  // the write was made under the WithPromotion lock
}

// Atomic is an integer at a node, changed by optimistic compare-and-set:
// Curator's DistributedAtomicLong and DistributedAtomicInteger, kazoo's
// Counter. An Atomic is safe for concurrent use; the writes of one Atomic
// are made one at a time (they share its writer marker), so use one Atomic
// per goroutine where writes should overlap.
type Atomic struct{ w *writer }

// NewAtomic returns an Atomic over the node at path on session s, stored
// with CuratorInt64 unless WithCodec says otherwise. Nothing is written
// until the first write; the node (and missing parents, as Container nodes)
// is created then. A bad path is an error matching backend.ErrBadPath; a bad
// option one matching ErrBadOption.
func NewAtomic(s backend.Session, path string, opts ...Option) (*Atomic, error) {
	o, err := newOptions(CuratorInt64, opts)
	if err != nil {
		return nil, fmt.Errorf("counter: new atomic %q: %w", path, err)
	}
	w, err := newWriter(s, path, o)
	if err != nil {
		return nil, err
	}
	return &Atomic{w: w}, nil
}

// Path returns the counter's node.
func (a *Atomic) Path() string { return a.w.path }

// Codec returns the codec the values are stored with.
func (a *Atomic) Codec() Codec { return a.w.o.codec }

// Get reads the value. An absent node is Value{N: 0, Exists: false}, as
// Curator and kazoo read it; data the codec cannot read is a *CorruptError.
func (a *Atomic) Get(ctx context.Context) (Value, error) {
	data, st, err := a.w.s.Get(ctx, a.w.path)
	if errors.Is(err, backend.ErrNoNode) {
		return Value{}, nil
	}
	if err != nil {
		return Value{}, fmt.Errorf("counter: get %s: %w", a.w.path, err)
	}
	n, err := a.decode(data)
	if err != nil {
		return Value{}, err
	}
	return Value{N: n, Version: st.Version, Token: st.ModifyToken, Exists: true}, nil
}

func (a *Atomic) decode(data []byte) (int64, error) {
	n, err := a.w.o.codec.Decode(data)
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Path == "" {
		ce.Path = a.w.path
	}
	return n, err
}

// Add adds delta and returns the values before and after. A result that
// would leave the codec's range is ErrOverflow and nothing is written.
func (a *Atomic) Add(ctx context.Context, delta int64) (Change, error) {
	return a.change(ctx, "add", func(cur int64, _ bool) (int64, error) { return add(a.w.o.codec, cur, delta) })
}

// Increment adds 1.
func (a *Atomic) Increment(ctx context.Context) (Change, error) { return a.Add(ctx, 1) }

// Decrement subtracts 1.
func (a *Atomic) Decrement(ctx context.Context) (Change, error) { return a.Add(ctx, -1) }

// Set writes n whatever the value was, and returns the value it replaced.
func (a *Atomic) Set(ctx context.Context, n int64) (Change, error) {
	return a.change(ctx, "set", func(int64, bool) (int64, error) { return n, nil })
}

// CompareAndSet writes n if the value is expect (an absent node is 0). If
// it is not, nothing is written and the error is a *MismatchError carrying
// the current value, matching ErrMismatch.
func (a *Atomic) CompareAndSet(ctx context.Context, expect, n int64) (Change, error) {
	return a.change(ctx, "compare-and-set", func(cur int64, _ bool) (int64, error) {
		if cur != expect {
			return 0, &MismatchError{Path: a.w.path, Expected: expect, Current: cur}
		}
		return n, nil
	})
}

// Initialize creates the node with value n if it does not exist, and
// reports whether it did; false (and no error) if the node existed.
func (a *Atomic) Initialize(ctx context.Context, n int64) (bool, error) {
	_, err := a.change(ctx, "initialize", func(_ int64, exists bool) (int64, error) {
		if exists {
			return 0, errSkip
		}
		return n, nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	return err == nil, err
}

// Close removes this Atomic's writer marker, if it made one, and makes
// further writes fail with ErrClosed. It waits for a write in progress.
// It does not close the session. Idempotent.
func (a *Atomic) Close() error { return a.w.close() }

// change runs one write whose next value f computes from the current one.
func (a *Atomic) change(ctx context.Context, op string, f func(cur int64, exists bool) (int64, error)) (Change, error) {
	r, err := a.w.write(ctx, op, func(cur []byte, exists bool) ([]byte, error) {
		n, err := a.decode(cur)
		if err != nil {
			return nil, err
		}
		next, err := f(n, exists)
		if err != nil {
			return nil, err
		}
		return a.w.o.codec.Encode(next)
	})
	if err != nil {
		return Change{}, err
	}
	// Both were decoded (pre) or encoded (post) by the codec before.
	pre, _ := a.w.o.codec.Decode(r.pre)
	post, _ := a.w.o.codec.Decode(r.post)
	return Change{Pre: pre, Post: post, Token: r.token, Tries: r.tries, Promoted: r.promoted}, nil
}

// errSkip tells write that the plan needs no write (Initialize on an existing node).
var errSkip = errors.New("counter: nothing to write")

// plan computes the data to write from the current data (nil and
// exists false when the node is absent).
type plan func(cur []byte, exists bool) ([]byte, error)

// written is one write's outcome.
type written struct {
	pre, post []byte
	token     int64
	tries     int
	promoted  bool
	// version is the counter's version after the write, when the write's
	// reply said it (versionKnown).
	version      int32
	versionKnown bool
}

// writer is the optimistic write loop Atomic and AtomicBytes share, with
// the writer marker that settles lost replies (see the package
// documentation, "How an unknown outcome is resolved").
type writer struct {
	s      backend.Session
	path   string
	marker string // <path>/writer-<16 hex>
	o      options

	mu        sync.Mutex // one write at a time: they share the marker
	markerOK  bool       // the marker exists (this session created it)
	markerVer int32      // its version, as last seen
	// last is the counter as this writer's last write left it, when that
	// write met no other writer: the next write is sent on it without a
	// read first (one round trip instead of two for a writer alone). Only
	// with the marker: the marker, a child of the counter, keeps the
	// counter from being deleted and made again at the same version
	// behind the cache's back, and a write on a stale cache fails on the
	// counter's version and reads.
	last      []byte
	lastVer   int32
	lastValid bool
	closed    bool

	// beforeWrite, when set (by tests), runs before each write is sent,
	// after the read it is based on: where a test loses the write's reply.
	beforeWrite func()
}

func newWriter(s backend.Session, path string, o options) (*writer, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrBadOption)
	}
	if err := backend.ValidatePath(path); err != nil || path == "/" {
		return nil, backend.Errorf("counter", path, backend.ErrBadPath, err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &writer{s: s, path: path, marker: backend.Join(path, "writer-"+hex.EncodeToString(b[:])), o: o}, nil
}

func (w *writer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if !w.markerOK || w.s.Err() != nil {
		return nil // nothing made, or the session took its ephemerals with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.s.Delete(ctx, w.marker, backend.AnyVersion)
	if err == nil || errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return nil
	}
	return fmt.Errorf("counter: close %s: %w", w.path, err)
}

// attempt is a write sent whose reply was lost: what it would have done.
type attempt struct{ pre, post []byte }

// write runs the optimistic loop for p until a write lands, p refuses, or
// the tries, the context or the session end.
func (w *writer) write(ctx context.Context, op string, p plan) (written, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return written{}, fmt.Errorf("counter: %s %s: %w", op, w.path, ErrClosed)
	}
	var (
		pending  = map[string]attempt{} // op id -> attempt whose reply was lost
		lease    *lock.Lease
		start    = time.Now()
		conflict int // tries that met a concurrent write
	)
	defer func() {
		if lease != nil {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := lease.Unlock(uctx); err != nil {
				w.o.logger.Warn("counter: unlock promotion lock", "path", w.path, "lock", w.o.lockPath, "err", err)
			}
			cancel()
		}
	}()
	// fail returns err, marked as an unknown outcome when a write whose
	// reply was lost could not be settled.
	fail := func(err error) (written, error) {
		if len(pending) > 0 && !errors.Is(err, backend.ErrOutcomeUnknown) {
			return written{}, fmt.Errorf("counter: %s %s: %w: %d write(s) whose reply was lost not settled: %w", op, w.path, backend.ErrOutcomeUnknown, len(pending), err)
		}
		return written{}, err
	}
	alone := true // no other writer met by this call
	for tries := 1; ; tries++ {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("counter: %s %s: %w", op, w.path, err))
		}
		if lease == nil && w.o.lockPath != "" && conflict >= w.o.promoteAt {
			l, err := w.promote(ctx)
			if err != nil {
				return fail(err)
			}
			lease = l
		} else if lease == nil && w.o.lockPath == "" && w.o.maxTries > 0 && conflict >= w.o.maxTries {
			return fail(fmt.Errorf("counter: %s %s: %w after %d tries", op, w.path, ErrContended, conflict))
		}
		var (
			cur    []byte
			st     backend.Stat
			exists bool
		)
		cached := w.lastValid && w.markerOK && !w.o.ambiguous
		w.lastValid = false // used once; a write that lands alone sets it again
		if cached {
			cur, st.Version, exists = w.last, w.lastVer, true
		} else {
			var err error
			cur, st, err = w.s.Get(ctx, w.path)
			exists = err == nil
			if err != nil && !errors.Is(err, backend.ErrNoNode) {
				return fail(fmt.Errorf("counter: %s %s: %w", op, w.path, err))
			}
		}
		next, err := p(cur, exists)
		if err != nil {
			if cached {
				tries-- // nothing sent: decide again on the node as it is
				alone = false
				continue
			}
			return fail(err)
		}
		var out outcome
		var res written
		if w.o.ambiguous {
			res, out, err = w.plain(ctx, op, cur, next, st, exists)
		} else {
			res, out, err = w.marked(ctx, op, cur, next, st, exists, pending)
		}
		res.tries, res.promoted = tries, lease != nil
		switch out {
		case landed:
			if alone {
				// No other writer met: the next write may start from here.
				w.last, w.lastVer, w.lastValid = res.post, res.version, res.versionKnown
			}
			return res, nil
		case failed:
			return fail(err)
		case conflicted:
			alone = false
			if cached {
				continue // the cache was stale: read, and try at once
			}
			conflict++
			w.o.logger.Debug("counter: concurrent write, trying again", "op", op, "path", w.path, "tries", tries, "err", err)
			if err := w.pause(ctx, conflict, start); err != nil {
				return fail(fmt.Errorf("counter: %s %s: %w", op, w.path, err))
			}
		case again:
			// The state changed under us in a way that is not contention
			// (a parent made, a marker refreshed): read and try at once.
		}
	}
}

type outcome int

const (
	landed     outcome = iota + 1 // the write applied
	failed                        // stop with the error
	conflicted                    // a concurrent write: back off, try again
	again                         // try again now
)

// pause waits the backoff before the next optimistic try.
func (w *writer) pause(ctx context.Context, n int, start time.Time) error {
	d, _ := w.o.backoff.Next(n, time.Since(start))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.s.Done():
		return w.s.Err()
	}
}

// promote takes the WithPromotion lock.
func (w *writer) promote(ctx context.Context) (*lock.Lease, error) {
	m, err := lock.New(w.s, w.o.lockPath)
	if err != nil {
		return nil, fmt.Errorf("counter: promote %s: %w", w.path, err)
	}
	l, err := m.Lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("counter: promote %s to lock %s: %w", w.path, w.o.lockPath, err)
	}
	w.o.logger.Debug("counter: promoted to lock", "path", w.path, "lock", w.o.lockPath)
	return l, nil
}

// isConflict reports whether err is a concurrent write's doing.
func isConflict(err error) bool {
	return errors.Is(err, backend.ErrBadVersion) || errors.Is(err, backend.ErrNodeExists) || errors.Is(err, backend.ErrNoNode)
}

// plain writes without the marker (WithAmbiguousOutcome): a conditional set,
// or a create. The backend's retry settles a lost reply to a conditional
// set where it can; where it cannot, the error matches
// backend.ErrOutcomeUnknown and is returned.
func (w *writer) plain(ctx context.Context, op string, cur, next []byte, st backend.Stat, exists bool) (written, outcome, error) {
	w.hook()
	if exists {
		nst, err := w.s.Set(ctx, w.path, next, st.Version)
		if err != nil {
			if isConflict(err) && !errors.Is(err, backend.ErrOutcomeUnknown) {
				return written{}, conflicted, err
			}
			if interrupted(ctx, err) {
				return written{}, failed, fmt.Errorf("counter: %s %s: %w: %w", op, w.path, backend.ErrOutcomeUnknown, err)
			}
			return written{}, failed, fmt.Errorf("counter: %s %s: %w", op, w.path, err)
		}
		return written{pre: cur, post: next, token: nst.ModifyToken}, landed, nil
	}
	var cst backend.Stat
	_, err := w.s.Create(ctx, w.path, next, backend.Persistent, backend.WithParents(backend.Container), backend.CreatedStat(&cst))
	if err != nil {
		if errors.Is(err, backend.ErrNodeExists) {
			return written{}, conflicted, err
		}
		if interrupted(ctx, err) {
			return written{}, failed, fmt.Errorf("counter: %s %s: %w: %w", op, w.path, backend.ErrOutcomeUnknown, err)
		}
		return written{}, failed, fmt.Errorf("counter: %s %s: %w", op, w.path, err)
	}
	token := cst.ModifyToken
	if cst.CreateToken == 0 {
		token = w.tokenOf(ctx, w.path)
	}
	return written{pre: nil, post: next, token: token}, landed, nil
}

// interrupted reports whether a write failed because ctx ended: the
// backends return at once then, but a request already sent still reaches
// the server and may land (backend/zk's doc, "Calls and contexts"), so the
// write's outcome is unknown. A request not sent yet counts too: the
// error cannot tell them apart.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

func (w *writer) hook() {
	if w.beforeWrite != nil {
		w.beforeWrite()
	}
}

// tokenOf reads the ModifyToken of a node a write just made, for backends
// whose create reply does not carry it; 0 if it cannot be read (the write
// landed all the same).
func (w *writer) tokenOf(ctx context.Context, path string) int64 {
	st, err := w.s.Exists(ctx, path)
	if err != nil || st == nil {
		w.o.logger.Warn("counter: cannot read the token of a write that landed", "path", path, "err", err)
		return 0
	}
	return st.ModifyToken
}

// newOpID returns a fresh id for one write attempt, stored in the marker.
func newOpID() []byte { return []byte(backend.NewGUID()) }

// marked writes together with the writer marker, in one Multi. A lost
// reply is settled by reading the marker back (see the package
// documentation); attempts not found applied stay in pending, so a late
// landing one is still recognised.
func (w *writer) marked(ctx context.Context, op string, cur, next []byte, st backend.Stat, exists bool, pending map[string]attempt) (written, outcome, error) {
	id := newOpID()
	var ops []backend.Op
	if exists {
		if !w.markerOK {
			data, mst, err := w.makeMarker(ctx)
			if err != nil {
				if errors.Is(err, backend.ErrNoNode) {
					return written{}, again, err // the counter was deleted meanwhile
				}
				return written{}, failed, fmt.Errorf("counter: %s %s: marker: %w", op, w.path, err)
			}
			if a, ok := pending[string(data)]; ok {
				// A create of counter and marker whose reply was lost
				// landed after it was looked for.
				return written{pre: a.pre, post: a.post, token: mst.ModifyToken}, landed, nil
			}
		}
		ops = w.setOps(st.Version, next, id)
	} else {
		// The marker cannot exist under an absent counter: make both.
		w.markerOK = false
		ops = []backend.Op{
			backend.CreateOp{Path: w.path, Data: next, Mode: backend.Persistent},
			backend.CreateOp{Path: w.marker, Data: id, Mode: backend.Ephemeral},
		}
	}
	w.hook()
	res, err := w.s.Multi(ctx, ops...)
	if err == nil {
		w.markerOK = true
		if exists {
			w.markerVer = res[1].Stat.Version
			return written{pre: cur, post: next, token: res[0].Stat.ModifyToken, version: res[0].Stat.Version, versionKnown: true}, landed, nil
		}
		w.markerVer = 0
		return written{pre: nil, post: next, token: w.tokenOf(ctx, w.marker), version: 0, versionKnown: true}, landed, nil
	}
	var me *backend.MultiError
	switch {
	case errors.Is(err, backend.ErrConnectionLoss):
		// ErrOutcomeUnknown matches ErrConnectionLoss too.
		pending[string(id)] = attempt{pre: cur, post: next}
		return w.settle(ctx, op, pending, err)
	case interrupted(ctx, err):
		// The request may be on its way and land: write's fail marks
		// the call ErrOutcomeUnknown, since ctx cannot read it back.
		pending[string(id)] = attempt{pre: cur, post: next}
		return written{}, failed, fmt.Errorf("counter: %s %s: %w", op, w.path, err)
	case errors.As(err, &me) && me.Index == 0 && isConflict(err):
		if !exists && errors.Is(err, backend.ErrNoNode) {
			// The parent is missing: make it (Container, as Curator's
			// creatingParentContainersIfNeeded does) and try at once.
			if perr := w.makeParent(ctx); perr != nil {
				return written{}, failed, fmt.Errorf("counter: %s %s: %w", op, w.path, perr)
			}
			return written{}, again, err
		}
		return written{}, conflicted, err
	case errors.As(err, &me) && me.Index == 1 && isConflict(err):
		// The marker is not as we last saw it: an earlier attempt whose
		// reply was lost may have landed since, or the marker was removed.
		return w.settle(ctx, op, pending, err)
	}
	return written{}, failed, fmt.Errorf("counter: %s %s: %w", op, w.path, err)
}

// setOps is one write of next to the existing counter at version v,
// together with the marker's: its data the attempt's id, its version the
// one last seen, so that two attempts based on the same marker state cannot
// both land, whatever the counter's version.
func (w *writer) setOps(v int32, next, id []byte) []backend.Op {
	return []backend.Op{
		backend.SetOp{Path: w.path, Data: next, Version: v},
		backend.SetOp{Path: w.marker, Data: id, Version: w.markerVer},
	}
}

// settle reads the marker: if it holds the id of a pending attempt, that
// attempt landed (and no other can: each carried the marker version seen
// before it, which the landing one moved on). Otherwise none has landed
// yet, and the next try uses the marker's version as read, so at most one
// of all the attempts ever lands.
func (w *writer) settle(ctx context.Context, op string, pending map[string]attempt, cause error) (written, outcome, error) {
	data, st, err := w.s.Get(ctx, w.marker)
	switch {
	case errors.Is(err, backend.ErrNoNode):
		w.markerOK = false
		return written{}, again, cause
	case err != nil:
		return written{}, failed, fmt.Errorf("counter: %s %s: reading the marker %s back: %w (after: %w)", op, w.path, w.marker, err, cause)
	}
	w.markerOK, w.markerVer = true, st.Version
	if a, ok := pending[string(data)]; ok {
		w.o.logger.Debug("counter: a write whose reply was lost had landed", "op", op, "path", w.path)
		return written{pre: a.pre, post: a.post, token: st.ModifyToken}, landed, nil
	}
	w.o.logger.Debug("counter: a write whose reply was lost had not landed; trying again", "op", op, "path", w.path, "cause", cause)
	return written{}, again, cause
}

// makeMarker creates the writer marker under the existing counter, or
// finds it made by an earlier create whose reply was lost, and returns its
// data and stat.
func (w *writer) makeMarker(ctx context.Context) ([]byte, backend.Stat, error) {
	guid := w.marker[len(w.marker)-16:]
	_, err := backend.CreateWithGUID(ctx, w.s, w.marker, guid, nil, backend.Ephemeral)
	if errors.Is(err, backend.ErrNodeExists) {
		data, st, gerr := w.s.Get(ctx, w.marker)
		if gerr != nil {
			return nil, st, gerr
		}
		if st.EphemeralOwner != w.s.ID() {
			return nil, st, fmt.Errorf("%w: owned by session %#x", err, st.EphemeralOwner)
		}
		w.markerOK, w.markerVer = true, st.Version
		return data, st, nil
	}
	if err != nil {
		return nil, backend.Stat{}, err
	}
	w.markerOK, w.markerVer = true, 0
	return nil, backend.Stat{}, nil
}

func (w *writer) makeParent(ctx context.Context) error {
	parent := backend.Parent(w.path)
	if parent == "/" {
		return nil
	}
	_, err := w.s.Create(ctx, parent, nil, backend.Container, backend.WithParents(backend.Container))
	if err == nil || errors.Is(err, backend.ErrNodeExists) {
		return nil
	}
	if errors.Is(err, backend.ErrOutcomeUnknown) {
		return nil // the next try finds out
	}
	return err
}
