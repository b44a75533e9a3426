package faultnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 10 * time.Second

// echoServer is a loopback TCP server that echoes what it reads, counts the
// bytes it reads and keeps its connections so a test can write on them.
type echoServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	received atomic.Int64 // bytes read from all connections
	accepted atomic.Int64 // connections accepted
	active   atomic.Int64 // connections being echoed
	mu       sync.Mutex
	conns    []net.Conn
	silent   bool // read nothing, echo nothing
}

func newEchoServer(t *testing.T) *echoServer { return startServer(t, false) }

func startServer(t *testing.T, silent bool) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, silent: silent}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

func (s *echoServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		if s.silent {
			continue
		}
		s.wg.Add(1)
		s.active.Add(1)
		go s.echo(c)
	}
}

func (s *echoServer) echo(c net.Conn) {
	defer s.wg.Done()
	defer s.active.Add(-1)
	defer c.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		s.received.Add(int64(n))
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			_ = c.(*net.TCPConn).CloseWrite()
			return
		}
		if err != nil {
			return
		}
	}
}

// conn returns the server's i-th accepted connection.
func (s *echoServer) conn(t *testing.T, i int) net.Conn {
	t.Helper()
	waitFor(t, "the server to accept a connection", func() bool { return s.accepted.Load() > int64(i) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[i]
}

func (s *echoServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// readN reads exactly n bytes from c within waitTimeout.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

func write(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	defer c.SetWriteDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

// roundTrip sends msg through the echo server and checks what comes back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	write(t, c, msg)
	if got := string(readN(t, c, len(msg))); got != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// expectClosed checks that the proxy closed c: a read ends with an error
// that is not a timeout.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a closed connection = %d, %v; want EOF or a reset", n, err)
	}
}

// expectTurnedAway checks that a new connection to addr is closed at once:
// the dial fails with a reset, or it succeeds and the connection is closed.
func expectTurnedAway(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("dial %s: %v; want a closed connection", addr, err)
		}
		return
	}
	defer c.Close()
	expectClosed(t, c)
}

func expectConns(t *testing.T, p *Proxy, want int) {
	t.Helper()
	if got := p.Conns(); got != want {
		t.Fatalf("Conns() = %d, want %d", got, want)
	}
}

func TestNewProxyRejectsBadTarget(t *testing.T) {
	if p, err := NewProxy("no-port"); err == nil {
		_ = p.Close()
		t.Fatal("NewProxy(\"no-port\") = nil error, want an error")
	}
}

func TestForward(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		s := newEchoServer(t)
		p := newProxy(t, s.addr())
		c := dial(t, p.Addr())
		for _, msg := range []string{"hello", "x", "a longer message"} {
			roundTrip(t, c, msg)
		}
		expectConns(t, p, 1)
	})

	t.Run("many connections", func(t *testing.T) {
		s := newEchoServer(t)
		p := newProxy(t, s.addr())
		var cs []*net.TCPConn
		for i := 0; i < 10; i++ {
			c := dial(t, p.Addr())
			roundTrip(t, c, "ping")
			cs = append(cs, c)
		}
		expectConns(t, p, 10)
		for _, c := range cs {
			_ = c.Close()
		}
		waitFor(t, "Conns() = 0 after the clients closed", func() bool { return p.Conns() == 0 })
	})

	t.Run("large payload", func(t *testing.T) {
		s := newEchoServer(t)
		p := newProxy(t, s.addr())
		c := dial(t, p.Addr())
		payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			werr <- err
		}()
		got := readN(t, c, len(payload))
		if err := <-werr; err != nil {
			t.Fatalf("write: %v", err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatal("echoed payload differs from the payload sent")
		}
	})

	t.Run("half close", func(t *testing.T) {
		s := newEchoServer(t)
		p := newProxy(t, s.addr())
		c := dial(t, p.Addr())
		write(t, c, "bye")
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read to EOF: %v", err)
		}
		if string(got) != "bye" {
			t.Fatalf("read %q, want %q", got, "bye")
		}
		waitFor(t, "Conns() = 0 after both ends closed", func() bool { return p.Conns() == 0 })
	})
}

func TestCut(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, c1, "one")
	roundTrip(t, c2, "two")

	p.Cut()
	expectConns(t, p, 0)
	expectClosed(t, c1)
	expectClosed(t, c2)

	// A new connection is accepted and closed without reaching the server.
	before := s.accepted.Load()
	expectTurnedAway(t, p.Addr())
	if got := s.accepted.Load(); got != before {
		t.Fatalf("server accepted %d connections during the cut, want 0", got-before)
	}

	p.Heal()
	c4 := dial(t, p.Addr())
	roundTrip(t, c4, "healed")
	expectConns(t, p, 1)
}

func TestPause(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c1 := dial(t, p.Addr())
	roundTrip(t, c1, "a")
	srv1 := s.conn(t, 0)

	p.Pause()
	// Client to server: read by the proxy and dropped.
	write(t, c1, "lost")
	waitFor(t, "4 bytes dropped upstream", func() bool { return p.dropped[up].Load() == 4 })
	if got := s.received.Load(); got != 1 {
		t.Fatalf("server received %d bytes, want 1 (only before the pause)", got)
	}
	// Server to client: dropped as well.
	write(t, srv1, "srv")
	waitFor(t, "3 bytes dropped downstream", func() bool { return p.dropped[down].Load() == 3 })
	// A new connection is accepted and forwards nothing.
	c2 := dial(t, p.Addr())
	write(t, c2, "x")
	waitFor(t, "5 bytes dropped upstream", func() bool { return p.dropped[up].Load() == 5 })
	waitFor(t, "2 connections", func() bool { return p.Conns() == 2 })

	p.Heal()
	// What was sent during the pause is gone; new bytes flow.
	roundTrip(t, c1, "back")
	roundTrip(t, c2, "y")
	if got := s.received.Load(); got != 1+4+1 {
		t.Fatalf("server received %d bytes, want %d", got, 1+4+1)
	}
}

func TestStall(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c := dial(t, p.Addr())
	roundTrip(t, c, "a")
	srv := s.conn(t, 0)

	p.Stall()
	write(t, srv, "S")
	waitFor(t, "the server's byte held", func() bool { return p.holding.Load() == 1 })
	write(t, c, "held")
	waitFor(t, "the client's bytes held", func() bool { return p.holding.Load() == 2 })
	if got := s.received.Load(); got != 1 {
		t.Fatalf("server received %d bytes during the stall, want 1 (only before it)", got)
	}

	p.Heal()
	// The held bytes arrive, in order, and nothing was dropped.
	if got, want := string(readN(t, c, 5)), "Sheld"; got != want {
		t.Fatalf("after Heal read %q, want %q", got, want)
	}
	if d := p.dropped[up].Load() + p.dropped[down].Load(); d != 0 {
		t.Fatalf("dropped %d bytes, want 0", d)
	}
	roundTrip(t, c, "more")
}

func TestStallHoldsEndOfStream(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c := dial(t, p.Addr())
	roundTrip(t, c, "a")

	p.Stall()
	write(t, c, "last")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bytes held", func() bool { return p.holding.Load() == 1 })
	p.Heal()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read to EOF: %v", err)
	}
	if string(got) != "last" {
		t.Fatalf("read %q, want %q", got, "last")
	}
}

func TestDropReplies(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c1 := dial(t, p.Addr())
	roundTrip(t, c1, "a")

	p.DropReplies()
	write(t, c1, "req")
	waitFor(t, "the request to reach the server", func() bool { return s.received.Load() == 1+3 })
	waitFor(t, "the reply to be dropped", func() bool { return p.dropped[down].Load() == 3 })
	if got := p.dropped[up].Load(); got != 0 {
		t.Fatalf("dropped %d request bytes, want 0", got)
	}

	p.Reset()
	expectClosed(t, c1)
	expectConns(t, p, 0)

	// Reset keeps the mode: a new connection still loses its replies.
	c2 := dial(t, p.Addr())
	write(t, c2, "q2")
	waitFor(t, "the second reply to be dropped", func() bool { return p.dropped[down].Load() == 5 })

	p.Heal()
	roundTrip(t, c2, "ok")
}

func TestReset(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, c1, "one")
	roundTrip(t, c2, "two")

	p.Reset()
	expectConns(t, p, 0)
	expectClosed(t, c1)
	expectClosed(t, c2)
	// The server's ends are closed too.
	waitFor(t, "the server's connections to end", func() bool { return s.active.Load() == 0 })

	// New connections work without Heal.
	c3 := dial(t, p.Addr())
	roundTrip(t, c3, "three")
	expectConns(t, p, 1)
}

func TestDialFailureClosesClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	_ = ln.Close() // nothing listens on target now
	p := newProxy(t, target)
	expectTurnedAway(t, p.Addr())
	expectConns(t, p, 0)
}

// TestModeChangeDuringBlockedWrite checks that Pause returns while the proxy
// is writing to a server that reads nothing: the write in progress is
// interrupted rather than waited for.
func TestModeChangeDuringBlockedWrite(t *testing.T) {
	s := startServer(t, true)
	p := newProxy(t, s.addr())
	c := dial(t, p.Addr())
	var sent atomic.Int64
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
	}()
	// Far more than the proxy forwards without the server reading: the
	// proxy's write to the server blocks (best effort: the test is valid
	// whether or not it already does).
	waitFor(t, "1 MiB sent", func() bool { return sent.Load() >= 1<<20 })

	done := make(chan struct{})
	go func() {
		p.Pause()
		p.Stall()
		p.DropReplies()
		p.Heal()
		p.Pause()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("mode changes did not return while a write was blocked")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = c.Close()
	if err := <-werr; err == nil {
		t.Fatal("writer ended without an error")
	}
}

func TestClose(t *testing.T) {
	s := newEchoServer(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p, err := NewProxy(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, c1, "one")
	roundTrip(t, c2, "two")
	// A pipe waiting in a stall must end on Close too.
	p.Stall()
	write(t, c2, "held")
	waitFor(t, "the bytes held", func() bool { return p.holding.Load() == 1 })

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectConns(t, p, 0)
	expectClosed(t, c1)
	expectClosed(t, c2)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Calls after Close do nothing.
	p.Cut()
	p.Pause()
	p.Heal()
	p.Reset()
	if c, err := net.DialTimeout("tcp", p.Addr(), waitTimeout); err == nil {
		_ = c.Close()
		t.Fatal("dial after Close succeeded, want connection refused")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newEchoServer(t)
	p := newProxy(t, s.addr())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Clients keep connecting and talking while the faults change.
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), waitTimeout)
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(20 * time.Millisecond))
				_, _ = c.Write([]byte("ping"))
				_, _ = io.ReadFull(c, buf)
				_ = c.Close()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		switch i % 6 {
		case 0:
			p.Cut()
		case 1:
			p.Pause()
		case 2:
			p.Stall()
		case 3:
			p.DropReplies()
		case 4:
			p.Reset()
		case 5:
			p.Heal()
		}
		_ = p.Conns()
	}
	close(stop)
	wg.Wait()
	p.Heal()
	c := dial(t, p.Addr())
	roundTrip(t, c, "still works")
}
