package etcd

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/zkrecipes/zkrecipes/backend"
)

// A tree watch on etcd 3.6 or later follows its subtree with two etcd
// watches per level (the data keys and the counter keys of that depth under
// the root) instead of the range of every key of those depths, so it
// receives only the subtree's changes. etcd orders events within one watch
// only; the levels' events are put back in revision order with progress
// notifications, on a gRPC stream of the tree watch's own: a notification
// at revision r, which etcd 3.6 and later send only once every watch of
// the stream has sent every event up to r, tells that no watch has an
// event up to r still to come. Older servers may send it earlier, so they
// get the single range. See the package documentation.

// maxLevels bounds the levels a tree watch follows with watches of their
// own; a subtree that grows deeper goes on with the single range.
const maxLevels = 8

// progressRetry is how long a tree watch waits for a progress notification
// before asking again: etcd drops the request while a watch of the stream
// is catching up.
const progressRetry = 100 * time.Millisecond

// errTooDeep: the subtree grew deeper than maxLevels.
var errTooDeep = errors.New("etcd: subtree deeper than the level watches follow")

// treeStreams numbers the gRPC streams of tree watches.
var treeStreams atomic.Int64

// levelWatch is one etcd watch of a tree watch's levels.
type levelWatch struct {
	frontier int64             // every event of this watch up to here has been received
	pending  []*clientv3.Event // received, not applied yet, in revision order
}

// levelResp is what a level watch's channel gave.
type levelResp struct {
	i    int
	resp clientv3.WatchResponse
	ok   bool // false: the channel closed
}

// levelRanges returns the key ranges watched for depth d of the subtree at
// root: the data keys and the counter keys (with extras and meta) of its
// nodes at that depth; for the root's own depth, the root's keys.
func levelRanges(root string, d int) [][2]string {
	if d == backend.Depth(root) {
		dk := dataKey(root)
		return [][2]string{{dk, dk + "\x00"}, {counterKey(root), counterEnd(root)}}
	}
	dp, cp := levelPrefix(root, d, typeData), levelPrefix(root, d, typeCounter)
	return [][2]string{{dp, prefixEnd(dp)}, {cp, prefixEnd(cp)}}
}

// levelsSupported reports whether every endpoint of the client runs etcd
// 3.6 or later, whose progress notifications the level watches rely on.
func (t *treeWatch) levelsSupported() bool {
	if t.hooks != nil && t.hooks.singleRange {
		return false
	}
	ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
	defer cancel()
	eps := t.s.c.cli.Endpoints()
	for _, ep := range eps {
		resp, err := t.s.c.cli.Status(ctx, ep)
		if err != nil || !versionAtLeast(resp.Version, 3, 6) {
			return false
		}
	}
	return len(eps) > 0
}

// versionAtLeast reports whether version v ("3.6.1") is major.minor or later.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// followLevels follows the subtree from revision next with the level
// watches until the tree watch's context ends (nil), an etcd watch fails
// (its error) or the subtree grows deeper than maxLevels (errTooDeep). It
// returns the revision to go on from: the first one not applied.
func (t *treeWatch) followLevels(next int64) (int64, error) {
	root := t.m.root
	r := backend.Depth(root)
	limit := MaxDepth
	if t.opts.Depth >= 0 {
		limit = min(limit, r+t.opts.Depth)
	}
	// The levels watched: down to one below the deepest node, since a
	// node of a new level needs a parent at the level above it.
	deepest := r - 1
	for p := range t.m.data {
		deepest = max(deepest, backend.Depth(p))
	}
	top := min(limit, deepest+1)
	if top-r+1 > maxLevels {
		return next, errTooDeep
	}

	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(t.ctx))
	ctx = metadata.AppendToOutgoingContext(ctx, "zkrecipes-tree", strconv.FormatInt(treeStreams.Add(1), 10))
	in := make(chan levelResp)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	if t.hooks != nil && t.hooks.opened != nil {
		t.hooks.opened(cancel)
	}
	var ws []*levelWatch
	open := func(d int, from int64) {
		for _, kr := range levelRanges(root, d) {
			i := len(ws)
			ws = append(ws, &levelWatch{frontier: from - 1})
			wch := t.s.c.cli.Watch(ctx, kr[0], clientv3.WithRange(kr[1]), clientv3.WithRev(from))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for resp := range wch {
					select {
					case in <- levelResp{i: i, resp: resp, ok: true}:
					case <-ctx.Done():
						return
					}
				}
				select {
				case in <- levelResp{i: i}:
				case <-ctx.Done():
				}
			}()
		}
	}
	for d := r; d <= top; d++ {
		open(d, next)
	}

	retry := time.NewTimer(progressRetry)
	retry.Stop()
	defer retry.Stop()
	var askedFor int64 // the last pending revision when progress was asked; 0: not asked
	for {
		// Apply, in revision order, every revision that every watch has passed.
		for {
			f := frontier(ws)
			rev := firstPending(ws)
			if rev == 0 || rev > f {
				break
			}
			if top < limit && putsAtDepth(ws, rev, top) {
				// A node of a new level: its children's level is watched
				// from this revision on (none of them can be older).
				if top+1-r+1 > maxLevels {
					return rev, errTooDeep
				}
				top++
				open(top, rev)
				continue
			}
			if !t.apply(takeRevision(ws, rev)) {
				return rev + 1, nil
			}
			next = rev + 1
		}
		f := frontier(ws)
		if hi := lastPending(ws); hi > f && (askedFor == 0 || f >= askedFor) {
			if err := t.s.c.cli.RequestProgress(ctx); err != nil && ctx.Err() == nil {
				t.s.c.log.Debug("etcd: tree watch progress request", "err", err)
			}
			askedFor = hi
			retry.Reset(progressRetry)
		}
		select {
		case <-t.ctx.Done():
			return next, nil
		case <-ctx.Done():
			// The watches were cancelled under us (a test's hook): the
			// forwarders may have left without a word.
			return next, errors.New("etcd: level watches cancelled")
		case <-retry.C:
			askedFor = 0
		case lr := <-in:
			if !lr.ok {
				return next, errors.New("etcd: watch closed")
			}
			if err := lr.resp.Err(); err != nil {
				return next, err
			}
			w := ws[lr.i]
			switch evs := lr.resp.Events; {
			case len(evs) > 0:
				if t.hooks != nil && t.hooks.received != nil {
					for _, ev := range evs {
						t.hooks.received(ev)
					}
				}
				w.pending = append(w.pending, evs...)
				w.frontier = max(w.frontier, evs[len(evs)-1].Kv.ModRevision)
			case lr.resp.IsProgressNotify():
				w.frontier = max(w.frontier, lr.resp.Header.Revision)
			}
		}
	}
}

// frontier returns the revision up to which every watch has given all its events.
func frontier(ws []*levelWatch) int64 {
	f := ws[0].frontier
	for _, w := range ws[1:] {
		f = min(f, w.frontier)
	}
	return f
}

// firstPending returns the lowest revision received and not applied; 0: none.
func firstPending(ws []*levelWatch) int64 {
	var rev int64
	for _, w := range ws {
		if len(w.pending) > 0 && (rev == 0 || w.pending[0].Kv.ModRevision < rev) {
			rev = w.pending[0].Kv.ModRevision
		}
	}
	return rev
}

// lastPending returns the highest revision received and not applied; 0: none.
func lastPending(ws []*levelWatch) int64 {
	var rev int64
	for _, w := range ws {
		if n := len(w.pending); n > 0 {
			rev = max(rev, w.pending[n-1].Kv.ModRevision)
		}
	}
	return rev
}

// putsAtDepth reports whether revision rev puts a data key of depth d.
func putsAtDepth(ws []*levelWatch, rev int64, d int) bool {
	for _, w := range ws {
		for _, ev := range w.pending {
			if ev.Kv.ModRevision != rev {
				break
			}
			if q, kind := parseKey(string(ev.Kv.Key)); kind == kindData && ev.Type == mvccpb.PUT && backend.Depth(q) == d {
				return true
			}
		}
	}
	return false
}

// takeRevision removes the events of revision rev from the watches and
// returns them as one watch of the whole range would have: deletes of data
// keys children first, then puts parents first (apply takes the counter
// keys of a revision before its data keys anyway).
func takeRevision(ws []*levelWatch, rev int64) []*clientv3.Event {
	var evs []*clientv3.Event
	for _, w := range ws {
		n := 0
		for n < len(w.pending) && w.pending[n].Kv.ModRevision == rev {
			n++
		}
		evs = append(evs, w.pending[:n]...)
		w.pending = w.pending[n:]
	}
	rank := func(ev *clientv3.Event) int {
		q, _ := parseKey(string(ev.Kv.Key))
		if ev.Type == mvccpb.DELETE {
			return -MaxDepth - 1 - backend.Depth(q) // deeper first, before every put
		}
		return backend.Depth(q)
	}
	slices.SortStableFunc(evs, func(a, b *clientv3.Event) int { return rank(a) - rank(b) })
	return evs
}
