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
// reading the session password out of the connect response, and the
// connect-then-closeSession exchange Expire uses.

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
// It copies the first frame the server sends, the connect response, out of
// the byte stream as the driver reads it, and hands it to the session: that
// is how the session learns its password (which go-zookeeper keeps private)
// for Expire, and its negotiated timeout.
type sniffConn struct {
	net.Conn
	s         *Session
	addr      string        // the address the driver dialed
	handshake time.Duration // longest wait for the connect response

	done   atomic.Bool // the connect response has been seen (or given up)
	buf    []byte      // the connect response frame so far; only Read touches it
	closed sync.Once
}

// Read reads from the connection, sniffing the connect response on the way.
// The driver reads from one goroutine at a time.
func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.done.Load() {
		if serr := c.sniff(p[:n]); serr != nil {
			c.Conn.Close()
			return 0, serr
		}
	}
	return n, err
}

func (c *sniffConn) sniff(b []byte) error {
	c.buf = append(c.buf, b...)
	if len(c.buf) < 4 {
		return nil
	}
	n := int(int32(binary.BigEndian.Uint32(c.buf[:4])))
	if n < 0 || n > maxConnectFrame {
		c.done.Store(true) // not a connect response we understand; the driver will fail it
		c.buf = nil
		return nil
	}
	if len(c.buf) < 4+n {
		return nil
	}
	c.done.Store(true)
	r, err := parseConnectResponse(c.buf[4 : 4+n])
	c.buf = nil
	if err != nil {
		return nil // the driver decodes it too and fails the handshake
	}
	return c.s.onConnectResponse(c.addr, r)
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

// Close closes the connection and forgets it.
func (c *sniffConn) Close() error {
	c.closed.Do(func() { c.s.forgetConn(c) })
	return c.Conn.Close()
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
