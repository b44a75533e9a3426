package peers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultSessionTimeout is the ZooKeeper session timeout a peer asks for
// unless WithSessionTimeout says otherwise.
const DefaultSessionTimeout = 4 * time.Second

// startTimeout bounds the wait for a new peer's "connected".
const startTimeout = 60 * time.Second

// closeTimeout bounds the wait for a peer to exit after "exit" before Close
// kills it.
const closeTimeout = 15 * time.Second

// Option configures a peer.
type Option func(*config)

type config struct {
	session   time.Duration
	namespace string
	bench     bool
}

// WithSessionTimeout sets the session timeout the peer asks ZooKeeper for
// (default DefaultSessionTimeout). The server may bound it: 2x to 20x its
// tickTime unless maxSessionTimeout says otherwise.
func WithSessionTimeout(d time.Duration) Option { return func(c *config) { c.session = d } }

// WithNamespace runs the peer's paths under a namespace: Curator's
// namespace(ns) (created on demand), kazoo's chroot (which must exist).
// It has no leading slash, e.g. "zkrtest/x".
func WithNamespace(ns string) Option {
	return func(c *config) { c.namespace = strings.Trim(ns, "/") }
}

// ForBenchmark runs the peer as a benchmark needs it: the Curator peer's JVM
// gets its full JIT compiler (tests stop at C1, which starts faster but runs
// slower) and a 1 GiB heap for the bench-lock sessions. It changes nothing
// for kazoo.
func ForBenchmark() Option { return func(c *config) { c.bench = true } }

func newConfig(opts []Option) config {
	c := config{session: DefaultSessionTimeout}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Peer is a running Curator or kazoo process speaking the line protocol of
// the package doc. Send and Expect may be called from any goroutine; the
// process is closed when the test ends.
type Peer struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	writeMu sync.Mutex // one command line at a time on stdin

	stderr lockedBuffer

	mu       sync.Mutex
	lines    []string      // every stdout line, in order
	consumed []bool        // lines[i] was returned by Expect or failed one
	changed  chan struct{} // closed and replaced when lines or exited change
	exited   bool
	exitErr  error // the process's exit status, once exited

	done      chan struct{} // closed once the process has exited and output is read
	closeOnce sync.Once
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs argv as a peer named name, waits for its "connected" line and
// registers its Close with t.Cleanup.
func start(t testing.TB, name string, argv []string) *Peer {
	t.Helper()
	p := &Peer{t: t, name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("peers: %s: %v", name, err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("peers: %s: %v", name, err)
	}
	p.stdin = stdin
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("peers: start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			p.logOutput()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := p.Expect(ctx, "connected"); err != nil {
		t.Fatalf("peers: %s did not connect: %v", name, err)
	}
	t.Logf("peers: %s (pid %d) connected after %v", name, p.cmd.Process.Pid, time.Since(t0).Round(time.Millisecond))
	return p
}

// read collects stdout lines until EOF, then waits for the process.
func (p *Peer) read(stdout io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.consumed = append(p.consumed, false)
		p.notifyLocked()
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, stdout) // after a too-long line: drain until exit
	err := p.cmd.Wait()
	if err == nil {
		err = errors.New("exit status 0")
	}
	p.mu.Lock()
	p.exited = true
	p.exitErr = err
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *Peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Name returns the peer's name for messages, e.g. "curator" or "kazoo".
func (p *Peer) Name() string { return p.name }

// Pid returns the peer's process id.
func (p *Peer) Pid() int { return p.cmd.Process.Pid }

// Send writes one command line to the peer. It fails the test if the peer
// no longer reads commands; call it from the test's goroutine only.
func (p *Peer) Send(cmd string) {
	p.t.Helper()
	if err := p.write(cmd); err != nil {
		p.t.Fatal(err)
	}
}

// write writes one command line to the peer; any goroutine may call it.
func (p *Peer) write(cmd string) error {
	if strings.ContainsAny(cmd, "\r\n") {
		return fmt.Errorf("peers: %s: command %q spans lines", p.name, cmd)
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("peers: %s: send %q: %w", p.name, cmd, err)
	}
	return nil
}

// Expect waits for an output line starting with prefix that no earlier
// Expect has returned, and returns it; lines that do not match stay
// available to later calls. It fails when the peer prints an "error" line
// it has not reported yet (unless prefix itself starts with "error"), when
// the peer exits, or when ctx ends.
func (p *Peer) Expect(ctx context.Context, prefix string) (string, error) {
	wantError := strings.HasPrefix(prefix, "error")
	for {
		p.mu.Lock()
		for i, l := range p.lines {
			if p.consumed[i] {
				continue
			}
			if strings.HasPrefix(l, prefix) {
				p.consumed[i] = true
				p.mu.Unlock()
				return l, nil
			}
			if !wantError && strings.HasPrefix(l, "error") {
				p.consumed[i] = true
				p.mu.Unlock()
				return "", fmt.Errorf("peers: %s: waiting for %q: %s", p.name, prefix, l)
			}
		}
		if p.exited {
			err := p.exitErr
			p.mu.Unlock()
			return "", fmt.Errorf("peers: %s: waiting for %q: the peer exited: %v", p.name, prefix, err)
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("peers: %s: waiting for %q: %w", p.name, prefix, ctx.Err())
		}
	}
}

// Peek reports whether an output line starting with prefix has arrived that
// Expect has not returned yet, and returns it without consuming it.
func (p *Peer) Peek(prefix string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, l := range p.lines {
		if !p.consumed[i] && strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// Lines returns every line the peer has printed so far.
func (p *Peer) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Kill kills the peer with SIGKILL and waits until it has exited. Its
// ZooKeeper session stays until the server expires it, a session timeout
// later: the way to test a holder that dies.
func (p *Peer) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done // bounded: cmd.WaitDelay closes the pipes after the kill
}

// Close asks the peer to exit, which releases what it holds and closes its
// session, and kills it if it has not exited within a bound. It is
// idempotent and returns once the process and the goroutine reading it are
// gone.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.write("exit")
		p.writeMu.Lock()
		_ = p.stdin.Close()
		p.writeMu.Unlock()
		select {
		case <-p.done:
		case <-time.After(closeTimeout):
			p.t.Logf("peers: %s did not exit %v after \"exit\"; killing it", p.name, closeTimeout)
			p.Kill()
		}
	})
}

func (p *Peer) logOutput() {
	p.t.Logf("peers: %s stdout:\n\t%s", p.name, strings.Join(p.Lines(), "\n\t"))
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		p.t.Logf("peers: %s stderr:\n%s", p.name, s)
	}
}

// unavailable skips the test because a peer cannot run here, or fails it
// under CI=true, where scripts/servers.sh installs the peers.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("peers: %s (CI=true: a missing peer is a failure; scripts/servers.sh installs it)", msg)
	}
	t.Skipf("peers: %s (scripts/servers.sh installs it)", msg)
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
