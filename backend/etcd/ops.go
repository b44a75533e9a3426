package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// pageSize is how many child names one range read returns; listings of
// more children are read in pages, all at the first page's revision.
const pageSize = 10000

// readOpts say what readNode reads besides the node's own keys.
type readOpts struct {
	serializable bool  // read from the member's state, without a quorum round
	page         int64 // > 0: also the first page of child keys (keys only)
	noChildren   bool  // do not count the children
}

// nodeRead is a node read at one revision.
type nodeRead struct {
	nodeState
	rev      int64
	kids     []*mvccpb.KeyValue // first page of child keys, if asked
	kidsMore bool
	digest   uint64 // sum over the children listed: see children
}

// nodeOps returns the range operations that read p: D(p), [C(p), E(p)], and
// the children (counted, or the first page of keys).
func nodeOps(p string, o readOpts, rev int64) []clientv3.Op {
	var opts []clientv3.OpOption
	if o.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	ops := []clientv3.Op{
		clientv3.OpGet(dataKey(p), opts...),
		clientv3.OpGet(counterKey(p), append(opts, clientv3.WithRange(counterEnd(p)))...),
	}
	if cp, ok := childPrefix(p); ok && !o.noChildren {
		kopts := append(opts, clientv3.WithRange(prefixEnd(cp)))
		if o.page > 0 {
			kopts = append(kopts, clientv3.WithKeysOnly(), clientv3.WithLimit(o.page))
		} else {
			kopts = append(kopts, clientv3.WithCountOnly())
		}
		ops = append(ops, clientv3.OpGet(cp, kopts...))
	}
	return ops
}

// parseNode reads the responses of nodeOps.
func parseNode(p string, rs []*pb.ResponseOp, o readOpts) nodeRead {
	n := nodeRead{nodeState: nodeState{path: p}}
	if kvs := rs[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		n.d = kvs[0]
	}
	n.setCounters(rs[1].GetResponseRange().GetKvs())
	if len(rs) > 2 {
		r := rs[2].GetResponseRange()
		n.children = r.GetCount()
		if o.page > 0 {
			n.kids = r.GetKvs()
			n.kidsMore = r.GetMore()
		}
	}
	return n
}

// readNode reads a node's keys and children in one transaction.
func (c *Client) readNode(ctx context.Context, p string, o readOpts) (nodeRead, error) {
	resp, err := c.cli.Txn(ctx).Then(nodeOps(p, o, 0)...).Commit()
	if err != nil {
		return nodeRead{}, err
	}
	n := parseNode(p, resp.Responses, o)
	n.rev = resp.Header.Revision
	return n, nil
}

// Get returns a node's data and stat: one linearizable read.
func (s *Session) Get(ctx context.Context, path string) ([]byte, backend.Stat, error) {
	const op = "get"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, backend.Stat{}, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	n, err := s.c.readNode(octx, full, readOpts{})
	if err != nil {
		return nil, backend.Stat{}, s.fail(ctx, op, path, err)
	}
	if !n.exists() {
		return nil, backend.Stat{}, backend.Errorf(op, path, backend.ErrNoNode, nil)
	}
	st, data := n.stat()
	return data, st, nil
}

// Exists returns a node's stat, or nil when it does not exist: one read.
func (s *Session) Exists(ctx context.Context, path string) (*backend.Stat, error) {
	const op = "exists"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	n, err := s.c.readNode(octx, full, readOpts{})
	if err != nil {
		return nil, s.fail(ctx, op, path, err)
	}
	if !n.exists() {
		return nil, nil
	}
	st, _ := n.stat()
	return &st, nil
}

// Sync makes later reads see every write committed before it: on etcd
// every read is already linearizable, so Sync is one linearizable read.
func (s *Session) Sync(ctx context.Context, path string) error {
	const op = "sync"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	if _, err := s.c.cli.Get(octx, dataKey(full), clientv3.WithCountOnly()); err != nil {
		return s.fail(ctx, op, path, err)
	}
	return nil
}

// Children returns the names of a node's direct children and its stat:
// one read per 10,000 children, all at one revision.
func (s *Session) Children(ctx context.Context, path string) ([]string, backend.Stat, error) {
	const op = "children"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return nil, backend.Stat{}, err
	}
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	names, n, err := s.c.children(octx, full)
	if err != nil {
		return nil, backend.Stat{}, s.fail(ctx, op, path, err)
	}
	st, _ := n.stat()
	s.c.noteCounter(&n.nodeState)
	return names, st, nil
}

// children lists p's children at one revision, page by page.
func (c *Client) children(ctx context.Context, p string) ([]string, nodeRead, error) {
	for {
		n, err := c.readNode(ctx, p, readOpts{page: pageSize})
		if err != nil {
			return nil, n, err
		}
		if !n.exists() {
			return nil, n, condErr(backend.ErrNoNode)
		}
		cp, _ := childPrefix(p)
		names := make([]string, 0, n.children)
		var digest uint64
		add := func(kv *mvccpb.KeyValue) {
			names = append(names, string(kv.Key[len(cp):]))
			digest += childHash(kv)
		}
		for _, kv := range n.kids {
			add(kv)
		}
		more := n.kidsMore
		last := ""
		if len(n.kids) > 0 {
			last = string(n.kids[len(n.kids)-1].Key)
		}
		compacted := false
		for more {
			resp, err := c.cli.Get(ctx, last+"\x00", clientv3.WithRange(prefixEnd(cp)), clientv3.WithKeysOnly(),
				clientv3.WithLimit(pageSize), clientv3.WithRev(n.rev))
			if errors.Is(err, rpctypes.ErrCompacted) {
				compacted = true
				break
			}
			if err != nil {
				return nil, n, err
			}
			for _, kv := range resp.Kvs {
				add(kv)
			}
			more = resp.More && len(resp.Kvs) > 0
			if len(resp.Kvs) > 0 {
				last = string(resp.Kvs[len(resp.Kvs)-1].Key)
			}
		}
		if compacted {
			continue // the revision was compacted away between pages: list again
		}
		n.kids = nil
		n.digest = digest
		return names, n, nil
	}
}

// childHash hashes one child (its key and create revision) for the digest
// of a listing: the sum of the hashes, which does not depend on order.
func childHash(kv *mvccpb.KeyValue) uint64 {
	h := fnv.New64a()
	h.Write(kv.Key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(kv.CreateRevision))
	h.Write(b[:])
	return h.Sum64()
}

// Create creates a node. A non-sequential create is one transaction; a
// sequential one reads the parent's CVersion, then creates with it in a
// transaction that fails if the CVersion moved (retried with the value the
// failure returns). WithParents adds one create per missing ancestor.
func (s *Session) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	const op = "create"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return "", err
	}
	if path == "/" {
		return "", backend.Errorf(op, path, backend.ErrNodeExists, errors.New("etcd: the root always exists"))
	}
	o, err := backend.NewCreateOptions(mode, opts...)
	if err != nil {
		return "", backend.Errorf(op, path, backend.ErrUnsupported, err)
	}
	if o.ACL != nil {
		return "", backend.Errorf(op, path, backend.ErrUnsupported, errors.New("etcd: ACLs are not supported"))
	}
	if err := ctx.Err(); err != nil {
		return "", backend.Errorf(op, path, err, nil)
	}
	if len(data) > s.c.cfg.MaxDataSize || len(data)+2*len(full) > s.c.requestLimit() {
		return "", backend.Errorf(op, path, backend.ErrTooLarge, fmt.Errorf("etcd: %d bytes of data, at most %d", len(data), s.c.cfg.MaxDataSize))
	}
	if err := s.begin(ctx, op, path); err != nil {
		return "", err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	for attempt := 0; ; attempt++ {
		now := time.Now().UnixMilli()
		created, rev, err := s.createFull(octx, full, data, mode, o.TTL, now)
		if err == nil {
			if o.Stat != nil {
				*o.Stat = s.createdStat(rev, now, data, mode, o.TTL)
			}
			return s.c.rel(created), nil
		}
		if errors.Is(err, backend.ErrNoNode) && o.CreateParents && attempt < 5 {
			if perr := backend.CreateParents(ctx, s.view, path, o.Parents); perr != nil {
				return "", perr
			}
			continue
		}
		return "", s.fail(ctx, op, path, err)
	}
}

// createdStat is the Stat of a node this session just created at
// revision rev: what a read would return before anything else changed it.
func (s *Session) createdStat(rev, now int64, data []byte, mode backend.Mode, ttl time.Duration) backend.Stat {
	t := time.UnixMilli(now)
	st := backend.Stat{CreateToken: rev, ModifyToken: rev, DataLength: int32(len(data)), Mode: mode, Created: t, Modified: t}
	if mode.IsEphemeral() {
		st.EphemeralOwner = int64(s.lease)
	}
	if mode.IsTTL() {
		st.TTL = ttl
	}
	return st
}

// createFull creates the node at the full path p, with now (Unix
// milliseconds) as its ctime and mtime, and returns its full path and the
// revision of the create.
func (s *Session) createFull(ctx context.Context, p string, data []byte, mode backend.Mode, ttl time.Duration, now int64) (string, int64, error) {
	parent := backend.Parent(p)
	h := header{mode: mode, ctime: now, mtime: now, ttl: ttl.Milliseconds()}
	value, meta := h.dataValue(data), h.metaValue()
	var putOpts []clientv3.OpOption
	if mode.IsEphemeral() {
		putOpts = append(putOpts, clientv3.WithLease(s.lease))
	}
	var cmps []clientv3.Cmp
	elseOps := []clientv3.Op{clientv3.OpGet(dataKey(parent), clientv3.WithCountOnly())}
	if parent != "/" {
		pk := dataKey(parent)
		noLease := clientv3.Compare(clientv3.LeaseValue(pk), "=", clientv3.NoLease)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(pk), ">", 0), noLease)
		// Keys-only reads do not return leases: ask the question in a
		// nested transaction.
		elseOps = append(elseOps, clientv3.OpTxn([]clientv3.Cmp{noLease}, nil, nil))
	}
	puts := func(name string) []clientv3.Op {
		ops := []clientv3.Op{
			clientv3.OpPut(dataKey(name), value, putOpts...),
			clientv3.OpPut(metaKey(name), meta, putOpts...),
			clientv3.OpPut(counterKey(parent), ""),
		}
		if h.indexed() {
			ops = append(ops, clientv3.OpPut(indexKey(name), ""))
		}
		return ops
	}
	// explain tells why a create failed from its Else branch, in
	// ZooKeeper's order; nil if nothing is wrong with the parent or name.
	explain := func(rs []*pb.ResponseOp, nodeExists bool) error {
		switch {
		case parent != "/" && rs[0].GetResponseRange().GetCount() == 0:
			return condErr(backend.ErrNoNode)
		case nodeExists:
			return condErr(backend.ErrNodeExists)
		case parent != "/" && !rs[1].GetResponseTxn().GetSucceeded():
			return condErr(backend.ErrNoChildrenForEphemerals)
		}
		return nil
	}
	nameIdx := len(elseOps)

	if !mode.IsSequential() {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(dataKey(p)), "=", 0))
		elseOps = append(elseOps, clientv3.OpGet(dataKey(p), clientv3.WithCountOnly()))
		resp, err := s.commit(ctx, cmps, puts(p), elseOps)
		if err != nil {
			return "", 0, err
		}
		if resp.Succeeded {
			return p, resp.Header.Revision, nil
		}
		if err := explain(resp.Responses, resp.Responses[nameIdx].GetResponseRange().GetCount() > 0); err != nil {
			return "", 0, err
		}
		return "", 0, errRetry // the compares and the reads saw one state: cannot happen
	}

	return s.createSequential(ctx, p, parent, cmps, elseOps, puts, explain, len(value)+len(meta))
}

// errUnreadableTxn is a sequential create's transaction answered in a
// shape it did not send: whether it created a node is unknown, so it is a
// connection loss (the outcome-unknown class; CreateWithGUID then finds
// the node by its GUID).
var errUnreadableTxn = fmt.Errorf("%w: etcd: a sequential create's answer does not match its transaction", backend.ErrConnectionLoss)

// Sequential creates: the tuning of the guesses (see createSequential).
const (
	// maxSpread bounds the guesses one transaction carries. etcd's
	// --max-txn-ops (default 128) also bounds them: each nested level
	// spends the most of its compares and writes from the budget its
	// parent leaves (see spreadLimit).
	maxSpread = 32
	// spreadBytes bounds a transaction's size to what its guesses add.
	spreadBytes = 256 << 10
)

// spreadLimit returns how many nested guesses fit etcd's default
// --max-txn-ops of 128 with top compares and reads in the outer
// transaction and writes per guess: etcd charges each level the largest
// of its compares, writes and reads, from what the levels above it left.
func spreadLimit(compares, reads, writes int) int {
	budget := txnOps - max(compares, reads, 1)
	return max(1, budget/max(writes, 2)-1)
}

// createSequential creates the sequential node p + suffix under parent,
// the suffix being the parent's CVersion when the node is created.
//
// A transaction carries several guesses of the counter, nested: if the
// version of C(parent) is v, create p+(v+corr); else if it is v+1, create
// p+(v+1+corr); and so on, where corr is the correction E(parent) adds to
// the version (pinned by E's mod revision in the outer compare). Creates
// that reach the server at once are applied one after the other, and each
// finds the counter one further on: with as many guesses as there are
// creates in flight, every one of them succeeds at its first try, so the
// work of N clients creating at once grows with N, not N² as a single
// compare-and-retry does. A create that misses every guess learns the
// counter from the same transaction and tries again with the guesses
// widened to twice the distance it missed by; one that hits guess j sends
// about 2j next time, so a lone client sends one.
//
// The first attempt starts from the view this client last had of the
// parent (after its own creates and deletes, or a listing of the parent),
// or assumes a parent that never had a child.
func (s *Session) createSequential(ctx context.Context, p, parent string, top []clientv3.Cmp, topElse []clientv3.Op,
	puts func(string) []clientv3.Op, explain func([]*pb.ResponseOp, bool) error, dataBytes int) (string, int64, error) {
	sp, err := s.c.lockSeq(ctx, parent)
	if err != nil {
		return "", 0, err
	}
	defer s.c.unlockSeq(parent, sp)
	if v := s.c.seqHint(parent); !sp.known || v.cmod > sp.view.cmod {
		sp.view = v
	}
	perGuess := dataBytes + 4*len(p) + 4*backend.SequenceDigits + 64
	most := max(1, min(maxSpread, spreadBytes/perGuess, spreadLimit(len(top)+1, len(topElse)+1, len(puts(p)))))
	ck, ek := counterKey(parent), extrasKey(parent)
	base := len(top)
	for attempt := 0; ; attempt++ {
		v := sp.view
		k := min(max(sp.spread, 1), most)
		names := make([]string, k)
		for j := range names {
			names[j] = p + backend.FormatSequence(int32(v.cv+int64(j)))
		}
		// Innermost first: the last guess's Else reads the counter.
		inner := []clientv3.Op{clientv3.OpGet(ck, clientv3.WithRange(counterEnd(parent)))}
		for j := k - 1; j >= 0; j-- {
			guess := []clientv3.Cmp{
				clientv3.Compare(clientv3.Version(ck), "=", v.ver+int64(j)),
				clientv3.Compare(clientv3.ModRevision(dataKey(names[j])), "=", 0),
			}
			inner = []clientv3.Op{clientv3.OpTxn(guess, puts(names[j]), inner)}
		}
		cmps := append(top[:base:base], clientv3.Compare(clientv3.ModRevision(ek), "=", v.emod))
		eops := append(topElse[:len(topElse):len(topElse)], clientv3.OpGet(ck, clientv3.WithRange(counterEnd(parent))))
		s.c.seqTries.Add(1)
		resp, err := s.commit(ctx, cmps, inner, eops)
		if err != nil {
			sp.known = false
			s.c.forgetSeqHint(parent)
			return "", 0, err
		}
		var now seqView
		if resp.Succeeded {
			// Walk down the guesses to the one that was taken, by what
			// each level's responses are (puts: its Then ran; the next
			// level's transaction: its Else ran), not by the nested
			// Succeeded flags, which etcd has been reported to leave unset
			// (etcd-io/etcd#19678): a create taken for failed would be
			// made again, leaving a node of ours that blocks us. An
			// answer of another shape is an unknown outcome.
			rs := resp.Responses
			for j := 0; j < k; j++ {
				var inner []*pb.ResponseOp
				if len(rs) == 1 && rs[0].GetResponseTxn() != nil {
					inner = rs[0].GetResponseTxn().GetResponses()
				}
				switch {
				case len(inner) > 0 && inner[0].GetResponsePut() != nil:
					// C(parent) was put by this transaction: its version and
					// the CVersion grew by one, E did not change.
					sp.view = seqView{ver: v.ver + int64(j) + 1, cv: v.cv + int64(j) + 1, emod: v.emod, cmod: resp.Header.Revision}
					sp.known = true
					sp.spread = 2 * j
					s.c.setSeqHint(parent, sp.view)
					return names[j], resp.Header.Revision, nil
				case len(inner) == 1 && (inner[0].GetResponseTxn() != nil || (j == k-1 && inner[0].GetResponseRange() != nil)):
					rs = inner
				default:
					return "", 0, errUnreadableTxn
				}
			}
			now = counterView(parent, rs[0].GetResponseRange().GetKvs())
			if d := now.ver - v.ver; now.emod == v.emod && d >= 0 && d < int64(k) {
				// The counter matched guess d but its name is taken: a node
				// created under that name by other means.
				sp.view, sp.known = now, true
				s.c.setSeqHint(parent, now)
				return "", 0, condErr(backend.ErrNodeExists)
			}
		} else {
			if err := explain(resp.Responses, false); err != nil {
				return "", 0, err
			}
			now = counterView(parent, resp.Responses[len(topElse)].GetResponseRange().GetKvs())
			if now.emod == v.emod {
				return "", 0, errRetry // the compares and the reads saw one state: cannot happen
			}
		}
		// Missed: widen the guesses to twice the distance missed by.
		sp.view, sp.known = now, true
		s.c.setSeqHint(parent, now)
		sp.spread = int(min(2*max(now.ver-v.ver, 1), int64(most)))
		if now.ver < v.ver || now.emod != v.emod {
			sp.spread = 1 // a new life of the parent, or a Multi: start again
		}
		if attempt >= 8 {
			// Still missing after widening: the counter runs faster than
			// this client's round trip. Spread out a little.
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt-8, 8)))
			sleepCtx(ctx, d)
			if err := ctx.Err(); err != nil {
				return "", 0, err
			}
		}
	}
}

// setCounters sorts the keys of the range [C(p), counterEnd(p)) into C, E and M.
func (n *nodeState) setCounters(kvs []*mvccpb.KeyValue) {
	for _, kv := range kvs {
		switch kv.Key[len(kv.Key)-1] {
		case 0:
			n.e = kv
		case 1:
			n.m = kv
		default:
			n.c = kv
		}
	}
}

// Delete removes a node without children: one transaction (two when a
// Multi left version corrections on the node and a version is given).
func (s *Session) Delete(ctx context.Context, path string, version int32) error {
	const op = "delete"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return err
	}
	if full == "/" || path == "/" {
		return backend.Errorf(op, path, backend.ErrBadPath, errors.New("etcd: the root cannot be deleted"))
	}
	if err := s.begin(ctx, op, path); err != nil {
		return err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	return s.fail(ctx, op, path, s.deleteFull(octx, full, version, 0))
}

// deleteFull deletes the node at the full path p if its version is
// version (AnyVersion: any) and, when owner is not 0, its lease is owner.
func (s *Session) deleteFull(ctx context.Context, p string, version int32, owner int64) error {
	dk := dataKey(p)
	ek := extrasKey(p)
	// What E(p) held when last seen: nil means assumed absent.
	var eSeen *mvccpb.KeyValue
	eKnown := false
	for attempt := 0; ; attempt++ {
		if attempt >= 10 {
			return errRetry // cannot happen: each attempt learns what failed it
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(dk), ">", 0)}
		if version != backend.AnyVersion {
			var emod int64
			if eKnown && eSeen != nil {
				emod = eSeen.ModRevision
			}
			ex := parseExtras(eSeen)
			cmps = append(cmps,
				clientv3.Compare(clientv3.ModRevision(ek), "=", emod),
				clientv3.Compare(clientv3.Version(dk), "=", int64(version)+1-int64(ex.vextra)))
		}
		if owner != 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.LeaseValue(dk), "=", owner))
		}
		cp, hasKids := childPrefix(p)
		if hasKids {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(cp), "=", 0).WithPrefix())
		}
		elseOps := []clientv3.Op{
			clientv3.OpGet(dk, clientv3.WithKeysOnly()), // version and revisions; no lease
			clientv3.OpGet(counterKey(p), clientv3.WithRange(counterEnd(p))),
		}
		if hasKids {
			elseOps = append(elseOps, clientv3.OpGet(cp, clientv3.WithRange(prefixEnd(cp)), clientv3.WithCountOnly()))
		}
		ownerIdx := len(elseOps)
		if owner != 0 {
			elseOps = append(elseOps, clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(dk), "=", owner)}, nil, nil))
		}
		parent := backend.Parent(p)
		resp, err := s.commit(ctx, cmps, []clientv3.Op{
			clientv3.OpDelete(dk),
			clientv3.OpDelete(counterKey(p), clientv3.WithRange(counterEnd(p))),
			clientv3.OpPut(counterKey(parent), ""),
			clientv3.OpDelete(indexKey(p)),
			// Read the parent's counter back: the delete moved it, and the
			// next sequential create under this parent from this client
			// would otherwise spend a failed transaction (a raft proposal)
			// to learn its new value. Queues of lock contenders delete and
			// create under one parent all the time.
			clientv3.OpGet(counterKey(parent), clientv3.WithRange(counterEnd(parent))),
		}, elseOps)
		if err != nil {
			return err
		}
		if resp.Succeeded {
			s.c.setSeqHint(parent, counterView(parent, resp.Responses[4].GetResponseRange().GetKvs()))
			return nil
		}
		n := parseNode(p, resp.Responses[:ownerIdx], readOpts{})
		if n.d == nil || (owner != 0 && !resp.Responses[ownerIdx].GetResponseTxn().GetSucceeded()) {
			return condErr(backend.ErrNoNode)
		}
		if version != backend.AnyVersion {
			st, _ := n.stat()
			if st.Version != version {
				return condErr(backend.ErrBadVersion)
			}
			if !eKnown || !sameKV(eSeen, n.e) {
				eSeen, eKnown = n.e, true
				continue // E(p) corrects the version: compare with it
			}
		}
		if n.children > 0 {
			return condErr(backend.ErrNotEmpty)
		}
		eSeen, eKnown = n.e, true
	}
}

func sameKV(a, b *mvccpb.KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ModRevision == b.ModRevision
}

// Set replaces a node's data: one transaction guarded by the node's
// existence (and version), which returns the new stat. The node's metadata
// lives in another key, so nothing is read first. A second transaction is
// needed only the first time a versioned Set meets a node a Multi left a
// version correction on.
func (s *Session) Set(ctx context.Context, path string, data []byte, version int32) (backend.Stat, error) {
	const op = "set"
	full, err := s.c.checkPath(op, path)
	if err != nil {
		return backend.Stat{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.Stat{}, backend.Errorf(op, path, err, nil)
	}
	if len(data) > s.c.cfg.MaxDataSize || len(data)+2*len(full) > s.c.requestLimit() {
		return backend.Stat{}, backend.Errorf(op, path, backend.ErrTooLarge, fmt.Errorf("etcd: %d bytes of data, at most %d", len(data), s.c.cfg.MaxDataSize))
	}
	if err := s.begin(ctx, op, path); err != nil {
		return backend.Stat{}, err
	}
	octx, done := s.opCtx(ctx)
	defer done()
	st, err := s.setFull(octx, full, data, version)
	return st, s.fail(ctx, op, path, err)
}

func (s *Session) setFull(ctx context.Context, p string, data []byte, version int32) (backend.Stat, error) {
	dk := dataKey(p)
	base := versionBase(p)
	value := header{mtime: time.Now().UnixMilli()}.dataValue(data)
	// What E(p) held when last seen: nil means assumed absent.
	var eSeen *mvccpb.KeyValue
	for attempt := 0; attempt < 10; attempt++ {
		var cmps []clientv3.Cmp
		var putOpts []clientv3.OpOption
		if p != "/" {
			// The root's data key is created by its first set; every
			// other node's must exist, and keeps its lease.
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(dk), ">", 0))
			putOpts = append(putOpts, clientv3.WithIgnoreLease())
		}
		if version != backend.AnyVersion {
			ex := parseExtras(eSeen)
			cmps = append(cmps,
				clientv3.Compare(clientv3.ModRevision(extrasKey(p)), "=", modOf(eSeen)),
				clientv3.Compare(clientv3.Version(dk), "=", int64(version)+base-int64(ex.vextra)))
		}
		then := append([]clientv3.Op{clientv3.OpPut(dk, value, putOpts...)}, nodeOps(p, readOpts{}, 0)...)
		resp, err := s.commit(ctx, cmps, then, []clientv3.Op{
			clientv3.OpGet(dk, clientv3.WithKeysOnly()),
			clientv3.OpGet(counterKey(p), clientv3.WithRange(counterEnd(p))),
		})
		if err != nil {
			return backend.Stat{}, err
		}
		if resp.Succeeded {
			after := parseNode(p, resp.Responses[1:], readOpts{})
			st, _ := after.stat()
			return st, nil
		}
		n := parseNode(p, resp.Responses, readOpts{noChildren: true})
		if n.d == nil && p != "/" {
			return backend.Stat{}, condErr(backend.ErrNoNode)
		}
		if st, _ := n.stat(); st.Version != version {
			return backend.Stat{}, condErr(backend.ErrBadVersion)
		}
		eSeen = n.e // E(p) corrects the version: compare with it
	}
	return backend.Stat{}, errRetry
}
