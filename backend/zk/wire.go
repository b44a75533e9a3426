package zk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// This file speaks the little of ZooKeeper's wire protocol (jute records in
// length-prefixed frames, big-endian) that go-zookeeper does not expose:
// reading the session password out of the connect response, the
// connect-then-closeSession exchange Expire uses, and the requests the
// session sends on the driver's connection itself (addWatch and
// removeWatches, see persist.go).

// Protocol constants.
const (
	opCloseSession = -11
	// maxConnectFrame bounds the connect response frame we parse; real ones
	// are about 40 bytes.
	maxConnectFrame = 4096
)

// connectResponse is the first frame a server sends on a connection.
type connectResponse struct {
	timeoutMs int32
	sessionID int64
	passwd    []byte
}

// parseConnectResponse decodes a connect response body (the frame without its
// length): protocolVersion int32, timeOut int32, sessionID int64, passwd
// buffer (int32 length + bytes), then an optional readOnly bool.
func parseConnectResponse(b []byte) (connectResponse, error) {
	var r connectResponse
	if len(b) < 20 {
		return r, fmt.Errorf("connect response of %d bytes is too short", len(b))
	}
	r.timeoutMs = int32(binary.BigEndian.Uint32(b[4:8]))
	r.sessionID = int64(binary.BigEndian.Uint64(b[8:16]))
	n := int32(binary.BigEndian.Uint32(b[16:20]))
	if n < 0 {
		return r, nil
	}
	if int(n) > len(b)-20 {
		return r, fmt.Errorf("connect response password of %d bytes overruns the frame", n)
	}
	r.passwd = append([]byte(nil), b[20:20+n]...)
	return r, nil
}

// appendConnectRequest appends a framed connect request asking to resume
// session id with its password.
func appendConnectRequest(b []byte, timeoutMs int32, id int64, passwd []byte) []byte {
	body := 4 + 8 + 4 + 8 + 4 + len(passwd) + 1
	b = binary.BigEndian.AppendUint32(b, uint32(body))
	b = binary.BigEndian.AppendUint32(b, 0) // protocolVersion
	b = binary.BigEndian.AppendUint64(b, 0) // lastZxidSeen
	b = binary.BigEndian.AppendUint32(b, uint32(timeoutMs))
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	b = binary.BigEndian.AppendUint32(b, uint32(len(passwd)))
	b = append(b, passwd...)
	return append(b, 0) // readOnly = false
}

// appendCloseRequest appends a framed closeSession request: a request header
// (xid, opcode) and no body.
func appendCloseRequest(b []byte, xid int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	op := int32(opCloseSession)
	return binary.BigEndian.AppendUint32(b, uint32(op))
}

// readFrame reads one length-prefixed frame of at most limit bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(h[:]))
	if n < 0 || int(n) > limit {
		return nil, fmt.Errorf("frame of %d bytes (limit %d)", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// errSessionReplaced aborts a handshake in which the server handed out
// another session than ours: the driver must not carry on under it.
var errSessionReplaced = errors.New("zk: the server answered with another session; the session is lost")

// sniffConn is a connection the driver dialed through the session's dialer.
// It reads ZooKeeper's frames as they pass in both directions, for three
// reasons:
//
//   - It copies the first frame the server sends, the connect response, and
//     hands it to the session: that is how the session learns its password
//     (which go-zookeeper keeps private) for Expire, and its negotiated
//     timeout.
//   - It keeps the session's last seen zxid itself. go-zookeeper v1.0.4
//     writes its lastZxid field from its receive goroutine while its connect
//     goroutine reads it to send SetWatches after a reconnection: a data race
//     whenever a reply arrives during a reconnection with watches set. So
//     this connection takes the zxid out of every reply header before the
//     driver sees it (the driver uses it for nothing else), remembers the
//     largest, and writes it into the two places the driver would have used
//     it: the connect request's lastZxidSeen (which keeps a reconnection from
//     landing on a server that is behind what the session has read) and the
//     SetWatches request's relativeZxid (which makes the server fire the
//     watches whose nodes changed while the session was away).
//   - It carries the session's own requests, addWatch and removeWatches
//     (inject, and persist.go), between the driver's frames, and hands
//     their replies to the session by xid.
type sniffConn struct {
	net.Conn
	s         *Session
	addr      string        // the address the driver dialed
	handshake time.Duration // longest wait for the connect response

	done    atomic.Bool // the connect response has been seen (or given up)
	buf     []byte      // the connect response frame so far; only Read touches it
	in      frameCursor // position in the reply stream after the connect response
	out     frameCursor // position in the request stream
	scratch []byte      // the request bytes being written; only Write touches it
	closed  sync.Once

	// sentMu guards the send times of requests the server has not yet
	// answered (see requestSent and replied).
	sentMu      sync.Mutex
	connectSent time.Time   // when the connect request began to go out
	sent        []time.Time // requests after it, oldest first

	// writeMu serialises the driver's writes with the session's own
	// requests (inject), so that those go out between whole frames.
	// driverDeadline is the write deadline the driver last set.
	writeMu        sync.Mutex
	driverDeadline time.Time
	gone           bool // Close was called; under writeMu

	// zxid is the largest zxid in a reply to a request on this connection:
	// every notification the server sent on it before that reply has been
	// handed to the driver's callback (the driver reads frame by frame).
	zxid zxidMark
}

// requestSent is told, before its first byte is written, that frame (0 for
// the connect request) begins to go out.
func (c *sniffConn) requestSent(frame int) {
	now := time.Now()
	c.sentMu.Lock()
	if frame == 0 {
		c.connectSent = now
	} else {
		c.sent = append(c.sent, now)
	}
	c.sentMu.Unlock()
}

// replied is told the xid, zxid and error code of every reply frame
// after the connect response. Replies to the session's own requests
// (ownXid) are handed to the session, which waits for them; the driver
// then drops them as answers to no request of its own.
// The server sends one reply per request, so after k replies it has
// received at least k of the requests sent on this connection, the last of
// them sent no earlier than the k-th: the k-th send time is a moment by
// which the server had certainly heard from the session. (The server may
// answer some requests out of order, auth for one; this bound does not
// depend on the order.) Watch notifications (xid -1) answer nothing.
func (c *sniffConn) replied(xid int32, zxid int64, code int32) {
	if xid == xidNotification {
		return
	}
	if xid >= 0 || ownXid(xid) {
		c.zxid.raise(zxid)
	}
	if ownXid(xid) {
		c.s.persist.answer(c, xid, zxid, code)
	}
	c.sentMu.Lock()
	if len(c.sent) == 0 {
		c.sentMu.Unlock()
		return
	}
	t := c.sent[0]
	c.sent[0] = time.Time{}
	c.sent = c.sent[1:]
	c.sentMu.Unlock()
	c.s.heardBy(t)
}

// Read reads from the connection, sniffing the connect response and taking
// the zxid out of reply headers on the way. The driver reads from one
// goroutine at a time.
func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	b := p[:n]
	if n > 0 && !c.done.Load() {
		used, serr := c.sniff(b)
		if serr != nil {
			c.Conn.Close()
			return 0, serr
		}
		b = b[used:]
	}
	if len(b) > 0 && c.done.Load() {
		c.in.scan(b)
	}
	return n, err
}

// Write writes to the connection, putting the session's last seen zxid into
// connect and SetWatches requests. The driver writes from one goroutine at a
// time; frames split across calls are followed too. The bytes go out from a
// copy: a Writer must not change its caller's slice.
//
// Once the session is closing, a failed write is reported as written. Close
// closes the sockets under the driver, and go-zookeeper v1.0.4 answers a
// request whose write failed at once but also keeps it among its pending
// requests, which it answers again when its loop ends; with a request
// that raced Close (answered a third time) that is one answer more than
// the request's channel holds, and the driver's loop, and so Close, would
// block for good. A write that "succeeded" leaves the request to the final
// answer alone.
func (c *sniffConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.scratch = append(c.scratch[:0], p...)
	c.out.scan(c.scratch)
	if _, err := c.Conn.Write(c.scratch); err != nil {
		select {
		case <-c.s.closeCh:
			return len(p), nil
		default:
		}
		return 0, err
	}
	return len(p), nil
}

// sniff collects the connect response from b and reports how many bytes of b
// belonged to it.
func (c *sniffConn) sniff(b []byte) (int, error) {
	had := len(c.buf)
	c.buf = append(c.buf, b...)
	if len(c.buf) < 4 {
		return len(b), nil
	}
	n := int(int32(binary.BigEndian.Uint32(c.buf[:4])))
	if n < 0 || n > maxConnectFrame {
		c.done.Store(true) // not a connect response we understand; the driver will fail it
		c.buf = nil
		return len(b), nil
	}
	if len(c.buf) < 4+n {
		return len(b), nil
	}
	c.done.Store(true)
	r, err := parseConnectResponse(c.buf[4 : 4+n])
	c.buf = nil
	used := 4 + n - had
	if err != nil {
		return used, nil // the driver decodes it too and fails the handshake
	}
	c.sentMu.Lock()
	sent := c.connectSent
	c.sentMu.Unlock()
	if err := c.s.onConnectResponse(c.addr, r, sent); err != nil {
		return used, err
	}
	if r.sessionID != 0 {
		c.s.persist.connected(c)
	}
	return used, nil
}

// SetReadDeadline sets the read deadline, bounded by the handshake timeout
// until the connect response has arrived. go-zookeeper waits for the connect
// response for ten times its receive timeout (about 6.7 session timeouts),
// and for the frame's body with no deadline at all; a server that accepted
// the connection but does not answer (a blackhole, a paused process) would
// hold the reconnection that long. Like the Java client, this gives up after
// the session timeout divided by the number of servers.
func (c *sniffConn) SetReadDeadline(t time.Time) error {
	if !c.done.Load() {
		if limit := time.Now().Add(c.handshake); t.IsZero() || t.After(limit) {
			t = limit
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline the driver's writes go out
// under; inject sets its own and puts this one back.
func (c *sniffConn) SetWriteDeadline(t time.Time) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.driverDeadline = t
	return c.Conn.SetWriteDeadline(t)
}

// errNotAtFrame refuses to inject a request while the driver is half way
// through writing a frame (go-zookeeper writes whole frames, so this is
// not expected).
var errNotAtFrame = errors.New("zk: the driver is in the middle of a frame")

// inject writes frame, one whole request of the session's own, between
// two of the driver's frames, within timeout. It passes the request
// cursor like any request, so the watchdog counts it as sent and its
// reply as an answer.
func (c *sniffConn) inject(frame []byte, timeout time.Duration) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.gone {
		return net.ErrClosed
	}
	if c.out.sizeN != 0 || c.out.remain != 0 {
		return errNotAtFrame
	}
	c.scratch = append(c.scratch[:0], frame...)
	c.out.scan(c.scratch)
	c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Conn.Write(c.scratch)
	c.Conn.SetWriteDeadline(c.driverDeadline)
	if err != nil {
		// Part of a frame may have gone out: the stream is broken.
		c.Conn.Close()
	}
	return err
}

// Close closes the connection and forgets it; the session's own requests
// waiting for an answer on it end with a connection loss.
func (c *sniffConn) Close() error {
	c.closed.Do(func() {
		c.writeMu.Lock()
		c.gone = true
		c.writeMu.Unlock()
		c.s.forgetConn(c)
		c.s.persist.connGone(c)
	})
	return c.Conn.Close()
}

// Opcodes whose requests carry a zxid the session rewrites.
const (
	opSetWatches  = 101
	opSetWatches2 = 105
)

// xidNotification is the xid of a watch notification, the one frame the
// server sends unasked.
const xidNotification = -1

// frameCursor follows one direction of a connection frame by frame and
// rewrites the zxid fields described on sniffConn as their bytes pass. It
// looks only at the first 16 bytes of a frame's body and skips the rest.
type frameCursor struct {
	replies bool      // the server's replies, else the client's requests
	zxid    *zxidMark // the session's last seen zxid
	// begin, if set, is told of every request frame (by its index, 0 for
	// the connect request) before its first body byte passes; reply, if
	// set, of every reply frame's header (xid, zxid as the server sent
	// it, err) once it has passed. Both run inside scan.
	begin func(frame int)
	reply func(xid int32, zxid int64, code int32)

	frames int     // frames finished before the current one
	size   [4]byte // the current frame's length prefix
	sizeN  int     // bytes of size read so far
	remain int     // body bytes of the current frame still to come
	off    int     // body bytes of the current frame seen so far
	head   [16]byte
	lo, hi int     // the body bytes [lo, hi) to rewrite in this frame
	value  [8]byte // what to write there
}

// zxidMark is the largest zxid a session has seen in a reply header.
type zxidMark struct{ v atomic.Int64 }

func (m *zxidMark) raise(z int64) {
	for {
		old := m.v.Load()
		if z <= old || m.v.CompareAndSwap(old, z) {
			return
		}
	}
}

// scan follows b, the next bytes of the stream, rewriting them in place.
func (c *frameCursor) scan(b []byte) {
	for i := 0; i < len(b); {
		if c.sizeN < 4 {
			c.size[c.sizeN] = b[i]
			c.sizeN++
			i++
			if c.sizeN == 4 {
				c.remain = int(int32(binary.BigEndian.Uint32(c.size[:])))
				c.off, c.lo, c.hi = 0, 0, 0
				if !c.replies && c.begin != nil {
					c.begin(c.frames)
				}
				if c.remain <= 0 {
					c.endFrame()
				}
			}
			continue
		}
		if c.off >= len(c.head) {
			n := min(c.remain, len(b)-i)
			i += n
			c.off += n
			c.remain -= n
		} else {
			c.plan()
			c.head[c.off] = b[i]
			if c.off >= c.lo && c.off < c.hi {
				b[i] = c.value[c.off-c.lo]
			}
			i++
			c.off++
			c.remain--
			if c.replies && c.off == 16 && c.reply != nil {
				c.reply(int32(binary.BigEndian.Uint32(c.head[:4])), int64(binary.BigEndian.Uint64(c.head[4:12])), int32(binary.BigEndian.Uint32(c.head[12:16])))
			}
			if c.replies && c.hi != 0 && c.off == c.hi {
				c.zxid.raise(int64(binary.BigEndian.Uint64(c.head[c.lo:c.hi])))
			}
		}
		if c.remain == 0 {
			c.endFrame()
		}
	}
}

// plan decides, before the body byte at c.off passes, which field of the
// frame to rewrite: each decision needs only the bytes before that field.
func (c *frameCursor) plan() {
	switch {
	case c.replies && c.off == 4:
		// A reply header: xid, zxid, err. Replies to requests (xid >= 0)
		// carry the zxid the driver would store; notifications (-1), pings
		// (-2) and auth replies (-4) do not.
		if int32(binary.BigEndian.Uint32(c.head[:4])) >= 0 {
			c.lo, c.hi = 4, 12
			c.value = [8]byte{}
		}
	case !c.replies && c.frames == 0 && c.off == 4:
		// The connect request: protocolVersion, lastZxidSeen, ...
		c.lo, c.hi = 4, 12
		binary.BigEndian.PutUint64(c.value[:], uint64(c.zxid.v.Load()))
	case !c.replies && c.frames > 0 && c.off == 8:
		// A request header: xid, opcode; SetWatches then has relativeZxid.
		if op := int32(binary.BigEndian.Uint32(c.head[4:8])); op == opSetWatches || op == opSetWatches2 {
			c.lo, c.hi = 8, 16
			binary.BigEndian.PutUint64(c.value[:], uint64(c.zxid.v.Load()))
		}
	}
}

func (c *frameCursor) endFrame() {
	c.frames++
	c.sizeN, c.remain, c.off, c.lo, c.hi = 0, 0, 0, 0, 0
}

// requestSize estimates the encoded size (without the frame length) of a
// create, set or the ops of a multi, to refuse with ErrTooLarge what the
// server would refuse by closing the connection.
func aclSize(acl []backend.ACL) int {
	n := 4
	for _, a := range acl {
		n += 4 + 4 + len(a.Scheme) + 4 + len(a.ID)
	}
	return n
}

const (
	requestHeaderSize = 8         // xid, opcode
	multiHeaderSize   = 4 + 1 + 4 // type, done, err
)

func createSize(path string, data []byte, acl []backend.ACL, ttl bool) int {
	n := 4 + len(path) + 4 + len(data) + aclSize(acl) + 4
	if ttl {
		n += 8
	}
	return n
}

func setSize(path string, data []byte) int { return 4 + len(path) + 4 + len(data) + 4 }

func pathVersionSize(path string) int { return 4 + len(path) + 4 }

// Opcodes and arguments of the watch requests go-zookeeper v1.0.4 cannot
// send (ZooKeeper 3.6+).
const (
	opRemoveWatches = 18  // removeWatches: path, watcherType int32; reply header only
	opAddWatch      = 106 // addWatch: path, mode int32; reply header only

	// addWatch modes.
	addWatchPersistentRecursive = 1

	// removeWatches watcher types. Persistent and PersistentRecursive
	// exist from ZooKeeper 3.9 (ZOOKEEPER-4472); before, only Any (which
	// removes the connection's every watch on the path, persistent ones
	// included) reaches a persistent watch.
	watcherAny                 = 3
	watcherPersistentRecursive = 5
)

// appendPathIntRequest appends a framed request whose body is a path and
// one int32, the shape of addWatch and removeWatches.
func appendPathIntRequest(b []byte, xid, op int32, path string, arg int32) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(requestHeaderSize+4+len(path)+4))
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	b = binary.BigEndian.AppendUint32(b, uint32(op))
	b = binary.BigEndian.AppendUint32(b, uint32(len(path)))
	b = append(b, path...)
	return binary.BigEndian.AppendUint32(b, uint32(arg))
}
