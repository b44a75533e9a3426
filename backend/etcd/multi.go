package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// maxTxnOps is etcd's default limit on the compares, and on the operations
// of each branch, of one transaction (--max-txn-ops).
const maxTxnOps = 128

// mop is one validated operation of a Multi.
type mop struct {
	op      backend.Op
	kind    byte // 'c'reate, 's'et, 'd'elete, 'k' check
	full    string
	data    []byte
	mode    backend.Mode
	ttl     time.Duration
	version int32
}

// Multi applies ops atomically in one etcd transaction. It reads every node
// involved at one revision (one round trip, more for very large Multis),
// applies the operations in order to that snapshot, and commits the net
// effect in a transaction whose compares pin everything it relied on. If
// another write got in between, the transaction's Else branch returns a
// fresh snapshot and the Multi is planned again (one more round trip). A
// Multi needing more than 128 compares or writes is ErrTooLarge.
func (s *Session) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	const op = "multi"
	mops := make([]mop, len(ops))
	size := 0
	for i, o := range ops {
		m, err := s.prepareOp(o)
		if err != nil {
			return nil, &backend.MultiError{Index: i, Op: o, Err: err}
		}
		mops[i] = m
		size += len(m.data) + 3*len(m.full) + 64
	}
	if err := ctx.Err(); err != nil {
		return nil, backend.Errorf(op, "/", err, nil)
	}
	if size > s.c.requestLimit() {
		return nil, backend.Errorf(op, "/", backend.ErrTooLarge, fmt.Errorf("etcd: a Multi of about %d bytes, at most %d", size, s.c.requestLimit()))
	}
	if err := s.begin(ctx, op, "/"); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return []backend.OpResult{}, nil
	}
	octx, done := s.opCtx(ctx)
	defer done()
	res, err := s.multi(octx, mops)
	return res, s.fail(ctx, op, "/", err)
}

// prepareOp validates one operation of a Multi.
func (s *Session) prepareOp(o backend.Op) (mop, error) {
	m := mop{op: o}
	var path string
	switch o := o.(type) {
	case backend.CreateOp:
		m.kind, path, m.data, m.mode = 'c', o.Path, o.Data, o.Mode
		full, err := s.c.checkPath("create", path)
		if err != nil {
			return m, err
		}
		if path == "/" {
			return m, backend.Errorf("create", path, backend.ErrNodeExists, errors.New("etcd: the root always exists"))
		}
		opts, err := backend.NewCreateOptions(o.Mode, o.Options...)
		if err != nil {
			return m, backend.Errorf("create", path, backend.ErrUnsupported, err)
		}
		if opts.CreateParents {
			return m, backend.Errorf("create", path, backend.ErrUnsupported, errors.New("etcd: WithParents is not allowed inside a Multi"))
		}
		if opts.ACL != nil {
			return m, backend.Errorf("create", path, backend.ErrUnsupported, errors.New("etcd: ACLs are not supported"))
		}
		m.full, m.ttl = full, opts.TTL
	case backend.SetOp:
		m.kind, path, m.data, m.version = 's', o.Path, o.Data, o.Version
		full, err := s.c.checkPath("set", path)
		if err != nil {
			return m, err
		}
		m.full = full
	case backend.DeleteOp:
		m.kind, path, m.version = 'd', o.Path, o.Version
		full, err := s.c.checkPath("delete", path)
		if err != nil {
			return m, err
		}
		if path == "/" || full == "/" {
			return m, backend.Errorf("delete", path, backend.ErrBadPath, errors.New("etcd: the root cannot be deleted"))
		}
		m.full = full
	case backend.CheckOp:
		m.kind, path, m.version = 'k', o.Path, o.Version
		full, err := s.c.checkPath("check", path)
		if err != nil {
			return m, err
		}
		m.full = full
	default:
		return m, backend.Errorf("multi", "", backend.ErrUnsupported, fmt.Errorf("etcd: unknown operation %T", o))
	}
	if len(m.data) > s.c.cfg.MaxDataSize {
		return m, backend.Errorf(opName(m.kind), path, backend.ErrTooLarge, fmt.Errorf("etcd: %d bytes of data, at most %d", len(m.data), s.c.cfg.MaxDataSize))
	}
	return m, nil
}

func opName(kind byte) string {
	switch kind {
	case 'c':
		return "create"
	case 's':
		return "set"
	case 'd':
		return "delete"
	}
	return "check"
}

// snapshot is the nodes a Multi read, all at revision rev.
type snapshot struct {
	rev   int64
	nodes map[string]*nodeRead
}

// readSet is what a Multi reads: each path, and whether its children are counted.
type readSet struct {
	paths []string
	kids  map[string]bool
}

func (r *readSet) add(p string, kids bool) {
	if r.kids == nil {
		r.kids = map[string]bool{}
	}
	k, seen := r.kids[p]
	if !seen {
		r.paths = append(r.paths, p)
	}
	r.kids[p] = k || kids
}

func (r *readSet) ops(rev int64) ([]clientv3.Op, []int) {
	var ops []clientv3.Op
	var sizes []int
	for _, p := range r.paths {
		o := nodeOps(p, readOpts{noChildren: !r.kids[p]}, rev)
		ops = append(ops, o...)
		sizes = append(sizes, len(o))
	}
	return ops, sizes
}

// parse builds a snapshot from the responses of ops(rev).
func (r *readSet) parse(rev int64, rs []*pb.ResponseOp) *snapshot {
	snap := &snapshot{rev: rev, nodes: map[string]*nodeRead{}}
	i := 0
	for _, p := range r.paths {
		o := readOpts{noChildren: !r.kids[p]}
		n := len(nodeOps(p, o, 0))
		nr := parseNode(p, rs[i:i+n], o)
		nr.rev = rev
		snap.nodes[p] = &nr
		i += n
	}
	return snap
}

// read reads the read set at one revision: one transaction, or several
// when it has more than maxTxnOps reads, the later ones at the first one's
// revision.
func (s *Session) read(ctx context.Context, r *readSet) (*snapshot, error) {
	ops, sizes := r.ops(0)
	if len(ops) <= maxTxnOps {
		resp, err := s.c.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		return r.parse(resp.Header.Revision, resp.Responses), nil
	}
	var all []*pb.ResponseOp
	var rev int64
	start := 0
	for start < len(sizes) {
		// Whole paths per chunk.
		n, end := 0, start
		for end < len(sizes) && n+sizes[end] <= maxTxnOps {
			n += sizes[end]
			end++
		}
		chunk := readSet{paths: r.paths[start:end], kids: r.kids}
		cops, _ := chunk.ops(rev)
		resp, err := s.c.cli.Txn(ctx).Then(cops...).Commit()
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		all = append(all, resp.Responses...)
		start = end
	}
	return r.parse(rev, all), nil
}

// mnode is one node as a Multi sees it: as read, and as the operations so
// far left it.
type mnode struct {
	read  *nodeRead // nil: not read (a sequential name found while planning); assumed absent
	first int       // index of the first operation touching it

	exists      bool
	hdr         header
	data        []byte
	lease       int64
	version     int32
	cversion    int32
	nkids       int64
	created     bool // the node that exists now was created by this Multi
	deletedRead bool // the node that was read was deleted by this Multi
	dirty       bool // its data key must be written
	kidChanges  int  // children created or deleted

	pinMod, pinCreate, pinC, pinKids bool
}

func (n *mnode) readExists() bool { return n.read != nil && n.read.d != nil }

// readKVs returns the node's keys as read (nil when absent or not read).
func (n *mnode) readKVs() (d, c, e, m *mvccpb.KeyValue) {
	if n.read == nil {
		return nil, nil, nil, nil
	}
	return n.read.d, n.read.c, n.read.e, n.read.m
}

// plan is a Multi turned into one transaction.
type plan struct {
	cmps     []clientv3.Cmp
	then     []clientv3.Op
	reads    readSet // what to read again when the transaction fails
	results  []backend.OpResult
	newStats []int // indexes of set results whose node was created by this Multi
	modStats []int // indexes of set results (ModifyToken = the transaction's revision)
}

func (s *Session) multi(ctx context.Context, mops []mop) ([]backend.OpResult, error) {
	var rs readSet
	for _, m := range mops {
		rs.add(m.full, m.kind == 'd' || m.kind == 's')
		if m.kind == 'c' {
			rs.add(backend.Parent(m.full), false)
		}
	}
	snap, err := s.read(ctx, &rs)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pl, err := s.plan(mops, snap, &rs)
		if err != nil {
			return nil, err
		}
		if len(pl.cmps) > txnOps || len(pl.then) > maxTxnOps {
			return nil, &backend.OpError{Kind: backend.ErrTooLarge, Cause: fmt.Errorf("etcd: the Multi needs %d compares and %d writes; etcd allows %d of each, and the session's fence takes one compare", len(pl.cmps), len(pl.then), maxTxnOps)}
		}
		elseOps, _ := pl.reads.ops(0)
		if len(elseOps) > txnOps {
			elseOps = nil
		}
		resp, err := s.commit(ctx, pl.cmps, pl.then, elseOps)
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			rev := resp.Header.Revision
			for _, i := range pl.modStats {
				pl.results[i].Stat.ModifyToken = rev
			}
			for _, i := range pl.newStats {
				pl.results[i].Stat.CreateToken = rev
			}
			return pl.results, nil
		}
		// Someone else wrote in between: plan again from a fresh snapshot.
		rs = pl.reads
		if elseOps != nil {
			snap = rs.parse(resp.Header.Revision, resp.Responses)
		} else if snap, err = s.read(ctx, &rs); err != nil {
			return nil, err
		}
		if attempt >= 3 {
			if err := backoffSleep(ctx, attempt); err != nil {
				return nil, err
			}
		}
	}
}

// plan applies the operations to the snapshot and builds the transaction,
// or returns the *MultiError of the first operation that fails.
func (s *Session) plan(mops []mop, snap *snapshot, rs *readSet) (*plan, error) {
	nodes := map[string]*mnode{}
	var order []string
	now := time.Now().UnixMilli()
	node := func(p string, i int) *mnode {
		if n, ok := nodes[p]; ok {
			return n
		}
		n := &mnode{first: i}
		if r, ok := snap.nodes[p]; ok {
			n.read = r
			n.exists = r.exists()
			if n.exists {
				st, data := r.stat()
				if r.d != nil {
					n.hdr, _ = parseHeader(r.d, r.m)
					n.lease = r.d.Lease
				}
				n.data, n.version, n.cversion, n.nkids = data, st.Version, st.CVersion, r.children
			}
		}
		nodes[p] = n
		order = append(order, p)
		return n
	}
	pl := &plan{results: make([]backend.OpResult, len(mops))}
	pl.reads = readSet{paths: append([]string(nil), rs.paths...), kids: map[string]bool{}}
	for k, v := range rs.kids {
		pl.reads.kids[k] = v
	}
	fail := func(i int, kind error) error {
		m := mops[i]
		return &backend.MultiError{Index: i, Op: m.op, Err: backend.Errorf(opName(m.kind), m.op.OpPath(), kind, nil)}
	}
	checkVersion := func(n *mnode, v int32) bool { return v == backend.AnyVersion || v == n.version }

	for i, m := range mops {
		switch m.kind {
		case 'c':
			parent := node(backend.Parent(m.full), i)
			if !parent.exists {
				return nil, fail(i, backend.ErrNoNode)
			}
			name := m.full
			if m.mode.IsSequential() {
				name += backend.FormatSequence(parent.cversion)
				parent.pinC = true
				if _, ok := snap.nodes[name]; !ok {
					pl.reads.add(name, false)
				}
			}
			n := node(name, i)
			if n.exists {
				return nil, fail(i, backend.ErrNodeExists)
			}
			if parent.lease != 0 || parent.hdr.mode.IsEphemeral() {
				return nil, fail(i, backend.ErrNoChildrenForEphemerals)
			}
			n.exists, n.created, n.dirty, n.pinMod = true, true, true, true
			n.hdr = header{mode: m.mode, ctime: now, mtime: now, ttl: m.ttl.Milliseconds()}
			if n.deletedRead {
				n.hdr.flags |= flagRecreated
			}
			n.data, n.version, n.cversion, n.nkids = m.data, 0, 0, 0
			n.lease = 0
			if m.mode.IsEphemeral() {
				n.lease = int64(s.lease)
			}
			parent.kidChanges++
			parent.cversion++
			parent.nkids++
			if !parent.created {
				parent.pinCreate = true
			}
			pl.results[i].Path = s.c.rel(name)
		case 's':
			n := node(m.full, i)
			if !n.exists {
				return nil, fail(i, backend.ErrNoNode)
			}
			if !checkVersion(n, m.version) {
				return nil, fail(i, backend.ErrBadVersion)
			}
			n.data = m.data
			n.hdr.mtime = now
			if !n.created {
				n.hdr.flags &^= flagRecreated
			}
			n.version++
			n.dirty, n.pinMod = true, true
			st := backend.Stat{
				Version:        n.version,
				CVersion:       n.cversion,
				EphemeralOwner: n.lease,
				DataLength:     int32(len(n.data)),
				NumChildren:    int32(n.nkids),
				Created:        time.UnixMilli(n.hdr.ctime),
				Modified:       time.UnixMilli(n.hdr.mtime),
				Mode:           n.hdr.mode,
			}
			if n.hdr.mode.IsTTL() {
				st.TTL = time.Duration(n.hdr.ttl) * time.Millisecond
			}
			if n.created {
				pl.newStats = append(pl.newStats, i)
			} else if n.read != nil {
				st.CreateToken = n.read.createToken()
			}
			if m.full == "/" && n.read != nil && n.read.d == nil {
				st.Created = time.Time{}
			}
			pl.results[i].Path = m.op.OpPath()
			pl.results[i].Stat = &st
			pl.modStats = append(pl.modStats, i)
		case 'd':
			n := node(m.full, i)
			if !n.exists {
				return nil, fail(i, backend.ErrNoNode)
			}
			if !checkVersion(n, m.version) {
				return nil, fail(i, backend.ErrBadVersion)
			}
			if n.nkids > 0 {
				return nil, fail(i, backend.ErrNotEmpty)
			}
			n.exists, n.pinMod = false, true
			if n.created {
				n.created = false
			} else {
				n.deletedRead, n.pinKids = true, true
			}
			parent := node(backend.Parent(m.full), i)
			parent.kidChanges++
			parent.cversion++
			parent.nkids--
			pl.results[i].Path = m.op.OpPath()
		case 'k':
			n := node(m.full, i)
			if !n.exists {
				return nil, fail(i, backend.ErrNoNode)
			}
			if !checkVersion(n, m.version) {
				return nil, fail(i, backend.ErrBadVersion)
			}
			n.pinMod = true
			pl.results[i].Path = m.op.OpPath()
		}
	}

	// The net effect, node by node in the order the operations first
	// touched them (parents before the children they gained).
	for _, p := range order {
		s.emit(pl, p, nodes[p], snap.rev)
	}
	return pl, nil
}

// emit adds a node's compares and writes to the plan.
func (s *Session) emit(pl *plan, p string, n *mnode, rev int64) {
	dkv, ckv, ekv, mkv := n.readKVs()
	dk, ck, ek := dataKey(p), counterKey(p), extrasKey(p)

	// Compares: everything the plan relied on.
	if n.pinMod {
		var mod int64
		if dkv != nil {
			mod = dkv.ModRevision
		}
		pl.cmps = append(pl.cmps, clientv3.Compare(clientv3.ModRevision(dk), "=", mod))
	} else if n.pinCreate && dkv != nil {
		pl.cmps = append(pl.cmps, clientv3.Compare(clientv3.CreateRevision(dk), "=", dkv.CreateRevision))
	}
	if n.pinC {
		var mod int64
		if ckv != nil {
			mod = ckv.ModRevision
		}
		pl.cmps = append(pl.cmps, clientv3.Compare(clientv3.ModRevision(ck), "=", mod))
	}
	if n.pinKids {
		if cp, ok := childPrefix(p); ok {
			// No child created since the snapshot; those it saw are each
			// pinned by the delete that removes them.
			pl.cmps = append(pl.cmps, clientv3.Compare(clientv3.CreateRevision(cp), "<", rev+1).WithPrefix())
		}
	}

	readExists := n.readExists() || (p == "/" && n.read != nil)
	if !n.exists {
		if !readExists || p == "/" {
			return // created and deleted by this Multi: nothing left
		}
		// The node that was read is deleted.
		pl.then = append(pl.then, clientv3.OpDelete(dk))
		pl.then = append(pl.then, clientv3.OpDelete(ck, clientv3.WithRange(counterEnd(p))))
		if old, _ := parseHeader(dkv, mkv); old.indexed() {
			pl.then = append(pl.then, clientv3.OpDelete(indexKey(p)))
		}
		return
	}

	var leaseOpts []clientv3.OpOption
	if n.lease != 0 {
		leaseOpts = append(leaseOpts, clientv3.WithLease(clientv3.LeaseID(n.lease)))
	}
	base := versionBase(p)
	var dAfter int64
	recreated := readExists && n.deletedRead
	switch {
	case n.created && !recreated: // a new node
		pl.then = append(pl.then,
			clientv3.OpPut(dk, n.hdr.dataValue(n.data), leaseOpts...),
			clientv3.OpPut(metaKey(p), n.hdr.metaValue(), leaseOpts...))
		dAfter = 1
		if n.hdr.indexed() {
			pl.then = append(pl.then, clientv3.OpPut(indexKey(p), ""))
		}
	case recreated: // deleted and created again: the new node overwrites the keys
		pl.then = append(pl.then,
			clientv3.OpPut(dk, n.hdr.dataValue(n.data), leaseOpts...),
			clientv3.OpPut(metaKey(p), n.hdr.metaValue(), leaseOpts...))
		dAfter = dkv.Version + 1
		if old, _ := parseHeader(dkv, mkv); n.hdr.indexed() {
			pl.then = append(pl.then, clientv3.OpPut(indexKey(p), ""))
		} else if old.indexed() {
			pl.then = append(pl.then, clientv3.OpDelete(indexKey(p)))
		}
	default: // the node that was read, maybe with new data
		if dkv != nil {
			dAfter = dkv.Version
		}
		if n.dirty {
			var opts []clientv3.OpOption
			if dkv != nil {
				opts = append(opts, clientv3.WithIgnoreLease())
			}
			pl.then = append(pl.then, clientv3.OpPut(dk, n.hdr.dataValue(n.data), opts...))
			dAfter++
		}
	}

	// C(p). Whatever changes the node's CVersion writes C(p), so that its
	// mod revision (0 when absent, and then the CVersion is 0) pins the
	// CVersion: the guard of a sequential create compares nothing else. A
	// node created again starts again at CVersion 0, so unless this Multi
	// also changed its new children, its C is deleted, leaving it as a new
	// node's: absent. (Keeping C and correcting the count in E moved the
	// CVersion back to 0 under an unchanged C: a client's stale counter
	// passed the guard and numbered from the old life. A put of C would
	// also outlive an ephemeral node's lease.) The same holds for a new
	// node over a C an older version of this backend left behind.
	var cAfter int64
	switch {
	case n.created && n.cversion == 0:
		if ckv != nil {
			pl.then = append(pl.then, clientv3.OpDelete(ck))
		}
	case n.kidChanges > 0:
		if ckv != nil {
			cAfter = ckv.Version
		}
		pl.then = append(pl.then, clientv3.OpPut(ck, ""))
		cAfter++
	case ckv != nil:
		cAfter = ckv.Version
	}

	// Corrections, when etcd's counts do not say it alone.
	old := parseExtras(ekv)
	want := extras{
		cextra: n.cversion - int32(cAfter),
		vextra: n.version - int32(dAfter-base),
	}
	switch {
	case recreated:
		want.ctoken = -1 // the new node's create token: this transaction's revision
	case n.created:
		want.ctoken = 0
	default:
		want.ctoken = old.ctoken
	}
	if want == old {
		return
	}
	var emod int64
	if ekv != nil {
		emod = ekv.ModRevision
	}
	pl.cmps = append(pl.cmps, clientv3.Compare(clientv3.ModRevision(ek), "=", emod))
	if want.zero() {
		if ekv != nil {
			pl.then = append(pl.then, clientv3.OpDelete(ek))
		}
		return
	}
	pl.then = append(pl.then, clientv3.OpPut(ek, want.value(), leaseOpts...))
}

func backoffSleep(ctx context.Context, attempt int) error {
	d := time.Duration(1+attempt%8) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
