package zk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Expire makes the server end the session as if it had expired, the way
// kazoo's and Curator's test harnesses do: it opens a connection of its own
// to the server the session is connected through, resumes the session there
// with its id and password (captured from the connect response, since
// go-zookeeper keeps the password private), and sends closeSession. It
// returns once the server acknowledged the close: the session's ephemeral
// nodes are gone. Meanwhile the session's own connection does not
// reconnect; after Expire it does, is told the session expired, and the
// Session becomes Lost (backend.ErrSessionExpired) as on a real expiry.
//
// Expire is a fault-injection tool for tests.
func (s *Session) Expire(ctx context.Context) error {
	const op = "expire"
	if err := ctx.Err(); err != nil {
		return backend.Errorf(op, "/", err, nil)
	}
	if err := s.feed.Err(); err != nil {
		return backend.Errorf(op, "/", err, nil)
	}
	s.expireMu.Lock()
	defer s.expireMu.Unlock()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return backend.Errorf(op, "/", backend.ErrClosed, nil)
	}
	id, passwd, addr := s.id.Load(), s.passwd, s.server
	gate := make(chan struct{})
	s.expiring = gate
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.expiring = nil
		s.mu.Unlock()
		close(gate)
	}()
	if id == 0 || addr == "" {
		return backend.Errorf(op, "/", backend.ErrConnectionLoss, errors.New("the session was never established"))
	}
	// The server may close the connection before its closeSession reply
	// is out (it queues the reply, then closes): the session is closed,
	// but the reply is an EOF. Resuming the session again tells: the
	// server answers a closed session with session id 0. So an attempt
	// that failed for the connection is made again, a few times.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.closeRemotely(ctx, addr, id, passwd); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		kind := backend.ErrConnectionLoss
		if cerr := ctx.Err(); cerr != nil {
			kind = cerr
		}
		return backend.Errorf(op, "/", kind, err)
	}
	return nil
}

// closeRemotely resumes session id on a new connection to addr and closes it.
func (s *Session) closeRemotely(ctx context.Context, addr string, id int64, passwd []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(max(2*s.Timeout(), 10*time.Second))
	}
	conn, err := s.cfg.Dialer("tcp", addr, time.Until(deadline))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	timeoutMs := int32(s.Timeout() / time.Millisecond)
	if _, err := conn.Write(appendConnectRequest(nil, timeoutMs, id, passwd)); err != nil {
		return err
	}
	frame, err := readFrame(conn, maxConnectFrame)
	if err != nil {
		return fmt.Errorf("reading the connect response: %w", err)
	}
	r, err := parseConnectResponse(frame)
	if err != nil {
		return err
	}
	if r.sessionID == 0 {
		return nil // the server had already ended the session
	}
	if r.sessionID != id {
		return fmt.Errorf("the server resumed session 0x%x instead of 0x%x", r.sessionID, id)
	}
	const xid = 1
	if _, err := conn.Write(appendCloseRequest(nil, xid)); err != nil {
		return err
	}
	for {
		// Reply header: xid int32, zxid int64, err int32.
		frame, err := readFrame(conn, maxConnectFrame)
		if err != nil {
			return fmt.Errorf("reading the closeSession reply: %w", err)
		}
		if len(frame) < 16 {
			return fmt.Errorf("closeSession reply of %d bytes", len(frame))
		}
		if int32(binary.BigEndian.Uint32(frame[:4])) != xid {
			continue // a notification or ping; not ours
		}
		if code := int32(binary.BigEndian.Uint32(frame[12:16])); code != 0 {
			return fmt.Errorf("the server refused closeSession: error code %d", code)
		}
		return nil
	}
}
