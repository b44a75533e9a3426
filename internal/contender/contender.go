package contender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ErrGone is the error Wait returns when the contender's own node is no
// longer there: its session ended, or someone deleted it.
var ErrGone = errors.New("contender: node gone")

// CleanupTimeout bounds the best-effort delete of a contender's node after
// its context ended or its session was lost.
const CleanupTimeout = 10 * time.Second

// Layout names contender nodes and reads their order back from the names.
type Layout struct {
	// GUID returns a fresh GUID in the form the layout puts in names.
	GUID func() string
	// Name returns the name a contender with this GUID creates; the backend
	// appends the sequence suffix.
	Name func(guid string) string
	// Sequence returns the ordering number of a child name, or false when the
	// name is not a contender node of this layout (it is then ignored).
	Sequence func(name string) (int64, bool)
}

// Valid reports whether every function of the layout is set.
func (l Layout) Valid() bool { return l.GUID != nil && l.Name != nil && l.Sequence != nil }

// MarkerSequence returns a Sequence function reading the number after the
// last occurrence of marker, up to the end of the name, in the order
// ZooKeeper assigns them (SequenceOrder).
func MarkerSequence(marker string) func(string) (int64, bool) {
	return func(name string) (int64, bool) {
		i := strings.LastIndex(name, marker)
		if i < 0 {
			return 0, false
		}
		return SequenceOrder(name[i+len(marker):])
	}
}

// SequenceOrder reads a sequence suffix and returns its place in the order
// the server hands them out. ZooKeeper's counter is a signed 32-bit number
// printed with "%010d": after 2147483647 come -2147483648 ("-2147483648")
// up to -1 ("-000000001"), so a negative suffix ranks as its value plus
// 2^32, after every positive one (kazoo compared them as strings and
// re-elected forever past the wrap, kazoo#730). A suffix that is not an
// optional minus sign and digits within 32 bits is not a sequence.
func SequenceOrder(suffix string) (int64, bool) {
	digits := strings.TrimPrefix(suffix, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil || n < math.MinInt32 || n > math.MaxUint32 {
		return 0, false
	}
	if n < 0 {
		n += 1 << 32
	}
	return n, true
}

// CuratorLayout returns the layout of Curator's protected lock nodes:
// "_c_<guid>-<name>-<10 digits>" ordered by the digits after "<name>-".
// Curator's InterProcessMutex uses name "lock".
func CuratorLayout(name string) Layout {
	marker := name + "-"
	return Layout{
		GUID:     backend.NewGUID,
		Name:     func(guid string) string { return backend.ProtectedName(guid, marker) },
		Sequence: MarkerSequence(marker),
	}
}

// KazooLayout returns the layout of kazoo's lock nodes:
// "<32 hex digits>__<name>__<10 digits>" ordered by the digits after
// "__<name>__". kazoo's Lock uses name "lock".
func KazooLayout(name string) Layout {
	marker := "__" + name + "__"
	return Layout{
		GUID:     func() string { return strings.ReplaceAll(backend.NewGUID(), "-", "") },
		Name:     func(guid string) string { return guid + marker },
		Sequence: MarkerSequence(marker),
	}
}

// Entry is one recognised node of the queue.
type Entry struct {
	Name string // the child's name
	Seq  int64  // its ordering number
}

// BlockedBy returns the name of the node that must go before the contender
// at queue[self] may proceed, or "" when it may proceed now. queue is in
// order, first first.
type BlockedBy func(queue []Entry, self int) string

// Predecessor is the rule of an exclusive lock: only the first may proceed,
// and each waits for the node just before it.
func Predecessor(queue []Entry, self int) string {
	if self == 0 {
		return ""
	}
	return queue[self-1].Name
}

// Hooks observe a contender's waiting, for tests. Each may be nil.
type Hooks struct {
	// Watching is called when a predecessor watch is set on the node at path.
	Watching func(path string)
	// Woken is called when a predecessor watch fires (not when it merely ends).
	Woken func(path string)
}

// Config is what a contender needs. Dir, Layout and BlockedBy are required.
type Config struct {
	Dir       string        // the queue's directory node
	Layout    Layout        // node names and order
	BlockedBy BlockedBy     // who blocks whom; Predecessor for a plain lock
	Data      []byte        // the node's data
	ACL       []backend.ACL // the node's and the created parents' ACL; nil: the session's default
	Logger    *slog.Logger  // nil discards
	Hooks     Hooks
}

// Queue lists the recognised children of dir in queue order, with their
// names; unrecognised names are left out.
func Queue(children []string, l Layout) []Entry {
	q := make([]Entry, 0, len(children))
	for _, c := range children {
		if n, ok := l.Sequence(c); ok {
			q = append(q, Entry{Name: c, Seq: n})
		}
	}
	slices.SortFunc(q, func(a, b Entry) int {
		if a.Seq != b.Seq {
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return q
}

// Contender is one node in a queue. Its methods are not safe for concurrent
// use; the recipe owning it serialises them.
type Contender struct {
	s    backend.Session
	cfg  Config
	log  *slog.Logger
	path string // the node's full path
	name string // its base name

	// own is the node's stat, read once on the live session before the
	// first wait (nil until then): it carries the create token and shows the
	// session owns the node. A later listing that still holds the node's
	// name then proves the node is there, with no second read of it.
	own *backend.Stat
	// watch is the data watch that read set on the node, for the holder's
	// monitor to start on (TakeWatch), so that a grant costs no second read
	// of the node; nil once taken or dropped.
	watch *ownWatch
}

// ownWatch is a data watch on the contender's own node and the data the
// read that set it returned.
type ownWatch struct {
	data   []byte
	events <-chan backend.Event
	stop   context.CancelFunc
}

// Join creates the contender's node under cfg.Dir and returns the contender.
// It does not wait.
func Join(ctx context.Context, s backend.Session, cfg Config) (*Contender, error) {
	if !cfg.Layout.Valid() || cfg.BlockedBy == nil {
		return nil, errors.New("contender: config needs a layout and a BlockedBy rule")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	guid := cfg.Layout.GUID()
	p := backend.Join(cfg.Dir, cfg.Layout.Name(guid))
	// The create runs on a context of its own, so that it always ends with
	// a known outcome. When the caller's ctx ends first, Join returns at
	// once and the create's outcome is cleaned up after it: a node that got
	// created is deleted by its path. Cleaning up by a search instead, while
	// the create may still be on its way, could miss it (on ZooKeeper a later
	// request can overtake a pending one, on etcd a cancelled request can
	// still be applied), and a stray node would queue ahead of everyone until
	// the session ends. While the caller waits, the create has no deadline
	// but the caller's: a Lock without a deadline gets its node or a real
	// error, never an internal timeout (issue 12). Once the caller has gone,
	// the create gets CleanupTimeout more to end.
	type outcome struct {
		path string
		err  error
	}
	done := make(chan outcome, 1)
	opts := []backend.CreateOption{backend.WithParents(backend.Container)}
	if cfg.ACL != nil {
		opts = append(opts, backend.WithACL(cfg.ACL...)) // the parents' too
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer cancel()
		// The stat the create gives (backend.CreatedStat) is not used
		// yet (see the package documentation): the node is read back.
		created, err := backend.CreateWithGUID(cctx, s, p, guid, cfg.Data, backend.EphemeralSequential, opts...)
		done <- outcome{created, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		bound := time.AfterFunc(CleanupTimeout, cancel)
		go func() {
			o := <-done
			bound.Stop()
			if o.err == nil {
				log.Debug("contender: deleting a node created after its context ended", "path", o.path)
				removeAbandoned(s, o.path, log)
			} else {
				abandon(s, cfg.Dir, guid, log)
			}
		}()
		return nil, ctx.Err()
	}
	if o.err != nil {
		// The create may have landed although the call failed (its reply
		// was lost and the search gave up): remove what carries our GUID.
		abandon(s, cfg.Dir, guid, log)
		return nil, o.err
	}
	log.Debug("contender joined", "path", o.path)
	return &Contender{s: s, cfg: cfg, log: log, path: o.path, name: backend.Base(o.path)}, nil
}

// removeAbandoned deletes node, created for a contender that gave up, with a
// fresh bounded context.
func removeAbandoned(s backend.Session, node string, log *slog.Logger) {
	if s.Err() != nil {
		return // the session's ephemeral nodes go with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	if err := s.Delete(ctx, node, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
		log.Warn("contender: deleting an abandoned node failed", "node", node, "err", err)
	}
}

// abandon deletes the nodes under dir whose names carry guid, with a fresh
// bounded context. It runs only after the create call has returned, so the
// search sees the create if it was applied.
func abandon(s backend.Session, dir, guid string, log *slog.Logger) {
	if s.Err() != nil {
		return // the session's ephemeral nodes go with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	kids, _, err := s.Children(ctx, dir)
	if err != nil {
		if !errors.Is(err, backend.ErrNoNode) {
			log.Warn("contender: looking for an abandoned node failed", "dir", dir, "err", err)
		}
		return
	}
	for _, k := range kids {
		if strings.Contains(k, guid) {
			if err := s.Delete(ctx, backend.Join(dir, k), backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
				log.Warn("contender: deleting an abandoned node failed", "node", k, "err", err)
			}
		}
	}
}

// Path returns the full path of the contender's node.
func (c *Contender) Path() string { return c.path }

// Name returns the name of the contender's node.
func (c *Contender) Name() string { return c.name }

// Check looks at the queue once. It returns the queue, the contender's
// position in it and the name of the node blocking it ("" when none).
// A contender whose node is not in the queue gets ErrGone.
func (c *Contender) Check(ctx context.Context) (queue []Entry, self int, blocker string, err error) {
	children, _, err := c.s.Children(ctx, c.cfg.Dir)
	if err != nil {
		return nil, -1, "", err
	}
	queue = Queue(children, c.cfg.Layout)
	self = slices.IndexFunc(queue, func(e Entry) bool { return e.Name == c.name })
	if self < 0 {
		return queue, -1, "", fmt.Errorf("%w: %s is not among the children of %s", ErrGone, c.path, c.cfg.Dir)
	}
	return queue, self, c.cfg.BlockedBy(queue, self), nil
}

// Wait blocks until nothing blocks the contender, ctx ends or the session
// ends. On success it returns the stat of its own node, read back on the
// live session and owned by it: read when Wait first finds itself blocked
// (off the hand-off path) or, when nothing blocked it at the first look,
// right then. After a wake-up, the listing that shows nothing blocks it also
// shows its node is still there, and the session is checked alive after that
// listing, so the hand-off costs one read. The stat's create token is the
// node's; its data version is as of that read. On failure the node is deleted
// (best effort) and the error returned; ErrGone when the node vanished.
func (c *Contender) Wait(ctx context.Context) (backend.Stat, error) {
	st, err := c.wait(ctx)
	if err != nil {
		if cerr := c.Leave(); cerr != nil {
			c.log.Warn("contender: cleanup failed", "path", c.path, "err", cerr)
		}
		return backend.Stat{}, err
	}
	return st, nil
}

func (c *Contender) wait(ctx context.Context) (backend.Stat, error) {
	for {
		if err := c.alive(ctx); err != nil {
			return backend.Stat{}, err
		}
		_, _, blocker, err := c.Check(ctx)
		if err != nil {
			return backend.Stat{}, err
		}
		if blocker == "" {
			if c.own == nil {
				return c.confirm(ctx) // not blocked on the first look: read the node now
			}
			// The listing just read holds the node's name, so the node was
			// there at the listing; its name carries our GUID and the read
			// before the wait showed this session owns it. The session must
			// still be alive now, after the listing.
			if serr := c.s.Err(); serr != nil {
				return backend.Stat{}, serr
			}
			return *c.own, nil
		}
		if c.own == nil {
			// Blocked: read the node back before waiting, so the hand-off
			// after the wake-up costs one listing and no read of the node.
			st, err := c.confirm(ctx)
			if err != nil {
				return backend.Stat{}, err
			}
			c.own = &st
		}
		if err := c.waitFor(ctx, backend.Join(c.cfg.Dir, blocker)); err != nil {
			return backend.Stat{}, err
		}
	}
}

// Try looks at the queue once, without waiting: one listing, and when
// nothing blocks the contender, one read of its node back (as Wait does)
// whose stat it returns with blocker "". When something blocks it, it
// returns the queue and the blocker's name and leaves the node in place for
// the caller to Leave. On an error the node is deleted (best effort).
func (c *Contender) Try(ctx context.Context) (st backend.Stat, queue []Entry, blocker string, err error) {
	defer func() {
		if err != nil {
			if cerr := c.Leave(); cerr != nil {
				c.log.Warn("contender: cleanup failed", "path", c.path, "err", cerr)
			}
		}
	}()
	if err := c.alive(ctx); err != nil {
		return backend.Stat{}, nil, "", err
	}
	queue, _, blocker, err = c.Check(ctx)
	if err != nil || blocker != "" {
		return backend.Stat{}, queue, blocker, err
	}
	st, err = c.confirm(ctx)
	return st, queue, "", err
}

// Confirm reads the contender's node back on the live session, as Wait does
// before it reports success, for callers that decided from a listing of
// their own that nothing blocks it. On failure the node is deleted (best
// effort).
func (c *Contender) Confirm(ctx context.Context) (backend.Stat, error) {
	st, err := c.confirm(ctx)
	if err != nil {
		if cerr := c.Leave(); cerr != nil {
			c.log.Warn("contender: cleanup failed", "path", c.path, "err", cerr)
		}
	}
	return st, err
}

// alive returns why waiting must stop: ctx ended or the session ended.
func (c *Contender) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.Err()
}

// confirm reads the contender's node back: it must exist, belong to the
// live session, and the session must still be alive after the read. The
// read sets a data watch on the node (GetW), kept for TakeWatch: the
// holder's monitor starts on it instead of reading the node again. The
// watch outlives ctx; TakeWatch hands it over, Delete and Leave end it.
func (c *Contender) confirm(ctx context.Context) (backend.Stat, error) {
	c.dropWatch()
	// The watch's context ends with ctx during the read, and only then.
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, stop)
	data, st, events, err := c.s.GetW(wctx, c.path)
	if !unhook() && err == nil {
		err = ctx.Err() // ctx ended during the read: the watch is gone
	}
	if err != nil {
		stop()
		if errors.Is(err, backend.ErrNoNode) {
			if serr := c.s.Err(); serr != nil {
				return backend.Stat{}, serr
			}
			return backend.Stat{}, fmt.Errorf("%w: %s", ErrGone, c.path)
		}
		return backend.Stat{}, err
	}
	if serr := c.s.Err(); serr != nil {
		stop()
		return backend.Stat{}, serr
	}
	if st.EphemeralOwner != c.s.ID() {
		stop()
		return backend.Stat{}, fmt.Errorf("%w: %s is owned by session %#x, not %#x", ErrGone, c.path, st.EphemeralOwner, c.s.ID())
	}
	c.watch = &ownWatch{data: data, events: events, stop: stop}
	return st, nil
}

// TakeWatch hands over the data watch the contender's last read-back set
// on its node, with the data that read returned, to a holder's monitor
// (grant.Config.Watch): stop ends it. A contender whose node was never read
// back, or whose watch was taken or dropped, returns a nil channel.
func (c *Contender) TakeWatch() (data []byte, events <-chan backend.Event, stop func()) {
	w := c.watch
	c.watch = nil
	if w == nil {
		return nil, nil, func() {}
	}
	return w.data, w.events, w.stop
}

// dropWatch ends the read-back's watch, if no one took it.
func (c *Contender) dropWatch() {
	if c.watch != nil {
		c.watch.stop()
		c.watch = nil
	}
}

// waitFor sets a data watch on the blocking node and waits for it to fire.
// A node already gone returns at once so the caller looks again.
func (c *Contender) waitFor(ctx context.Context, blocker string) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the watch if it has not fired
	_, _, events, err := c.s.GetW(wctx, blocker)
	if errors.Is(err, backend.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	if h := c.cfg.Hooks.Watching; h != nil {
		h(blocker)
	}
	c.log.Debug("contender waiting", "path", c.path, "blocker", blocker)
	select {
	case ev := <-events:
		if ev.Type != backend.EventNotWatching {
			if h := c.cfg.Hooks.Woken; h != nil {
				h(blocker)
			}
		}
		return nil // look again; alive() says whether to stop
	case <-ctx.Done():
		return ctx.Err()
	case <-c.s.Done():
		return c.s.Err()
	}
}

// Leave deletes the contender's node, with a fresh context bounded by
// CleanupTimeout. A node already gone is not an error. The node's name
// carries the contender's GUID, so no other contender's node can be deleted.
// A delete whose outcome is unknown is tried again.
func (c *Contender) Leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	return c.Delete(ctx)
}

// Delete deletes the contender's node, bounded by ctx. A node already gone
// is not an error; a delete whose outcome is unknown is tried again.
func (c *Contender) Delete(ctx context.Context) error {
	c.dropWatch()
	for {
		if c.s.Err() != nil {
			return nil // the session's end removed the ephemeral node
		}
		err := c.s.Delete(ctx, c.path, backend.AnyVersion)
		switch {
		case err == nil, errors.Is(err, backend.ErrNoNode):
			return nil
		case errors.Is(err, backend.ErrSessionExpired), errors.Is(err, backend.ErrClosed):
			return nil
		case errors.Is(err, backend.ErrConnectionLoss) && ctx.Err() == nil:
			if _, werr := backend.WaitState(ctx, c.s, backend.Connected, backend.Reconnected); werr != nil {
				if c.s.Err() != nil {
					return nil
				}
				return werr
			}
			// The state may say connected while calls still fail: back off.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		default:
			return err
		}
	}
}

// MarkersSequence returns a Sequence function that recognises a name by any
// of the markers: the number after the marker's last occurrence, up to the
// end of the name. Nodes of several kinds (a read-write lock's readers and
// writers) then share one queue, ordered by their numbers alone.
func MarkersSequence(markers ...string) func(string) (int64, bool) {
	seqs := make([]func(string) (int64, bool), len(markers))
	for i, m := range markers {
		seqs[i] = MarkerSequence(m)
	}
	return func(name string) (int64, bool) {
		for _, seq := range seqs {
			if n, ok := seq(name); ok {
				return n, true
			}
		}
		return 0, false
	}
}

// NearestAhead returns the rule of a contender that waits only for nodes
// blocking is true of: it is blocked by the nearest such node ahead of it in
// the queue, and by nothing behind it. A read-write lock's reader uses it
// with "is a writer": readers ahead do not block it, later writers never do.
func NearestAhead(blocking func(name string) bool) BlockedBy {
	return func(queue []Entry, self int) string {
		for i := self - 1; i >= 0; i-- {
			if blocking(queue[i].Name) {
				return queue[i].Name
			}
		}
		return ""
	}
}
