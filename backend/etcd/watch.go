package etcd

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// GetW is Get plus a one-shot watch on the node. The etcd watch of D(p) is
// opened first, from the current revision, and the read is made once etcd
// has acknowledged it, so no change falls between them: the watch's events
// up to the read's revision are already in what the read returned and are
// skipped. A watch opened this way is in etcd's synced set at once; one
// opened after the read, from the read's revision + 1, is usually already
// behind on a busy server, and etcd then delivers its events only on its
// 100 ms catch-up tick (issue 12: that tick was the whole of a lock
// hand-off under contention).
func (s *Session) GetW(ctx context.Context, path string) ([]byte, backend.Stat, <-chan backend.Event, error) {
	const op = "getw"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, nil, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	o := s.openShot(ctx, dataWatches(full))
	n, err := s.readAfter(octx, o, full, readOpts{})
	if err != nil {
		o.close()
		return nil, backend.Stat{}, nil, s.fail(ctx, op, path, err)
	}
	if !n.exists() {
		o.close()
		return nil, backend.Stat{}, nil, backend.Errorf(op, path, backend.ErrNoNode, nil)
	}
	st, data := n.stat()
	ch, err := s.watchData(ctx, op, path, full, &n, o)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return data, st, ch, nil
}

// readAfter reads node p once the watches of o are open (or have failed to
// open: the watch then starts from the read's revision + 1 instead).
func (s *Session) readAfter(ctx context.Context, o *openedShot, p string, ro readOpts) (nodeRead, error) {
	if err := o.await(ctx); err != nil {
		return nodeRead{}, err
	}
	return s.c.readNode(ctx, p, ro)
}

// ExistsW is Exists plus a one-shot watch: EventCreated if the node did not
// exist, EventDataChanged or EventDeleted if it did.
func (s *Session) ExistsW(ctx context.Context, path string) (*backend.Stat, <-chan backend.Event, error) {
	const op = "existsw"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, nil, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, nil, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	o := s.openShot(ctx, dataWatches(full))
	n, err := s.readAfter(octx, o, full, readOpts{})
	if err != nil {
		o.close()
		return nil, nil, s.fail(ctx, op, path, err)
	}
	ch, err := s.watchData(ctx, op, path, full, &n, o)
	if err != nil {
		return nil, nil, err
	}
	if !n.exists() {
		return nil, ch, nil
	}
	st, _ := n.stat()
	return &st, ch, nil
}

// ChildrenW is Children plus a one-shot watch: EventChildrenChanged when a
// child is created or deleted (data changes of children do not count),
// EventDeleted when the node itself is. It watches the children's key
// range and the node's own key, opened before the listing as GetW's.
func (s *Session) ChildrenW(ctx context.Context, path string) ([]string, backend.Stat, <-chan backend.Event, error) {
	const op = "childrenw"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, nil, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	o := s.openShot(ctx, childWatches(full))
	if err := o.await(octx); err != nil {
		o.close()
		return nil, backend.Stat{}, nil, s.fail(ctx, op, path, err)
	}
	names, n, err := s.c.children(octx, full)
	if err != nil {
		o.close()
		return nil, backend.Stat{}, nil, s.fail(ctx, op, path, err)
	}
	st, _ := n.stat()
	s.c.noteCounter(&n.nodeState)
	ch, err := s.watchChildren(ctx, op, path, full, &n, o)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return names, st, ch, nil
}

// childWatches are the etcd watches of ChildrenW on node full: its
// children's range and its own data key.
func childWatches(full string) []shotWatch {
	var watches []shotWatch
	if cp, ok := childPrefix(full); ok {
		watches = append(watches, shotWatch{key: cp, end: prefixEnd(cp), classify: classifyChild})
	}
	return append(watches, shotWatch{key: dataKey(full), classify: func(ev *clientv3.Event) backend.EventType {
		if t := classifyData(full, ev); t == backend.EventDeleted {
			return t
		}
		return 0
	}})
}

// dataWatches are the etcd watch of GetW and ExistsW on node full.
func dataWatches(full string) []shotWatch {
	return []shotWatch{{key: dataKey(full), classify: func(ev *clientv3.Event) backend.EventType {
		return classifyData(full, ev)
	}}}
}

// watchChildren starts the one-shot watch of ChildrenW on a node listed as
// n, on the watches o opened before the listing (nil: from the listing's
// revision + 1).
func (s *Session) watchChildren(ctx context.Context, op, path, full string, n *nodeRead, o *openedShot) (<-chan backend.Event, error) {
	ctoken, digest := n.createToken(), n.digest
	watches := childWatches(full)
	recheck := func(ctx context.Context) (backend.EventType, int64, error) {
		_, now, err := s.c.children(ctx, full)
		switch {
		case errors.Is(err, backend.ErrNoNode):
			return backend.EventDeleted, 0, nil
		case err != nil:
			return 0, 0, err
		case now.createToken() != ctoken:
			return backend.EventDeleted, 0, nil
		case now.digest != digest:
			return backend.EventChildrenChanged, 0, nil
		}
		return 0, now.rev, nil
	}
	return s.startShot(ctx, op, path, n.rev, watches, recheck, o)
}

// watchData starts the one-shot watch of GetW and ExistsW on a node read as
// n, on the watch o opened before the read (nil: from the read's revision +
// 1).
func (s *Session) watchData(ctx context.Context, op, path, full string, n *nodeRead, o *openedShot) (<-chan backend.Event, error) {
	existed := n.exists()
	ctoken := n.createToken()
	var mod int64
	if n.d != nil {
		mod = n.d.ModRevision
	}
	watches := dataWatches(full)
	recheck := func(ctx context.Context) (backend.EventType, int64, error) {
		now, err := s.c.readNode(ctx, full, readOpts{noChildren: true})
		if err != nil {
			return 0, 0, err
		}
		var nmod int64
		if now.d != nil {
			nmod = now.d.ModRevision
		}
		switch {
		case !existed && now.exists():
			return backend.EventCreated, 0, nil
		case existed && !now.exists():
			return backend.EventDeleted, 0, nil
		case existed && now.createToken() != ctoken:
			return backend.EventDeleted, 0, nil
		case existed && nmod != mod:
			return backend.EventDataChanged, 0, nil
		}
		return 0, now.rev, nil
	}
	return s.startShot(ctx, op, path, n.rev, watches, recheck, o)
}

// classifyData says what an event on D(p) means to a data or exists watch.
func classifyData(p string, ev *clientv3.Event) backend.EventType {
	if p == "/" { // the root: its data key only ever changes with a set
		if ev.Type == mvccpb.PUT {
			return backend.EventDataChanged
		}
		return 0
	}
	if ev.Type == mvccpb.DELETE {
		return backend.EventDeleted
	}
	if ev.Kv.Version == 1 {
		return backend.EventCreated
	}
	if h, _ := parseData(ev.Kv.Value); h.flags&flagRecreated != 0 {
		return backend.EventDeleted // deleted and created again in one Multi
	}
	return backend.EventDataChanged
}

// classifyChild says whether an event on a child's data key is a change of
// the parent's children: a create (first put, or a Multi's re-create) or a
// delete, not a data change.
func classifyChild(ev *clientv3.Event) backend.EventType {
	if ev.Type == mvccpb.DELETE || ev.Kv.Version == 1 {
		return backend.EventChildrenChanged
	}
	if h, _ := parseData(ev.Kv.Value); h.flags&flagRecreated != 0 {
		return backend.EventChildrenChanged
	}
	return 0
}

// shotWatch is one etcd watch of a one-shot watch: a key or range and what
// its events mean (0: nothing for this watch).
type shotWatch struct {
	key, end string
	classify func(*clientv3.Event) backend.EventType
}

// recheckFunc re-reads what a watch guards after etcd compacted the
// revisions it had to watch from: an event type if it changed, else the
// revision to watch from again (+1).
type recheckFunc func(ctx context.Context) (backend.EventType, int64, error)

// openedShot is the etcd watches of a one-shot watch, opened from the
// current revision before the read they guard.
type openedShot struct {
	ctx     context.Context // the watches' context: the caller's, ended with the session
	cancel  context.CancelFunc
	stop    func() bool // undoes the session's AfterFunc
	chans   []clientv3.WatchChan
	awaited bool
	ok      bool // every watch was acknowledged: chans carry everything after it
}

// openShot opens the etcd watches of a one-shot watch from the current
// revision, without waiting for them.
func (s *Session) openShot(ctx context.Context, watches []shotWatch) *openedShot {
	wctx, cancel := context.WithCancel(ctx)
	o := &openedShot{ctx: wctx, cancel: cancel, stop: context.AfterFunc(s.ctx, cancel)}
	ictx := clientv3.WithRequireLeader(wctx)
	for _, w := range watches {
		opts := []clientv3.OpOption{clientv3.WithCreatedNotify()}
		if w.end != "" {
			opts = append(opts, clientv3.WithRange(w.end))
		}
		o.chans = append(o.chans, s.c.cli.Watch(ictx, w.key, opts...))
	}
	return o
}

// await waits until etcd has acknowledged every watch of o: from then on,
// a read sees at least the revision the watches started after. A watch
// that failed to open is not an error: the one-shot watch then opens its
// watches again from the read's revision + 1, as before issue 12. Only
// ctx's end is.
func (o *openedShot) await(ctx context.Context) error {
	if o == nil || o.awaited {
		return nil
	}
	o.awaited = true
	for _, ch := range o.chans {
		select {
		case resp, ok := <-ch:
			if !ok || resp.Err() != nil || !resp.Created {
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	o.ok = true
	return nil
}

// close ends o's watches when no one-shot watch takes them over.
func (o *openedShot) close() {
	if o != nil {
		o.stop()
		o.cancel()
	}
}

// startShot starts a one-shot watch in a goroutine of the session, of what
// a read at revision read returned: on o's watches when they opened (their
// events up to read are skipped), else on watches from read + 1.
func (s *Session) startShot(ctx context.Context, op, path string, read int64, watches []shotWatch, recheck recheckFunc, o *openedShot) (<-chan backend.Event, error) {
	out := make(chan backend.Event, 1)
	if o == nil {
		o = &openedShot{}
		o.ctx, o.cancel = context.WithCancel(ctx)
		o.stop = context.AfterFunc(s.ctx, o.cancel)
	}
	ok := s.spawn(func() {
		defer o.cancel()
		defer o.stop()
		defer close(out)
		typ, err := s.runShot(o.ctx, read, watches, recheck, o)
		if typ == 0 {
			typ, err = backend.EventNotWatching, s.watchEndErr(ctx)
		}
		out <- backend.Event{Type: typ, Path: path, Err: err}
	})
	if !ok {
		o.close()
		return nil, backend.Errorf(op, path, s.watchEndErr(ctx), nil)
	}
	return out, nil
}

// watchEndErr says why a watch ended without an event.
func (s *Session) watchEndErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.endErr(); err != nil {
		return err
	}
	return backend.ErrClosed
}

// runShot watches until the first event after revision read that means
// something, and returns its type; 0 when ctx ended first. It starts on
// o's watches when they opened, and opens its own from the revision to
// watch from after a failure.
func (s *Session) runShot(ctx context.Context, read int64, watches []shotWatch, recheck recheckFunc, o *openedShot) (backend.EventType, error) {
	next := read + 1
	for ctx.Err() == nil {
		ictx, icancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		chans := make([]clientv3.WatchChan, 2)
		after := int64(0)
		if o != nil && o.ok {
			copy(chans, o.chans)
			after = read
		} else {
			for i, w := range watches {
				opts := []clientv3.OpOption{clientv3.WithRev(next)}
				if w.end != "" {
					opts = append(opts, clientv3.WithRange(w.end))
				}
				chans[i] = s.c.cli.Watch(ictx, w.key, opts...)
			}
		}
		o = nil // a watch opened again starts from next
		typ, err := waitShot(ctx, chans, watches, after)
		icancel()
		switch {
		case typ != 0:
			return typ, nil
		case ctx.Err() != nil:
			return 0, nil
		case errors.Is(err, rpctypes.ErrCompacted):
			// The revisions to watch from are gone: look at the state
			// itself, and watch on from now if nothing changed.
			for ctx.Err() == nil {
				t, rev, rerr := recheck(ctx)
				if rerr == nil {
					if t != 0 {
						return t, nil
					}
					next = rev + 1
					break
				}
				sleepCtx(ctx, 100*time.Millisecond)
			}
		default:
			// No leader, or the watch failed otherwise: watch again from
			// the same revision, so nothing is missed.
			s.c.log.Debug("etcd: re-opening a watch", "err", err)
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	return 0, nil
}

// waitShot reads the watches until an event after revision after that
// means something, ctx's end, or an error of a watch (returned). The first
// watch wins ties: an event of the second is held back while the first has
// one at the same revision or before (a Multi deleting a node's last child
// and the node).
func waitShot(ctx context.Context, chans []clientv3.WatchChan, watches []shotWatch, after int64) (backend.EventType, error) {
	first := func(resp clientv3.WatchResponse, w shotWatch, upTo int64) backend.EventType {
		for _, ev := range resp.Events {
			if upTo > 0 && ev.Kv.ModRevision > upTo {
				break
			}
			if ev.Kv.ModRevision <= after {
				continue
			}
			if t := w.classify(ev); t != 0 {
				return t
			}
		}
		return 0
	}
	for {
		select {
		case <-ctx.Done():
			return 0, nil
		case resp, ok := <-chans[0]:
			if !ok {
				return 0, errors.New("etcd: watch closed")
			}
			if err := resp.Err(); err != nil {
				return 0, err
			}
			if t := first(resp, watches[0], 0); t != 0 {
				return t, nil
			}
		case resp, ok := <-chans[1]:
			if !ok {
				return 0, errors.New("etcd: watch closed")
			}
			if err := resp.Err(); err != nil {
				return 0, err
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision <= after {
					continue
				}
				t := watches[1].classify(ev)
				if t == 0 {
					continue
				}
				select {
				case r0, ok := <-chans[0]:
					if ok && r0.Err() == nil {
						if t0 := first(r0, watches[0], ev.Kv.ModRevision); t0 != 0 {
							return t0, nil
						}
					}
				default:
				}
				return t, nil
			}
		}
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
