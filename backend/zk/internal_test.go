package zk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestKindOf checks the mapping of every driver error to its sentinel.
func TestKindOf(t *testing.T) {
	s := newSession(Config{Servers: []string{"127.0.0.1:1"}}.withDefaults())
	tests := []struct {
		err  error
		want error
	}{
		{zk.ErrNoNode, backend.ErrNoNode},
		{zk.ErrNodeExists, backend.ErrNodeExists},
		{zk.ErrBadVersion, backend.ErrBadVersion},
		{zk.ErrNotEmpty, backend.ErrNotEmpty},
		{zk.ErrNoChildrenForEphemerals, backend.ErrNoChildrenForEphemerals},
		{zk.ErrSessionExpired, backend.ErrSessionExpired},
		{zk.ErrNoAuth, backend.ErrNoAuth},
		{zk.ErrAuthFailed, backend.ErrNoAuth},
		{zk.ErrConnectionClosed, backend.ErrConnectionLoss},
		{zk.ErrNoServer, backend.ErrConnectionLoss},
		{zk.ErrSessionMoved, backend.ErrConnectionLoss},
		{zk.ErrClosing, backend.ErrClosed},
		{zk.ErrInvalidACL, backend.ErrUnsupported},
		{zk.ErrInvalidFlags, backend.ErrUnsupported},
		{fmt.Errorf("unknown error: %d", -6), backend.ErrUnsupported}, // Unimplemented: TTL without extendedTypesEnabled
		{fmt.Errorf("unknown error: %d", -5), backend.ErrTooLarge},
		{zk.ErrBadArguments, backend.ErrBadPath},
		{zk.ErrInvalidPath, backend.ErrBadPath},
		{zk.ErrShortBuffer, backend.ErrTooLarge},
		{errors.New("read tcp: connection reset"), backend.ErrConnectionLoss},
		{context.Canceled, context.Canceled},
	}
	for _, tt := range tests {
		if got := s.kindOf(tt.err); got != tt.want {
			t.Errorf("kindOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
		err := s.opError("get", "/p", tt.err)
		if !errors.Is(err, tt.want) || !errors.Is(err, tt.err) {
			t.Errorf("opError(%v) = %v: does not match the sentinel and the cause", tt.err, err)
		}
	}
	// A call cut short by the end of the session says why it ended.
	s.feed.Set(backend.Lost, backend.ErrSessionExpired)
	for _, err := range []error{zk.ErrConnectionClosed, zk.ErrClosing, errClosing} {
		if got := s.kindOf(err); got != backend.ErrSessionExpired {
			t.Errorf("on a lost session kindOf(%v) = %v, want ErrSessionExpired", err, got)
		}
	}
}

func TestConnectFrames(t *testing.T) {
	passwd := []byte("0123456789abcdef")
	req := appendConnectRequest(nil, 4000, 0x1234, passwd)
	want := []byte{0, 0, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 16}
	want = append(append(want, passwd...), 0)
	if !bytes.Equal(req, want) {
		t.Fatalf("connect request\n%v\nwant\n%v", req, want)
	}
	// A connect response: protocolVersion, timeOut, sessionID, passwd, readOnly.
	resp := []byte{0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 16}
	resp = append(append(resp, passwd...), 0)
	framed := append([]byte{0, 0, 0, byte(len(resp))}, resp...)
	got, err := readFrame(bytes.NewReader(framed), maxConnectFrame)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseConnectResponse(got)
	if err != nil || r.timeoutMs != 4000 || r.sessionID != 0x1234 || !bytes.Equal(r.passwd, passwd) {
		t.Fatalf("parsed %+v, %v", r, err)
	}
	if _, err := parseConnectResponse(resp[:10]); err == nil {
		t.Fatal("a short response parsed")
	}
	if _, err := parseConnectResponse(resp[:24]); err == nil {
		t.Fatal("a response with a truncated password parsed")
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0, 0x20, 0}), maxConnectFrame); err == nil {
		t.Fatal("an oversized frame was read")
	}
	closeReq := appendCloseRequest(nil, 7)
	if want := []byte{0, 0, 0, 8, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xf5}; !bytes.Equal(closeReq, want) {
		t.Fatalf("close request %v, want %v", closeReq, want)
	}
}

func TestPaths(t *testing.T) {
	for _, tt := range []struct{ ns, p, full string }{
		{"/", "/", "/"},
		{"/", "/a/b", "/a/b"},
		{"/ns", "/", "/ns"},
		{"/ns", "/a", "/ns/a"},
		{"/ns/deep", "/a/b", "/ns/deep/a/b"},
	} {
		s := &Session{ns: tt.ns}
		if got := s.full(tt.p); got != tt.full {
			t.Errorf("ns %s: full(%s) = %s, want %s", tt.ns, tt.p, got, tt.full)
		}
		if got, ok := s.rel(tt.full); !ok || got != tt.p {
			t.Errorf("ns %s: rel(%s) = %s, %v, want %s", tt.ns, tt.full, got, ok, tt.p)
		}
	}
	s := &Session{ns: "/ns"}
	for _, p := range []string{"/nsx", "/nsx/a", "/other", "/"} {
		if _, ok := s.rel(p); ok {
			t.Errorf("rel(%s) is inside namespace /ns", p)
		}
	}
	for _, tt := range []struct {
		root, p string
		in      bool
	}{
		{"/", "/x", true}, {"/r", "/r", true}, {"/r", "/r/a", true}, {"/r", "/rr", false}, {"/r", "/", false}, {"/r/a", "/r", false},
	} {
		if got := within(tt.root, tt.p); got != tt.in {
			t.Errorf("within(%s, %s) = %v", tt.root, tt.p, got)
		}
	}
}

// TestFrameCursorKeepsTheZxid checks the zxid bookkeeping the connection does
// for the driver: reply headers reach the driver with their zxid zeroed and
// the largest is kept; the connect request and SetWatches carry it back out.
// The streams are cut at every possible point, as TCP may deliver them.
func TestFrameCursorKeepsTheZxid(t *testing.T) {
	frame := func(body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	i32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	i64 := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	payload := bytes.Repeat([]byte{0xAB}, 40)

	replies := bytes.Join([][]byte{
		frame(i32(7), i64(0x1000), i32(0), payload),  // a reply
		frame(i32(-1), i64(0x5000), i32(0), payload), // a notification: not the driver's zxid
		frame(i32(8), i64(0x2000), i32(-101)),        // an error reply, header only
		frame(i32(-2), i64(0x6000), i32(0)),          // a ping
		frame(i32(9), i64(0x1800), i32(0), payload),  // an older zxid does not lower the mark
		frame(), // an empty frame
		frame(i32(10), i64(0x1900), i32(0), payload),
	}, nil)
	want := bytes.Join([][]byte{
		frame(i32(7), i64(0), i32(0), payload),
		frame(i32(-1), i64(0x5000), i32(0), payload),
		frame(i32(8), i64(0), i32(-101)),
		frame(i32(-2), i64(0x6000), i32(0)),
		frame(i32(9), i64(0), i32(0), payload),
		frame(),
		frame(i32(10), i64(0), i32(0), payload),
	}, nil)
	requests := bytes.Join([][]byte{
		frame(i32(0), i64(0), i32(4000), i64(0x1234), i32(0)),          // connect
		frame(i32(11), i32(4), []byte("path..."), payload),             // getData
		frame(i32(12), i32(opSetWatches), i64(0), i32(1), []byte("w")), // setWatches
	}, nil)
	wantRequests := bytes.Join([][]byte{
		frame(i32(0), i64(0x2000), i32(4000), i64(0x1234), i32(0)),
		frame(i32(11), i32(4), []byte("path..."), payload),
		frame(i32(12), i32(opSetWatches), i64(0x2000), i32(1), []byte("w")),
	}, nil)

	for cut := 0; cut <= len(replies); cut++ {
		var mark zxidMark
		in := frameCursor{replies: true, zxid: &mark}
		got := bytes.Clone(replies)
		in.scan(got[:cut])
		in.scan(got[cut:])
		if !bytes.Equal(got, want) {
			t.Fatalf("cut at %d: replies reach the driver as\n%x\nwant\n%x", cut, got, want)
		}
		if z := mark.v.Load(); z != 0x2000 {
			t.Fatalf("cut at %d: last zxid %#x, want 0x2000", cut, z)
		}
		if cut > len(requests) {
			continue
		}
		out := frameCursor{zxid: &mark}
		sent := bytes.Clone(requests)
		out.scan(sent[:cut])
		out.scan(sent[cut:])
		if !bytes.Equal(sent, wantRequests) {
			t.Fatalf("cut at %d: requests go out as\n%x\nwant\n%x", cut, sent, wantRequests)
		}
	}
}

// TestSessionKeepsTheLastZxid checks, against the real server, that the
// session's own zxid mark follows its replies: after a write it is at least
// the write's modify token, which is what a reconnection must present.
func TestSessionKeepsTheLastZxid(t *testing.T) {
	c, err := New(Config{Servers: testenv.ZooKeeper(t), Namespace: testenv.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bs, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := backend.Unwrap(bs).(*Session)
	if _, err := s.Create(ctx, "/z", []byte("a"), backend.Persistent); err != nil {
		t.Fatal(err)
	}
	st, err := s.Set(ctx, "/z", []byte("b"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.lastZxid.v.Load(); got < st.ModifyToken {
		t.Fatalf("last zxid %#x after a set at %#x", got, st.ModifyToken)
	}
}
