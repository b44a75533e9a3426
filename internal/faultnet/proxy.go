package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the proxy's dial to its target for one connection.
const dialTimeout = 10 * time.Second

// bufSize is the size of the buffer each direction of a connection reads into.
const bufSize = 32 << 10

// Directions of a connection.
const (
	up   = 0 // client to server
	down = 1 // server to client
)

type mode int

const (
	modeNormal mode = iota
	modeCut
	modePause
	modeStall
	modeDropReplies
)

// action is what a direction does with the bytes it reads.
type action int

const (
	forward action = iota
	drop
	hold
)

// longAgo is a write deadline in the past: it makes a pending write return.
var longAgo = time.Unix(1, 0)

// Proxy is a TCP proxy from a loopback address to one target that can cut,
// pause, stall and reset its connections and drop their replies. Its methods
// are safe for concurrent use. The zero value is not usable: call NewProxy.
type Proxy struct {
	target string
	ln     *net.TCPListener
	wg     sync.WaitGroup // every goroutine the proxy started

	mu      sync.Mutex
	mode    mode
	changed chan struct{} // closed and replaced on every change of mode
	links   map[*link]struct{}
	dials   map[uint64]context.CancelFunc // dials in progress
	nextID  uint64
	resets  uint64 // counts Cut and Reset calls
	closed  bool

	// For tests: bytes dropped per direction, and pipes holding bytes back.
	dropped [2]atomic.Int64
	holding atomic.Int32
}

// NewProxy listens on 127.0.0.1 on a free port and forwards every connection
// it accepts to target, a host:port. The proxy is in the normal mode; it does
// not dial target before a client connects.
func NewProxy(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultnet: target %q: %w", target, err)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		links:   make(map[*link]struct{}),
		dials:   make(map[uint64]context.CancelFunc),
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the proxy's address, 127.0.0.1:port, for clients to dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every current connection and, until Heal, accepts new
// connections only to close them at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.setModeLocked(modeCut)
	p.resets++
	links := p.linksLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.close(true)
	}
}

// Pause blackholes the proxy until Heal: connections stay open and new ones
// are accepted, but the bytes sent either way are dropped, and lost for good.
func (p *Proxy) Pause() { p.setMode(modePause) }

// Stall holds the proxy's traffic until Heal: connections stay open and new
// ones are accepted, but bytes sent either way wait, and are delivered in
// order after Heal. Nothing is lost unless the connection is closed first.
func (p *Proxy) Stall() { p.setMode(modeStall) }

// DropReplies forwards bytes from clients to the server and drops the bytes
// from the server to clients, until Heal: requests are applied, their
// replies are lost. Reset then closes the connections that lost replies.
func (p *Proxy) DropReplies() { p.setMode(modeDropReplies) }

// Heal returns the proxy to normal forwarding: new connections are accepted
// and forwarded, stalled bytes are delivered, and paused connections forward
// again what is sent from now on.
func (p *Proxy) Heal() { p.setMode(modeNormal) }

// Reset closes every current connection once. It does not change the mode:
// new connections are accepted and treated as the mode says.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.resets++
	links := p.linksLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.close(true)
	}
}

// Conns returns the number of open proxied connections: accepted, connected
// to the target and not yet closed.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, closes every connection and waits until every
// goroutine of the proxy has returned. It is idempotent; only the first call
// can return an error, from closing the listener.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	links := p.linksLocked()
	dials := make([]context.CancelFunc, 0, len(p.dials))
	for _, cancel := range p.dials {
		dials = append(dials, cancel)
	}
	p.mu.Unlock()

	err := p.ln.Close()
	for _, cancel := range dials {
		cancel()
	}
	for _, l := range links {
		l.close(true)
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultnet: close: %w", err)
	}
	return nil
}

// setMode switches to m and returns once m is in force: every write that m
// stops and that began before has returned.
func (p *Proxy) setMode(m mode) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.setModeLocked(m)
	var stopped []*pipe
	for l := range p.links {
		for _, pp := range l.pipes {
			if p.actionLocked(pp.dir) != forward {
				// Interrupt a write blocked on a full buffer; the writer
				// looks at the mode again before it writes any more.
				_ = pp.dst.SetWriteDeadline(longAgo)
				stopped = append(stopped, pp)
			}
		}
	}
	p.mu.Unlock()
	for _, pp := range stopped {
		pp.wmu.Lock()
		pp.wmu.Unlock() //nolint:staticcheck // a barrier: waits for the write in progress
	}
}

func (p *Proxy) setModeLocked(m mode) {
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

// actionLocked says what direction dir does with bytes in the current mode.
func (p *Proxy) actionLocked(dir int) action {
	switch p.mode {
	case modeNormal:
		return forward
	case modeStall:
		return hold
	case modeDropReplies:
		if dir == up {
			return forward
		}
		return drop
	default: // modePause; modeCut has no connections left to forward for
		return drop
	}
}

func (p *Proxy) linksLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
}

// serve accepts connections until the listener is closed.
func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or an aborted handshake: try again.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed || p.mode == modeCut {
			p.mu.Unlock()
			reset(c)
			continue
		}
		id := p.nextID
		p.nextID++
		ctx, cancel := context.WithCancel(context.Background())
		p.dials[id] = cancel
		resets := p.resets
		p.wg.Add(1)
		p.mu.Unlock()
		go p.connect(ctx, cancel, id, resets, c)
	}
}

// connect dials the target for client and starts forwarding between them.
// resets is p.resets when client was accepted: a Cut or Reset since then
// closes it.
func (p *Proxy) connect(ctx context.Context, cancel context.CancelFunc, id, resets uint64, client *net.TCPConn) {
	defer p.wg.Done()
	defer cancel()
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", p.target)

	p.mu.Lock()
	delete(p.dials, id)
	if err != nil || p.closed || p.resets != resets {
		p.mu.Unlock()
		reset(client)
		if c != nil {
			reset(c.(*net.TCPConn))
		}
		return
	}
	server := c.(*net.TCPConn)
	l := &link{p: p, client: client, server: server, done: make(chan struct{})}
	l.pipes[up] = &pipe{dir: up, src: client, dst: server}
	l.pipes[down] = &pipe{dir: down, src: server, dst: client}
	p.links[l] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go l.run(l.pipes[up])
	go l.run(l.pipes[down])
}

// reset closes c with a TCP reset.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// link is one proxied connection: a client and the proxy's connection to the
// target for it.
type link struct {
	p              *Proxy
	client, server *net.TCPConn
	pipes          [2]*pipe
	done           chan struct{} // closed when the link is closed

	// Guarded by p.mu.
	closed bool
	ended  int // pipes that passed on an end of stream
}

// pipe is one direction of a link.
type pipe struct {
	dir      int
	src, dst *net.TCPConn
	// wmu is held while deciding to write and writing, so that setMode can
	// wait for a write that the new mode forbids.
	wmu sync.Mutex
}

// run copies pp.src to pp.dst as the mode says until either end closes.
func (l *link) run(pp *pipe) {
	defer l.p.wg.Done()
	buf := make([]byte, bufSize)
	for {
		n, err := pp.src.Read(buf)
		if n > 0 && !l.deliver(pp, buf[:n]) {
			l.close(true)
			return
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) || !l.passEOF(pp) {
			l.close(true)
			return
		}
		l.p.mu.Lock()
		l.ended++
		both := l.ended == 2
		l.p.mu.Unlock()
		if both {
			l.close(false)
		}
		return
	}
}

// await reports what pp does with its bytes now, waiting while the mode holds
// them, and the channel that is closed when the mode changes next. It returns
// false, with pp.wmu unlocked, once the link is closed; otherwise it returns
// with pp.wmu locked.
func (l *link) await(pp *pipe) (action, <-chan struct{}, bool) {
	p := l.p
	for {
		pp.wmu.Lock()
		p.mu.Lock()
		if l.closed {
			p.mu.Unlock()
			pp.wmu.Unlock()
			return drop, nil, false
		}
		a, changed := p.actionLocked(pp.dir), p.changed
		if a == forward {
			_ = pp.dst.SetWriteDeadline(time.Time{})
		}
		p.mu.Unlock()
		if a != hold {
			return a, changed, true
		}
		pp.wmu.Unlock()
		l.wait(changed)
	}
}

// wait waits until changed or l.done is closed.
func (l *link) wait(changed <-chan struct{}) {
	l.p.holding.Add(1)
	defer l.p.holding.Add(-1)
	select {
	case <-changed:
	case <-l.done:
	}
}

// deliver writes b to pp.dst, drops it or holds it, as the mode says. It
// reports false when the link is closed or broken.
func (l *link) deliver(pp *pipe, b []byte) bool {
	for len(b) > 0 {
		a, _, ok := l.await(pp)
		if !ok {
			return false
		}
		if a == drop {
			pp.wmu.Unlock()
			l.p.dropped[pp.dir].Add(int64(len(b)))
			return true
		}
		n, err := pp.dst.Write(b)
		pp.wmu.Unlock()
		b = b[n:]
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		// On a deadline, the mode changed mid-write: look at it again.
	}
	return true
}

// passEOF passes an end of stream on to pp.dst once its direction forwards
// again. It reports false when the link is closed or broken.
func (l *link) passEOF(pp *pipe) bool {
	for {
		a, changed, ok := l.await(pp)
		if !ok {
			return false
		}
		if a == forward {
			err := pp.dst.CloseWrite()
			pp.wmu.Unlock()
			return err == nil
		}
		pp.wmu.Unlock()
		// A FIN does not cross a blackhole either: wait for the next mode.
		l.wait(changed)
	}
}

// close closes both connections of l, once, with a reset when rst is set.
func (l *link) close(rst bool) {
	p := l.p
	p.mu.Lock()
	if l.closed {
		p.mu.Unlock()
		return
	}
	l.closed = true
	delete(p.links, l)
	close(l.done)
	p.mu.Unlock()
	if rst {
		reset(l.client)
		reset(l.server)
		return
	}
	_ = l.client.Close()
	_ = l.server.Close()
}
