package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// The sharded layout (Sharded) keeps items in bucket nodes under
// buckets/, so that no listing holds more than about one bucket's items:
//
//	buckets/<ppp>-<n>/entry-<ppp>-[<id>-]<seq>
//
// <n> is the bucket's number within its priority, 10 digits. A bucket is
// open while its data version is 0; producers put into the last bucket of
// a priority with a transaction that checks it is still open. The put that
// gets a sequence number of at least the bucket size closes it (sets its
// data to "closed") and creates the next one, in one transaction, so a
// closed bucket always has a successor and the last bucket of a priority
// is always open. Consumers take from the first non-empty bucket and
// delete closed buckets they find empty.

// bucketClosed is the data of a closed bucket.
const bucketClosed = "closed"

// bucket is one bucket's name, read.
type bucket struct {
	name string
	prio int
	n    int64
}

func bucketName(prio int, n int64) string { return fmt.Sprintf("%03d-%010d", prio, n) }

func parseBucket(name string) (bucket, bool) {
	if len(name) != 14 || name[3] != '-' {
		return bucket{}, false
	}
	prio, err1 := strconv.Atoi(name[:3])
	n, err2 := strconv.ParseInt(name[4:], 10, 64)
	if err1 != nil || err2 != nil || prio < 0 || n < 0 {
		return bucket{}, false
	}
	return bucket{name: name, prio: prio, n: n}, true
}

func cmpBucket(a, b bucket) int {
	if a.prio != b.prio {
		return a.prio - b.prio
	}
	switch {
	case a.n < b.n:
		return -1
	case a.n > b.n:
		return 1
	}
	return 0
}

// listBuckets returns the buckets in take order.
func (q *Queue) listBuckets(ctx context.Context, list func(string) ([]string, error)) ([]bucket, error) {
	names, err := list(q.buckets)
	if err != nil {
		return nil, err
	}
	bs := make([]bucket, 0, len(names))
	for _, n := range names {
		if b, ok := parseBucket(n); ok {
			bs = append(bs, b)
		}
	}
	slices.SortFunc(bs, cmpBucket)
	return bs, nil
}

// tail returns the last bucket of prio, from the cache unless refresh, and
// creates the first one when the priority has none.
func (q *Queue) tail(ctx context.Context, prio int, refresh bool) (bucket, error) {
	q.mu.Lock()
	b, ok := q.tails[prio]
	q.mu.Unlock()
	if ok && !refresh {
		return b, nil
	}
	bs, err := q.listBuckets(ctx, func(dir string) ([]string, error) {
		kids, _, err := q.s.Children(ctx, dir)
		return kids, err
	})
	if err != nil {
		return bucket{}, err
	}
	found := false
	for _, c := range bs {
		if c.prio == prio {
			b, found = c, true
		}
	}
	if !found {
		b = bucket{name: bucketName(prio, 0), prio: prio}
		_, err := q.s.Create(ctx, backend.Join(q.buckets, b.name), nil, backend.Persistent)
		if err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return bucket{}, err
		}
	}
	q.mu.Lock()
	q.tails[prio] = b
	q.mu.Unlock()
	return b, nil
}

// closeBucket closes b and opens its successor, unless another producer
// did; it is called by the put that filled b.
func (q *Queue) closeBucket(ctx context.Context, b bucket) {
	next := bucket{name: bucketName(b.prio, b.n+1), prio: b.prio, n: b.n + 1}
	_, err := q.s.Multi(ctx,
		backend.SetOp{Path: backend.Join(q.buckets, b.name), Data: []byte(bucketClosed), Version: 0},
		backend.CreateOp{Path: backend.Join(q.buckets, next.name), Mode: backend.Persistent})
	if err != nil && !isMultiRace(err) {
		q.o.logger.Debug("queue: closing a bucket failed", "bucket", b.name, "err", err)
		return
	}
	q.mu.Lock()
	if cur, ok := q.tails[b.prio]; !ok || cur.n < next.n {
		q.tails[b.prio] = next
	}
	q.mu.Unlock()
}

// writeItems creates items of one priority in one transaction after the
// operations in pre (a promotion's delete), in entries/ or, sharded, in
// the last bucket of the priority. ids[i] ("" for none) goes in item i's
// name. A lost reply is resolved for a single item with an id by looking
// for it; otherwise it is ErrUncertain. It returns the created names (with
// the bucket, for the sharded layout) and the bucket.
func (q *Queue) writeItems(ctx context.Context, prio int, ids []string, data [][]byte, pre []backend.Op, due time.Time) ([]entry, error) {
	size := q.bucketSize()
	if q.o.format != kazooFormat {
		ids = make([]string, len(data)) // Curator's names carry no ids
	}
	lookup := len(ids) == 1 && ids[0] != ""
	if size == 0 && len(pre) == 0 && len(ids) == 1 && !lookup {
		created, err := q.s.Create(ctx, backend.Join(q.entries, q.itemBase(prio, "", due)), q.encode(data[0]), backend.PersistentSequential)
		if err != nil {
			return nil, uncertain(err)
		}
		e, _ := q.parseItem(backend.Base(created))
		return []entry{e}, nil
	}
	refresh := false
	for {
		dir := q.entries
		var b bucket
		ops := slices.Clone(pre)
		if size > 0 {
			var err error
			if b, err = q.tail(ctx, prio, refresh); err != nil {
				return nil, err
			}
			dir = backend.Join(q.buckets, b.name)
			ops = append(ops, backend.CheckOp{Path: dir, Version: 0})
		}
		first := len(ops)
		for i := range data {
			ops = append(ops, backend.CreateOp{Path: backend.Join(dir, q.itemBase(prio, ids[i], due)), Data: q.encode(data[i]), Mode: backend.PersistentSequential})
		}
		res, landed, err := q.multiMarked(ctx, ops, lookup)
		var me *backend.MultiError
		switch {
		case landed && res == nil:
			// Its reply was lost: the item is known by its id alone.
			return []entry{{bucket: b.name, prio: prio, id: ids[0]}}, nil
		case err == nil:
			out := make([]entry, 0, len(data))
			var last int64
			for _, r := range res[first:] {
				e, _ := q.parseItem(backend.Base(r.Path))
				e.bucket = b.name
				last = max(last, e.seq)
				out = append(out, e)
			}
			if size > 0 && last >= int64(size-1) {
				q.closeBucket(ctx, b)
			}
			return out, nil
		case size > 0 && errors.As(err, &me) && me.Index == first-1 && ctx.Err() == nil:
			refresh = true // the bucket closed or went: put into its successor
			continue
		}
		return nil, uncertain(err)
	}
}

// multiMarked runs ops in one transaction and settles a lost reply: when
// marked, the transaction also creates a marker, an ephemeral node of a
// fresh name under puts/, and after a lost reply the marker says whether
// the transaction landed (while the session lives), whatever happened to
// the items since: a consumer may have taken and acknowledged an item
// before its producer learned it was there, so looking for the item
// proves nothing. landed without res: it landed, its reply lost. The
// marker is deleted after.
func (q *Queue) multiMarked(ctx context.Context, ops []backend.Op, marked bool) (res []backend.OpResult, landed bool, err error) {
	if !marked {
		res, err = q.s.Multi(ctx, ops...)
		return res, err == nil, err
	}
	marker := backend.Join(q.puts, strings.ReplaceAll(backend.NewGUID(), "-", ""))
	ops = append(slices.Clip(ops), backend.CreateOp{Path: marker, Mode: backend.Ephemeral})
	defer func() {
		if landed {
			// Best effort: an ephemeral node goes with its session anyway.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			_ = q.s.Delete(dctx, marker, backend.AnyVersion)
		}
	}()
	for {
		res, err = q.s.Multi(ctx, ops...)
		if err == nil {
			return res[:len(ops)-1], true, nil
		}
		if !errors.Is(err, backend.ErrConnectionLoss) || ctx.Err() != nil {
			return nil, false, err
		}
		for {
			st, xerr := q.s.Exists(ctx, marker)
			if xerr == nil {
				if serr := q.s.Err(); serr != nil {
					return nil, false, fmt.Errorf("%w: the session ended before the outcome was read: %w", ErrUncertain, err)
				}
				if st != nil {
					return nil, true, nil
				}
				break // not there: send again
			}
			if !errors.Is(xerr, backend.ErrConnectionLoss) || ctx.Err() != nil || q.s.Err() != nil {
				return nil, false, uncertain(err)
			}
			if _, werr := backend.WaitState(ctx, q.s, backend.Connected, backend.Reconnected); werr != nil {
				return nil, false, uncertain(err)
			}
			grant.Pause(ctx, 50*time.Millisecond) // connected may still fail a moment
		}
	}
}

// uncertain marks a lost reply as ErrUncertain.
func uncertain(err error) error {
	if errors.Is(err, backend.ErrConnectionLoss) && !errors.Is(err, ErrUncertain) {
		return fmt.Errorf("%w: %w", ErrUncertain, err)
	}
	return err
}

// itemDir returns the directory holding e.
func (q *Queue) itemDir(e entry) string {
	if e.bucket == "" {
		return q.entries
	}
	return backend.Join(q.buckets, e.bucket)
}

// itemPath returns e's node.
func (q *Queue) itemPath(e entry) string { return backend.Join(q.itemDir(e), e.name) }

// claimName returns the name of e's claim node under taken/: its own name
// in entries/ (kazoo's), or "<bucket>-<name>" in the sharded layout.
func (e entry) claimName() string {
	if e.bucket == "" {
		return e.name
	}
	return e.bucket + "-" + e.name
}

// bucketsEnough lists the buckets bs (in take order) one by one until it has found enough items not
// in skip (all of them when enough < 0), deleting closed buckets it finds
// empty (not the last of their priority: that one is open). With list
// setting watches, every bucket listed is watched.
func (q *Queue) bucketsEnough(ctx context.Context, bs []bucket, list func(string) ([]string, error), enough int, skip func(entry) bool) ([]entry, error) {
	var out []entry
	free := 0
	for i, b := range bs {
		kids, err := list(backend.Join(q.buckets, b.name))
		if err != nil {
			return nil, err
		}
		if len(kids) == 0 && i+1 < len(bs) && bs[i+1].prio == b.prio {
			// Closed (it has a successor) and empty: remove it. A late
			// item makes it ErrNotEmpty; an open one ErrBadVersion.
			_ = q.s.Delete(ctx, backend.Join(q.buckets, b.name), 1)
			continue
		}
		start := len(out)
		for _, k := range kids {
			if e, ok := parseEntry(k); ok {
				e.bucket = b.name
				out = append(out, e)
			}
		}
		slices.SortFunc(out[start:], cmpEntry)
		for _, e := range out[start:] {
			if !skip(e) {
				free++
			}
		}
		if enough >= 0 && free >= enough {
			break
		}
	}
	return out, nil
}
