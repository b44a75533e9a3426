package zk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zkrecipes/zkrecipes/backend"
)

// This file sends the two watch requests of ZooKeeper 3.6+ that
// go-zookeeper v1.0.4 cannot: addWatch (a persistent recursive watch, on
// which WatchTree runs) and removeWatches. They go out on the driver's own
// connection, since watches belong to the connection on the server:
//
//   - A request is written by sniffConn.inject between two of the driver's
//     frames (the driver writes whole frames, under the same lock), with an
//     xid from a range go-zookeeper never uses (it counts up from 1 and
//     uses -1 and -2 for notifications and pings).
//   - Its reply (a bare header: these requests have no reply body) is
//     recognised by its xid as it passes the reply cursor, and handed to
//     the waiting caller; go-zookeeper drops a reply with a negative xid it
//     did not send (it logs "Xid < 0 ... but not ping or watcher event").
//   - The request passes the request cursor and its reply the reply
//     cursor like the driver's own, so the watchdog's accounting (one
//     reply per request, see sniffConn.replied) stays whole.
//   - A connection that closes ends the requests waiting on it with a
//     connection loss. The notifications of a persistent watch are
//     ordinary watch events (xid -1): go-zookeeper passes them to the
//     event callback (routeTreeEvent).

// Tree modes of a session, found at its first WatchTree.
const (
	treeModeUnknown    int32 = iota // no addWatch answered yet
	treeModePersistent              // the server has addWatch
	treeModeOneShot                 // it has not (3.5): one-shot mirror
)

// ownXidBase is the first of the xids the session's own requests use,
// counting down: far from the driver's positive xids and from the
// special negative ones of the protocol (-1 to -8).
const (
	ownXidBase  = -1 << 20
	ownXidRange = 1 << 20
)

// ownXid reports whether xid is one of the session's own requests.
func ownXid(xid int32) bool { return xid <= ownXidBase && xid > ownXidBase-ownXidRange }

// errNoPersistentWatches says the server has no addWatch (ZooKeeper
// before 3.6 answers UNIMPLEMENTED, and closes the connection).
var errNoPersistentWatches = errors.New("zk: the server has no persistent watches (ZooKeeper 3.6+)")

// persistState is what a session knows of persistent watches: its own
// requests in flight, whether the server has addWatch, and the watches it
// holds. Its zero value is ready.
type persistState struct {
	mode       atomic.Int32 // a treeMode
	removeType atomic.Int32 // the watcher type removeWatches takes; 0 until known

	mu    sync.Mutex
	conn  *sniffConn // the connection the session is established on
	next  uint32     // own requests sent
	calls map[int32]ownCall

	watchMu sync.Mutex // held across the round trips that add and remove watches
	watches map[string]*heldWatch

	// What WatchTree read, for tests and for the documentation's claims.
	lightReads atomic.Int64 // Exists
	listReads  atomic.Int64 // Children
	dataReads  atomic.Int64 // Get
	quietGaps  atomic.Int64 // reconnections the zxid showed had missed nothing
}

// ownCall is a request of the session's own waiting for its reply.
type ownCall struct {
	conn  *sniffConn
	reply chan ownReply // closed if the connection went
}

// ownReply is the header of a reply to one of the session's own requests.
type ownReply struct {
	zxid int64 // the server's last zxid when it answered
	code int32
}

// heldWatch is one persistent recursive watch the session's WatchTrees
// share: the server keeps one per connection and path, so the last of
// them to end removes it.
type heldWatch struct {
	refs int
	on   *sniffConn // the connection it was added on; nil when not added
}

// connected is told of a connection on which the session is established.
func (p *persistState) connected(c *sniffConn) {
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
}

// connGone is told of a connection that closed: the requests waiting on
// it will get no answer.
func (p *persistState) connGone(c *sniffConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == c {
		p.conn = nil
	}
	for xid, call := range p.calls {
		if call.conn == c {
			close(call.reply)
			delete(p.calls, xid)
		}
	}
}

// answer is told of the reply to one of the session's own requests.
func (p *persistState) answer(c *sniffConn, xid int32, zxid int64, code int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if call, ok := p.calls[xid]; ok && call.conn == c {
		call.reply <- ownReply{zxid, code}
		delete(p.calls, xid)
	}
}

func (p *persistState) forget(xid int32) {
	p.mu.Lock()
	delete(p.calls, xid)
	p.mu.Unlock()
}

// ownRequest sends a path-and-int32 request on the current connection and
// waits for its reply. It returns the connection it went on. A request
// whose answer cannot come (no connection, or it closed) is
// backend.ErrConnectionLoss: it may or may not have reached the server.
func (s *Session) ownRequest(ctx context.Context, opcode int32, path string, arg int32) (ownReply, *sniffConn, error) {
	opName := ownOpName(opcode)
	p := &s.persist
	p.mu.Lock()
	c := p.conn
	if c == nil {
		p.mu.Unlock()
		return ownReply{}, nil, backend.Errorf(opName, path, backend.ErrConnectionLoss, errors.New("not connected"))
	}
	if p.calls == nil {
		p.calls = map[int32]ownCall{}
	}
	xid := int32(ownXidBase - int64(p.next%ownXidRange))
	p.next++
	reply := make(chan ownReply, 1)
	p.calls[xid] = ownCall{conn: c, reply: reply}
	p.mu.Unlock()

	if err := c.inject(appendPathIntRequest(nil, xid, opcode, s.full(path), arg), s.Timeout()); err != nil {
		p.forget(xid)
		return ownReply{}, c, backend.Errorf(opName, path, backend.ErrConnectionLoss, err)
	}
	select {
	case r, ok := <-reply:
		if !ok {
			return ownReply{}, c, backend.Errorf(opName, path, backend.ErrConnectionLoss, errors.New("the connection closed before the reply"))
		}
		return r, c, nil
	case <-ctx.Done():
		p.forget(xid)
		return ownReply{}, c, backend.Errorf(opName, path, ctx.Err(), nil)
	}
}

func ownOpName(opcode int32) string {
	if opcode == opAddWatch {
		return "addwatch"
	}
	return "removewatches"
}

// ZooKeeper error codes the watch requests answer with.
const (
	codeOK        = 0
	codeNoNode    = -101
	codeNoAuth    = -102
	codeNoWatcher = -121
)

// codeError maps an error code of a watch request to an error.
func codeError(op, path string, code int32) error {
	switch code {
	case codeOK:
		return nil
	case codeUnimplemented:
		return backend.Errorf(op, path, backend.ErrUnsupported, errNoPersistentWatches)
	case codeNoAuth:
		return backend.Errorf(op, path, backend.ErrNoAuth, nil)
	case codeNoNode, codeNoWatcher:
		return backend.Errorf(op, path, backend.ErrNoNode, nil)
	default:
		return backend.Errorf(op, path, backend.ErrConnectionLoss, fmt.Errorf("ZooKeeper error code %d", code))
	}
}

// holdWatch counts one more WatchTree on the persistent watch at path.
func (s *Session) holdWatch(path string) {
	p := &s.persist
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	if p.watches == nil {
		p.watches = map[string]*heldWatch{}
	}
	h := p.watches[path]
	if h == nil {
		h = &heldWatch{}
		p.watches[path] = h
	}
	h.refs++
}

// watchGap says what a re-added watch missed: from is the largest zxid of
// a reply on the connection the watch was on before (every notification
// of a change up to it was delivered there), to the server's last zxid
// when the watch was added again. Equal and non-zero: no change at all
// happened in between, anywhere. Zero: not known.
type watchGap struct{ from, to int64 }

// none reports whether the gap is known to hold no change.
func (g watchGap) none() bool { return g.from != 0 && g.from == g.to }

// ensureWatch makes sure the persistent recursive watch at path is set on
// the current connection, adding it if it was not added there (a new
// connection has none). A server without addWatch makes the session's
// tree mode one-shot and returns errNoPersistentWatches in the chain. The
// caller that adds the watch again gets the gap it had.
func (s *Session) ensureWatch(ctx context.Context, path string) (watchGap, error) {
	p := &s.persist
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	h := p.watches[path]
	p.mu.Lock()
	cur := p.conn
	p.mu.Unlock()
	if h == nil || (h.on != nil && h.on == cur) {
		return watchGap{}, nil
	}
	r, on, err := s.ownRequest(ctx, opAddWatch, path, addWatchPersistentRecursive)
	if err != nil {
		return watchGap{}, err
	}
	if err := codeError("addwatch", path, r.code); err != nil {
		if r.code == codeUnimplemented {
			p.mode.CompareAndSwap(treeModeUnknown, treeModeOneShot)
		}
		return watchGap{}, err
	}
	p.mode.Store(treeModePersistent)
	var gap watchGap
	if h.on != nil {
		gap = watchGap{from: h.on.zxid.v.Load(), to: r.zxid}
	}
	h.on = on
	return gap, nil
}

// releaseWatch counts one WatchTree fewer on the watch at path; the last
// one removes it from the server, if it is set on the current connection
// (a closed connection took its watches with it).
func (s *Session) releaseWatch(ctx context.Context, path string) error {
	p := &s.persist
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	h := p.watches[path]
	if h == nil {
		return nil
	}
	if h.refs--; h.refs > 0 {
		return nil
	}
	delete(p.watches, path)
	p.mu.Lock()
	cur := p.conn
	p.mu.Unlock()
	if h.on == nil || h.on != cur {
		return nil
	}
	return s.removeWatch(ctx, path)
}

// oneShotsOn reports whether a caller waits on a one-shot watch at the
// full path.
func (s *Session) oneShotsOn(full string) bool {
	s.oneShotMu.Lock()
	defer s.oneShotMu.Unlock()
	return s.oneShots[full] > 0
}

// removeWatch removes the persistent recursive watch at path from the
// server. ZooKeeper 3.9 removes it alone (watcher type
// PersistentRecursive); 3.6 to 3.8 know no such type and refuse it, and
// then only Any reaches it, which would also remove any one-shot watch
// this session holds on that very path: while a caller waits on one, the
// persistent watch stays until the connection ends.
func (s *Session) removeWatch(ctx context.Context, path string) error {
	p := &s.persist
	typ := p.removeType.Load()
	if typ == 0 {
		typ = watcherPersistentRecursive
	}
	for {
		if typ == watcherAny && s.oneShotsOn(s.full(path)) {
			// Before 3.9 the removal would take a caller's one-shot watch
			// on this very path with it, and that watch would never fire.
			// Leave the persistent watch to its connection: its
			// notifications reach no tree and are dropped.
			return nil
		}
		r, _, err := s.ownRequest(ctx, opRemoveWatches, path, typ)
		if err != nil {
			return err
		}
		if r.code == codeOK || r.code == codeNoWatcher {
			p.removeType.Store(typ)
			return nil
		}
		if typ == watcherAny {
			return codeError("removewatches", path, r.code)
		}
		typ = watcherAny
	}
}
