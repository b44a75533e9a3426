package etcd

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// reapBatch is how many nodes one read of the reaper looks at (three range
// reads each, under etcd's 128 operations per transaction).
const reapBatch = 40

// reapLoop removes, every interval, the container and TTL nodes of the
// namespace that are due, until the client closes.
func (c *Client) reapLoop(interval time.Duration) {
	defer c.wg.Done()
	ctx := c.ctx // ended by Close
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		if n, err := c.reapOnce(pctx, time.Now()); err != nil {
			c.log.Debug("etcd: reaping", "err", err)
		} else if n > 0 {
			c.log.Debug("etcd: reaped", "nodes", n)
		}
		pcancel()
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
