package etcd

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// reapBatch is how many nodes one read of the reaper looks at (three range
// reads each, under etcd's 128 operations per transaction).
const reapBatch = 40

// reaperKey is the key held, with a session's lease, by the one client
// that reaps namespace ns. It is outside the node key space (parseKey
// reads it as no key of a node).
func reaperKey(ns string) string { return keyPrefix + "r" + ns }

// reapLoop makes this client its namespace's reaper while no other client
// is, until the client closes. One reaper per namespace, elected through
// reaperKey held with the lease of a session of the reaping client, so the
// cost of reaping does not grow with the number of clients: a client that
// is not the reaper keeps one idle watch on the key and takes over when
// it goes (its holder closed, or its session was lost). A client with no
// live session does not stand.
func (c *Client) reapLoop(interval time.Duration) {
	defer c.wg.Done()
	key := reaperKey(c.ns)
	for {
		s := c.liveSession()
		if s == nil {
			if !c.pause(interval) {
				return
			}
			continue
		}
		ctx, cancel := context.WithCancel(c.ctx)
		stop := context.AfterFunc(s.ctx, cancel) // the session's end ends the term
		won, rev, err := c.standForReaper(ctx, key, s.lease)
		switch {
		case err != nil:
			c.log.Debug("etcd: standing for reaper", "err", err)
			cancel()
			stop()
			if !c.pause(interval) {
				return
			}
			continue
		case won:
			c.log.Debug("etcd: this client reaps", "namespace", c.ns, "lease", int64(s.lease))
			c.reapWhile(ctx, interval)
		default:
			c.awaitReaperGone(ctx, key, rev)
		}
		cancel()
		stop()
		select {
		case <-c.stop:
			return
		default:
		}
	}
}

// liveSession returns the client's current session if it lives, else nil.
func (c *Client) liveSession() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.Err() != nil {
		return nil
	}
	return c.cur
}

// pause waits d; false when the client closed meanwhile.
func (c *Client) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.stop:
		return false
	case <-t.C:
		return true
	}
}

// standForReaper puts key with lease unless another holds it. It returns
// whether this client now holds it, and the revision it read.
func (c *Client) standForReaper(ctx context.Context, key string, lease clientv3.LeaseID) (bool, int64, error) {
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, "", clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return false, 0, err
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 && clientv3.LeaseID(kvs[0].Lease) == lease {
			return true, resp.Header.Revision, nil // ours already (a lease reused)
		}
	}
	return resp.Succeeded, resp.Header.Revision, nil
}

// reapWhile reaps every interval until ctx ends (the session ended or the
// client closed).
func (c *Client) reapWhile(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		c.reapScans.Add(1)
		if n, err := c.reapOnce(pctx, time.Now()); err != nil {
			c.log.Debug("etcd: reaping", "err", err)
		} else if n > 0 {
			c.log.Debug("etcd: reaped", "nodes", n)
		}
		pcancel()
	}
}

// awaitReaperGone waits until key, held by another client at revision
// rev, is deleted, or ctx ends. A watch that fails is not waited on again
// at once: the caller stands again, which reads the key.
func (c *Client) awaitReaperGone(ctx context.Context, key string, rev int64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range c.cli.Watch(wctx, key, clientv3.WithRev(rev+1)) {
		if resp.Err() != nil {
			c.pause(100 * time.Millisecond)
			return
		}
		for _, ev := range resp.Events {
			if ev.Type == mvccpb.DELETE {
				return
			}
		}
	}
}

// reapOnce looks at every indexed node of the namespace and deletes those
// due: a TTL node without children not modified for its TTL (by now), and
// a container without children that has had one (CVersion > 0). Every
// delete is a transaction guarded by what was read, so concurrent reapers
// and writers are safe. It returns how many nodes it deleted.
func (c *Client) reapOnce(ctx context.Context, now time.Time) (int, error) {
	prefix := indexPrefix(c.ns)
	kvs, err := c.rangeAll(ctx, prefix, prefixEnd(prefix), 0)
	if err != nil {
		return 0, err
	}
	var paths []string
	if c.ns != "/" {
		paths = append(paths, c.ns) // the namespace node itself may be indexed
	}
	for _, kv := range kvs {
		if p, kind := parseKey(string(kv.Key)); kind == kindIndex {
			paths = append(paths, p)
		}
	}
	reaped := 0
	for len(paths) > 0 {
		batch := paths[:min(reapBatch, len(paths))]
		paths = paths[len(batch):]
		var ops []clientv3.Op
		for _, p := range batch {
			ops = append(ops, nodeOps(p, readOpts{}, 0)...)
		}
		resp, err := c.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return reaped, err
		}
		i := 0
		for _, p := range batch {
			k := len(nodeOps(p, readOpts{}, 0))
			n := parseNode(p, resp.Responses[i:i+k], readOpts{})
			i += k
			ok, err := c.reapNode(ctx, &n.nodeState, now)
			if err != nil {
				return reaped, err
			}
			if ok {
				reaped++
			}
		}
	}
	return reaped, nil
}

// reapNode deletes one indexed node if it is due; a stale index key (its
// node gone or no longer a container or TTL node) is deleted too.
func (c *Client) reapNode(ctx context.Context, n *nodeState, now time.Time) (bool, error) {
	p := n.path
	dk, xk := dataKey(p), indexKey(p)
	if n.d == nil {
		if p == c.ns {
			return false, nil
		}
		_, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(dk), "=", 0)).Then(clientv3.OpDelete(xk)).Commit()
		return false, err
	}
	h, _ := parseHeader(n.d, n.m)
	st, _ := n.stat()
	due := false
	switch {
	case h.mode == backend.Container:
		due = st.NumChildren == 0 && st.CVersion > 0
	case h.mode.IsTTL():
		due = st.NumChildren == 0 && now.UnixMilli() >= h.mtime+h.ttl
	default:
		if p == c.ns {
			return false, nil
		}
		_, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(dk), "=", n.d.ModRevision)).Then(clientv3.OpDelete(xk)).Commit()
		return false, err
	}
	if !due || p == "/" {
		return false, nil
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(dk), "=", n.d.ModRevision)}
	if cp, ok := childPrefix(p); ok {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(cp), "=", 0).WithPrefix())
	}
	resp, err := c.cli.Txn(ctx).If(cmps...).Then(
		clientv3.OpDelete(dk),
		clientv3.OpDelete(counterKey(p), clientv3.WithRange(counterEnd(p))),
		clientv3.OpPut(counterKey(backend.Parent(p)), ""),
		clientv3.OpDelete(xk),
	).Commit()
	if err != nil {
		return false, err
	}
	if resp.Succeeded {
		c.log.Debug("etcd: reaped", "path", p, "mode", h.mode)
	}
	return resp.Succeeded, nil
}
