package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// TryTake takes the first available item, or returns ErrEmpty at once.
func (q *Queue) TryTake(ctx context.Context) (*Item, error) {
	if err := q.ready(ctx); err != nil {
		return nil, err
	}
	fresh := false
	for {
		v, err := q.look(ctx, false, fresh, 2)
		if err != nil {
			return nil, err
		}
		if len(v.available) == 0 && v.auxReused {
			fresh = true // nothing available: look at what is due now
			continue
		}
		fresh = false
		if changed, err := q.promote(ctx, v); err != nil {
			return nil, err
		} else if changed {
			continue
		}
		it, err := q.claimFirst(ctx, v)
		if it != nil || err != nil {
			return it, err
		}
		if len(v.available) == 0 {
			return nil, ErrEmpty
		}
		// Every available item went to another consumer: look again.
	}
}

// Take takes the first available item, waiting for one until ctx ends,
// the session ends or the Queue is closed. A consumer that finds nothing
// joins the queue's waiters (one ephemeral-sequential node each); only the
// first waiter watches the directories, and it steps aside for the next as
// soon as it sees more than one item, so a put wakes one waiter, not all.
// A Take that ends without an item leaves nothing claimed.
func (q *Queue) Take(ctx context.Context) (*Item, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	q.wg.Add(1)
	q.mu.Unlock()
	defer q.wg.Done()
	ctx, cancel := q.untilClosed(ctx)
	defer cancel()
	for {
		it, err := q.take(ctx)
		if it != nil {
			return it, nil
		}
		// A connection that drops is waited out: a blocking Take ends only
		// with an item, its ctx, the session, or Close.
		if errors.Is(err, backend.ErrConnectionLoss) && ctx.Err() == nil && q.s.Err() == nil {
			q.o.logger.Debug("queue: take waits for the connection", "path", q.path, "err", err)
			if _, werr := backend.WaitState(ctx, q.s, backend.Connected, backend.Reconnected); werr != nil {
				return nil, q.takeErr(ctx, werr)
			}
			grant.Pause(ctx, 50*time.Millisecond) // the state may say connected while calls still fail
			continue
		}
		return nil, q.takeErr(ctx, err)
	}
}

// take is one try of Take: the fast path, then the waiters.
func (q *Queue) take(ctx context.Context) (*Item, error) {
	it, err := q.TryTake(ctx)
	if !errors.Is(err, ErrEmpty) {
		return it, err
	}
	var w *contender.Contender
	defer func() {
		if w != nil {
			if err := w.Leave(); err != nil {
				q.orphan(w, err)
			}
		}
	}()
	for {
		if w == nil {
			w, err = contender.Join(ctx, q.s, contender.Config{
				Dir: q.waiters, Layout: waiterLayout, BlockedBy: contender.Predecessor, Logger: q.o.logger,
			})
			if err != nil {
				return nil, err
			}
			if _, err := w.Wait(ctx); err != nil {
				// Wait tried to delete the node, with a bounded context; it
				// may be left when the connection stalls: make sure.
				if q.s.Err() == nil {
					q.orphan(w, nil)
				}
				w = nil
				return nil, err
			}
		}
		it, err := q.head(ctx, &w)
		if it != nil || err != nil {
			return it, err
		}
	}
}

// orphan keeps trying, in the background, to delete a waiter node whose
// delete failed while the session lives: left there, it would stand at
// the head of the waiters and every waiting consumer would wait behind it
// for the session's lifetime. Close makes a last try. err is why the
// delete failed, or nil when it is not known whether it did (a node
// already gone costs one delete).
func (q *Queue) orphan(w *contender.Contender, err error) {
	if err != nil {
		q.o.logger.Warn("queue: leaving the waiters failed; trying in the background", "path", w.Path(), "err", err)
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.wg.Add(1)
	q.mu.Unlock()
	go func() {
		defer q.wg.Done()
		ctx, cancel := q.untilClosed(context.Background())
		defer cancel()
		for ctx.Err() == nil && q.s.Err() == nil {
			if w.Delete(ctx) == nil {
				return
			}
			grant.Pause(ctx, time.Second)
		}
		if q.s.Err() == nil {
			if err := w.Leave(); err != nil { // Close: one last try, bounded
				q.o.logger.Warn("queue: a waiter node is left behind", "path", w.Path(), "err", err)
			}
		}
	}()
}

// waiterLayout names waiter nodes "_c_<guid>-waiter-<seq>".
var waiterLayout = contender.CuratorLayout("waiter")

// takeErr says why Take ended without an item.
func (q *Queue) takeErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if q.isClosed() {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return fmt.Errorf("queue: take from %s: %w", q.path, ctx.Err())
	}
	return fmt.Errorf("queue: take from %s: %w", q.path, err)
}

// head is the first waiter's loop: look with watches, promote what is due,
// step aside when there is more than one item, claim; wait for a watch or
// the next due time when there is nothing. It returns a nil item and nil
// error when it stepped aside and lost every item it saw (*w is then nil:
// the caller joins again).
func (q *Queue) head(ctx context.Context, w **contender.Contender) (*Item, error) {
	for {
		wctx, stopWatches := context.WithCancel(ctx)
		v, err := q.look(wctx, true, true, 2)
		if err != nil {
			stopWatches()
			return nil, err
		}
		changed, err := q.promote(ctx, v)
		if err != nil || changed {
			stopWatches()
			if err != nil {
				return nil, err
			}
			continue
		}
		if len(v.available) > 1 && *w != nil {
			// Enough for the next waiter too: let it look now.
			if err := (*w).Leave(); err != nil {
				q.orphan(*w, err)
			}
			*w = nil
		}
		if len(v.available) > 0 {
			stopWatches()
			it, err := q.claimFirst(ctx, v)
			if it != nil || err != nil || *w == nil {
				return it, err
			}
			continue // lost them all: look again
		}
		err = q.waitChange(ctx, v)
		stopWatches()
		if err != nil {
			return nil, err
		}
	}
}

// headsWaiting counts the consumers of this process waiting on the
// directories' watches, and maxHeadsWaiting the most there were at once:
// only the first waiter of a queue waits there, which TestNoHerd checks.
var headsWaiting, maxHeadsWaiting atomic.Int32

// waitChange waits for one of the view's watches to fire, for the next
// due time, or for ctx or the session to end.
func (q *Queue) waitChange(ctx context.Context, v *view) error {
	n := headsWaiting.Add(1)
	defer headsWaiting.Add(-1)
	for m := maxHeadsWaiting.Load(); n > m && !maxHeadsWaiting.CompareAndSwap(m, n); m = maxHeadsWaiting.Load() {
	}
	fired := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, ev := range v.events {
		go func() {
			select {
			case <-ev:
				select {
				case fired <- struct{}{}:
				default:
				}
			case <-wctx.Done():
			}
		}()
	}
	var timer <-chan time.Time
	if next := v.nextDue(); next != 0 {
		d := time.UnixMilli(next).Sub(q.o.clock())
		t := time.NewTimer(max(d, 0) + time.Millisecond)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-fired:
		return nil
	case <-timer:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-q.s.Done():
		return q.s.Err()
	}
}

// maxSpread bounds how far from the first available item a consumer starts
// when others are taking at the same time.
const maxSpread = 16

// claimFirst claims the first of the available items it can: nil, nil when
// other consumers took them all.
func (q *Queue) claimFirst(ctx context.Context, v *view) (*Item, error) {
	candidates := v.available
	start := 0
	if busy := len(v.entries) - len(v.available); busy > 0 && len(candidates) > 1 {
		// Other consumers hold items, so they are taking too: start at a
		// random one of the first few items of the first priority (as
		// many as they hold, up to maxSpread), so that they do not all
		// race for the first item and lose to one another.
		w := 1
		for w < len(candidates) && w <= busy && w < maxSpread && candidates[w].prio == candidates[0].prio {
			w++
		}
		start = rand.IntN(w)
	}
	for i := range candidates {
		e := candidates[(start+i)%len(candidates)]
		it, err := q.claim(ctx, e)
		if it != nil || err != nil {
			return it, err
		}
	}
	return nil, nil
}

// claim takes one item: read it, then in one transaction create the claim
// node (ephemeral, this consumer's id as data, as kazoo does) and set the
// entry's data again, which moves its version on: the version counts the
// claims (Attempt) and fences this claim's Ack against any later one. Under
// AtMostOnce the transaction deletes the entry instead, after a create and
// delete of the claim node that fail it if another consumer claimed it.
// nil, nil: someone else got it first.
func (q *Queue) claim(ctx context.Context, e entry) (*Item, error) {
	ep := q.itemPath(e)
	tp := backend.Join(q.taken, e.claimName())
	data, st, err := q.s.Get(ctx, ep)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it := &Item{Data: data, ID: e.itemID(), Priority: e.prio, Attempt: int(st.Version) + 1, q: q, e: e, version: st.Version + 1}
	q.decodeInto(it, data)
	if q.o.atMostOnce {
		_, err := q.s.Multi(ctx,
			backend.CreateOp{Path: tp, Data: q.id, Mode: backend.Ephemeral},
			backend.DeleteOp{Path: ep, Version: st.Version},
			backend.DeleteOp{Path: tp, Version: backend.AnyVersion})
		switch {
		case err == nil:
			it.version = st.Version
			return it, nil
		case isMultiRace(err):
			return nil, nil
		case errors.Is(err, backend.ErrConnectionLoss):
			// One transaction: it landed if the entry is gone. If it is gone
			// because another consumer took it, we may report an item both
			// took: at most once is not exactly once under lost replies.
			st2, serr := q.s.Exists(ctx, ep)
			if serr == nil && st2 == nil {
				it.version = st.Version
				return it, nil
			}
			return nil, nil
		}
		return nil, err
	}
	if q.o.maxAttempts > 0 && int(st.Version) >= q.o.maxAttempts {
		// Its consumers kept getting lost holding it: retire it.
		_, err := q.s.Multi(ctx,
			backend.CreateOp{Path: tp, Data: q.id, Mode: backend.Ephemeral},
			backend.DeleteOp{Path: ep, Version: st.Version},
			backend.DeleteOp{Path: tp, Version: backend.AnyVersion},
			q.deadLetterOp(e.claimName(), e.itemID(), e.prio, int(st.Version), "attempts exhausted: its consumers were lost holding it", data))
		if err != nil && !isMultiRace(err) && !errors.Is(err, backend.ErrConnectionLoss) {
			return nil, err
		}
		return nil, nil
	}
	// The claim runs to a known end even when ctx ends meanwhile; a claim
	// made after ctx ended is given back below.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	res, err := q.s.Multi(cctx,
		backend.CreateOp{Path: tp, Data: q.id, Mode: backend.Ephemeral},
		backend.SetOp{Path: ep, Data: data, Version: st.Version})
	if err != nil && isMultiRace(err) {
		return nil, nil
	}
	if err != nil && !errors.Is(err, backend.ErrConnectionLoss) {
		return nil, err
	}
	if err == nil && res[1].Stat != nil {
		// The transaction's position is the claim node's create token:
		// the set of the entry in the same transaction reports it, so the
		// claim needs no read back. The monitor reads the node itself,
		// off the take's path.
		it.token = res[1].Stat.ModifyToken
		it.mon = grant.Start(grant.Config{
			Session: q.s, Path: tp, Policy: grant.Policy(q.o.policy), Name: "queue", Logger: q.o.logger,
			Lost: it.lost, OnDone: it.onDone,
		})
		return q.handOut(ctx, cctx, it)
	}
	// After a lost reply, read the claim back to learn whether it landed,
	// setting the data watch the item's monitor starts on.
	// The watch outlives the read: its context is the monitor's to end.
	wctx, stopWatch := context.WithCancel(context.Background())
	unhook := context.AfterFunc(cctx, stopWatch)
	tdata, tst, events, rerr := q.s.GetW(wctx, tp)
	for errors.Is(rerr, backend.ErrConnectionLoss) && cctx.Err() == nil && q.s.Err() == nil {
		grant.Pause(cctx, 50*time.Millisecond)
		tdata, tst, events, rerr = q.s.GetW(wctx, tp)
	}
	if !unhook() && rerr == nil {
		rerr = cctx.Err()
	}
	if errors.Is(rerr, backend.ErrNoNode) {
		stopWatch()
		if err != nil {
			return nil, nil // the lost claim did not land, or was already lost
		}
		return nil, q.sessionErr(fmt.Errorf("queue: claim %s vanished", tp))
	}
	if rerr != nil {
		stopWatch()
		return nil, rerr
	}
	if tst.EphemeralOwner != q.s.ID() {
		stopWatch()
		if err != nil {
			return nil, nil // another consumer's claim
		}
		return nil, q.sessionErr(fmt.Errorf("queue: claim %s is not this session's", tp))
	}
	it.token = tst.CreateToken
	it.mon = grant.Start(grant.Config{
		Session: q.s, Path: tp, Policy: grant.Policy(q.o.policy), Name: "queue", Logger: q.o.logger,
		Lost: it.lost, OnDone: it.onDone,
		Watch: events, WatchData: tdata, StopWatch: stopWatch,
	})
	return q.handOut(ctx, cctx, it)
}

// handOut hands a claimed item to the caller, or gives it back when the
// Queue was closed or ctx ended meanwhile (cctx bounds that).
func (q *Queue) handOut(ctx, cctx context.Context, it *Item) (*Item, error) {
	tp := it.claim()
	if !q.remember(it) {
		_ = it.Nack(cctx)
		return nil, ErrClosed
	}
	if ctx.Err() != nil {
		// Nothing claimed when Take ends without an item.
		if nerr := it.Nack(cctx); nerr != nil {
			q.o.logger.Warn("queue: giving back a claim failed", "path", tp, "err", nerr)
		}
		return nil, ctx.Err()
	}
	return it, nil
}

// decodeInto sets the item's Data and Messages from its node's data.
func (q *Queue) decodeInto(it *Item, data []byte) {
	msgs, err := q.decode(data)
	if err != nil {
		q.o.logger.Warn("queue: an item's data is not framed as its queue's format wants; handed out as it is", "path", it.path(), "err", err)
		it.Data, it.Messages = data, [][]byte{data}
		return
	}
	it.Messages, it.Data = msgs, nil
	if len(msgs) > 0 {
		it.Data = msgs[0]
	}
}

// sessionErr prefers the session's end as the reason over err.
func (q *Queue) sessionErr(err error) error {
	if serr := q.s.Err(); serr != nil {
		return serr
	}
	return err
}

// isMultiRace reports whether a Multi failed because another consumer got
// there first: the claim exists, the entry changed or is gone.
func isMultiRace(err error) bool {
	var me *backend.MultiError
	return errors.As(err, &me) && (errors.Is(err, backend.ErrNodeExists) || errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrBadVersion))
}

func (q *Queue) remember(it *Item) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items[it] = struct{}{}
	return true
}

func (q *Queue) forget(it *Item) {
	q.mu.Lock()
	delete(q.items, it)
	q.mu.Unlock()
}

// ready refuses work on a closed Queue or session, and makes the
// directories.
func (q *Queue) ready(ctx context.Context) error {
	if q.isClosed() {
		return ErrClosed
	}
	if err := q.s.Err(); err != nil {
		return fmt.Errorf("queue: take from %s: %w", q.path, err)
	}
	if err := q.ensure(ctx); err != nil {
		return fmt.Errorf("queue: take from %s: %w", q.path, err)
	}
	return nil
}
