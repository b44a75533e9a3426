package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// MaxBatch bounds TakeN and AckAll: one transaction holds two operations
// per item to claim and four to acknowledge, within etcd's 128.
const MaxBatch = 16

// TakeN takes up to n items (1..MaxBatch): it waits as Take does for the
// first, then claims as many more as are available, in one transaction.
// Every item is claimed, fenced and acknowledged as one taken alone; the
// items claimed together share a fencing token (the transaction's
// position). Batches cut the writes per item: a claim and an Ack per batch
// instead of per item (AckAll).
func (q *Queue) TakeN(ctx context.Context, n int) ([]*Item, error) {
	if n < 1 || n > MaxBatch {
		return nil, fmt.Errorf("%w: TakeN(%d), want 1..%d", ErrBadOption, n, MaxBatch)
	}
	first, err := q.Take(ctx)
	if err != nil {
		return nil, err
	}
	items := []*Item{first}
	if n == 1 || q.o.atMostOnce {
		return items, nil
	}
	more, err := q.claimMore(ctx, n-1)
	if err != nil {
		q.o.logger.Debug("queue: taking more items failed; handing out what was taken", "path", q.path, "err", err)
	}
	return append(items, more...), nil
}

// claimMore claims up to n available items in one transaction, trying a
// few times when other consumers take some first. It returns what it got.
func (q *Queue) claimMore(ctx context.Context, n int) ([]*Item, error) {
	for range 3 {
		v, err := q.look(ctx, false, false, n+1)
		if err != nil {
			return nil, err
		}
		cands := v.available
		if len(cands) > n {
			cands = cands[:n]
		}
		if len(cands) == 0 {
			return nil, nil
		}
		items, err := q.claimAll(ctx, cands)
		if err == nil || !isMultiRace(err) {
			return items, err
		}
	}
	return nil, nil
}

// claimAll reads the candidates (at once) and claims those still there in
// one transaction: a claim node and a set of the item each, as claim does.
func (q *Queue) claimAll(ctx context.Context, cands []entry) ([]*Item, error) {
	type read struct {
		data []byte
		st   backend.Stat
		err  error
	}
	reads := make([]read, len(cands))
	var wg sync.WaitGroup
	for i, e := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reads[i].data, reads[i].st, reads[i].err = q.s.Get(ctx, q.itemPath(e))
		}()
	}
	wg.Wait()
	var items []*Item
	var ops []backend.Op
	for i, e := range cands {
		r := reads[i]
		if errors.Is(r.err, backend.ErrNoNode) {
			continue
		}
		if r.err != nil {
			return nil, r.err
		}
		if q.o.maxAttempts > 0 && int(r.st.Version) >= q.o.maxAttempts {
			continue // claim retires it, one at a time
		}
		it := &Item{Data: r.data, ID: e.itemID(), Priority: e.prio, Attempt: int(r.st.Version) + 1, q: q, e: e, version: r.st.Version + 1}
		q.decodeInto(it, r.data)
		items = append(items, it)
		ops = append(ops,
			backend.CreateOp{Path: it.claim(), Data: q.id, Mode: backend.Ephemeral},
			backend.SetOp{Path: it.path(), Data: r.data, Version: r.st.Version})
	}
	if len(items) == 0 {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	res, err := q.s.Multi(cctx, ops...)
	if err != nil {
		if !errors.Is(err, backend.ErrConnectionLoss) {
			return nil, err
		}
		// One transaction: it landed if the first claim node is ours.
		st, rerr := q.s.Exists(cctx, items[0].claim())
		for errors.Is(rerr, backend.ErrConnectionLoss) && cctx.Err() == nil && q.s.Err() == nil {
			grant.Pause(cctx, 50*time.Millisecond)
			st, rerr = q.s.Exists(cctx, items[0].claim())
		}
		if rerr != nil || st == nil || st.EphemeralOwner != q.s.ID() || q.s.Err() != nil {
			return nil, err
		}
		for _, it := range items {
			it.token = st.CreateToken
		}
	} else {
		for i, it := range items {
			it.token = res[2*i+1].Stat.ModifyToken
		}
	}
	var out []*Item
	for _, it := range items {
		it.mon = grant.Start(grant.Config{
			Session: q.s, Path: it.claim(), Policy: grant.Policy(q.o.policy), Name: "queue", Logger: q.o.logger,
			Lost: it.lost, OnDone: it.onDone,
		})
		if got, err := q.handOut(ctx, cctx, it); err == nil {
			out = append(out, got)
		}
	}
	return out, nil
}

// AckAll acknowledges items of one Queue in one transaction: all of them
// or, when one's claim is gone, none (the error, matching ErrLost, names
// it; Ack the others one by one). Items already acknowledged are skipped.
// A lost reply is settled as Ack settles it.
func AckAll(ctx context.Context, items ...*Item) error {
	var live []*Item
	for _, it := range items {
		if it.mon == nil {
			continue // at most once: nothing to acknowledge
		}
		if it.q != items[0].q {
			return fmt.Errorf("%w: AckAll across queues", ErrBadOption)
		}
		live = append(live, it)
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		return live[0].Ack(ctx)
	}
	if len(live) > MaxBatch {
		return fmt.Errorf("%w: AckAll of %d items, at most %d", ErrBadOption, len(live), MaxBatch)
	}
	q := live[0].q
	var ops []backend.Op
	var held, acking []*Item // locked; acknowledged by ops, four operations each
	defer func() {
		for _, it := range held {
			it.mu.Unlock()
		}
	}()
	for _, it := range live {
		it.mu.Lock()
		held = append(held, it)
		if it.ended {
			continue
		}
		if it.released {
			return it.mon.Err()
		}
		if err := it.mon.BeginRelease(); err != nil && !unfenced {
			it.mon.EndRelease()
			return err
		}
		acking = append(acking, it)
		ops = append(ops, it.fence()...)
		ops = append(ops,
			backend.DeleteOp{Path: it.path(), Version: it.fenceVersion()},
			backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion})
	}
	endAll := func() {
		for _, it := range acking {
			it.mon.EndRelease()
		}
	}
	if len(acking) == 0 {
		return nil
	}
	first := acking[0]
	sent := false
	for {
		_, err := q.s.Multi(ctx, ops...)
		if err == nil {
			break
		}
		var me *backend.MultiError
		if errors.As(err, &me) && me.Index%4 < 2 && (errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrBadVersion)) {
			if sent {
				if landed, lerr := first.landed(ctx, "ack"); lerr == nil && landed {
					break
				}
			}
			endAll()
			return acking[me.Index/4].lost(err)
		}
		lossy := errors.Is(err, backend.ErrConnectionLoss)
		sent = sent || lossy
		if !lossy || ctx.Err() != nil || q.s.Err() != nil {
			endAll()
			if sent {
				return first.uncertain("ack", err)
			}
			return fmt.Errorf("queue: ack of %d items: %w", len(acking), err)
		}
		// One transaction: it landed if the first item is gone.
		landed, lerr := first.landed(ctx, "ack")
		if lerr != nil && !errors.Is(lerr, backend.ErrConnectionLoss) {
			endAll()
			return first.uncertain("ack", lerr)
		}
		if landed {
			break
		}
		grant.Pause(ctx, 50*time.Millisecond)
	}
	for _, it := range acking {
		it.ended = true
		it.mon.Finish(nil)
		it.mon.Stop()
		q.forget(it)
	}
	return nil
}
