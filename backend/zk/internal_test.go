package zk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
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
