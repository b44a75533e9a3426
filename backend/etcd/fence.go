package etcd

import (
	"context"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The session's fence: a write whose reply was lost is settled before the
// session's next operation.
//
// A write transaction whose reply is lost (the connection failed after it
// was sent, or its context ended while it was in flight) may still be
// applied after the session has reconnected and read the tree: the server
// may have read the request but not yet proposed it, or proposed it but not
// yet committed it (a WAL fsync away), when a linearizable read on the new
// connection takes its read index. A caller that learns of the loss and
// reads back to decide whether the write landed (queue claims, a Member's
// create, CreateWithGUID) would then decide "it did not", and the write
// lands behind its back: a claim nobody holds, a node nobody owns.
//
// So every write transaction of a session also compares the mod revision
// of the session's fence key F(lease) ("/zkr/f" + the lease in hex,
// attached to the lease) with the one the session last knew, and reads F in
// its Else branch. After a write fails without an answer, the session's
// next operation (any call, reads included, see begin) first puts F: from
// then on a write sent before cannot apply, and one that applied before is
// visible to what follows. A write that fails on a moved fence applied
// nothing, so commit learns F's revision from its Else and sends it again.
// (The compare sits beside the write's own rather than in an outer
// transaction: etcd has been reported to leave nested Succeeded flags
// unset, etcd-io/etcd#19678.)
//
// Cost: one compare and one read per write, and one put after each write
// whose reply was lost. They count against etcd's --max-txn-ops, so the
// writes' own compares and reads are held to txnOps, one less.
const txnOps = maxTxnOps - 1

// fenceKey returns F(lease).
func fenceKey(lease clientv3.LeaseID) string {
	return keyPrefix + "f" + strconv.FormatInt(int64(lease), 16)
}

// commit sends the write transaction If(cmps).Then(then).Else(els)
// guarded by the session's fence, and returns its response as if it had
// been sent alone. An error leaves the write's outcome unknown: the
// session settles it (settle) before its next operation.
func (s *Session) commit(ctx context.Context, cmps []clientv3.Cmp, then, els []clientv3.Op) (*clientv3.TxnResponse, error) {
	for {
		rev := s.fence.Load()
		c := append(cmps[:len(cmps):len(cmps)], clientv3.Compare(clientv3.ModRevision(s.fenceKey), "=", rev))
		e := append(els[:len(els):len(els)], clientv3.OpGet(s.fenceKey, clientv3.WithKeysOnly()))
		resp, err := s.c.cli.Txn(ctx).If(c...).Then(then...).Else(e...).Commit()
		if err != nil {
			s.losses.Add(1)
			return nil, err
		}
		if resp.Succeeded {
			return resp, nil
		}
		last := len(resp.Responses) - 1
		var now int64
		if kvs := resp.Responses[last].GetResponseRange().GetKvs(); len(kvs) > 0 {
			now = kvs[0].ModRevision
		}
		if now != rev {
			// The fence moved since rev was read: nothing was applied.
			s.learnFence(rev, now)
			continue
		}
		resp.Responses = resp.Responses[:last]
		return resp, nil
	}
}

// learnFence replaces the fence revision the session sends, seen as rev,
// by now, the key's revision read from the server. The key is gone (now
// is 0) only with the lease, when every write fails on its own.
func (s *Session) learnFence(rev, now int64) {
	s.fence.CompareAndSwap(rev, now)
}

// settle moves the fence if a write's reply was lost since the last time
// it moved, so that write can no longer apply.
func (s *Session) settle(ctx context.Context) error {
	if s.losses.Load() == s.settled.Load() {
		return nil
	}
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	n := s.losses.Load()
	if n == s.settled.Load() {
		return nil
	}
	octx, done := s.opCtx(ctx)
	defer done()
	resp, err := s.c.cli.Put(octx, s.fenceKey, "", clientv3.WithLease(s.lease))
	if err != nil {
		// Its own reply may be lost too: the fence may have moved, which
		// only fences more; the next operation puts it again.
		return err
	}
	for {
		old := s.fence.Load()
		if old >= resp.Header.Revision || s.fence.CompareAndSwap(old, resp.Header.Revision) {
			break
		}
	}
	s.settled.Store(n)
	return nil
}
