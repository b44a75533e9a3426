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

// GetW is Get plus a one-shot watch on the node: one read, then an etcd
// watch of D(p) from the read's revision + 1, so no change falls between
// them (and etcd sends the watch's events at once: a watch that starts at
// or below the current revision waits for etcd's 100 ms catch-up tick).
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
	n, err := s.c.readNode(octx, full, readOpts{})
	if err != nil {
		return nil, backend.Stat{}, nil, s.fail(ctx, op, path, err)
	}
	if !n.exists() {
		return nil, backend.Stat{}, nil, backend.Errorf(op, path, backend.ErrNoNode, nil)
	}
	st, data := n.stat()
	ch, err := s.watchData(ctx, op, path, full, &n)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return data, st, ch, nil
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
	n, err := s.c.readNode(octx, full, readOpts{})
	if err != nil {
		return nil, nil, s.fail(ctx, op, path, err)
	}
	ch, err := s.watchData(ctx, op, path, full, &n)
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
// range and the node's own key, both from the listing's revision + 1.
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
	names, n, err := s.c.children(octx, full)
	if err != nil {
		return nil, backend.Stat{}, nil, s.fail(ctx, op, path, err)
	}
	st, _ := n.stat()
	s.c.noteCounter(&n.nodeState)
	ch, err := s.watchChildren(ctx, op, path, full, &n)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return names, st, ch, nil
}

// watchChildren starts the one-shot watch of ChildrenW on a node listed as n.
func (s *Session) watchChildren(ctx context.Context, op, path, full string, n *nodeRead) (<-chan backend.Event, error) {
	ctoken, digest := n.createToken(), n.digest
	var watches []shotWatch
	if cp, ok := childPrefix(full); ok {
		watches = append(watches, shotWatch{key: cp, end: prefixEnd(cp), classify: classifyChild})
	}
	watches = append(watches, shotWatch{key: dataKey(full), classify: func(ev *clientv3.Event) backend.EventType {
		if t := classifyData(full, ev); t == backend.EventDeleted {
			return t
		}
		return 0
	}})
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
	return s.startShot(ctx, op, path, n.rev+1, watches, recheck)
}

// watchData starts the one-shot watch of GetW and ExistsW on a node read as n.
func (s *Session) watchData(ctx context.Context, op, path, full string, n *nodeRead) (<-chan backend.Event, error) {
	existed := n.exists()
	ctoken := n.createToken()
	var mod int64
	if n.d != nil {
		mod = n.d.ModRevision
	}
	watches := []shotWatch{{key: dataKey(full), classify: func(ev *clientv3.Event) backend.EventType {
		return classifyData(full, ev)
	}}}
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
	return s.startShot(ctx, op, path, n.rev+1, watches, recheck)
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

// startShot starts a one-shot watch in a goroutine of the session.
func (s *Session) startShot(ctx context.Context, op, path string, from int64, watches []shotWatch, recheck recheckFunc) (<-chan backend.Event, error) {
	out := make(chan backend.Event, 1)
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	ok := s.spawn(func() {
		defer cancel()
		defer stop()
		defer close(out)
		typ, err := s.runShot(wctx, from, watches, recheck)
		if typ == 0 {
			typ, err = backend.EventNotWatching, s.watchEndErr(ctx)
		}
		out <- backend.Event{Type: typ, Path: path, Err: err}
	})
	if !ok {
		stop()
		cancel()
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

// runShot watches until the first event that means something, and returns
// its type; 0 when ctx ended first.
func (s *Session) runShot(ctx context.Context, from int64, watches []shotWatch, recheck recheckFunc) (backend.EventType, error) {
	next := from
	for ctx.Err() == nil {
		ictx, icancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		chans := make([]clientv3.WatchChan, 2)
		for i, w := range watches {
			opts := []clientv3.OpOption{clientv3.WithRev(next)}
			if w.end != "" {
				opts = append(opts, clientv3.WithRange(w.end))
			}
			chans[i] = s.c.cli.Watch(ictx, w.key, opts...)
		}
		typ, err := waitShot(ctx, chans, watches)
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

// waitShot reads the watches until an event that means something, ctx's
// end, or an error of a watch (returned). The first watch wins ties: an
// event of the second is held back while the first has one at the same
// revision or before (a Multi deleting a node's last child and the node).
func waitShot(ctx context.Context, chans []clientv3.WatchChan, watches []shotWatch) (backend.EventType, error) {
	first := func(resp clientv3.WatchResponse, w shotWatch, upTo int64) backend.EventType {
		for _, ev := range resp.Events {
			if upTo > 0 && ev.Kv.ModRevision > upTo {
				break
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
